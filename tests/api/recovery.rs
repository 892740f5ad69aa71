//! Connection-state recovery, the sending half: with `connection_recovery` on, every room
//! emit without an ack request carries its offset as the last argument (as socket.io
//! appends it), the same offset for every socket it reaches, in log order on every node,
//! and who it reaches is unchanged (the sender is still left out).

use serde_json::json;

use crate::cluster::cluster_with;
use crate::conversations::create;
use crate::realtime::publish;
use crate::support::sio::Event;
use crate::support::{Connect, Db, SioClient, TestApp};

const QUIET: std::time::Duration = std::time::Duration::from_millis(300);

pub(crate) async fn typing(s: &SioClient, conversation: &str, start: bool) {
    let event = if start { "typing:start" } else { "typing:stop" };
    let ack = s
        .emit_ack(event, json!({ "conversationId": conversation }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
}

/// The offsets of `n` `typing` events `s` receives, checking they alternate true/false.
async fn typing_offsets(s: &mut SioClient, n: usize) -> Vec<String> {
    let mut offsets = Vec::new();
    for i in 0..n {
        let Event { data, offset, .. } = s.expect("typing").await;
        assert_eq!(
            data["typing"],
            json!(i % 2 == 0),
            "in the order sent: {data}"
        );
        offsets.push(offset.expect("an offset after the payload"));
    }
    offsets
}

/// Offsets as the log gives them: numbers on one node, `ms-seq` stream ids in Redis.
fn ordered(offsets: &[String]) -> bool {
    let key = |o: &String| -> (u64, u64) {
        let (ms, seq) = o.split_once('-').unwrap_or((o.as_str(), "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    };
    offsets.windows(2).all(|w| key(&w[0]) < key(&w[1]))
}

#[tokio::test]
async fn room_emits_carry_increasing_offsets_and_still_leave_the_sender_out() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.recovery.enabled = true).await;
    let mut alice = app.connect("/ws", "alice").await;
    let mut alice_too = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    let id = create(&alice, &["bob"]).await;
    let new = bob.expect("conversation:new").await;
    assert!(new.offset.is_some(), "conversation:new is a room emit");
    alice_too.expect("conversation:new").await;
    alice.expect_none("conversation:new", QUIET).await;
    for _ in 0..3 {
        typing(&bob, &id, true).await;
        typing(&bob, &id, false).await;
    }
    let seen = typing_offsets(&mut alice, 6).await;
    assert!(ordered(&seen), "increasing: {seen:?}");
    assert_eq!(
        typing_offsets(&mut alice_too, 6).await,
        seen,
        "one offset per packet"
    );
    bob.expect_none("typing", QUIET).await;
}

#[tokio::test]
async fn without_recovery_room_emits_carry_no_offset() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.recovery.enabled = false).await;
    let alice = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    create(&alice, &["bob"]).await;
    assert_eq!(bob.expect("conversation:new").await.offset, None);
}

#[tokio::test]
async fn every_node_sends_the_cluster_log_order_with_the_same_offsets() {
    let (a, b) = cluster_with(|s| s.recovery.enabled = true).await;
    let alice = a.connect("/ws", "alice").await;
    let bob = b.connect("/ws", "bob").await;
    let mut carol_a = a.connect("/ws", "carol").await;
    let mut carol_b = b.connect("/ws", "carol").await;
    let id = create(&alice, &["bob", "carol"]).await;
    carol_a.expect("conversation:new").await;
    carol_b.expect("conversation:new").await;
    // Typists on both nodes at once: each node must still send one order, the log's.
    tokio::join!(
        async {
            for _ in 0..5 {
                typing(&alice, &id, true).await;
                typing(&alice, &id, false).await;
            }
        },
        async {
            for _ in 0..5 {
                typing(&bob, &id, true).await;
                typing(&bob, &id, false).await;
            }
        }
    );
    let mut on_a = Vec::new();
    let mut on_b = Vec::new();
    for _ in 0..20 {
        on_a.push(carol_a.expect("typing").await.offset.expect("offset"));
        on_b.push(carol_b.expect("typing").await.offset.expect("offset"));
    }
    assert!(ordered(&on_a), "node a in log order: {on_a:?}");
    assert_eq!(
        on_a, on_b,
        "both nodes send the same packets in the same order"
    );
}

/// Alice, in a conversation with bob, cut from `alice_on` after her first room emit.
pub(crate) struct Cut {
    pub bob: SioClient,
    pub id: String,
    pub pid: String,
    pub sid: serde_json::Value,
    pub offset: String,
}

pub(crate) async fn alice_cut_from_bob(alice_on: &TestApp, bob_on: &TestApp) -> Cut {
    let mut alice = alice_on.connect("/ws", "alice").await;
    let bob = bob_on.connect("/ws", "bob").await;
    let id = create(&bob, &["alice"]).await;
    let event = alice.expect("conversation:new").await;
    let offset = event.offset.expect("offset");
    let (pid, sid) = (pid_of(&alice), alice.connected["sid"].clone());
    alice.cut();
    tokio::time::sleep(QUIET).await;
    Cut {
        bob,
        id,
        pid,
        sid,
        offset,
    }
}

/// Connects `user` to `ns` resuming `pid` from `offset` (as socket.io-client 4.6+ does).
pub(crate) async fn resume(
    app: &TestApp,
    ns: &str,
    user: &str,
    pid: &str,
    offset: Option<&str>,
) -> SioClient {
    let mut auth = json!({ "token": app.token(user), "pid": pid });
    if let Some(offset) = offset {
        auth["offset"] = json!(offset);
    }
    let opts = Connect {
        auth: Some(auth),
        ..Connect::default()
    };
    app.try_connect(ns, opts).await.expect("connects")
}

pub(crate) fn pid_of(s: &SioClient) -> String {
    s.connected["pid"]
        .as_str()
        .expect("a pid in the CONNECT answer")
        .to_owned()
}

async fn recovering_app() -> TestApp {
    TestApp::spawn_with(Db::Sqlite, |s| s.recovery.enabled = true).await
}

#[tokio::test]
async fn the_connect_answer_carries_a_pid_only_with_recovery_on() {
    let on = recovering_app().await;
    let s = on.connect("/realtime", "alice").await;
    assert!(s.connected["sid"].is_string());
    assert_eq!(pid_of(&s).len(), 32);
    let off = TestApp::spawn_with(Db::Sqlite, |s| s.recovery.enabled = false).await;
    let s = off.connect("/realtime", "alice").await;
    assert_eq!(s.connected["pid"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_cut_socket_resumes_with_its_id_and_gets_what_it_missed_once_in_order() {
    let app = recovering_app().await;
    let Cut {
        bob,
        id,
        pid,
        sid,
        offset,
    } = alice_cut_from_bob(&app, &app).await;
    for _ in 0..3 {
        typing(&bob, &id, true).await;
        typing(&bob, &id, false).await;
    }
    let mut back = resume(&app, "/ws", "alice", &pid, Some(&offset)).await;
    assert_eq!(back.connected["sid"], sid, "the same socket id");
    assert_eq!(pid_of(&back), pid, "the same session: socket.recovered");
    let missed = typing_offsets(&mut back, 6).await;
    assert!(ordered(&missed), "{missed:?}");
    // Live again, and nothing twice.
    typing(&bob, &id, true).await;
    let live = back.expect("typing").await;
    assert_eq!(live.data["typing"], json!(true));
    assert!(ordered(&[missed[5].clone(), live.offset.expect("offset")]));
    back.expect_none("typing", QUIET).await;
}

#[tokio::test]
async fn a_session_resumes_only_for_its_user_on_its_namespace_and_while_the_log_holds_it() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.recovery.enabled = true;
        s.recovery.log_size = 3;
    })
    .await;
    let Cut {
        bob,
        id,
        pid,
        sid,
        offset,
    } = alice_cut_from_bob(&app, &app).await;
    let thief = resume(&app, "/ws", "mallory", &pid, Some(&offset)).await;
    assert_ne!(
        pid_of(&thief),
        pid,
        "another user's token starts a new session"
    );
    assert_ne!(thief.connected["sid"], sid);
    let elsewhere = resume(&app, "/realtime", "alice", &pid, Some(&offset)).await;
    assert_ne!(pid_of(&elsewhere), pid, "a session is its namespace's");
    let unknown = resume(
        &app,
        "/ws",
        "alice",
        "no-such-session-0123456789abcdef",
        None,
    )
    .await;
    assert!(unknown.connected["pid"].is_string());
    // More packets than the log keeps: what alice missed is gone.
    for _ in 0..3 {
        typing(&bob, &id, true).await;
        typing(&bob, &id, false).await;
    }
    let late = resume(&app, "/ws", "alice", &pid, Some(&offset)).await;
    assert_ne!(
        pid_of(&late),
        pid,
        "the log no longer holds it: a new session"
    );
}

/// socket.io-client sends its previous session's last offset with a new `pid` until the
/// new session's first event. The resume reads from the new session's start: what was
/// sent before that session began is not replayed to it.
#[tokio::test]
async fn a_resume_with_the_previous_sessions_offset_reads_from_the_sessions_start() {
    let app = recovering_app().await;
    let Cut {
        bob,
        id,
        offset: previous,
        ..
    } = alice_cut_from_bob(&app, &app).await;
    typing(&bob, &id, true).await;
    typing(&bob, &id, false).await;
    let second = app.connect("/ws", "alice").await;
    let pid = pid_of(&second);
    second.cut();
    tokio::time::sleep(QUIET).await;
    typing(&bob, &id, true).await;
    let mut back = resume(&app, "/ws", "alice", &pid, Some(&previous)).await;
    assert_eq!(pid_of(&back), pid, "resumed");
    let missed = back.expect("typing").await;
    assert_eq!(missed.data["typing"], json!(true), "{:?}", missed.data);
    back.expect_none("typing", QUIET).await;
}

/// A resume the gate let through whose replay then finds more than the bounds (here the
/// typing in a conversation created while alice was away, whose room her socket joins at
/// connect) closes the connection, not the namespace: after a transport close
/// socket.io-client reconnects by itself, after a DISCONNECT it stays away for good.
#[tokio::test]
async fn a_resume_whose_replay_is_past_the_bounds_closes_the_connection() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.recovery.enabled = true;
        s.recovery.max_packets = 2;
    })
    .await;
    let Cut {
        bob, pid, offset, ..
    } = alice_cut_from_bob(&app, &app).await;
    let id = create(&bob, &["alice"]).await;
    for _ in 0..2 {
        typing(&bob, &id, true).await;
        typing(&bob, &id, false).await;
    }
    let mut back = resume(&app, "/ws", "alice", &pid, Some(&offset)).await;
    assert_eq!(
        pid_of(&back),
        pid,
        "the gate counted one packet and let it through"
    );
    let gone = back.expect("disconnect").await;
    assert_eq!(
        gone.data,
        json!("transport close"),
        "not a namespace DISCONNECT"
    );
    let again = resume(&app, "/ws", "alice", &pid, Some(&offset)).await;
    assert_ne!(pid_of(&again), pid, "its session is gone: a new one");
}

