//! What a push says, and its FCM HTTP v1 `messages:send` body.

use serde_json::{Map, Value, json};

/// One push to one device.
#[derive(Debug, Clone)]
pub struct PushMessage {
    /// The device's FCM registration token.
    pub token: String,
    /// Also the collapse key, so that a push retried or re-sent replaces, not repeats.
    pub notification_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: Map<String, Value>,
    pub high_priority: bool,
}

/// Keys FCM documents as reserved in `data`. It refuses them with 400 INVALID_ARGUMENT,
/// which reads as a bad device token and would get the token deleted: left out instead.
const RESERVED_KEYS: [&str; 2] = ["from", "message_type"];
const RESERVED_PREFIXES: [&str; 2] = ["google", "gcm"];

/// The request body for `POST /v1/projects/{project}/messages:send`.
pub(super) fn request_body(push: &PushMessage) -> Value {
    let (android_priority, apns_priority) = if push.high_priority {
        ("HIGH", "10")
    } else {
        ("NORMAL", "5")
    };
    json!({
        "message": {
            "token": push.token,
            "notification": { "title": push.title, "body": push.body },
            "data": data(push),
            "android": {
                "priority": android_priority,
                "collapse_key": push.notification_id,
            },
            "apns": {
                "headers": {
                    "apns-priority": apns_priority,
                    "apns-collapse-id": push.notification_id,
                },
            },
        }
    })
}

/// FCM `data` holds only strings: other JSON values travel as their JSON text. `id` and
/// `type` are ours and win over same-named keys, since clients dedupe on them.
fn data(push: &PushMessage) -> Map<String, Value> {
    let mut data: Map<String, Value> = push
        .data
        .iter()
        .filter(|(key, _)| !reserved(key))
        .map(|(key, value)| (key.clone(), Value::String(as_text(value))))
        .collect();
    data.insert("id".into(), Value::String(push.notification_id.clone()));
    data.insert("type".into(), Value::String(push.kind.clone()));
    data
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn reserved(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    RESERVED_KEYS.contains(&lower.as_str())
        || RESERVED_PREFIXES
            .iter()
            .any(|prefix| lower.starts_with(prefix))
}
