//! What `/realtime` sends: its server → client events, each payload tied to its name, and
//! the replies to its client events (PROTOCOL.md §3).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::payloads::PingTag;
use crate::ack::{ErrorCode, NsError};
use crate::emit::Emit;
use crate::ports::{Draft, Publication};
use crate::presence::PresenceEvent;
use crate::presence::PresenceView;
use crate::presence::Status;

/// Server → client events.
pub mod emits {
    pub const EVENT: &str = "event";
    pub const PRESENCE: &str = "presence";
    pub const PRESENCE_JOIN: &str = "presence:join";
    pub const PRESENCE_LEAVE: &str = "presence:leave";
    pub const DRAFT_UPDATED: &str = "draft:updated";
    /// `{channels, code}`: channels the server left for the socket (see
    /// [`crate::realtime::reauthorize`]).
    pub const UNSUBSCRIBED: &str = "unsubscribed";
    pub const ALL: &[&str] = &[
        EVENT,
        PRESENCE,
        PRESENCE_JOIN,
        PRESENCE_LEAVE,
        DRAFT_UPDATED,
        UNSUBSCRIBED,
    ];
}

/// `event`: a publication, to the channel's subscribers.
impl Emit for Publication {
    const EVENT: &'static str = emits::EVENT;
}

/// `presence`: a user's status changed, to their watchers and the channels they are in.
impl Emit for PresenceEvent {
    const EVENT: &'static str = emits::PRESENCE;
}

/// `presence:join`: a user's first socket subscribed to the channel.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceJoin {
    pub channel: String,
    pub user_id: String,
}

impl Emit for PresenceJoin {
    const EVENT: &'static str = emits::PRESENCE_JOIN;
}

/// `presence:leave`: a user's last socket left the channel.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceLeave {
    pub channel: String,
    pub user_id: String,
}

impl Emit for PresenceLeave {
    const EVENT: &'static str = emits::PRESENCE_LEAVE;
}

/// `draft:updated`: a draft saved from one socket, to the user's other sockets.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftUpdated<'a> {
    pub draft_id: &'a str,
    pub version: i64,
    pub content: &'a str,
}

impl Emit for DraftUpdated<'_> {
    const EVENT: &'static str = emits::DRAFT_UPDATED;
}

/// `unsubscribed`: channels the server left for the socket, and why.
#[derive(Debug, Serialize)]
pub struct Unsubscribed {
    pub channels: Vec<String>,
    pub code: ErrorCode,
}

impl Emit for Unsubscribed {
    const EVENT: &'static str = emits::UNSUBSCRIBED;
}

/// The reply to `subscribe`: per channel asked, subscribed or denied; for those asked
/// with `since`, whether history could tell what was missed, and what.
#[derive(Debug, Serialize)]
pub struct Subscribed {
    pub subscribed: Vec<String>,
    pub denied: Vec<Denied>,
    pub recovered: BTreeMap<String, bool>,
    pub missed: BTreeMap<String, Vec<Publication>>,
}

/// One channel of a `subscribe` refused, and why; `message` only when the code alone does
/// not tell.
#[derive(Debug, Serialize)]
pub struct Denied {
    pub channel: String,
    pub code: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Denied {
    pub fn new(channel: &str, code: ErrorCode) -> Self {
        Self {
            channel: channel.to_owned(),
            code,
            message: None,
        }
    }

    /// Refused because the socket holds as many channels as it may: `invalid_payload`,
    /// with a message naming the limit so the client can tell it from a bad name.
    pub fn over_cap(channel: &str, cap: usize) -> Self {
        Self {
            message: Some(format!(
                "a socket holds at most {cap} subscriptions (max_subscriptions_per_socket)"
            )),
            ..Self::new(channel, ErrorCode::InvalidPayload)
        }
    }
}

/// A user of a `presence:watch` not watched: the socket watches as many as it may.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotWatched {
    pub user_id: String,
    pub code: ErrorCode,
    pub message: String,
}

impl NotWatched {
    pub fn over_cap(user_id: String, cap: usize) -> Self {
        Self {
            user_id,
            code: ErrorCode::InvalidPayload,
            message: format!("a socket watches at most {cap} users (max_watched_users_per_socket)"),
        }
    }
}

/// The reply to `latency:ping`: the client's tag and the server's clock.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyPong {
    pub t: PingTag,
    pub server_time: i64,
}

/// The reply to a `draft:sync` that saved: the draft's new version.
#[derive(Debug, Serialize)]
pub struct DraftSaved {
    pub version: i64,
}

/// The failed reply to a `draft:sync` on a stale `baseVersion`: `conflict`, with the
/// current draft as `current: {version, content}` so the client can merge.
pub fn stale_draft(current: Draft) -> NsError {
    let mut err = NsError::new(
        ErrorCode::Conflict,
        "baseVersion is not the current version",
    );
    let mut details = serde_json::Map::new();
    details.insert(
        "current".into(),
        json!({ "version": current.version, "content": current.content }),
    );
    err.details = Some(details);
    err
}

/// The reply to `presence:get` and `presence:watch` (and the HTTP presence queries):
/// the users asked, as others see them; `denied` only when the watch cap refused some.
#[derive(Debug, Serialize)]
pub struct UsersPresence {
    pub users: Vec<PresenceView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<NotWatched>,
}

impl UsersPresence {
    /// The users asked, none refused.
    pub fn of(users: Vec<PresenceView>) -> Self {
        Self {
            users,
            denied: Vec::new(),
        }
    }
}

/// The reply to `presence:members`.
#[derive(Debug, Serialize)]
pub struct Members {
    pub members: Vec<Member>,
}

/// A visible member of a channel.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user_id: String,
    pub status: Status,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ack::ok_body;
    use crate::presence::PresenceAnswer;

    #[test]
    fn replies_keep_their_wire_shape() {
        let refused = vec![
            Denied::new("bad", ErrorCode::InvalidPayload),
            Denied::over_cap("public:a", 2),
        ];
        assert_eq!(
            serde_json::to_value(&refused).ok(),
            Some(json!([
                { "channel": "bad", "code": "invalid_payload" },
                { "channel": "public:a", "code": "invalid_payload",
                  "message": "a socket holds at most 2 subscriptions (max_subscriptions_per_socket)" },
            ]))
        );
        let watched = PresenceAnswer {
            answer: UsersPresence {
                users: Vec::new(),
                denied: vec![NotWatched::over_cap("u".into(), 1)],
            },
            degraded: true,
        };
        assert_eq!(
            ok_body(watched),
            json!({ "ok": true, "users": [], "degraded": true, "denied": [{
                "userId": "u", "code": "invalid_payload",
                "message": "a socket watches at most 1 users (max_watched_users_per_socket)",
            }] })
        );
        let plain = PresenceAnswer {
            answer: UsersPresence::of(Vec::new()),
            degraded: false,
        };
        assert_eq!(ok_body(plain), json!({ "ok": true, "users": [] }));
    }
}