/// Presence told in a user's own channel reaches no one (its emits leave out the user's
/// own sockets, the only ones there), so it takes no place in the packet log: here each
/// connect and close of another user fills two places (online and offline, for any
/// watchers), where it filled four, and alice's session would have left a log of 10.
#[tokio::test]
async fn presence_in_a_users_own_channel_takes_no_place_in_the_log() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.recovery.enabled = true;
        s.recovery.log_size = 10;
    })
    .await;
    let alice = app.connect("/realtime", "alice").await;
    let pid = pid_of(&alice);
    alice.cut();
    tokio::time::sleep(QUIET).await;
    for _ in 0..3 {
        let carol = app.connect("/realtime", "carol").await;
        carol.disconnect();
        tokio::time::sleep(QUIET).await;
    }
    let back = resume(&app, "/realtime", "alice", &pid, None).await;
    assert_eq!(pid_of(&back), pid, "the log still holds where alice was");
}

#[tokio::test]
async fn a_client_that_left_on_purpose_does_not_resume() {
    let app = recovering_app().await;
    let mut alice = app.connect("/realtime", "alice").await;
    let pid = pid_of(&alice);
    alice.disconnect();
    alice.expect("disconnect").await;
    tokio::time::sleep(QUIET).await;
    let again = resume(&app, "/realtime", "alice", &pid, None).await;
    assert_ne!(pid_of(&again), pid);
}

