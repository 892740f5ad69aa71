//! The port of presence: which sockets each user has open, the status they chose, their
//! last activity, and which channels they are in.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The status a user sets with `presence:set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChosenStatus {
    #[default]
    Online,
    Away,
    Dnd,
    Invisible,
}

impl ChosenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Dnd => "dnd",
            Self::Invisible => "invisible",
        }
    }

    /// The inverse of [`ChosenStatus::as_str`]; anything else reads as `online`.
    pub fn parse(s: &str) -> Self {
        match s {
            "away" => Self::Away,
            "dnd" => Self::Dnd,
            "invisible" => Self::Invisible,
            _ => Self::Online,
        }
    }
}

/// What the registry knows of one user; the displayed status is derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceRecord {
    pub user_id: String,
    pub devices: usize,
    pub chosen: ChosenStatus,
    pub message: Option<String>,
    pub last_activity: i64,
    /// When the last socket closed; `None` for a user never seen offline.
    pub last_seen: Option<i64>,
}

/// What a socket change did to the user, for the service to tell others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// The user's first socket opened, or their last one closed.
    pub flipped: bool,
    /// Channels the user no longer has any socket in: sockets of a node that died
    /// without cleaning up, found expired while handling this change.
    pub left_channels: Vec<String>,
}

/// A user whose sockets all expired (their node died without closing them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub user_id: String,
    /// True when the user now has no socket anywhere: they went offline.
    pub went_offline: bool,
    pub left_channels: Vec<String>,
}

/// Told of each user's presence transitions, once per cluster: the registry reports a
/// user's first socket opening ([`Change::flipped`] from `socket_opened`), last one
/// closing (from `socket_closed`) and last one expiring with a dead node
/// ([`Reaped::went_offline`]) to one caller only. The backend's webhooks listen here
/// (`user.online`, `user.offline`). Calls return at once: the listener queues them.
pub trait PresenceTransitions: Send + Sync + 'static {
    /// The user's first socket opened, at `at` (ms).
    fn online(&self, user_id: &str, at: i64);
    /// The user's last socket closed or expired; they were last seen at `last_seen` (ms).
    fn offline(&self, user_id: &str, last_seen: i64);
}

/// How many are in a channel, on every node (`presence:stats`, which replies with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChannelStats {
    /// Distinct users with at least one subscribed socket.
    pub users: usize,
    /// Subscribed sockets.
    pub sockets: usize,
}

/// Sockets, statuses and channel membership of users. One node keeps them in memory; a
/// cluster shares them through Redis, where each socket entry carries an expiry that its
/// node keeps refreshing, so a node that dies stops counting by itself.
///
/// Calls do not fail: presence is advisory, and a cluster implementation that cannot
/// reach Redis logs it and re-asserts its own sockets when Redis returns.
#[async_trait]
pub trait PresenceRegistry: Send + Sync + 'static {
    /// Records an open socket; `flipped` when it is the user's first (they came online).
    async fn socket_opened(&self, user_id: &str, socket_id: &str, now: i64) -> Change;
    /// Forgets a socket; `flipped` when it was the user's last (they went offline).
    async fn socket_closed(&self, user_id: &str, socket_id: &str, now: i64) -> Change;
    async fn set_status(&self, user_id: &str, status: ChosenStatus, message: Option<String>);
    /// Any event from any of the user's sockets.
    async fn touch(&self, user_id: &str, now: i64);
    /// Records for `user_ids`; unknown users are absent.
    async fn records(&self, user_ids: &[String]) -> Vec<PresenceRecord>;
    /// Users whose status this node re-derives as time passes: those with a socket here.
    async fn local_users(&self) -> Vec<String>;
    /// A socket entered `channel`; true when it is the user's first socket there.
    async fn joined(&self, channel: &str, user_id: &str, socket_id: &str) -> bool;
    /// A socket left `channel`; true when it was the user's last socket there.
    async fn left(&self, channel: &str, user_id: &str, socket_id: &str) -> bool;
    /// Channels the socket is in (to leave them all when it closes). Asked only of the
    /// node that holds the socket.
    async fn channels_of_socket(&self, socket_id: &str) -> Vec<String>;
    /// Channels any socket of the user is in, on any node.
    async fn channels_of_user(&self, user_id: &str) -> Vec<String>;
    async fn members(&self, channel: &str) -> Vec<String>;
    /// Sockets subscribed to `channel`, on every node (entries of a dead node's sockets
    /// stop counting when they expire).
    /// `None` when they cannot be counted now (Redis past its deadline): the caller must
    /// not take an unknown size for a small one.
    async fn subscribers(&self, channel: &str) -> Option<usize>;
    /// (socket, channel) pairs this node keeps for its own sockets: what their
    /// subscriptions cost here, back to nothing once they close.
    fn local_subscriptions(&self) -> usize;
    /// (user, socket) of every socket this node holds: what a draining node forgets
    /// before it exits.
    fn local_sockets(&self) -> Vec<(String, String)>;
    /// Users and sockets in `channel`, counted where the entries are (one round trip in a
    /// cluster) rather than by sending every member to the caller: channels that are too
    /// big to announce joins in are the ones asked.
    async fn stats(&self, channel: &str) -> ChannelStats;
    /// Records `told` as the last status told to others of the user; true when it differs
    /// from the previous one, so among nodes deriving the same change only one tells it.
    async fn mark_told(&self, user_id: &str, told: &str) -> bool;
    /// The last status told of the user, if any.
    async fn told(&self, user_id: &str) -> Option<String>;
    /// Users whose sockets expired without being closed, each reported once.
    async fn reap_expired(&self, now: i64) -> Vec<Reaped>;
    /// Drops users offline since before `before` (ms). Keeps memory bounded by recent
    /// users, at the price of their `lastSeen`. A store with expiring keys does nothing.
    async fn forget_offline_before(&self, before: i64);

    /// True while this registry answers from one node's own view (a cluster without
    /// Redis): other nodes' users look offline, and answers say so.
    fn degraded(&self) -> bool {
        false
    }
}
