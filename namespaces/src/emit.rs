//! What the server emits: [`Emit`], which ties each payload to its event name, and the
//! events every namespace can receive (`error`, `announcement`, `server:draining`).

use std::time::Duration;

use serde::Serialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use socketioxide::SendError;
use socketioxide::ack::AckStream;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Socket;

use crate::ack::ErrorObject;

/// Server → client events of every namespace.
pub mod emits {
    pub const ERROR: &str = "error";
    pub const ANNOUNCEMENT: &str = "announcement";
    pub const SERVER_DRAINING: &str = "server:draining";
    pub const ALL: &[&str] = &[ERROR, ANNOUNCEMENT, SERVER_DRAINING];
}

/// A server → client event's payload, which names its event: an emit takes the name
/// from the payload, so the two cannot be mismatched.
pub trait Emit: Serialize {
    const EVENT: &'static str;
}

/// Emits `payload` to one socket (emits to rooms go through
/// [`crate::broadcast::emit_to`], which counts them).
pub fn tell<A: Adapter, E: Emit>(socket: &Socket<A>, payload: &E) -> Result<(), SendError> {
    socket.emit(E::EVENT, payload)
}

/// [`tell`], asking the socket for an ack within `timeout`; any answer counts, so its
/// content is not decoded.
pub fn tell_with_ack<A: Adapter, E: Emit>(
    socket: &Socket<A>,
    timeout: Duration,
    payload: &E,
) -> Result<AckStream<IgnoredAny>, SendError> {
    socket.timeout(timeout).emit_with_ack(E::EVENT, payload)
}

/// `error`: a failed event the client asked no ack for (PROTOCOL.md §2).
impl Emit for ErrorObject {
    const EVENT: &'static str = emits::ERROR;
}

/// `announcement`: what an admin told everyone (`POST /api/v1/announce`); `data` is
/// `null` when the admin sent none.
#[derive(Debug, Clone, Serialize)]
pub struct Announcement {
    pub title: String,
    pub body: String,
    pub data: Option<Value>,
    pub ts: i64,
}

impl Emit for Announcement {
    const EVENT: &'static str = emits::ANNOUNCEMENT;
}

/// `server:draining`: this node is going away; reconnect after the delay (each socket
/// gets its own, so they do not all come back at once).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerDraining {
    pub reconnect_in_ms: u64,
}

impl Emit for ServerDraining {
    const EVENT: &'static str = emits::SERVER_DRAINING;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ack::{ErrorCode, NsError};

    #[test]
    fn shared_events_keep_their_wire_shape() {
        let draining = ServerDraining {
            reconnect_in_ms: 250,
        };
        assert_eq!(
            serde_json::to_value(draining).ok(),
            Some(json!({ "reconnectInMs": 250 }))
        );
        let announced = Announcement {
            title: "t".into(),
            body: "b".into(),
            data: None,
            ts: 1,
        };
        assert_eq!(
            serde_json::to_value(announced).ok(),
            Some(json!({ "title": "t", "body": "b", "data": null, "ts": 1 }))
        );
        let err = NsError::new(ErrorCode::Unavailable, "down");
        assert_eq!(
            serde_json::to_value(err.error_object()).ok(),
            Some(json!({ "code": "unavailable", "message": "down" }))
        );
    }
}
