//! Wire types every namespace and the HTTP API share: ids, page sizes, titles, short
//! names and user lists, each with its limits checked while the payload is parsed.

use serde::Deserialize;

use crate::text::text_at_most;

pub const MAX_ID_CHARS: usize = 128;
pub const MAX_TITLE_CHARS: usize = 200;
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 100;
pub const MAX_PRESENCE_USERS: usize = 500;
pub const MAX_EVENT_NAME_CHARS: usize = 64;

/// An identifier sent by a client: 1..=128 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Id(String);

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_ID_CHARS {
            return Err(format!("ids are 1..={MAX_ID_CHARS} characters"));
        }
        if value.chars().any(char::is_control) {
            return Err("ids may not contain control characters".into());
        }
        Ok(Self(value))
    }
}

impl Id {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

text_at_most!(
    /// A conversation or notification title: at most 200 characters.
    Title,
    MAX_TITLE_CHARS,
    "title"
);

/// A page size: 1..=100, 50 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "i64")]
pub struct PageLimit(i64);

impl TryFrom<i64> for PageLimit {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, String> {
        if (1..=MAX_PAGE).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("limit is 1..={MAX_PAGE}"))
        }
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(DEFAULT_PAGE)
    }
}

impl PageLimit {
    pub fn get(self) -> i64 {
        self.0
    }
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
