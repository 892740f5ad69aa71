//! Channel names (PROTOCOL.md §3); who may subscribe to which is in [`crate::channel_rules`].

use serde::Deserialize;

pub const MAX_CHANNEL_CHARS: usize = 200;

/// A channel name `scope:id`: 3..=200 characters from a URL- and log-safe set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ChannelName(String);

impl TryFrom<String> for ChannelName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-:.@=/+".contains(c);
        let Some((scope, id)) = value.split_once(':') else {
            return Err(format!("channel `{}` is not scope:id", shorten(&value)));
        };
        if value.len() > MAX_CHANNEL_CHARS
            || scope.is_empty()
            || id.is_empty()
            || !value.chars().all(allowed)
        {
            return Err(format!(
                "channel `{}` must be scope:id, at most {MAX_CHANNEL_CHARS} characters of A-Z a-z 0-9 _ - : . @ = / +",
                shorten(&value)
            ));
        }
        Ok(Self(value))
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

impl ChannelName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChannelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const CHANNEL_ROOM_PREFIX: &str = "ch:";

/// The room a channel's subscribers join.
pub fn channel_room(channel: &str) -> String {
    format!("{CHANNEL_ROOM_PREFIX}{channel}")
}

/// The channel whose subscribers `room` holds, if it is a channel's room.
pub fn room_channel(room: &str) -> Option<&str> {
    room.strip_prefix(CHANNEL_ROOM_PREFIX)
}

/// The user's own channel, `user:{sub}`: every socket of the user holds it from its
/// connect, and no one else may subscribe to it (PROTOCOL.md §3).
pub fn own_channel(user_id: &str) -> String {
    format!("user:{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_validated() {
        for ok in ["public:lobby", "task:2024-01/x", "user:a@b.c"] {
            assert!(ChannelName::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        let long = format!("public:{}", "x".repeat(MAX_CHANNEL_CHARS));
        for bad in [
            "nocolon",
            ":x",
            "x:",
            "public:sp ace",
            "public:\u{0}",
            "public:é",
            long.as_str(),
        ] {
            assert!(ChannelName::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
