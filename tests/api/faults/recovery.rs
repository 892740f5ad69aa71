//! Connection-state recovery through Redis faults (issue 21 item 2): a room emit whose
//! log entry cannot be written in time still reaches its sockets once (without an
//! offset, never again later through the feed), a session does not resume while Redis is
//! slow past its deadline, nor while the node's feed is partitioned, and both work again
//! once Redis answers.

use std::time::Duration;

use serde_json::json;

use crate::cluster::private_redis::PrivateRedis;
use crate::conversations::create;
use crate::recovery::{Cut, alice_cut_from_bob, pid_of, resume, typing};
use crate::support::fault_proxy::FaultProxy;
use crate::support::{Connect, Db, TestApp};

/// Long enough for a late script to have run, and its feed message to have arrived.
const SETTLE: Duration = Duration::from_millis(1500);

/// A node with recovery on, its private Redis behind a fault proxy. Bind `_redis` when
/// taking it apart: a field left to `..` is dropped at once, and the Redis with it.
struct Behind {
    app: TestApp,
    proxy: FaultProxy,
    prefix: String,
    _redis: PrivateRedis,
}

/// `deadline`: the node's Redis deadline.
async fn recovering_behind_a_proxy(deadline: Duration) -> Behind {
    let redis = PrivateRedis::start();
    let proxy = FaultProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let url = format!("redis://{}", proxy.addr());
    let prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::spawn_with(Db::Postgres, |s| {
        s.redis.url = Some(url);
        s.redis.prefix = prefix.clone();
        s.redis.timeout = deadline;
        s.recovery.enabled = true;
    })
    .await;
    Behind {
        app,
        proxy,
        prefix,
        _redis: redis,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_emit_past_the_redis_deadline_arrives_once_without_an_offset() {
    let Behind {
        app, proxy, _redis, ..
    } = recovering_behind_a_proxy(Duration::from_millis(300)).await;
    let mut alice = app.connect("/ws", "alice").await;
    let bob = app.connect("/ws", "bob").await;
    let id = create(&bob, &["alice"]).await;
    let offset = alice
        .expect("conversation:new")
        .await
        .offset
        .expect("offset");
    let pid = alice.connected["pid"].as_str().expect("pid").to_owned();

    // Slower than the deadline, not down: every script reaches Redis late.
    proxy.delay(Duration::from_millis(500));
    let ack = bob
        .emit_ack("typing:start", json!({ "conversationId": id }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    let typing = alice.expect("typing").await;
    assert_eq!(typing.offset, None, "sent at once, without a log entry");
    tokio::time::sleep(SETTLE).await;
    alice.expect_none("typing", SETTLE).await;

    // A resume cannot be checked in time: a new session.
    let opts = Connect {
        auth: Some(json!({ "token": app.token("alice"), "pid": pid, "offset": offset })),
        wait: Some(Duration::from_secs(10)),
        ..Connect::default()
    };
    let other = app.try_connect("/ws", opts).await.expect("connects");
    assert_ne!(other.connected["pid"], json!(pid));

    proxy.heal();
    tokio::time::sleep(SETTLE).await;
    let ack = bob
        .emit_ack("typing:stop", json!({ "conversationId": id }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    let typing = alice.expect("typing").await;
    assert!(
        typing.offset.is_some(),
        "logged again once Redis answers in time"
    );
}

/// The node's feed subscriber alone partitioned, its commands still answered: a resume
/// reads what its client missed but cannot learn that the feed has handed out what it
/// read (the marker it publishes never comes back), so its connection is closed with the
/// session kept, and nothing is replayed. Once the feed flows again, what it held arrives
/// late, and the same session resumes with each missed packet once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_while_the_feed_is_partitioned_is_put_off_then_replays_once() {
    let Behind {
        app,
        proxy,
        prefix,
        _redis,
    } = recovering_behind_a_proxy(Duration::from_secs(1)).await;
    let Cut {
        bob,
        id,
        pid,
        sid,
        offset,
    } = alice_cut_from_bob(&app, &app).await;

    super::lose_the_feed_connection(&proxy, &prefix);
    typing(&bob, &id, true).await;
    typing(&bob, &id, false).await;
    let mut early = resume(&app, "/ws", "alice", &pid, Some(&offset)).await;
    assert_eq!(pid_of(&early), pid, "the gate read the session and the log");
    let gone = early
        .within("disconnect", Duration::from_secs(10))
        .await
        .expect("closed once the marker is given up on");
    assert_eq!(
        gone.data,
        json!("transport close"),
        "not a namespace DISCONNECT"
    );
    early.expect_none("typing", Duration::ZERO).await;

    proxy.heal();
    tokio::time::sleep(SETTLE).await;
    let mut back = resume(&app, "/ws", "alice", &pid, Some(&offset)).await;
    assert_eq!(pid_of(&back), pid, "the session was kept");
    assert_eq!(back.connected["sid"], sid);
    for typing in [true, false] {
        let missed = back.expect("typing").await;
        assert_eq!(missed.data["typing"], json!(typing), "once, in order");
        assert!(missed.offset.is_some());
    }
    back.expect_none("typing", SETTLE).await;
}
