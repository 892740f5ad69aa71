//! What the Switchyard gateway says: namespace handlers, typed payloads, and the ports
//! (traits) they need from the infrastructure in the `switchyard` crate.
//!
//! Nothing here knows about axum, sqlx or Redis: a handler sees the world only through
//! [`ports`], so its logic can be tested with in-memory implementations.

pub mod ack;
pub mod broadcast;
pub mod dispatch;
pub mod emit;
pub mod identity;
pub mod incoming;
pub mod limits;
pub mod metrics;
pub mod notifications;
pub mod ports;
pub mod presence;
pub mod realtime;
pub mod rooms;
mod text;
pub mod ws;

#[cfg(test)]
mod memory;

pub use ack::{ErrorCode, NsError, clip_message};
pub use identity::Identity;
pub use incoming::Incoming;
