//! Connection-state recovery in the namespaces (PROTOCOL.md §1): every socket of a
//! socket.io 4.6+ client has a session (`pid`) saved as it connects, kept alive while it
//! is connected and for `session_ttl` after it drops; a client that comes back with its
//! `pid` and last offset gets the same socket id and rooms, and the room emits it missed
//! from the packet log, before anything new. Whether a session may be resumed at all
//! (token, owner, what the log still holds) is decided by the gateway's hook before the
//! socket exists (`src/auth/resume.rs`), with [`Resumption::missed`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::recovery::{EventArgs, HeldEvent};
use socketioxide::socket::DisconnectReason;

use crate::Identity;
use crate::ports::{Logged, PacketFeed, PacketLog, Reader, Session, SessionStore, StoreResult};

/// The bounds and times of sessions.
#[derive(Debug, Clone, Copy)]
pub struct ResumeConfig {
    /// How long a dropped session can be resumed.
    pub session_ttl: Duration,
    /// How often a node saves its connected sessions again (their rooms, their time).
    pub refresh_every: Duration,
    /// A session that missed more packets than this, or more bytes of payload, is not
    /// resumed: its client starts a new one and resyncs as after any reconnect.
    pub max_packets: usize,
    pub max_bytes: usize,
}

/// Where a session that got no packet yet resumes from: the log's last offset when it
/// began, kept in the socket's extensions.
#[derive(Clone)]
struct SessionStart(Option<String>);

/// Put on a restored socket whose missed packets were gone: its session, deleted, must
/// not be saved again when its connection closes.
#[derive(Clone)]
struct Abandoned;

#[derive(Clone)]
pub struct Resumption {
    sessions: Arc<dyn SessionStore>,
    log: Arc<dyn PacketLog>,
    feed: Arc<dyn PacketFeed>,
    config: ResumeConfig,
}

/// The packets of a log scanned for one resume at most: every packet of the namespace
/// since the client's offset is read, its own or not.
const SCAN_FACTOR: usize = 20;

