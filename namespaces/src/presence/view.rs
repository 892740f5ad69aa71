//! The status others see, derived from what the registry knows.

use serde::Serialize;

use super::PresenceConfig;
use crate::ports::{ChosenStatus, PresenceRecord};

/// A displayed status. `invisible` users are shown `offline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Idle,
    Away,
    Dnd,
    Offline,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Idle => "idle",
            Self::Away => "away",
            Self::Dnd => "dnd",
            Self::Offline => "offline",
        }
    }
}

/// The displayed status of `record` at `now`.
pub fn displayed(record: &PresenceRecord, now: i64, config: &PresenceConfig) -> Status {
    if record.devices == 0 {
        return Status::Offline;
    }
    match record.chosen {
        ChosenStatus::Invisible => Status::Offline,
        ChosenStatus::Dnd => Status::Dnd,
        ChosenStatus::Away => Status::Away,
        ChosenStatus::Online => {
            let quiet = now.saturating_sub(record.last_activity).max(0) as u128;
            if quiet >= config.away_after.as_millis() {
                Status::Away
            } else if quiet >= config.idle_after.as_millis() {
                Status::Idle
            } else {
                Status::Online
            }
        }
    }
}

/// An answer about presence (see [`super::Presence::answer`]): its own fields, and
/// `degraded: true` only while it comes from this node's view alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceAnswer<T> {
    #[serde(flatten)]
    pub answer: T,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub degraded: bool,
}

/// One entry of `presence:get` and friends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceView {
    pub user_id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub last_seen: Option<i64>,
    pub devices: usize,
}

/// The `presence` event: a view without the device count.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceEvent {
    pub user_id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub last_seen: Option<i64>,
}

impl PresenceView {
    pub fn of(record: &PresenceRecord, now: i64, config: &PresenceConfig) -> Self {
        let status = displayed(record, now, config);
        let hidden = record.chosen == ChosenStatus::Invisible || record.devices == 0;
        Self {
            user_id: record.user_id.clone(),
            status,
            // An invisible user shows nothing that would give them away.
            message: if hidden { None } else { record.message.clone() },
            last_seen: if hidden {
                record.last_seen
            } else {
                Some(record.last_activity)
            },
            devices: if hidden { 0 } else { record.devices },
        }
    }

    pub fn unknown(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            status: Status::Offline,
            message: None,
            last_seen: None,
            devices: 0,
        }
    }

    pub fn event(&self) -> PresenceEvent {
        PresenceEvent {
            user_id: self.user_id.clone(),
            status: self.status,
            message: self.message.clone(),
            last_seen: self.last_seen,
        }
    }
}
