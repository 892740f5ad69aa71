//! Durable signed webhooks (PROTOCOL.md §9): events written to the outbox in the
//! transaction of the change they report (`crate::store`), sent by a sender on every node
//! ([`sender`]), in order per conversation and per user, retried, then dead-lettered.

pub mod config;
pub mod event;
pub mod presence;
pub mod sender;
