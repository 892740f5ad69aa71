//! The port of presence: which sockets each user has open, the status they chose, their
//! last activity, and which channels they are in.

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

/// Sockets, statuses and channel membership of users. Calls are quick and local; a
/// cluster implementation shares the state through Redis behind the same calls.
pub trait PresenceRegistry: Send + Sync + 'static {
    /// Records an open socket; true when it is the user's first (they came online).
    fn socket_opened(&self, user_id: &str, socket_id: &str, now: i64) -> bool;
    /// Forgets a socket; true when it was the user's last (they went offline).
    fn socket_closed(&self, user_id: &str, socket_id: &str, now: i64) -> bool;
    fn set_status(&self, user_id: &str, status: ChosenStatus, message: Option<String>);
    /// Any event from any of the user's sockets.
    fn touch(&self, user_id: &str, now: i64);
    /// Records for `user_ids`; unknown users are absent.
    fn records(&self, user_ids: &[String]) -> Vec<PresenceRecord>;
    /// Users with at least one open socket.
    fn online_users(&self) -> Vec<String>;
    /// A socket entered `channel`; true when it is the user's first socket there.
    fn joined(&self, channel: &str, user_id: &str, socket_id: &str) -> bool;
    /// A socket left `channel`; true when it was the user's last socket there.
    fn left(&self, channel: &str, user_id: &str, socket_id: &str) -> bool;
    /// Channels the socket is in (to leave them all when it closes).
    fn channels_of_socket(&self, socket_id: &str) -> Vec<String>;
    /// Channels any socket of the user is in.
    fn channels_of_user(&self, user_id: &str) -> Vec<String>;
    fn members(&self, channel: &str) -> Vec<String>;
    /// Drops users offline since before `before` (ms); returns who was dropped. Keeps
    /// memory bounded by recent users, at the price of their `lastSeen`.
    fn forget_offline_before(&self, before: i64) -> Vec<String>;
}
