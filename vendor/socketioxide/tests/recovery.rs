//! Switchyard's patch (PATCHES.md, item 5): connection state recovery primitives, over a
//! real server and raw WebSocket connections speaking the protocol as socket.io-client 4.6+
//! does (`pid` in the CONNECT answer, `{pid, offset}` in the CONNECT auth to recover).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use engineioxide::service::NotFoundService;
use futures_util::{SinkExt, StreamExt};
use http::Request;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use socketioxide::{
    ProtocolVersion, SocketIo, SocketIoBuilder,
    extract::{AckSender, Data, SocketRef},
    recovery::{EventArgs, RecoveryRequest, Restore},
    service::SocketIoService,
    socket::{DisconnectReason, Sid},
};
use tokio::sync::mpsc;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, handshake::client::generate_key, protocol::Role},
};

mod fixture;
use fixture::StreamImpl;

type Svc = SocketIoService<NotFoundService>;
type Ws = WebSocketStream<StreamImpl>;

/// What the server tells the test.
#[derive(Debug)]
enum Ev {
    Connect(SocketRef),
    /// An event from the client: socket id, event, data.
    Event(Sid, String, Json),
    /// An ack from the client to `ask`.
    Ack(Sid, Json),
    Disconnect(Sid, DisconnectReason),
}

/// The sessions the hook knows: pid -> socket id.
type Sessions = Arc<Mutex<HashMap<String, Sid>>>;

#[derive(Deserialize)]
struct RecoveryAuth {
    pid: Option<String>,
    offset: Option<String>,
}

/// A server on `/`: each socket is announced to the test, its `pid` recorded as a session,
/// and its events and disconnection reported. The hook restores a known `pid` that comes
/// with an offset, as socket.io's own server does.
fn server(
    recovery: bool,
    builder: SocketIoBuilder,
) -> (Svc, SocketIo, mpsc::UnboundedReceiver<Ev>, Sessions) {
    let sessions: Sessions = Default::default();
    let builder = if recovery {
        let sessions = sessions.clone();
        builder.with_connection_state_recovery(move |req: &RecoveryRequest<'_>| {
            let auth = req.auth_as::<RecoveryAuth>().ok();
            let sid = match auth {
                Some(RecoveryAuth {
                    pid: Some(pid),
                    offset: Some(_),
                }) => sessions
                    .lock()
                    .unwrap()
                    .get(&pid)
                    .map(|sid| (*sid, pid.clone())),
                _ => None,
            };
            async move {
                sid.map(|(sid, pid)| Restore {
                    sid,
                    pid: pid.into(),
                })
            }
        })
    } else {
        builder
    };
    let (svc, io) = builder.build_svc();
    let (tx, rx) = mpsc::unbounded_channel();
    let sessions2 = sessions.clone();
    io.ns("/", async move |s: SocketRef| {
        if let Some(pid) = s.pid() {
            sessions2.lock().unwrap().insert(pid.to_owned(), s.id);
        }
        let events = tx.clone();
        s.on("echo", async move |s: SocketRef, Data::<Json>(data)| {
            events.send(Ev::Event(s.id, "echo".into(), data)).ok();
        });
        s.on("ping", async move |ack: AckSender| {
            ack.send("pong").ok();
        });
        let events = tx.clone();
        s.on("ask", async move |s: SocketRef| {
            let ack = s.emit_with_ack::<_, Json>("question", "?").unwrap();
            let events = events.clone();
            tokio::spawn(async move {
                if let Ok(answer) = ack.await {
                    events.send(Ev::Ack(s.id, answer)).ok();
                }
            });
        });
        let events = tx.clone();
        s.on_disconnect(async move |s: SocketRef, reason: DisconnectReason| {
            events.send(Ev::Disconnect(s.id, reason)).ok();
        });
        tx.send(Ev::Connect(s)).ok();
    });
    (svc, io, rx, sessions)
}

fn default_server(recovery: bool) -> (Svc, SocketIo, mpsc::UnboundedReceiver<Ev>, Sessions) {
    server(recovery, SocketIo::builder())
}

