//! What `/notifications` sends: its server → client events, each payload tied to its
//! name, and the replies to its client events (PROTOCOL.md §4).

use serde::Serialize;

use crate::emit::Emit;
use crate::ports::Notification;

/// Server → client events.
pub mod emits {
    pub const NOTIFICATION: &str = "notification";
    pub const READ: &str = "notification:read";
    pub const ALL: &[&str] = &[NOTIFICATION, READ];
}

/// `notification`: one notification, with an ack request (the first ack marks it
/// delivered).
impl Emit for Notification {
    const EVENT: &'static str = emits::NOTIFICATION;
}

/// `notification:read` to the user's other sockets: what was marked read, and how many
/// are left unread.
#[derive(Debug, Serialize)]
pub struct NotificationRead {
    pub ids: Vec<String>,
    pub unread: i64,
}

impl Emit for NotificationRead {
    const EVENT: &'static str = emits::READ;
}

/// The reply to `notification:list`: a page, and how many are unread in all.
#[derive(Debug, Serialize)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    pub unread: i64,
}

/// The reply to `notification:read`.
#[derive(Debug, Serialize)]
pub struct Unread {
    pub unread: i64,
}