impl Resumption {
    /// `feed` is how this node's sockets get the packets `log` holds.
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        log: Arc<dyn PacketLog>,
        feed: Arc<dyn PacketFeed>,
        config: ResumeConfig,
    ) -> Self {
        Self {
            sessions,
            log,
            feed,
            config,
        }
    }

    pub fn sessions(&self) -> &dyn SessionStore {
        self.sessions.as_ref()
    }

    /// What `session` missed on `ns` after `offset` (after its start when the client got
    /// nothing yet), oldest first; `None` when the log cannot give all of it or it is over
    /// the bounds.
    pub async fn missed(
        &self,
        ns: &str,
        session: &Session,
        offset: Option<&str>,
    ) -> StoreResult<Option<Vec<Logged>>> {
        let Some(from) = resume_from(offset, session.start_offset.as_deref()) else {
            return Ok(None);
        };
        let scan = self.config.max_packets.saturating_mul(SCAN_FACTOR).max(1);
        let reader = Reader::Socket {
            sid: &session.sid,
            rooms: &session.rooms,
        };
        let Some(mine) = self.log.after(ns, from, scan, reader).await? else {
            return Ok(None);
        };
        let bytes: usize = mine.iter().map(|l| l.packet.data.to_string().len()).sum();
        let within = mine.len() <= self.config.max_packets && bytes <= self.config.max_bytes;
        Ok(within.then_some(mine))
    }

    /// Before the connect is answered (every socket's session is saved through here
    /// again, see [`rooms_changed`]): a new socket's session starts at the log's last
    /// offset; a restored one takes its session's rooms again (returned, for the
    /// namespace to restore what else they meant).
    pub async fn prepare<A: Adapter>(&self, s: &SocketRef<A>, ns: &'static str) -> Vec<String> {
        let Some(pid) = s.pid().map(str::to_owned) else {
            return Vec::new();
        };
        s.extensions.insert(self.clone());
        if !s.recovered() {
            let start = self.log.last_offset(ns).await.unwrap_or_else(|err| {
                tracing::warn!(ns, error = %err, "recovery log unreadable: session starts unresumable");
                None
            });
            s.extensions.insert(SessionStart(start));
            self.save(s, self.live_ttl()).await;
            return Vec::new();
        }
        match self.sessions.get(&pid).await {
            Ok(Some(session)) => {
                s.extensions
                    .insert(SessionStart(session.start_offset.clone()));
                s.join(session.rooms.clone());
                session.rooms
            }
            // Gone since the hook read it: the replay finds nothing and closes the socket.
            _ => Vec::new(),
        }
    }

    /// After the connect is answered, for a restored socket: the missed packets, then what
    /// was sent to it meanwhile (without what the replay already gave), then live. When
    /// the log cannot give them any more, the client was told it recovered but cannot be
    /// given what it missed: its session is dropped and the socket closed, so that it
    /// reconnects anew and resyncs.
    pub async fn replay<A: Adapter>(
        &self,
        s: &SocketRef<A>,
        ns: &'static str,
        auth: Option<&Json>,
    ) {
        let Some(pid) = s.pid().map(str::to_owned) else {
            return;
        };
        if !s.recovered() {
            return;
        }
        let offset = auth.and_then(|a| a.get("offset")).and_then(Json::as_str);
        let missed = match self.sessions.get(&pid).await {
            Ok(Some(session)) => {
                let session = with_rooms_of(session, s);
                self.missed(ns, &session, offset).await
            }
            Ok(None) => Ok(None),
            Err(err) => Err(err),
        };
        let Ok(Some(missed)) = missed else {
            tracing::warn!(
                ns,
                "a recovered session's missed packets are gone; closing its connection"
            );
            let _ = self.sessions.delete(&pid).await;
            // Closed at the engine, not with a namespace DISCONNECT: after that one a
            // socket.io client stays away ("io server disconnect"), and 15 clients of a
            // 2,000-client jitter run missed the rest of the stream that way. Its client
            // now reconnects by itself, with a new session, and resyncs.
            s.extensions.insert(Abandoned);
            s.close_connection();
            return;
        };
        // What the replay read may still be on its way to this node's sockets: handed out
        // after the release below, it would reach the client a second time (8 numbers of
        // a 1,000-client cluster run did, each published as its client came back). Not
        // known in time: the connection is closed with the session kept, and the client
        // resumes again.
        if let Err(err) = self.feed.caught_up(ns).await {
            tracing::warn!(ns, error = %err, "a resume's replay could not be ordered with the feed; closing its connection");
            s.close_connection();
            return;
        }
        let last = missed.last().map(|l| offset_key(&l.offset));
        let replay = missed.into_iter().map(|l| {
            let args = EventArgs(vec![l.packet.data, Json::String(l.offset)]);
            (l.packet.event, args)
        });
        let keep = |held: &HeldEvent<'_>| match (&last, held_offset(held)) {
            (Some(last), Some(offset)) => offset_key(&offset) > *last,
            _ => true,
        };
        match s.release(replay, keep).await {
            Ok(_) => self.save(s, self.live_ttl()).await,
            Err(err) => tracing::debug!(ns, error = %err, "replay not finished"),
        }
    }

    /// When the socket disconnects: a client that left on purpose does not resume; any
    /// other drop keeps the session for `session_ttl`. A socket replaced by its own
    /// resumed session leaves the session to it.
    pub async fn closed<A: Adapter>(&self, s: &SocketRef<A>, reason: DisconnectReason) {
        let Some(pid) = s.pid() else { return };
        if s.extensions.get::<Abandoned>().is_some() {
            return;
        }
        match reason {
            DisconnectReason::ClientNSDisconnect => {
                let _ = self.sessions.delete(pid).await;
            }
            DisconnectReason::ServerNSDisconnect => {}
            // The disconnect handler runs before the socket leaves its rooms.
            _ => self.write(s, self.config.session_ttl).await,
        }
    }

    /// Saves every connected session of `io` on this node every `refresh_every`, so that
    /// the sessions of a node that dies stay resumable for `session_ttl` after its last
    /// save, with the rooms they had then.
    pub fn spawn_refresher<A: Adapter>(
        &self,
        io: SocketIo<A>,
        namespaces: &'static [&'static str],
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(this.config.refresh_every);
            every.tick().await;
            loop {
                every.tick().await;
                for ns in namespaces {
                    let Some(ops) = io.of(ns) else { continue };
                    this.refresh(ops.local().sockets()).await;
                }
            }
        })
    }

    /// Saves the sessions of `sockets` again, one after the other. A socket that closed
    /// since the list was taken is left alone: its disconnect saved its session, and it
    /// may have left its rooms since (a refresh of 1,000 sockets on a loaded cluster took
    /// long enough that sessions were saved again with none, and their clients resumed
    /// deaf to their channels).
    pub async fn refresh<A: Adapter>(&self, sockets: Vec<SocketRef<A>>) {
        for s in sockets {
            self.save(&s, self.live_ttl()).await;
        }
    }

    /// A connected session outlives the next refresh.
    fn live_ttl(&self) -> Duration {
        self.config.session_ttl + self.config.refresh_every * 2
    }

    /// Saves the session of a socket that is not closing (connected, or still being set
    /// up). A socket leaves its rooms only after its close began (and after its
    /// disconnect handler saved it), and its rooms are read before the first await: what
    /// is saved here is never a closed socket's empty room list.
    async fn save<A: Adapter>(&self, s: &SocketRef<A>, ttl: Duration) {
        if !s.is_closing() {
            self.write(s, ttl).await;
        }
    }

    /// Saves the session whatever the socket's state: for its disconnect.
    async fn write<A: Adapter>(&self, s: &SocketRef<A>, ttl: Duration) {
        let (Some(pid), Some(me), Some(SessionStart(start))) = (
            s.pid(),
            s.extensions.get::<Identity>(),
            s.extensions.get::<SessionStart>(),
        ) else {
            return;
        };
        let session = Session {
            sid: s.id.to_string(),
            ns: s.ns().to_owned(),
            user_id: me.user_id,
            rooms: s.rooms().into_iter().map(|r| r.to_string()).collect(),
            start_offset: start,
        };
        if let Err(err) = self
            .sessions
            .save(pid, &session, ttl.as_millis() as u64)
            .await
        {
            tracing::debug!(error = %err, "recovery session not saved");
        }
    }
}

