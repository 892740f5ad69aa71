//! Switchyard's infrastructure and composition root: settings, authentication, stores,
//! HTTP, telemetry and startup. What the gateway says lives in `switchyard-namespaces`.

pub mod auth;
pub mod backend;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod gateway;
pub mod http;
pub mod integration;
pub mod push;
pub mod secrets;
pub mod shutdown;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