#[tokio::test]
async fn a_session_resumes_on_another_node_of_the_cluster() {
    let (a, b) = cluster_with(|s| s.recovery.enabled = true).await;
    let Cut {
        bob,
        id,
        pid,
        sid,
        offset,
    } = alice_cut_from_bob(&a, &b).await;
    for _ in 0..2 {
        typing(&bob, &id, true).await;
        typing(&bob, &id, false).await;
    }
    let mut back = resume(&b, "/ws", "alice", &pid, Some(&offset)).await;
    assert_eq!(back.connected["sid"], sid);
    assert_eq!(pid_of(&back), pid);
    let missed = typing_offsets(&mut back, 4).await;
    assert!(ordered(&missed), "{missed:?}");
    back.expect_none("typing", QUIET).await;
}

/// Publishes `n` numbered ticks to `public:news`, from `from`.
async fn ticks(app: &TestApp, from: u64, n: u64) {
    for i in from..from + n {
        let (status, _) = publish(app, "public:news", json!({ "n": i }), None).await;
        assert_eq!(status, 202);
    }
}

async fn tick_numbers(s: &mut SioClient, n: usize) -> (Vec<u64>, Vec<String>) {
    let mut numbers = Vec::new();
    let mut offsets = Vec::new();
    for _ in 0..n {
        let Event { data, offset, .. } = s.expect("event").await;
        numbers.push(data["data"]["n"].as_u64().expect("n"));
        offsets.push(offset.expect("an offset after the publication"));
    }
    (numbers, offsets)
}