/// The socket's own handler changed its rooms (subscribe, watch, …): its session is
/// saved at once, so that a client back before the server saw it go (its node killed, a
/// half-open or long-polling connection) resumes with them.
pub async fn rooms_changed<A: Adapter>(s: &SocketRef<A>) {
    if let Some(resumption) = s.extensions.get::<Resumption>() {
        resumption.save(s, resumption.live_ttl()).await;
    }
}

/// The session's rooms and the ones the resumed socket holds once its namespace has set
/// it up (a conversation joined from another node while it was away is among those, as
/// `/ws` joins every conversation of its user at connect): what went to either is what
/// it missed.
fn with_rooms_of<A: Adapter>(mut session: Session, s: &SocketRef<A>) -> Session {
    for room in s.rooms() {
        let room = room.to_string();
        if !session.rooms.contains(&room) {
            session.rooms.push(room);
        }
    }
    session
}

/// The offset a held packet carries: its last argument, when that is a string.
fn held_offset(held: &HeldEvent<'_>) -> Option<String> {
    let EventArgs(args) = held.args::<EventArgs<Json>>().ok()?;
    args.last()?.as_str().map(str::to_owned)
}

/// Where a resume reads from: the client's offset, unless it is older than the session's
/// start, then the start. socket.io-client keeps the last offset of its previous session
/// and sends it with the new `pid` until the new session's first event; read from there,
/// the replay gave the client again what its previous session had already delivered, or
/// found it trimmed and refused a session that had missed nothing. An offset that is not
/// one is left for the log to refuse.
fn resume_from<'a>(offset: Option<&'a str>, start: Option<&'a str>) -> Option<&'a str> {
    let older = |o, s| {
        exact_offset_key(o)
            .zip(exact_offset_key(s))
            .is_some_and(|(o, s)| o < s)
    };
    match (offset, start) {
        (Some(o), Some(s)) if older(o, s) => Some(s),
        (o, s) => o.or(s),
    }
}