/// Opens an engine.io WebSocket session (protocol 5) and returns it with its engine id.
async fn open(svc: &Svc) -> (Ws, String) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (tx1, rx1) = mpsc::unbounded_channel();
    let parts = Request::builder()
        .method("GET")
        .header("Host", "127.0.0.1")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", generate_key())
        .uri("ws://127.0.0.1/socket.io/?EIO=4&transport=websocket")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap()
        .into_parts()
        .0;
    tokio::spawn(svc.ws_init(StreamImpl::new(tx, rx1), ProtocolVersion::V5, None, parts));
    let mut ws = WebSocketStream::from_raw_socket(
        StreamImpl::new(tx1, rx),
        Role::Client,
        Default::default(),
    )
    .await;
    let open = next(&mut ws).await.expect("open packet");
    let open: Json = serde_json::from_str(open.strip_prefix('0').expect("open")).unwrap();
    let sid = open["sid"].as_str().unwrap().to_owned();
    (ws, sid)
}

/// The next engine.io text message but pings (answered), or `None` after 500 ms.
async fn next(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == "2" => send(ws, "3").await,
            Ok(Some(Ok(Message::Text(text)))) => return Some(text.to_string()),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) | Err(_) => return None,
        }
    }
}

async fn send(ws: &mut Ws, msg: &str) {
    ws.send(Message::text(msg.to_owned())).await.unwrap();
}

/// Sends a CONNECT to `/` with `auth`, returns the answer's payload.
async fn connect(ws: &mut Ws, auth: Json) -> Json {
    send(ws, &format!("40{auth}")).await;
    let answer = next(ws).await.expect("connect answer");
    let payload = answer.strip_prefix("40").expect("a CONNECT answer");
    serde_json::from_str(payload).unwrap()
}

async fn next_ev(rx: &mut mpsc::UnboundedReceiver<Ev>) -> Ev {
    tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("an event from the server")
        .expect("server alive")
}

async fn next_socket(rx: &mut mpsc::UnboundedReceiver<Ev>) -> SocketRef {
    match next_ev(rx).await {
        Ev::Connect(s) => s,
        ev => panic!("expected a connect, got {ev:?}"),
    }
}

/// A connected first session: its socket, its pid.
async fn first_session(svc: &Svc, rx: &mut mpsc::UnboundedReceiver<Ev>) -> (Ws, SocketRef, String) {
    let (mut ws, _) = open(svc).await;
    let answer = connect(&mut ws, json!({})).await;
    let socket = next_socket(rx).await;
    let pid = answer["pid"].as_str().expect("a pid").to_owned();
    (ws, socket, pid)
}

#[tokio::test]
async fn the_connect_answer_carries_a_pid_only_with_recovery() {
    let (svc, _io, mut rx, _) = default_server(false);
    let (mut ws, engine_sid) = open(&svc).await;
    send(&mut ws, "40{}").await;
    // Byte for byte what upstream sends.
    assert_eq!(
        next(&mut ws).await.unwrap(),
        format!("40{{\"sid\":\"{engine_sid}\"}}")
    );
    let socket = next_socket(&mut rx).await;
    assert_eq!(socket.pid(), None);
    assert!(!socket.recovered());
    assert!(!socket.is_held());

    let (svc, _io, mut rx, _) = default_server(true);
    let (mut ws, engine_sid) = open(&svc).await;
    send(&mut ws, "40{}").await;
    let answer = next(&mut ws).await.unwrap();
    let socket = next_socket(&mut rx).await;
    let pid = socket.pid().expect("a pid").to_owned();
    assert_eq!(pid.len(), 32);
    assert_eq!(
        answer,
        format!("40{{\"sid\":\"{engine_sid}\",\"pid\":\"{pid}\"}}")
    );
    assert!(!socket.recovered());
    assert!(!socket.is_held());
}

