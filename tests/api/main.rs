//! Integration tests: the real server on port 0, a fresh SQLite file or PostgreSQL
//! database per test, driven over WebSocket by a Socket.IO client.

mod support;

mod auth;
mod channels;
mod cli;
mod cluster;
mod connections;
mod conversation_api;
mod conversations;
mod dashboard;
mod delivery;
mod devices;
mod drafts;
mod drain;
mod errors;
mod faults;
mod fcm;
mod hooks;
mod http_api;
mod limits;
mod logs;
mod messages;
mod metrics;
mod notifications;
mod presence;
mod presence_scale;
mod push;
mod push_doc;
mod push_fairness;
mod realtime;
mod receipts;
mod recovery;
mod security;
mod session;
mod sessions;
mod slow_consumer;
mod telemetry;
mod webhooks;
