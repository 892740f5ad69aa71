//! The port of `/notifications`: notifications per user, read and delivery state, and
//! device tokens for push.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StoreResult;

/// The five priorities, lowest first; the order decides which pending ones go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
    Critical,
}

impl Priority {
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn from_rank(rank: i64) -> Self {
        match rank {
            i64::MIN..=0 => Self::Low,
            1 => Self::Normal,
            2 => Self::High,
            3 => Self::Urgent,
            _ => Self::Critical,
        }
    }
}

/// A notification as the `notification` event and `notification:list` carry it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: Value,
    pub priority: Priority,
    pub created_at: i64,
    /// Only in `notification:list`: when the user read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<i64>,
}

/// What a service asks to notify one user of.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: Value,
    pub priority: Priority,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub idempotency_key: Option<String>,
    /// When a push is due unless a socket acks or the user reads it first; `None` when
    /// push is off.
    pub push_due_at: Option<i64>,
}

/// Which notifications `notification:read` marks.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadSelection {
    Ids(Vec<String>),
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Android,
    Ios,
    Web,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::Ios => "ios",
            Self::Web => "web",
        }
    }
}

/// A `device:register` as the store keeps it.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRegistration<'a> {
    pub token: &'a str,
    pub platform: Platform,
    pub app_id: Option<&'a str>,
    /// The app installation the token came from; the only proof that lets a token move
    /// from one user to another (an app reinstalled, a shared phone's new account).
    pub installation_id: Option<&'a str>,
}

#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// Stores it, or returns the one already stored under the same user and key
    /// (`false`: nothing new).
    async fn create_notification(&self, n: NewNotification) -> StoreResult<(Notification, bool)>;
    /// Keeps the newest `keep` pending notifications of the user; returns how many older
    /// ones were dropped from the pending queue.
    async fn drop_overflow(&self, user_id: &str, keep: i64, now: i64) -> StoreResult<u64>;
    /// Undelivered, unexpired, undropped: highest priority first, then oldest first.
    async fn pending(&self, user_id: &str, now: i64, limit: i64) -> StoreResult<Vec<Notification>>;
    /// True when this call marked it delivered (the first ack).
    async fn mark_delivered(&self, user_id: &str, id: &str, now: i64) -> StoreResult<bool>;
    /// Unexpired ones, newest first, before the notification `before` when given.
    async fn list_notifications(
        &self,
        user_id: &str,
        before: Option<&str>,
        limit: i64,
        unread_only: bool,
        now: i64,
    ) -> StoreResult<Vec<Notification>>;
    async fn unread_count(&self, user_id: &str, now: i64) -> StoreResult<i64>;
    /// Marks unread ones read; returns the ids this call marked.
    async fn mark_read(
        &self,
        user_id: &str,
        which: &ReadSelection,
        now: i64,
    ) -> StoreResult<Vec<String>>;
    /// Stores the token for the user (registered at `now`) and evicts the user's devices
    /// registered longest ago beyond `max_devices`. A token another user holds is
    /// [`super::StoreError::Conflict`] unless both registrations name the same installation; then
    /// it moves, and the old owner's pushes still queued for it are dropped.
    async fn register_device(
        &self,
        user_id: &str,
        device: DeviceRegistration<'_>,
        max_devices: i64,
        now: i64,
    ) -> StoreResult<()>;
    /// Removes the user's token; [`super::StoreError::NotFound`] when the user does not hold it.
    async fn unregister_device(&self, user_id: &str, token: &str) -> StoreResult<()>;
}