#[tokio::test]
async fn a_restored_socket_keeps_its_id_and_receives_its_packets() {
    let (svc, io, mut rx, _) = default_server(true);
    let (ws1, first, pid) = first_session(&svc, &mut rx).await;
    let sid = first.id;
    drop(first);
    drop(ws1);
    assert!(matches!(next_ev(&mut rx).await, Ev::Disconnect(s, _) if s == sid));

    let (mut ws, engine_sid) = open(&svc).await;
    let answer = connect(&mut ws, json!({ "pid": pid, "offset": "o1" })).await;
    assert_eq!(answer, json!({ "sid": sid.to_string(), "pid": pid }));
    assert_ne!(engine_sid, sid.to_string());
    let socket = next_socket(&mut rx).await;
    assert_eq!(socket.id, sid);
    assert!(socket.recovered());
    assert_eq!(socket.pid(), Some(pid.as_str()));
    assert!(socket.is_held());
    assert!(io.get_socket(sid).is_some());
    assert!(
        socket
            .release(Vec::<(&str, ())>::new(), |_| true)
            .await
            .unwrap()
    );

    // An event from the client reaches the restored socket.
    send(&mut ws, r#"42["echo","hi"]"#).await;
    assert!(
        matches!(next_ev(&mut rx).await, Ev::Event(s, e, d) if s == sid && e == "echo" && d == "hi")
    );
    // The server acks the client's event.
    send(&mut ws, r#"421["ping"]"#).await;
    assert_eq!(next(&mut ws).await.unwrap(), r#"431["pong"]"#);
    // The client acks the server's event.
    send(&mut ws, r#"42["ask"]"#).await;
    let question = next(&mut ws).await.unwrap();
    let id = question
        .strip_prefix("42")
        .and_then(|q| q.strip_suffix(r#"["question","?"]"#))
        .expect("an event with an ack id");
    send(&mut ws, &format!(r#"43{id}["yes"]"#)).await;
    assert!(matches!(next_ev(&mut rx).await, Ev::Ack(s, a) if s == sid && a == "yes"));

    // The connection closes: the restored socket is disconnected and removed.
    drop(ws);
    match next_ev(&mut rx).await {
        Ev::Disconnect(s, reason) => {
            assert_eq!(s, sid);
            assert_eq!(reason, DisconnectReason::TransportError);
        }
        ev => panic!("expected a disconnect, got {ev:?}"),
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(io.get_socket(sid).is_none());
}

#[tokio::test]
async fn an_unknown_session_connects_as_new() {
    let (svc, _io, mut rx, _) = default_server(true);
    let (mut ws, engine_sid) = open(&svc).await;
    let answer = connect(&mut ws, json!({ "pid": "unknown", "offset": "o1" })).await;
    assert_eq!(answer["sid"], engine_sid);
    assert_ne!(answer["pid"], "unknown");
    let socket = next_socket(&mut rx).await;
    assert!(!socket.recovered());
    assert!(!socket.is_held());
    assert_eq!(socket.id.to_string(), engine_sid);
}

#[tokio::test]
async fn a_second_connect_on_the_same_connection_is_ignored() {
    let (svc, _io, mut rx, _) = default_server(true);
    let (mut ws, _, pid) = first_session(&svc, &mut rx).await;
    send(&mut ws, &format!(r#"40{{"pid":"{pid}","offset":"o"}}"#)).await;
    assert_eq!(next(&mut ws).await, None);
    send(&mut ws, "40{}").await;
    assert_eq!(next(&mut ws).await, None);
    // The first socket still gets the connection's packets.
    send(&mut ws, r#"421["ping"]"#).await;
    assert_eq!(next(&mut ws).await.unwrap(), r#"431["pong"]"#);
}

/// The old connection is still open when the client recovers on a new one.
type Log = Arc<Mutex<Vec<String>>>;

/// A server whose disconnect handler takes 50 ms, logging the handlers in order; the hook
/// restores any known `pid`. Sockets are handed to the test as they connect.
fn slow_disconnect_server() -> (Svc, SocketIo, mpsc::UnboundedReceiver<SocketRef>, Log) {
    let log: Log = Default::default();
    let (tx, sockets) = mpsc::unbounded_channel();
    let sessions: Sessions = Default::default();
    let (svc, io) = {
        let sessions = sessions.clone();
        SocketIo::builder()
            .with_connection_state_recovery(move |req: &RecoveryRequest<'_>| {
                let pid = req.auth_as::<RecoveryAuth>().ok().and_then(|a| a.pid);
                let sid = pid.and_then(|p| sessions.lock().unwrap().get(&p).map(|s| (*s, p)));
                async move {
                    sid.map(|(sid, pid)| Restore {
                        sid,
                        pid: pid.into(),
                    })
                }
            })
            .build_svc()
    };
    let (sessions2, log2) = (sessions.clone(), log.clone());
    io.ns("/", async move |s: SocketRef| {
        sessions2
            .lock()
            .unwrap()
            .insert(s.pid().unwrap().to_owned(), s.id);
        log2.lock()
            .unwrap()
            .push(format!("connect {}", s.recovered()));
        let log = log2.clone();
        s.on_disconnect(async move |s: SocketRef, reason: DisconnectReason| {
            // Its rooms are still there while it runs.
            log.lock()
                .unwrap()
                .push(format!("disconnect {reason:?} {:?}", s.rooms()));
            tokio::time::sleep(Duration::from_millis(50)).await;
            log.lock().unwrap().push("disconnected".into());
        });
        let log = log2.clone();
        s.on("echo", async move |s: SocketRef| {
            log.lock().unwrap().push(format!("echo {}", s.recovered()));
        });
        tx.send(s).ok();
    });
    (svc, io, sockets, log)
}

#[tokio::test]
async fn the_socket_still_connected_with_the_id_is_disconnected_first() {
    // A slow disconnect handler, and a log of the handlers in order.
    let (svc, io, mut sockets, log) = slow_disconnect_server();
    let (mut ws1, _) = open(&svc).await;
    let pid = connect(&mut ws1, json!({})).await["pid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = sockets.recv().await.unwrap();
    old.join("old-room");

    let (mut ws2, _) = open(&svc).await;
    let answer = connect(&mut ws2, json!({ "pid": pid, "offset": "o" })).await;
    assert_eq!(answer["sid"], old.id.to_string());
    let new = sockets.recv().await.unwrap();
    assert!(new.recovered());
    assert_eq!(new.id, old.id);
    new.join("new-room");
    // The old client is told.
    assert_eq!(next(&mut ws1).await.unwrap(), "41");
    assert_eq!(
        *log.lock().unwrap(),
        [
            "connect false",
            "disconnect ServerNSDisconnect [\"old-room\"]",
            "disconnected",
            "connect true"
        ]
    );
    assert!(!old.connected());
    assert!(new.connected());

    // The namespace has the new socket, with its rooms only.
    let found = io.get_socket(new.id).unwrap();
    assert!(found.recovered());
    assert_eq!(new.rooms(), ["new-room"]);
    // Packets of the new connection reach it...
    send(&mut ws2, r#"42["echo"]"#).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(log.lock().unwrap().last().unwrap(), "echo true");
    // ...and those of the old one do not (its connection is closed for it).
    send(&mut ws1, r#"42["echo"]"#).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(log.lock().unwrap().len(), 5);
    drop(ws1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(new.connected());
    assert!(io.get_socket(new.id).is_some());
    assert_eq!(new.rooms(), ["new-room"]);
    assert_eq!(log.lock().unwrap().len(), 5);
    send(&mut ws2, r#"421["echo"]"#).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(log.lock().unwrap().len(), 6);

    // The new one closes as any socket does.
    drop(ws2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(io.get_socket(new.id).is_none());
    assert_eq!(
        log.lock().unwrap()[6],
        "disconnect TransportError [\"new-room\"]"
    );
}

/// Switchyard's patch: a socket whose transport closed is still running its disconnect
/// handler when its client restores the session (a slow handler on a loaded server): the
/// restored socket waits for it, as for a socket still connected. Created at once, its
/// rooms and its state (presence, kept by socket id) were undone by the old handler.
#[tokio::test]
async fn a_restore_waits_for_the_disconnect_handler_of_a_closed_socket() {
    let (svc, _io, mut sockets, log) = slow_disconnect_server();
    let (mut ws1, _) = open(&svc).await;
    let pid = connect(&mut ws1, json!({})).await["pid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = sockets.recv().await.unwrap();
    old.join("old-room");
    drop(ws1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(log.lock().unwrap().len(), 2, "the handler is running");

    let (mut ws2, _) = open(&svc).await;
    let answer = connect(&mut ws2, json!({ "pid": pid, "offset": "o" })).await;
    assert_eq!(answer["sid"], old.id.to_string());
    let new = sockets.recv().await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "connect false",
            "disconnect TransportError [\"old-room\"]",
            "disconnected",
            "connect true"
        ]
    );
    new.join("new-room");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(new.connected());
    assert_eq!(new.rooms(), ["new-room"]);
}

/// A restored socket, on a connection opened with `builder`'s settings.
async fn restored(
    builder: SocketIoBuilder,
) -> (Ws, SocketRef, SocketIo, mpsc::UnboundedReceiver<Ev>) {
    let (svc, io, mut rx, _) = server(true, builder);
    let (ws1, first, pid) = first_session(&svc, &mut rx).await;
    first.join("room");
    first.disconnect().unwrap();
    drop(ws1);
    assert!(matches!(next_ev(&mut rx).await, Ev::Disconnect(..)));
    let (mut ws, _) = open(&svc).await;
    connect(&mut ws, json!({ "pid": pid, "offset": "o0" })).await;
    let socket = next_socket(&mut rx).await;
    assert!(socket.recovered() && socket.is_held());
    (ws, socket, io, rx)
}

/// The event name and arguments of an EVENT packet to `/`.
fn event(msg: &str) -> (String, Vec<Json>) {
    let args: Vec<Json> = serde_json::from_str(msg.strip_prefix("42").expect("an event")).unwrap();
    (args[0].as_str().unwrap().to_owned(), args[1..].to_vec())
}

fn offset(e: &socketioxide::recovery::HeldEvent<'_>) -> String {
    let EventArgs(args) = e.args::<EventArgs<Json>>().unwrap();
    args.last().unwrap().as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_held_socket_queues_its_events_until_released() {
    let (mut ws, socket, io, _rx) = restored(SocketIo::builder()).await;
    socket.join("room");
    io.emit("b", &("one", "o1")).await.unwrap();
    socket.emit("b", &("two", "o2")).unwrap();
    io.to("room").emit("b", &("three", "o3")).await.unwrap();
    socket
        .timeout(Duration::from_secs(1))
        .emit("b", &("four", "o4"))
        .unwrap();
    socket.volatile().emit("b", &("five", "o5")).unwrap();
    // Nothing but acks reach the client meanwhile.
    send(&mut ws, r#"421["ping"]"#).await;
    assert_eq!(next(&mut ws).await.unwrap(), r#"431["pong"]"#);
    assert_eq!(next(&mut ws).await, None);

    let replay = vec![
        ("r", EventArgs(vec![json!("x"), json!("o-2")])),
        ("r", EventArgs(vec![json!("y"), json!("o-1")])),
    ];
    let mut asked = Vec::new();
    let released = socket
        .release(replay, |e| {
            asked.push(offset(e));
            e.event().unwrap() == "b" && offset(e) != "o3"
        })
        .await
        .unwrap();
    assert!(released);
    assert!(!socket.is_held());
    assert_eq!(asked, ["o1", "o2", "o3", "o4", "o5"]);
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(event(&next(&mut ws).await.unwrap()));
    }
    let offsets: Vec<_> = got.iter().map(|(_, a)| a.last().unwrap().clone()).collect();
    assert_eq!(offsets, ["o-2", "o-1", "o1", "o2", "o4", "o5"]);
    assert_eq!(got[0], ("r".into(), vec![json!("x"), json!("o-2")]));

    // Released: sent at once, and a second release does nothing.
    socket.emit("b", &("six", "o6")).unwrap();
    assert_eq!(event(&next(&mut ws).await.unwrap()).1[1], "o6");
    assert!(!socket.release([("r", "late")], |_| true).await.unwrap());
    assert_eq!(next(&mut ws).await, None);

    // The application can hold a socket itself.
    socket.hold();
    socket.emit("b", &("seven", "o7")).unwrap();
    assert_eq!(next(&mut ws).await, None);
    assert!(
        socket
            .release(Vec::<(&str, ())>::new(), |_| true)
            .await
            .unwrap()
    );
    assert_eq!(event(&next(&mut ws).await.unwrap()).1[1], "o7");
}

#[tokio::test]
async fn an_ack_requested_while_held_is_answered_after_the_release() {
    let (mut ws, socket, _io, _rx) = restored(SocketIo::builder()).await;
    let ack = socket.emit_with_ack::<_, String>("q", "?").unwrap();
    assert_eq!(next(&mut ws).await, None);
    // A release can run in a task of its own.
    let release = tokio::spawn(async move {
        socket
            .release(Vec::<(&str, ())>::new(), |e| e.has_ack())
            .await
    });
    assert!(release.await.unwrap().unwrap());
    let question = next(&mut ws).await.unwrap();
    let id = question
        .strip_prefix("42")
        .unwrap()
        .strip_suffix(r#"["q","?"]"#)
        .unwrap();
    send(&mut ws, &format!(r#"43{id}["!"]"#)).await;
    assert_eq!(ack.await.unwrap(), "!");
}

/// Events broadcast while a release runs (here longer than the connection's queue, so it
/// waits for the client to read) are queued behind it, shown to `keep`, and sent in order.
#[tokio::test]
async fn events_sent_during_a_release_are_neither_lost_nor_reordered() {
    let (mut ws, socket, io, _rx) = restored(SocketIo::builder().max_buffer_size(4)).await;
    socket.join("room");
    for i in 0..3 {
        io.to("room")
            .emit("b", &(i, format!("q{i}")))
            .await
            .unwrap();
    }
    let replay: Vec<_> = (0..40).map(|i| ("r", (i, format!("r{i}")))).collect();

    // A client that reads slowly.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(msg) = next(&mut ws).await {
            got.push(event(&msg).1[1].as_str().unwrap().to_owned());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        got
    });
    // A publisher during the release.
    let publisher = {
        let io = io.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                while io
                    .to("room")
                    .emit("b", &(i, format!("l{i}")))
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut emitted_in_keep = 0;
    let released = socket
        .release(replay, |e| {
            // Sent from inside the release, while it runs.
            if offset(e) == "q0" {
                emitted_in_keep += 1;
                socket.emit("b", &(0, "k0")).unwrap();
            }
            true
        })
        .await
        .unwrap();
    assert!(released);
    assert_eq!(emitted_in_keep, 1);
    publisher.await.unwrap();
    let got = reader.await.unwrap();

    let mut expected: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    expected.extend((0..3).map(|i| format!("q{i}")));
    let prefix: Vec<_> = got.iter().take(43).cloned().collect();
    assert_eq!(prefix, expected);
    let rest: Vec<_> = got[43..].to_vec();
    let live: Vec<_> = rest
        .iter()
        .filter(|o| o.starts_with('l'))
        .cloned()
        .collect();
    assert_eq!(live, (0..20).map(|i| format!("l{i}")).collect::<Vec<_>>());
    assert_eq!(rest.iter().filter(|o| *o == "k0").count(), 1);
    assert_eq!(rest.len(), 21);
}

#[tokio::test]
async fn a_held_socket_drops_its_queue_when_it_disconnects() {
    let (ws, socket, io, mut rx) = restored(SocketIo::builder()).await;
    io.emit("b", &("one", "o1")).await.unwrap();
    drop(ws);
    assert!(matches!(next_ev(&mut rx).await, Ev::Disconnect(..)));
    assert!(!socket.is_held());
    assert!(!socket.release([("r", "x")], |_| true).await.unwrap());
}

/// Protocol 4 (socket.io-client 2.x) knows nothing of recovery: no hook, no pid.
#[cfg(feature = "v4")]
#[tokio::test]
async fn protocol_4_connections_are_left_alone() {
    use http_body_util::{BodyExt, Full};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower_service::Service;

    let calls = Arc::new(AtomicUsize::new(0));
    let (svc, io) = {
        let calls = calls.clone();
        SocketIo::builder()
            .with_connection_state_recovery(move |_: &RecoveryRequest<'_>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { None }
            })
            .build_svc()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    io.ns("/", async move |s: SocketRef| {
        tx.send(s).ok();
    });
    let get = |query: String| {
        let mut svc = svc.clone();
        async move {
            let req = Request::builder()
                .uri(format!(
                    "http://127.0.0.1/socket.io/?EIO=3&transport=polling{query}"
                ))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let mut res = svc.call(req).await.unwrap();
            let body = res.body_mut().collect().await.unwrap().to_bytes();
            String::from_utf8_lossy(&body).into_owned()
        }
    };
    let open = get(String::new()).await;
    let start = open.find("\"sid\":\"").expect("open packet") + 7;
    let sid = open[start..].split('"').next().unwrap().to_owned();
    let socket = tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(socket.pid(), None);
    assert!(!socket.recovered());
    let polled = format!("{open}{}", get(format!("&sid={sid}")).await);
    assert!(polled.ends_with("2:40"), "{polled}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// The connection whose socket a recovered one replaced holds no namespace any more: it
/// is closed after the connect timeout, as one that never connected (PATCHES.md, item 2).
#[tokio::test]
async fn the_replaced_connection_is_closed_after_the_connect_timeout() {
    let timeout = Duration::from_millis(200);
    let (svc, _io, mut rx, _) = server(true, SocketIo::builder().connect_timeout(timeout));
    let (mut ws1, _old, pid) = first_session(&svc, &mut rx).await;
    let (mut ws2, _) = open(&svc).await;
    connect(&mut ws2, json!({ "pid": pid, "offset": "o" })).await;
    assert!(matches!(
        next_ev(&mut rx).await,
        Ev::Disconnect(_, DisconnectReason::ServerNSDisconnect)
    ));
    let new = next_socket(&mut rx).await;
    assert_eq!(next(&mut ws1).await.unwrap(), "41");

    let start = tokio::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match ws1.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == "1" => break,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the old connection is closed");
    assert!(start.elapsed() >= timeout / 2);
    // The new one keeps its namespace.
    tokio::time::sleep(timeout * 2).await;
    assert!(new.connected());
    send(&mut ws2, r#"421["ping"]"#).await;
    assert_eq!(next(&mut ws2).await.unwrap(), r#"431["pong"]"#);
}
