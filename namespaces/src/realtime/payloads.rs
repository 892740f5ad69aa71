//! Typed requests of `/realtime`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::channels::ChannelName;
use crate::ports::ChosenStatus;
use crate::ws::payloads::Id;

pub const MAX_CHANNELS_PER_REQUEST: usize = 100;
pub const MAX_PRESENCE_USERS: usize = 500;
pub const MAX_STATUS_MESSAGE_CHARS: usize = 200;
pub const MAX_EVENT_NAME_CHARS: usize = 64;

/// Channel names as sent; each is checked on its own so one bad name does not fail the
/// others (it is reported in `denied`).
#[derive(Debug, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct ChannelList(pub Vec<String>);

impl TryFrom<Vec<String>> for ChannelList {
    type Error = String;
    fn try_from(value: Vec<String>) -> Result<Self, String> {
        if value.is_empty() || value.len() > MAX_CHANNELS_PER_REQUEST {
            return Err(format!(
                "channels has 1..={MAX_CHANNELS_PER_REQUEST} entries"
            ));
        }
        Ok(Self(value))
    }
}

/// Where a client left off in a channel.
#[derive(Debug, Clone, Deserialize)]
pub struct Position {
    pub epoch: String,
    pub offset: u64,
}

#[derive(Debug, Deserialize)]
pub struct Subscribe {
    pub channels: ChannelList,
    #[serde(default)]
    pub since: BTreeMap<String, Position>,
}

#[derive(Debug, Deserialize)]
pub struct Unsubscribe {
    pub channels: ChannelList,
}

/// A user id list of 1..=500 entries.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Vec<Id>")]
pub struct UserIds(pub Vec<String>);

impl TryFrom<Vec<Id>> for UserIds {
    type Error = String;
    fn try_from(value: Vec<Id>) -> Result<Self, String> {
        if value.is_empty() || value.len() > MAX_PRESENCE_USERS {
            return Err(format!("userIds has 1..={MAX_PRESENCE_USERS} entries"));
        }
        Ok(Self(value.into_iter().map(Id::into_string).collect()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceUsers {
    pub user_ids: UserIds,
}

/// A status message: at most 200 characters.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct StatusMessage(pub String);

impl TryFrom<String> for StatusMessage {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.chars().count() > MAX_STATUS_MESSAGE_CHARS {
            return Err(format!(
                "message is at most {MAX_STATUS_MESSAGE_CHARS} characters"
            ));
        }
        Ok(Self(value))
    }
}

#[derive(Debug, Deserialize)]
pub struct PresenceSet {
    pub status: ChosenStatus,
    pub message: Option<StatusMessage>,
}

#[derive(Debug, Deserialize)]
pub struct PresenceMembers {
    pub channel: ChannelName,
}

/// A short name: an activity kind or a published event name.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct ShortName(pub String);

impl TryFrom<String> for ShortName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_EVENT_NAME_CHARS || value.chars().any(char::is_control) {
            return Err(format!("names are 1..={MAX_EVENT_NAME_CHARS} characters"));
        }
        Ok(Self(value))
    }
}

#[derive(Debug, Deserialize)]
pub struct Activity {
    pub kind: ShortName,
    pub target: Option<Id>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftGet {
    pub draft_id: Id,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftSync {
    pub draft_id: Id,
    pub base_version: u32,
    pub content: String,
}

#[derive(Debug, Deserialize)]
pub struct LatencyPing {
    pub t: Value,
}

/// `POST /api/v1/publish`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publish {
    pub channel: ChannelName,
    pub event: ShortName,
    #[serde(default)]
    pub data: Value,
    pub idempotency_key: Option<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subscribe_bounds_and_since() {
        let ok: Subscribe = serde_json::from_value(json!({
            "channels": ["public:a"], "since": {"public:a": {"epoch": "e", "offset": 3}}
        }))
        .expect("valid");
        assert_eq!(ok.since["public:a"].offset, 3);
        assert!(serde_json::from_value::<Subscribe>(json!({"channels": []})).is_err());
        let many: Vec<String> = (0..=MAX_CHANNELS_PER_REQUEST)
            .map(|i| format!("public:{i}"))
            .collect();
        assert!(serde_json::from_value::<Subscribe>(json!({ "channels": many })).is_err());
        assert!(serde_json::from_value::<Subscribe>(json!({"channels": ["public:a"], "since": {"public:a": {"offset": -1, "epoch": "e"}}})).is_err());
    }

    #[test]
    fn presence_requests_are_bounded() {
        assert!(serde_json::from_value::<PresenceSet>(json!({"status": "busy"})).is_err());
        assert!(
            serde_json::from_value::<PresenceSet>(
                json!({"status": "dnd", "message": "x".repeat(201)})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<PresenceSet>(json!({"status": "invisible"})).is_ok());
        let many: Vec<String> = (0..=MAX_PRESENCE_USERS).map(|i| format!("u{i}")).collect();
        assert!(serde_json::from_value::<PresenceUsers>(json!({ "userIds": many })).is_err());
    }

    #[test]
    fn publish_needs_a_valid_channel_and_event() {
        assert!(
            serde_json::from_value::<Publish>(json!({"channel": "public:a", "event": "tick"}))
                .is_ok()
        );
        assert!(
            serde_json::from_value::<Publish>(json!({"channel": "bad", "event": "tick"})).is_err()
        );
        assert!(
            serde_json::from_value::<Publish>(json!({"channel": "public:a", "event": ""})).is_err()
        );
    }
}
