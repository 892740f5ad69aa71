//! Presence in big channels (issue 19 item 6): `presence:join`/`presence:leave` only up to
//! `presence_channel_limit` subscribers or as a channel rule's `joinLeave` says, and
//! `presence:stats` counts instead, on one node and across a cluster.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_namespaces::realtime::{Allow, ChannelRule};

use crate::support::{Db, SioClient, TestApp};

/// Long enough for an announcement that was going to come to arrive.
const QUIET: Duration = Duration::from_millis(400);

async fn subscribe(s: &SioClient, channel: &str) {
    let ack = s
        .emit_ack("subscribe", json!({ "channels": [channel] }))
        .await;
    assert_eq!(ack["subscribed"], json!([channel]), "{ack}");
}

async fn stats(s: &SioClient, channel: &str) -> Value {
    s.emit_ack("presence:stats", json!({ "channel": channel }))
        .await
}

/// `presence:stats` once it answers `expected` (a close is told to presence a moment
/// after the client sends it), or the last answer after a second.
async fn settled_stats(s: &SioClient, channel: &str, expected: &Value) -> Value {
    let mut seen = Value::Null;
    for _ in 0..20 {
        seen = stats(s, channel).await;
        if seen == *expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

#[tokio::test]
async fn a_channel_over_the_limit_hears_no_joins_but_presence_stats_counts_it() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.presence.channel_limit = 2).await;
    let mut bob = app.connect("/realtime", "bob").await;
    let alice = app.connect("/realtime", "alice").await;
    subscribe(&bob, "public:big").await;
    subscribe(&alice, "public:big").await;
    assert_eq!(
        bob.expect("presence:join").await.data,
        json!({ "channel": "public:big", "userId": "alice" }),
        "within the limit joins are told"
    );
    let carol = app.connect("/realtime", "carol").await;
    let carol_two = app.connect("/realtime", "carol").await;
    subscribe(&carol, "public:big").await;
    subscribe(&carol_two, "public:big").await;
    bob.expect_none("presence:join", QUIET).await;
    assert_eq!(
        stats(&bob, "public:big").await,
        json!({ "ok": true, "users": 3, "sockets": 4 })
    );
    carol.disconnect();
    carol_two.disconnect();
    bob.expect_none("presence:leave", QUIET).await;
    let after = json!({ "ok": true, "users": 2, "sockets": 2 });
    assert_eq!(settled_stats(&bob, "public:big", &after).await, after);
}

#[tokio::test]
async fn presence_stats_needs_a_subscription_and_a_channel() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let bob = app.connect("/realtime", "bob").await;
    let alice = app.connect("/realtime", "alice").await;
    subscribe(&alice, "public:room").await;
    let refused = stats(&bob, "public:room").await;
    assert_eq!(refused["error"]["code"], json!("forbidden"), "{refused}");
    let refused = stats(&bob, "bad name").await;
    assert_eq!(refused["error"]["code"], json!("invalid_payload"));
    assert_eq!(
        stats(&bob, "user:bob").await,
        json!({ "ok": true, "users": 1, "sockets": 1 }),
        "its own channel, held from the connect"
    );
}

#[tokio::test]
async fn join_leave_rules_tell_big_channels_always_and_quiet_ones_never() {
    let rules = [
        ChannelRule::new("stage:*", Allow::Any).map(|r| r.with_join_leave(true)),
        ChannelRule::new("lobby:*", Allow::Any).map(|r| r.with_join_leave(false)),
    ];
    // Within 2 sockets a channel is told by size: the stage's third join needs its rule,
    // and the lobby's two sockets would be told but for theirs.
    let app = TestApp::spawn_with(Db::Sqlite, move |s| {
        s.presence.channel_limit = 2;
        s.channels
            .rules
            .extend(rules.into_iter().map(|r| r.expect("valid rule")));
    })
    .await;
    let mut bob = app.connect("/realtime", "bob").await;
    let alice = app.connect("/realtime", "alice").await;
    let carol = app.connect("/realtime", "carol").await;
    for s in [&bob, &alice, &carol] {
        subscribe(s, "stage:main").await;
    }
    for user in ["alice", "carol"] {
        let told = bob.expect("presence:join").await.data;
        assert_eq!(told, json!({ "channel": "stage:main", "userId": user }));
    }
    alice.disconnect();
    assert_eq!(
        bob.expect("presence:leave").await.data,
        json!({ "channel": "stage:main", "userId": "alice" })
    );
    let offline = bob.expect("presence").await.data;
    assert_eq!(
        (&offline["userId"], &offline["status"]),
        (&json!("alice"), &json!("offline"))
    );

    let dave = app.connect("/realtime", "dave").await;
    // Two sockets: within the size limit, yet the rule says never.
    subscribe(&bob, "lobby:1").await;
    subscribe(&dave, "lobby:1").await;
    dave.emit_ack("presence:set", json!({ "status": "away" }))
        .await;
    bob.expect_none("presence:join", QUIET).await;
    dave.disconnect();
    bob.expect_none("presence:leave", QUIET).await;
    bob.expect_none("presence", QUIET).await;
}

#[tokio::test]
async fn presence_stats_counts_every_node() {
    let (a, b) = crate::cluster::cluster_with(|s| s.presence.channel_limit = 1).await;
    let bob = a.connect("/realtime", "bob").await;
    let alice_a = a.connect("/realtime", "alice").await;
    let alice_b = b.connect("/realtime", "alice").await;
    let carol = b.connect("/realtime", "carol").await;
    for s in [&bob, &alice_a, &alice_b, &carol] {
        subscribe(s, "public:wide").await;
    }
    let expected = json!({ "ok": true, "users": 3, "sockets": 4 });
    assert_eq!(stats(&bob, "public:wide").await, expected);
    assert_eq!(
        stats(&carol, "public:wide").await,
        expected,
        "the same seen from b"
    );
    alice_b.disconnect();
    let after = json!({ "ok": true, "users": 3, "sockets": 3 });
    assert_eq!(settled_stats(&bob, "public:wide", &after).await, after);
}
