//! The ports: what the namespaces need from the infrastructure, as traits. `src/`
//! implements them (SQLite and PostgreSQL stores, memory and Redis cluster state); the
//! in-memory versions in this crate's tests serve unit tests of the namespace logic.

mod blocks;
mod drafts;
mod history;
mod hooks;
mod messages;
mod notifications;
mod notify;
mod presence;
mod sessions;
mod typing;

use std::time::{SystemTime, UNIX_EPOCH};

pub use blocks::UserBlocks;
pub use drafts::{Draft, DraftStore, DraftWrite};
pub use history::{ChannelHistory, LiveFeed, Publication, PublicationSink, Recovery};
pub use hooks::{BackendHooks, ChannelVerdict, NoBackend, RpcCall};
pub use messages::{
    Conversation, ConversationSummary, Inserted, Message, MessagePage, MessageStore, NewMessage,
};
pub use notifications::{
    DeviceRegistration, NewNotification, Notification, NotificationStore, Platform, Priority,
    ReadSelection,
};
pub use notify::{MessagePush, Notice, OfflineNotifier};
pub use presence::{
    Change, ChannelStats, ChosenStatus, PresenceRecord, PresenceRegistry, PresenceTransitions,
    Reaped,
};
pub use sessions::{
    Logged, LoggedPacket, PacketFeed, PacketLog, PacketSink, Reader, Session, SessionStore,
};
pub use typing::{Started, TYPING_TIMEOUT, TypingState};

/// Why a store call failed, in the terms a handler answers with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store could not be reached or refused the write: nothing was stored.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Time in milliseconds since the Unix epoch. A trait so tests can fix or advance it.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// Wall-clock time read once, then advanced by tokio's clock: it agrees with timers, so
/// a test that pauses and advances tokio time moves this clock too.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    wall_at_start: i64,
    start: tokio::time::Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        let wall_at_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Self {
            wall_at_start,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        self.wall_at_start + self.start.elapsed().as_millis() as i64
    }
}