async fn publications_resume(publisher: &TestApp, first: &TestApp, second: &TestApp) {
    let mut alice = first.connect("/realtime", "alice").await;
    let ack = alice
        .emit_ack("subscribe", json!({ "channels": ["public:news"] }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    ticks(publisher, 1, 2).await;
    let (seen, offsets) = tick_numbers(&mut alice, 2).await;
    assert_eq!(seen, [1, 2]);
    assert!(ordered(&offsets));
    let pid = pid_of(&alice);
    alice.cut();
    tokio::time::sleep(QUIET).await;
    ticks(publisher, 3, 3).await;
    let mut back = resume(second, "/realtime", "alice", &pid, Some(&offsets[1])).await;
    assert_eq!(pid_of(&back), pid);
    let (missed, _) = tick_numbers(&mut back, 3).await;
    assert_eq!(missed, [3, 4, 5], "each missed publication once, in order");
    ticks(publisher, 6, 1).await;
    assert_eq!(
        tick_numbers(&mut back, 1).await.0,
        [6],
        "then live, subscribed as before"
    );
    back.expect_none("event", QUIET).await;
}

#[tokio::test]
async fn channel_publications_are_resumed_on_one_node() {
    let app = recovering_app().await;
    publications_resume(&app, &app, &app).await;
}

#[tokio::test]
async fn channel_publications_are_resumed_on_another_node() {
    let (a, b) = cluster_with(|s| s.recovery.enabled = true).await;
    publications_resume(&b, &a, &b).await;
}

#[tokio::test]
async fn a_resumed_socket_is_counted_in_its_channels_again() {
    let app = recovering_app().await;
    let mut alice = app.connect("/realtime", "alice").await;
    let bob = app.connect("/realtime", "bob").await;
    for s in [&alice, &bob] {
        let ack = s
            .emit_ack("subscribe", json!({ "channels": ["public:room"] }))
            .await;
        assert_eq!(ack["ok"], json!(true), "{ack}");
    }
    ticks_to(&app, "public:room", 1).await;
    let offset = alice.expect("event").await.offset.expect("offset");
    let pid = pid_of(&alice);
    alice.cut();
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        members(&bob).await,
        Some(1),
        "alice's cut socket left the channel"
    );
    let _back = resume(&app, "/realtime", "alice", &pid, Some(&offset)).await;
    assert_eq!(members(&bob).await, Some(2), "and is back in it");
}

async fn ticks_to(app: &TestApp, channel: &str, n: u64) {
    for i in 0..n {
        let (status, _) = publish(app, channel, json!({ "n": i }), None).await;
        assert_eq!(status, 202);
    }
}

async fn members(s: &SioClient) -> Option<usize> {
    let ack = s
        .emit_ack("presence:members", json!({ "channel": "public:room" }))
        .await;
    ack["members"].as_array().map(Vec::len)
}

#[tokio::test]
async fn announcements_are_resumed_on_every_namespace() {
    let app = recovering_app().await;
    let mut cut = Vec::new();
    for ns in ["/ws", "/realtime", "/notifications"] {
        let mut s = app.connect(ns, "alice").await;
        announce(&app, "first").await;
        let offset = s.expect("announcement").await.offset.expect("offset");
        cut.push((ns, pid_of(&s), offset));
        s.cut();
    }
    tokio::time::sleep(QUIET).await;
    announce(&app, "missed").await;
    for (ns, pid, offset) in cut {
        let mut back = resume(&app, ns, "alice", &pid, Some(&offset)).await;
        assert_eq!(pid_of(&back), pid, "{ns}");
        let mut titles = Vec::new();
        while let Some(a) = back.within("announcement", QUIET).await {
            titles.push(a.data["title"].clone());
        }
        // Each socket missed the later "first"s of the namespaces after its own, then "missed".
        assert_eq!(titles.last(), Some(&json!("missed")), "{ns}: {titles:?}");
        assert!(!titles.is_empty());
    }
}

async fn announce(app: &TestApp, title: &str) {
    let body = json!({ "title": title, "body": "" });
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/announce"))
        .bearer_auth(app.admin_token())
        .json(&body)
        .send()
        .await
        .expect("response");
    assert_eq!(res.status().as_u16(), 202);
}
