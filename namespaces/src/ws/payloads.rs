//! Typed requests of `/ws`, with every limit checked while deserializing, so a handler
//! only ever sees a valid request.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::wire::{Id, PageLimit, Title};

pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_PARTICIPANTS: usize = 200;
pub const MAX_ATTACHMENTS: usize = 10;
pub const MAX_SYNC_CONVERSATIONS: usize = 200;

/// A message body: 1..=4000 characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct Content(String);

impl TryFrom<String> for Content {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.trim().is_empty() {
            return Err("content may not be empty".into());
        }
        if value.chars().count() > MAX_CONTENT_CHARS {
            return Err(format!("content is at most {MAX_CONTENT_CHARS} characters"));
        }
        Ok(Self(value))
    }
}

impl Content {
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A sequence number: zero or more.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Seq(i64);

impl TryFrom<i64> for Seq {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, String> {
        if value >= 0 {
            Ok(Self(value))
        } else {
            Err("seq may not be negative".into())
        }
    }
}

impl Seq {
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Attachments: at most 10, each a JSON object the server stores as it came.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(try_from = "Vec<Value>")]
pub struct Attachments(Vec<Value>);

impl TryFrom<Vec<Value>> for Attachments {
    type Error = String;
    fn try_from(value: Vec<Value>) -> Result<Self, String> {
        if value.len() > MAX_ATTACHMENTS {
            return Err(format!("at most {MAX_ATTACHMENTS} attachments"));
        }
        if !value.iter().all(Value::is_object) {
            return Err("each attachment is an object".into());
        }
        Ok(Self(value))
    }
}

impl Attachments {
    pub fn into_vec(self) -> Vec<Value> {
        self.0
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateConversation {
    #[serde(deserialize_with = "participant_list")]
    pub participant_ids: Vec<Id>,
    pub title: Option<Title>,
}

fn participant_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Id>, D::Error> {
    let ids = Vec::<Id>::deserialize(d)?;
    if ids.is_empty() || ids.len() > MAX_PARTICIPANTS {
        return Err(serde::de::Error::custom(format!(
            "participantIds has 1..={MAX_PARTICIPANTS} entries"
        )));
    }
    Ok(ids)
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage {
    pub conversation_id: Id,
    pub client_msg_id: Id,
    pub content: Content,
    #[serde(default)]
    pub attachments: Option<Attachments>,
    pub reply_to: Option<Id>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditMessage {
    pub message_id: Id,
    pub content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteMessage {
    pub message_id: Id,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub conversation_id: Id,
    pub before_seq: Option<Seq>,
    #[serde(default)]
    pub limit: PageLimit,
}

#[derive(Debug, Deserialize)]
pub struct Sync {
    #[serde(deserialize_with = "cursor_map")]
    pub cursors: BTreeMap<Id, Seq>,
}

fn cursor_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<Id, Seq>, D::Error> {
    let cursors = BTreeMap::<Id, Seq>::deserialize(d)?;
    if cursors.len() > MAX_SYNC_CONVERSATIONS {
        return Err(serde::de::Error::custom(format!(
            "cursors name at most {MAX_SYNC_CONVERSATIONS} conversations"
        )));
    }
    Ok(cursors)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Read {
    pub conversation_id: Id,
    pub seq: Seq,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    pub conversation_id: Id,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DEFAULT_PAGE, MAX_ID_CHARS};
    use serde_json::json;

    fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn send_accepts_a_valid_message() {
        let req: SendMessage = parse(json!({
            "conversationId": "c1", "clientMsgId": "m1", "content": "hi",
            "attachments": [{"url": "x"}], "replyTo": "m0"
        }))
        .expect("valid");
        assert_eq!(req.conversation_id.as_str(), "c1");
        assert_eq!(
            req.attachments.map(Attachments::into_vec).map(|a| a.len()),
            Some(1)
        );
    }

    #[test]
    fn content_limits_are_enforced_in_characters() {
        let ok = "é".repeat(MAX_CONTENT_CHARS);
        assert!(Content::try_from(ok).is_ok());
        assert!(Content::try_from("é".repeat(MAX_CONTENT_CHARS + 1)).is_err());
        assert!(Content::try_from(String::new()).is_err());
        assert!(Content::try_from("  \n".to_string()).is_err());
    }

    #[test]
    fn wrong_types_and_missing_fields_are_rejected() {
        assert!(parse::<SendMessage>(json!({"conversationId": 5})).is_err());
        assert!(parse::<SendMessage>(json!({"conversationId": "c", "clientMsgId": "m"})).is_err());
        assert!(parse::<SendMessage>(json!("text")).is_err());
        assert!(parse::<Read>(json!({"conversationId": "c", "seq": -1})).is_err());
    }

    #[test]
    fn ids_reject_empty_long_and_control_characters() {
        assert!(Id::try_from(String::new()).is_err());
        assert!(Id::try_from("x".repeat(MAX_ID_CHARS + 1)).is_err());
        assert!(Id::try_from("a\u{0}b".to_string()).is_err());
        assert!(Id::try_from("user-1".to_string()).is_ok());
    }

    #[test]
    fn attachments_must_be_few_objects() {
        assert!(Attachments::try_from(vec![json!(1)]).is_err());
        assert!(Attachments::try_from(vec![json!({}); MAX_ATTACHMENTS + 1]).is_err());
    }

    #[test]
    fn page_limit_defaults_and_bounds() {
        let req: History = parse(json!({"conversationId": "c"})).expect("valid");
        assert_eq!(req.limit.get(), DEFAULT_PAGE);
        assert!(parse::<History>(json!({"conversationId": "c", "limit": 0})).is_err());
        assert!(parse::<History>(json!({"conversationId": "c", "limit": 101})).is_err());
    }

    #[test]
    fn participants_must_be_a_bounded_nonempty_list() {
        assert!(parse::<CreateConversation>(json!({"participantIds": []})).is_err());
        let many: Vec<String> = (0..=MAX_PARTICIPANTS).map(|i| format!("u{i}")).collect();
        assert!(parse::<CreateConversation>(json!({"participantIds": many})).is_err());
    }
}
