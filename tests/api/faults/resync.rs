//! Nothing lost silently when Redis returns (issue 19 item 3): sockets that may have missed
//! cross-node events are told `server:draining` and recover what they missed; presence is
//! rebuilt after Redis restarts empty, and watchers end up told the truth.

use std::time::Duration;

use serde_json::{Value, json};

use super::recovers_within;
use crate::cluster::private_redis::PrivateRedis;
use crate::conversations::{create, send};
use crate::realtime::publish;
use crate::support::fault_proxy::FaultProxy;
use crate::support::scrape::scrape;
use crate::support::{Db, SioClient, TestApp};

/// The probe's detection, the settle time and the reconnect spread, with room for a busy
/// machine: a correctness bound, not a measurement.
const TOLD_WITHIN: Duration = Duration::from_secs(10);

/// Node `a` reaches the private Redis through the proxy, node `b` directly.
async fn split_cluster(redis: &PrivateRedis, proxy: &FaultProxy) -> (TestApp, TestApp) {
    let prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
    let (through, direct) = (format!("redis://{}", proxy.addr()), redis.url());
    let a = TestApp::spawn_with(Db::Postgres, |s| {
        s.redis.url = Some(through);
        s.redis.prefix = prefix;
        s.drain.reconnect_spread = std::time::Duration::from_millis(200);
    })
    .await;
    let b = a.another_node_with(|s| s.redis.url = Some(direct)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, b)
}

