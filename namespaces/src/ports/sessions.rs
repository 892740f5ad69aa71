//! Connection-state recovery (PROTOCOL.md §1): the packets sent to rooms, each with the
//! offset the client remembers, and the sessions a reconnecting client may resume.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;

/// One packet sent to rooms without an ack request, as a resuming socket may need it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedPacket {
    /// The rooms it went to; empty for every socket of the namespace.
    pub rooms: Vec<String>,
    /// Sockets in any of these rooms did not get it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    /// The sending socket, which did not get it either (`socket.to(…)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except_sid: Option<String>,
    pub event: String,
    /// The event's one argument, before the offset is appended.
    pub data: serde_json::Value,
}

/// Whose packets a read of the log wants: one socket's (a resume), or all of them.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    All,
    /// The socket `sid`, holding `rooms`.
    Socket {
        sid: &'a str,
        rooms: &'a [String],
    },
}

impl Reader<'_> {
    /// Whether a packet sent to `rooms`, except to `except` and to `except_sid`, is
    /// wanted (a store may check this before it decodes or copies the packet's data).
    pub fn wants(&self, rooms: &[String], except: &[String], except_sid: Option<&str>) -> bool {
        let Reader::Socket { sid, rooms: held } = self else {
            return true;
        };
        let in_any = |wanted: &[String]| wanted.iter().any(|r| held.contains(r));
        except_sid != Some(*sid) && !in_any(except) && (rooms.is_empty() || in_any(rooms))
    }

    pub fn wants_packet(&self, packet: &LoggedPacket) -> bool {
        self.wants(&packet.rooms, &packet.except, packet.except_sid.as_deref())
    }
}

/// A logged packet and its offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub offset: String,
    pub packet: LoggedPacket,
}

/// Every namespace's recent room packets, in the order they were sent, cluster-wide.
#[async_trait]
pub trait PacketLog: Send + Sync {
    /// Appends a packet of `ns` and returns its offset. An error means it is not logged:
    /// it goes out without an offset, and a socket that misses it cannot resume past it.
    async fn append(&self, ns: &str, packet: &LoggedPacket) -> StoreResult<String>;

    /// The packets of `ns` after `offset` that `reader` wants, oldest first, out of at
    /// most `limit` packets after it (when more follow, `Ok(None)`, as when `offset` is no
    /// longer, or never was, in the log: the socket cannot be given everything it
    /// missed). Only the wanted ones are copied: a resume used to copy every packet of
    /// the namespace since its offset, and at 2,000 cut clients that copying was most of
    /// a node's CPU.
    async fn after(
        &self,
        ns: &str,
        offset: &str,
        limit: usize,
        reader: Reader<'_>,
    ) -> StoreResult<Option<Vec<Logged>>>;

    /// The latest offset of `ns`, if any: what a session that saw nothing yet resumes
    /// from.
    async fn last_offset(&self, ns: &str) -> StoreResult<Option<String>>;
}

/// A socket that may be resumed by its private session id (`pid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub sid: String,
    pub ns: String,
    pub user_id: String,
    /// Its rooms when last saved.
    pub rooms: Vec<String>,
    /// The log's latest offset when the session began: a client that got no packet
    /// since resumes from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_offset: Option<String>,
}

/// Sessions by `pid`, each kept for a while after it was last saved.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Saves (or replaces) the session, kept for `ttl_ms` from now.
    async fn save(&self, pid: &str, session: &Session, ttl_ms: u64) -> StoreResult<()>;

    /// The session, unless it expired or was taken or deleted.
    async fn get(&self, pid: &str) -> StoreResult<Option<Session>>;

    /// Forgets the session (a client that left on purpose does not resume).
    async fn delete(&self, pid: &str) -> StoreResult<()>;
}

/// Puts room packets in the log and hands each, with its offset, to every node's
/// [`PacketSink`] in log order, so every socket sees offsets in the order a resume
/// replays them.
#[async_trait]
pub trait PacketFeed: Send + Sync {
    /// An error means the packet was neither logged nor handed to any sink, then or
    /// later: the caller may still send it without an offset.
    async fn send(&self, ns: &str, packet: LoggedPacket) -> StoreResult<()>;

    /// Resolves once every packet `ns`'s log held when it was called has been handed to
    /// this node's sockets. A resume reads the log, then waits here before it stops
    /// holding the socket: a packet logged just before the read but handed out after the
    /// release would reach the client twice, in the replay and live. An error (the feed
    /// did not come back within its deadline) means this is not known.
    async fn caught_up(&self, ns: &str) -> StoreResult<()>;
}

/// Where a node's sockets get the feed's packets.
#[async_trait]
pub trait PacketSink: Send + Sync {
    async fn deliver(&self, ns: &str, logged: Logged);
}