/// Offsets in log order: `ms-seq` stream ids, or plain numbers on one node.
pub fn offset_key(offset: &str) -> (u64, u64) {
    let (ms, seq) = split_offset(offset);
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// [`offset_key`] of a well-formed offset only.
fn exact_offset_key(offset: &str) -> Option<(u64, u64)> {
    let (ms, seq) = split_offset(offset);
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn split_offset(offset: &str) -> (&str, &str) {
    offset.split_once('-').unwrap_or((offset, "0"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use socketioxide::SocketIo;
    use socketioxide::extract::SocketRef;

    use super::{ResumeConfig, Resumption};
    use crate::Identity;
    use crate::ports::{
        Logged, LoggedPacket, PacketFeed, PacketLog, Reader, Session, SessionStore, StoreResult,
    };

    #[derive(Default)]
    struct Sessions(Mutex<HashMap<String, Session>>);

    impl Sessions {
        fn all(&self) -> Vec<Session> {
            self.0.lock().expect("lock").values().cloned().collect()
        }
    }

    #[async_trait]
    impl SessionStore for Sessions {
        async fn save(&self, pid: &str, session: &Session, _ttl_ms: u64) -> StoreResult<()> {
            let mut all = self.0.lock().expect("lock");
            all.insert(pid.to_owned(), session.clone());
            Ok(())
        }
        async fn get(&self, pid: &str) -> StoreResult<Option<Session>> {
            Ok(self.0.lock().expect("lock").get(pid).cloned())
        }
        async fn delete(&self, pid: &str) -> StoreResult<()> {
            self.0.lock().expect("lock").remove(pid);
            Ok(())
        }
    }

    struct EmptyLog;

    #[async_trait]
    impl PacketLog for EmptyLog {
        async fn append(&self, _ns: &str, _packet: &LoggedPacket) -> StoreResult<String> {
            Ok("1".into())
        }
        async fn after(
            &self,
            _ns: &str,
            _offset: &str,
            _limit: usize,
            _reader: Reader<'_>,
        ) -> StoreResult<Option<Vec<Logged>>> {
            Ok(Some(Vec::new()))
        }
        async fn last_offset(&self, _ns: &str) -> StoreResult<Option<String>> {
            Ok(Some("0".into()))
        }
    }

    #[async_trait]
    impl PacketFeed for EmptyLog {
        async fn send(&self, _ns: &str, _packet: LoggedPacket) -> StoreResult<()> {
            Ok(())
        }
        async fn caught_up(&self, _ns: &str) -> StoreResult<()> {
            Ok(())
        }
    }

    fn resumption(sessions: &Arc<Sessions>) -> Resumption {
        let config = ResumeConfig {
            session_ttl: Duration::from_secs(60),
            refresh_every: Duration::from_secs(30),
            max_packets: 100,
            max_bytes: 100_000,
        };
        Resumption::new(
            sessions.clone(),
            Arc::new(EmptyLog),
            Arc::new(EmptyLog),
            config,
        )
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn a_refresh_leaves_alone_the_session_of_a_socket_closed_since_the_list_was_taken() {
        let sessions = Arc::new(Sessions::default());
        let resumption = resumption(&sessions);
        let (_svc, io) = SocketIo::builder()
            .with_connection_state_recovery(
                |_: &socketioxide::recovery::RecoveryRequest<'_>| async { None },
            )
            .build_svc();
        let on_connect = resumption.clone();
        io.ns("/", async move |s: SocketRef| {
            s.extensions.insert(Identity {
                user_id: "alice".into(),
                roles: Vec::new(),
                channels: Vec::new(),
                name: None,
                expires_at: i64::MAX,
            });
            on_connect.prepare(&s, "/").await;
            s.join("ch:news");
            super::rooms_changed(&s).await;
            let closed = on_connect.clone();
            s.on_disconnect(
                async move |s: SocketRef, reason: socketioxide::socket::DisconnectReason| {
                    closed.closed(&s, reason).await;
                },
            );
        });
        let (_client, _rx) = io.new_dummy_sock("/", ()).await;
        let ops = io.of("/").expect("the namespace");
        until("the socket in its room", || {
            sessions.all().iter().any(|s| s.rooms.len() == 1)
        })
        .await;
        // The list a refresh walks, taken while the socket is connected.
        let listed = ops.local().sockets();
        assert_eq!(listed.len(), 1);

        listed[0].clone().disconnect().expect("a connected socket");
        until("the socket gone from its rooms", || {
            listed[0].rooms().is_empty()
        })
        .await;
        resumption.refresh(listed).await;

        let saved = sessions.all();
        assert_eq!(saved.len(), 1);
        assert_eq!(
            saved[0].rooms,
            ["ch:news"],
            "the rooms it had when it closed"
        );
    }

    #[test]
    fn a_resume_reads_from_the_later_of_the_clients_offset_and_the_sessions_start() {
        assert_eq!(
            super::resume_from(Some("3"), Some("7")),
            Some("7"),
            "a previous session's"
        );
        assert_eq!(super::resume_from(Some("9"), Some("7")), Some("9"));
        assert_eq!(super::resume_from(Some("5-1"), Some("5-2")), Some("5-2"));
        assert_eq!(
            super::resume_from(Some("x"), Some("7")),
            Some("x"),
            "the log refuses it"
        );
        assert_eq!(super::resume_from(None, Some("7")), Some("7"));
        assert_eq!(super::resume_from(Some("3"), None), Some("3"));
    }
}
