//! One webhook event as the outbox keeps it: a stable id (`webhook-id`, the same on every
//! retry), its type, its ordering key and the body every endpoint is sent (PROTOCOL.md §9:
//! `{type, timestamp, data}`).

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};
use switchyard_namespaces::ports::{Conversation, Message};

/// The event types, as [`crate::integration::EVENT_TYPES`] lists them.
pub mod types {
    pub const MESSAGE_CREATED: &str = "message.created";
    pub const MESSAGE_EDITED: &str = "message.edited";
    pub const MESSAGE_DELETED: &str = "message.deleted";
    pub const MESSAGE_READ: &str = "message.read";
    pub const CONVERSATION_CREATED: &str = "conversation.created";
    pub const NOTIFICATION_DELIVERED: &str = "notification.delivered";
    pub const NOTIFICATION_READ: &str = "notification.read";
    pub const PUSH_FAILED: &str = "push.failed";
    pub const USER_ONLINE: &str = "user.online";
    pub const USER_OFFLINE: &str = "user.offline";
}

/// One event, ready to be written to the outbox once per endpoint that wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// `msg_` + UUIDv7.
    pub id: String,
    pub kind: &'static str,
    /// `conversation:<id>` or `user:<id>`: events of one key reach an endpoint in order.
    pub key: String,
    /// The JSON body, built once so every attempt sends (and signs) the same bytes.
    pub body: String,
    /// When it happened (ms).
    pub created_at: i64,
}

impl WebhookEvent {
    pub fn new(kind: &'static str, key: String, data: Value, at_ms: i64) -> Self {
        let body = json!({ "type": kind, "timestamp": rfc3339(at_ms), "data": data });
        Self {
            id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
            kind,
            key,
            body: body.to_string(),
            created_at: at_ms,
        }
    }

    /// `message.created`, `.edited`, `.deleted`: the message as `message:new` and
    /// `message:updated` carry it (its `conversationId` among its fields).
    pub fn message(kind: &'static str, m: &Message, at_ms: i64) -> Result<Self, serde_json::Error> {
        let key = conversation_key(&m.conversation_id);
        Ok(Self::new(kind, key, data(m)?, at_ms))
    }

    /// `message.read`: a reader's cursor moved forward.
    pub fn message_read(conversation_id: &str, user_id: &str, seq: i64, at_ms: i64) -> Self {
        let data = json!({ "conversationId": conversation_id, "userId": user_id, "seq": seq });
        Self::new(
            types::MESSAGE_READ,
            conversation_key(conversation_id),
            data,
            at_ms,
        )
    }

    /// `conversation.created`: the conversation as `conversation:new` carries it.
    pub fn conversation(c: &Conversation) -> Result<Self, serde_json::Error> {
        let data = data(c)?;
        let key = conversation_key(&c.id);
        Ok(Self::new(
            types::CONVERSATION_CREATED,
            key,
            data,
            c.created_at,
        ))
    }

    /// `notification.delivered` and `notification.read`.
    pub fn notification(kind: &'static str, user_id: &str, id: &str, at_ms: i64) -> Self {
        let data = json!({ "userId": user_id, "notificationId": id, "at": at_ms });
        Self::new(kind, user_key(user_id), data, at_ms)
    }

    /// `push.failed`: a push to one device was given up on (the token itself is not sent).
    pub fn push_failed(
        user_id: &str,
        notification_id: &str,
        attempts: i64,
        status: Option<i64>,
        at_ms: i64,
    ) -> Self {
        let data = json!({
            "userId": user_id, "notificationId": notification_id,
            "attempts": attempts, "status": status,
        });
        Self::new(types::PUSH_FAILED, user_key(user_id), data, at_ms)
    }

    /// `user.online` / `user.offline`: `{userId, status, lastSeen}`.
    pub fn presence(user_id: &str, online: bool, last_seen: Option<i64>, at_ms: i64) -> Self {
        let (kind, status) = if online {
            (types::USER_ONLINE, "online")
        } else {
            (types::USER_OFFLINE, "offline")
        };
        let data = json!({ "userId": user_id, "status": status, "lastSeen": last_seen });
        Self::new(kind, user_key(user_id), data, at_ms)
    }
}

fn data(value: &impl Serialize) -> Result<Value, serde_json::Error> {
    serde_json::to_value(value)
}

pub fn conversation_key(id: &str) -> String {
    format!("conversation:{id}")
}

pub fn user_key(id: &str) -> String {
    format!("user:{id}")
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(at_ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// Now, in ms since the epoch, for events whose change carries no time of its own.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_type_timestamp_and_data() {
        let event = WebhookEvent::message_read("c1", "u1", 7, 1_614_265_330_123);
        let body: Value = serde_json::from_str(&event.body).expect("JSON");
        assert_eq!(body["type"], "message.read");
        assert_eq!(body["timestamp"], "2021-02-25T15:02:10.123Z");
        assert_eq!(
            body["data"],
            json!({ "conversationId": "c1", "userId": "u1", "seq": 7 })
        );
        assert_eq!(event.key, "conversation:c1");
        assert!(event.id.starts_with("msg_"), "{}", event.id);
    }

    #[test]
    fn ids_differ_per_event() {
        let a = WebhookEvent::presence("u", true, None, 0);
        let b = WebhookEvent::presence("u", true, None, 0);
        assert_ne!(a.id, b.id);
        assert_eq!(a.key, "user:u");
    }
}