async fn degraded(app: &TestApp) -> bool {
    let res = reqwest::get(app.url("/health/ready")).await.expect("ready");
    let body: Value = res.json().await.unwrap_or(Value::Null);
    body["redis"] == json!("degraded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_redis_and_its_peers_tell_their_sockets_to_resync() {
    let redis = PrivateRedis::start();
    let proxy = FaultProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let (a, b) = split_cluster(&redis, &proxy).await;
    let mut alice = a.connect("/ws", "alice").await;
    let mut bob = b.connect("/ws", "bob").await;
    let conversation = create(&alice, &["bob"]).await;
    bob.expect("conversation:new").await;

    proxy.blackhole();
    recovers_within(Duration::from_secs(8), async || degraded(&a).await).await;
    let stored = send(&alice, &conversation, "during", "sent while cut off").await;
    proxy.heal();

    let told = bob.within("server:draining", TOLD_WITHIN).await;
    let told = told.expect("bob's node did not lose Redis, but missed what alice's sent");
    assert!(
        told.data["reconnectInMs"].as_u64().is_some(),
        "{:?}",
        told.data
    );
    assert!(
        alice.within("server:draining", TOLD_WITHIN).await.is_some(),
        "alice's node lost Redis"
    );
    missed_message_is_recovered(&bob, &conversation, &stored).await;
    let metrics = scrape(&b.url("/metrics")).await;
    assert!(metrics.sum("switchyard_resyncs_total", &[("reason", "peer")]) >= 1.0);
}

/// What the contract's recovery gives back after the signal.
async fn missed_message_is_recovered(bob: &SioClient, conversation: &str, stored: &Value) {
    let body = json!({ "cursors": { conversation: 0 } });
    let ack = bob.emit_ack("message:sync", body).await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    let ids: Vec<&Value> = ack["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert!(ids.contains(&&stored["id"]), "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_rebuilt_after_redis_restarts_empty() {
    let mut redis = PrivateRedis::start();
    let prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
    let url = redis.url();
    let a = TestApp::spawn_with(Db::Postgres, |s| {
        s.redis.url = Some(url);
        s.redis.prefix = prefix;
        s.presence.ttl = std::time::Duration::from_secs(6);
    })
    .await;
    let b = a.another_node().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _alice = a.connect("/realtime", "alice").await;
    let mut bob = b.connect("/realtime", "bob").await;
    let ack = bob
        .emit_ack("presence:watch", json!({ "userIds": ["alice"] }))
        .await;
    assert_eq!(ack["users"][0]["status"], json!("online"), "{ack}");

    redis.stop();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    redis.resume();

    // Within the presence TTL, bob's node sees alice online again from Redis...
    let token = b.token_with(json!({ "sub": "backend", "roles": ["service"] }));
    recovers_within(Duration::from_secs(6), async || {
        let res = reqwest::Client::new()
            .get(b.url("/api/v1/presence/alice"))
            .bearer_auth(&token)
            .send()
            .await;
        let Ok(res) = res else { return false };
        let body: Value = res.json().await.unwrap_or(Value::Null);
        body["users"][0]["status"] == json!("online")
            && body["users"][0]["devices"] == json!(1)
            && body.get("degraded").is_none()
    })
    .await;
    // ...and what watchers were last told of her is the truth.
    let mut last = None;
    while let Some(event) = bob.within("presence", Duration::from_secs(3)).await {
        if event.data["userId"] == json!("alice") {
            last = Some(event.data["status"].clone());
        }
    }
    assert!(
        last.is_none() || last == Some(json!("online")),
        "watchers were last told alice is {last:?}"
    );
}

/// The node's feed connection lost without a reset (a half-open TCP connection, a NAT
/// that forgot it) while Redis and the node's other connections are fine: nothing fails,
/// so only the subscriber's own heartbeat can notice (within three times five deadlines:
/// the deadline is short here to keep the test short). It is replaced, the node's sockets
/// are told to resync (the publication sent meanwhile never reached them), and live
/// delivery works again, all while the lost connection stays lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_lost_feed_connection_is_replaced_and_its_sockets_told_to_resync() {
    let redis = PrivateRedis::start();
    let proxy = FaultProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
    let url = format!("redis://{}", proxy.addr());
    let app = node_with_a_short_deadline(url, &prefix).await;
    let mut alice = alice_in_the_lobby(&app).await;

    super::lose_the_feed_connection(&proxy, &prefix);
    let (status, body) = publish(&app, "public:lobby", json!({ "n": 1 }), None).await;
    assert_eq!(status, 202, "{body}");
    let told = alice
        .within("server:draining", Duration::from_secs(20))
        .await;
    assert!(told.is_some(), "the lost feed connection went unnoticed");
    let (status, body) = publish(&app, "public:lobby", json!({ "n": 2 }), None).await;
    assert_eq!(status, 202, "{body}");
    let live = alice.expect("event").await;
    assert_eq!(live.data["data"]["n"], json!(2), "{:?}", live.data);
}

/// Re-subscribing after a reconnect can fail while the connection itself works: here
/// Redis refuses every channel for a while (an ACL change), which also drops the
/// subscribers. An adapter subscriber that gave up after its tries stayed connected but
/// subscribed to nothing, and its node deaf to the others for good; it now reconnects and
/// tries again, and once Redis allows the channels again, typing crosses nodes again.
/// (Recovery is off: room emits then go through the adapter, not the feed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_could_not_resubscribe_tries_again_until_it_can() {
    let redis = PrivateRedis::start();
    let url = redis.url();
    let a = TestApp::spawn_with(Db::Postgres, |s| {
        s.redis.url = Some(url);
        s.redis.prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
        s.redis.timeout = Duration::from_millis(300);
        s.recovery.enabled = false;
    })
    .await;
    let b = a.another_node().await;
    let mut alice = a.connect("/ws", "alice").await;
    let bob = b.connect("/ws", "bob").await;
    let conversation = create(&bob, &["alice"]).await;
    alice.expect("conversation:new").await;

    refuse_channels_for_a_while(&redis).await;

    let mut start = true;
    let crossed = async || {
        let event = if start { "typing:start" } else { "typing:stop" };
        start = !start;
        let _ = bob
            .try_emit_ack(event, json!({ "conversationId": conversation }))
            .await;
        alice
            .within("typing", Duration::from_millis(500))
            .await
            .is_some()
    };
    super::recovers_within(Duration::from_secs(25), crossed).await;
}

/// The same for the feed, whose `SUBSCRIBE` fred reports done even when Redis refuses it:
/// the node checks each subscription with a marker read back, and tries again until
/// Redis takes it; then publications reach the node's sockets again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_could_not_resubscribe_tries_again_until_it_can() {
    let redis = PrivateRedis::start();
    let prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
    let app = node_with_a_short_deadline(redis.url(), &prefix).await;
    let mut alice = alice_in_the_lobby(&app).await;

    refuse_channels_for_a_while(&redis).await;
    let heard = async || {
        let _ = publish(&app, "public:lobby", json!({ "n": 1 }), None).await;
        alice
            .within("event", Duration::from_millis(500))
            .await
            .is_some()
    };
    super::recovers_within(Duration::from_secs(30), heard).await;
}

/// One node on the Redis at `url`, under key prefix `prefix`, with a short Redis deadline:
/// what is counted in deadlines (a subscriber's heartbeat, its re-subscription tries)
/// passes quickly.
async fn node_with_a_short_deadline(url: String, prefix: &str) -> TestApp {
    TestApp::spawn_with(Db::Postgres, |s| {
        s.redis.url = Some(url);
        s.redis.prefix = prefix.to_owned();
        s.redis.timeout = Duration::from_millis(300);
        s.drain.reconnect_spread = Duration::from_millis(200);
    })
    .await
}

/// Alice on `app`'s `/realtime`, subscribed to `public:lobby`.
async fn alice_in_the_lobby(app: &TestApp) -> SioClient {
    let alice = app.connect("/realtime", "alice").await;
    let ack = alice
        .emit_ack("subscribe", json!({ "channels": ["public:lobby"] }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    alice
}

/// Redis refuses every pub/sub channel (an ACL change, which also drops the subscribers)
/// for longer than a subscriber's six re-subscription tries (about 7 s here).
async fn refuse_channels_for_a_while(redis: &PrivateRedis) {
    redis.command(&["ACL", "SETUSER", "default", "resetchannels"]);
    tokio::time::sleep(Duration::from_secs(10)).await;
    redis.command(&["ACL", "SETUSER", "default", "allchannels"]);
}
