//! What the gateway hands the namespaces to build their state from: the ports, the
//! presence every namespace shares, and the namespaces' knobs from the settings. Each
//! descriptor builds its own state from these ([`crate::Namespace::state`]).

use std::sync::Arc;
use std::time::Duration;

use crate::channel_rules::ChannelRule;
use crate::ports::{
    BackendHooks, ChannelHistory, Clock, DraftStore, LiveFeed, MessageStore, NotificationStore,
    PacketFeed, TypingState,
};
use crate::presence::Presence;

/// Everything a namespace's state may be built from.
#[derive(Clone)]
pub struct Services {
    pub clock: Arc<dyn Clock>,
    pub presence: Presence,
    pub messages: Arc<dyn MessageStore>,
    pub typing: Arc<dyn TypingState>,
    pub notifications: Arc<dyn NotificationStore>,
    pub history: Arc<dyn ChannelHistory>,
    /// Cluster mode: publications reach sockets through the feed, not from the publisher.
    pub feed: Option<Arc<dyn LiveFeed>>,
    pub drafts: Arc<dyn DraftStore>,
    /// Connection-state recovery: room emits go through the packet feed, and sessions
    /// are saved and resumed (`None`: off).
    pub packets: Option<Arc<dyn PacketFeed>>,
    pub resumption: Option<crate::resume::Resumption>,
    /// The app's backend: the subscribe hook and RPC ([`crate::ports::NoBackend`] when
    /// none is configured).
    pub hooks: Arc<dyn BackendHooks>,
    pub config: NamespaceConfig,
}

/// The namespaces' knobs that come from the settings.
#[derive(Debug, Clone)]
pub struct NamespaceConfig {
    pub ws: WsConfig,
    pub realtime: RealtimeConfig,
    pub notifications: NotificationsConfig,
    /// `/ws` messages to users with no socket become notifications (and so pushes), when
    /// push is enabled too.
    pub push_messages: bool,
}

/// The knobs of `/ws`.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    /// How long a recipient has to ack `message:new` before it no longer counts as
    /// delivered by that emit.
    pub delivery_ack_timeout: Duration,
}

/// The knobs of `/realtime`.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// Who may subscribe to which channel, first match wins.
    pub rules: Vec<ChannelRule>,
    pub caps: SocketCaps,
}

/// What one socket may hold at most (PROTOCOL.md §3): each subscription and watched user
/// is a room entry and presence bookkeeping that a client could otherwise grow without
/// bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketCaps {
    pub subscriptions: usize,
    pub watched_users: usize,
}

impl Default for SocketCaps {
    fn default() -> Self {
        Self {
            subscriptions: 500,
            watched_users: 1_000,
        }
    }
}

/// The knobs of `/notifications`.
#[derive(Debug, Clone, Copy)]
pub struct NotificationsConfig {
    /// How long sockets have to ack before a push is due.
    pub ack_timeout: Duration,
    /// Pending notifications kept per user; older ones are dropped.
    pub max_pending: i64,
    /// Whether pushes are scheduled at all (FCM credentials configured).
    pub push_enabled: bool,
    /// Devices kept per user; registering one more evicts the one registered longest ago,
    /// so one user cannot turn a notification into thousands of pushes.
    pub max_devices: i64,
}
