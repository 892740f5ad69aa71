//! Typed requests of `/notifications` and of `POST /api/v1/notifications`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ports::{Platform, Priority, ReadSelection};
use crate::text::text_at_most;
use crate::wire::{Id, PageLimit, ShortName, Title, UserIds};

pub const MAX_BODY_CHARS: usize = 4000;
pub const MAX_READ_IDS: usize = 100;
pub const MAX_TOKEN_CHARS: usize = 4096;
pub const MAX_TTL_SECONDS: u32 = 30 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List {
    pub before: Option<Id>,
    #[serde(default)]
    pub limit: PageLimit,
    #[serde(default)]
    pub unread_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "ReadRaw")]
pub struct Read(pub ReadSelection);

#[derive(Debug, Deserialize)]
struct ReadRaw {
    ids: Option<Vec<Id>>,
    #[serde(default)]
    all: bool,
}

impl TryFrom<ReadRaw> for Read {
    type Error = String;
    fn try_from(raw: ReadRaw) -> Result<Self, String> {
        match (raw.ids, raw.all) {
            (None, true) => Ok(Self(ReadSelection::All)),
            (Some(ids), false) if !ids.is_empty() && ids.len() <= MAX_READ_IDS => Ok(Self(
                ReadSelection::Ids(ids.into_iter().map(Id::into_string).collect()),
            )),
            _ => Err(format!("send either ids (1..={MAX_READ_IDS}) or all: true")),
        }
    }
}

/// An FCM registration token: opaque, 1..=4096 characters, no whitespace.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct DeviceToken(pub String);

impl TryFrom<String> for DeviceToken {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let chars = value.chars().count();
        if chars == 0
            || chars > MAX_TOKEN_CHARS
            || value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "token is 1..={MAX_TOKEN_CHARS} characters without spaces"
            ));
        }
        Ok(Self(value))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRegister {
    pub token: DeviceToken,
    pub platform: Platform,
    pub app_id: Option<Id>,
    /// The app installation (PROTOCOL.md §4): lets a token move between users.
    pub installation_id: Option<Id>,
}

#[derive(Debug, Deserialize)]
pub struct DeviceUnregister {
    pub token: DeviceToken,
}

text_at_most!(
    /// A notification body: at most 4000 characters (may be empty).
    BodyText,
    MAX_BODY_CHARS,
    "body"
);

/// Seconds until a notification expires: 1..=30 days.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "u32")]
pub struct TtlSeconds(pub u32);

impl TryFrom<u32> for TtlSeconds {
    type Error = String;
    fn try_from(value: u32) -> Result<Self, String> {
        if (1..=MAX_TTL_SECONDS).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("ttlSeconds is 1..={MAX_TTL_SECONDS}"))
        }
    }
}

/// `POST /api/v1/notifications`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Create {
    pub user_ids: UserIds,
    #[serde(rename = "type")]
    pub kind: ShortName,
    pub title: Title,
    pub body: BodyText,
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    #[serde(default)]
    pub priority: Priority,
    pub ttl_seconds: Option<TtlSeconds>,
    pub idempotency_key: Option<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn read_takes_ids_or_all_but_not_both_or_neither() {
        assert!(matches!(
            serde_json::from_value::<Read>(json!({"all": true})),
            Ok(Read(ReadSelection::All))
        ));
        assert!(serde_json::from_value::<Read>(json!({"ids": ["a"]})).is_ok());
        assert!(serde_json::from_value::<Read>(json!({})).is_err());
        assert!(serde_json::from_value::<Read>(json!({"ids": []})).is_err());
        assert!(serde_json::from_value::<Read>(json!({"ids": ["a"], "all": true})).is_err());
    }

    #[test]
    fn create_checks_priority_ttl_and_data() {
        let ok = json!({"userIds": ["u"], "type": "t", "title": "x", "body": "", "priority": "urgent", "ttlSeconds": 60});
        let req: Create = serde_json::from_value(ok).expect("valid");
        assert_eq!(req.priority, Priority::Urgent);
        let bad_priority =
            json!({"userIds": ["u"], "type": "t", "title": "x", "body": "", "priority": "meh"});
        assert!(serde_json::from_value::<Create>(bad_priority).is_err());
        let bad_ttl =
            json!({"userIds": ["u"], "type": "t", "title": "x", "body": "", "ttlSeconds": 0});
        assert!(serde_json::from_value::<Create>(bad_ttl).is_err());
        let bad_data =
            json!({"userIds": ["u"], "type": "t", "title": "x", "body": "", "data": [1]});
        assert!(serde_json::from_value::<Create>(bad_data).is_err());
    }

    #[test]
    fn device_tokens_and_platforms_are_checked() {
        assert!(
            serde_json::from_value::<DeviceRegister>(json!({"token": "abc", "platform": "ios"}))
                .is_ok()
        );
        let with_installation = json!({"token": "abc", "platform": "web", "installationId": "i-1"});
        let parsed: DeviceRegister = serde_json::from_value(with_installation).expect("valid");
        assert_eq!(parsed.installation_id.as_ref().map(Id::as_str), Some("i-1"));
        let empty_installation = json!({"token": "abc", "platform": "web", "installationId": ""});
        assert!(serde_json::from_value::<DeviceRegister>(empty_installation).is_err());
        assert!(
            serde_json::from_value::<DeviceRegister>(json!({"token": "a b", "platform": "ios"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<DeviceRegister>(
                json!({"token": "abc", "platform": "symbian"})
            )
            .is_err()
        );
    }
}
