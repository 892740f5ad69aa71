//! Typed requests of `/realtime`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::channels::{ChannelName, MAX_CHANNEL_CHARS};
use crate::ports::ChosenStatus;
use crate::text::text_at_most;
use crate::wire::{Id, ShortName, UserIds};

pub const MAX_CHANNELS_PER_REQUEST: usize = 100;
pub const MAX_STATUS_MESSAGE_CHARS: usize = 200;
/// A draft is longer than a message (4000) but must still fit a default-sized payload
/// when it is sent back in a `conflict` ack.
pub const MAX_DRAFT_CHARS: usize = 16_000;
/// Epochs are ids this server made (a few dozen characters); longer ones are not ours.
pub const MAX_EPOCH_CHARS: usize = 64;
/// `latency:ping`'s `t` is a clock reading: a number, or a short string.
pub const MAX_PING_TAG_CHARS: usize = 64;

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
    pub epoch: Epoch,
    pub offset: u64,
}

/// A channel epoch as the server handed it out: 1..=64 characters.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Epoch(pub String);

impl TryFrom<String> for Epoch {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_EPOCH_CHARS {
            return Err(format!("epoch is 1..={MAX_EPOCH_CHARS} characters"));
        }
        Ok(Self(value))
    }
}

/// `since`: at most one position per channel a request may name, keyed by channel names
/// of at most [`MAX_CHANNEL_CHARS`] characters.
#[derive(Debug, Default, Deserialize)]
#[serde(try_from = "BTreeMap<String, Position>")]
pub struct SincePositions(pub BTreeMap<String, Position>);

impl TryFrom<BTreeMap<String, Position>> for SincePositions {
    type Error = String;
    fn try_from(value: BTreeMap<String, Position>) -> Result<Self, String> {
        if value.len() > MAX_CHANNELS_PER_REQUEST {
            return Err(format!(
                "since has at most {MAX_CHANNELS_PER_REQUEST} channels"
            ));
        }
        if value
            .keys()
            .any(|channel| channel.len() > MAX_CHANNEL_CHARS)
        {
            return Err(format!(
                "since names channels of at most {MAX_CHANNEL_CHARS} characters"
            ));
        }
        Ok(Self(value))
    }
}

impl SincePositions {
    pub fn get(&self, channel: &str) -> Option<&Position> {
        self.0.get(channel)
    }
}

#[derive(Debug, Deserialize)]
pub struct Subscribe {
    pub channels: ChannelList,
    #[serde(default)]
    pub since: SincePositions,
}

#[derive(Debug, Deserialize)]
pub struct Unsubscribe {
    pub channels: ChannelList,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceUsers {
    pub user_ids: UserIds,
}

text_at_most!(
    /// A status message: at most 200 characters.
    StatusMessage,
    MAX_STATUS_MESSAGE_CHARS,
    "message"
);

#[derive(Debug, Deserialize)]
pub struct PresenceSet {
    pub status: ChosenStatus,
    pub message: Option<StatusMessage>,
}

/// `presence:members` and `presence:stats`: one channel.
#[derive(Debug, Deserialize)]
pub struct PresenceMembers {
    pub channel: ChannelName,
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
    pub content: DraftContent,
}

text_at_most!(
    /// A draft's text: at most [`MAX_DRAFT_CHARS`] characters (may be empty).
    DraftContent,
    MAX_DRAFT_CHARS,
    "content"
);

#[derive(Debug, Deserialize)]
pub struct LatencyPing {
    pub t: PingTag,
}

/// The client's clock reading, echoed: a number or a string of at most
/// [`MAX_PING_TAG_CHARS`] characters, so a ping is never a way to bounce arbitrary data.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct PingTag(Value);

impl TryFrom<Value> for PingTag {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        match &value {
            Value::Number(_) => Ok(Self(value)),
            Value::String(text) if text.chars().count() <= MAX_PING_TAG_CHARS => Ok(Self(value)),
            _ => Err(format!(
                "t is a number or a string of at most {MAX_PING_TAG_CHARS} characters"
            )),
        }
    }
}

impl From<PingTag> for Value {
    fn from(tag: PingTag) -> Value {
        tag.0
    }
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
    use crate::wire::MAX_PRESENCE_USERS;
    use serde_json::json;

    #[test]
    fn subscribe_bounds_and_since() {
        let ok: Subscribe = serde_json::from_value(json!({
            "channels": ["public:a"], "since": {"public:a": {"epoch": "e", "offset": 3}}
        }))
        .expect("valid");
        assert_eq!(ok.since.get("public:a").map(|p| p.offset), Some(3));
        assert!(serde_json::from_value::<Subscribe>(json!({"channels": []})).is_err());
        let many: Vec<String> = (0..=MAX_CHANNELS_PER_REQUEST)
            .map(|i| format!("public:{i}"))
            .collect();
        assert!(serde_json::from_value::<Subscribe>(json!({ "channels": many })).is_err());
        assert!(serde_json::from_value::<Subscribe>(json!({"channels": ["public:a"], "since": {"public:a": {"offset": -1, "epoch": "e"}}})).is_err());
    }

    #[test]
    fn since_is_bounded() {
        let since = |entries: usize, epoch: &str| {
            let map: serde_json::Map<String, Value> = (0..entries)
                .map(|i| (format!("public:{i}"), json!({"epoch": epoch, "offset": 1})))
                .collect();
            serde_json::from_value::<Subscribe>(json!({"channels": ["public:0"], "since": map}))
        };
        assert!(since(MAX_CHANNELS_PER_REQUEST, "e").is_ok());
        assert!(since(MAX_CHANNELS_PER_REQUEST + 1, "e").is_err());
        assert!(since(1, &"e".repeat(MAX_EPOCH_CHARS)).is_ok());
        assert!(since(1, &"e".repeat(MAX_EPOCH_CHARS + 1)).is_err());
        assert!(since(1, "").is_err());
        let long_key = json!({ "x".repeat(MAX_CHANNEL_CHARS + 1): {"epoch": "e", "offset": 1} });
        assert!(
            serde_json::from_value::<Subscribe>(
                json!({"channels": ["public:a"], "since": long_key})
            )
            .is_err()
        );
    }

    #[test]
    fn draft_content_and_ping_tag_are_bounded() {
        let draft = |content: String| {
            serde_json::from_value::<DraftSync>(
                json!({"draftId": "d", "baseVersion": 0, "content": content}),
            )
        };
        assert!(draft(String::new()).is_ok());
        assert!(draft("é".repeat(MAX_DRAFT_CHARS)).is_ok());
        assert!(draft("x".repeat(MAX_DRAFT_CHARS + 1)).is_err());
        let ping = |t: Value| serde_json::from_value::<LatencyPing>(json!({ "t": t }));
        for ok in [json!(1), json!(0.5), json!("x".repeat(MAX_PING_TAG_CHARS))] {
            assert_eq!(Value::from(ping(ok.clone()).expect("accepted").t), ok);
        }
        for bad in [
            json!("x".repeat(MAX_PING_TAG_CHARS + 1)),
            json!({"a": 1}),
            json!([1]),
            json!(null),
            json!(true),
        ] {
            assert!(ping(bad.clone()).is_err(), "{bad} accepted");
        }
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
