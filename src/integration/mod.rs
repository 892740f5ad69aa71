//! What the gateway tells an app's backend and asks of it (PROTOCOL.md §9): signed
//! webhooks out of a durable outbox, and the connect, subscribe and RPC hooks. Every
//! request either way is signed as the Standard Webhooks spec says (`signing.rs`).

pub mod hooks;
pub mod signing;
pub mod webhooks;

/// The webhook event types (PROTOCOL.md §9); an endpoint's `events` filter names these.
pub const EVENT_TYPES: &[&str] = &[
    "message.created",
    "message.edited",
    "message.deleted",
    "message.read",
    "conversation.created",
    "notification.delivered",
    "notification.read",
    "push.failed",
    "user.online",
    "user.offline",
];
