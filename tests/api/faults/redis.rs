//! A cluster node whose Redis (a private server) sits behind the fault proxy: while the
//! path is blackholed, every request that touches Redis is still answered within the
//! Redis deadline plus a margin, and the node works again soon after the path heals.

use std::time::Duration;

use serde_json::{Value, json};

use super::{answered_within, recovers_within};
use crate::cluster::private_redis::PrivateRedis;
use crate::realtime::publish;
use crate::support::fault_proxy::FaultProxy;
use crate::support::{Connect, Db, SioClient, TestApp};

/// The default `redis_timeout_ms`, plus room for a busy two-core machine: a correctness
/// bound (no hang), not a performance measurement.
pub(super) const BOUND: Duration = Duration::from_millis(1_000 + 3_000);

pub(super) struct Node {
    pub app: TestApp,
    pub proxy: FaultProxy,
    _redis: PrivateRedis,
}

/// One node on SQLite whose Redis (a private server) is reached through the proxy.
pub(super) async fn node_behind_proxy() -> Node {
    let redis = PrivateRedis::start();
    let proxy = FaultProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let url = format!("redis://{}", proxy.addr());
    let app = TestApp::spawn_with(Db::Sqlite, move |s| s.redis.url = Some(url)).await;
    Node {
        app,
        proxy,
        _redis: redis,
    }
}

fn ok_or_unavailable(ack: &Value) -> bool {
    ack["ok"] == json!(true) || ack["error"]["code"] == json!("unavailable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_redis_gets_answers_not_hangs() {
    let node = node_behind_proxy().await;
    let mut alice = node.app.connect("/realtime", "alice").await;
    let ack = alice
        .emit_ack("subscribe", json!({ "channels": ["public:a"] }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    node.proxy.blackhole();

    socket_requests_are_answered(&alice).await;
    let status = http_requests_are_answered(&node.app).await;
    a_new_connect_is_answered(&node.app).await;

    node.proxy.heal();
    recovers_within(Duration::from_secs(5), async || {
        publish(&node.app, "public:a", json!({ "n": 2 }), None)
            .await
            .0
            == 202
    })
    .await;
    no_late_publication(&mut alice, status).await;
}

async fn socket_requests_are_answered(alice: &SioClient) {
    for (event, body) in [
        ("subscribe", json!({ "channels": ["public:b"] })),
        ("presence:get", json!({ "userIds": ["bob"] })),
    ] {
        let ack = answered_within(BOUND, event, alice.try_emit_ack(event, body)).await;
        assert!(
            ack.as_ref().is_some_and(ok_or_unavailable),
            "{event}: {ack:?}"
        );
    }
}

/// The publish's status, for [`no_late_publication`].
async fn http_requests_are_answered(app: &TestApp) -> u16 {
    let (status, body) = answered_within(BOUND, "POST /api/v1/publish", async {
        publish(app, "public:a", json!({ "n": 1 }), None).await
    })
    .await;
    assert!(status == 202 || status == 503, "{status} {body}");
    let token = app.token_with(json!({ "sub": "backend", "roles": ["service"] }));
    let presence = reqwest::Client::new()
        .get(app.url("/api/v1/presence/bob"))
        .bearer_auth(token)
        .send();
    let presence = answered_within(BOUND, "GET /api/v1/presence", presence).await;
    let code = presence.map(|r| r.status().as_u16());
    assert!(matches!(code, Ok(200 | 503)), "{code:?}");
    let ready = answered_within(
        BOUND,
        "GET /health/ready",
        reqwest::get(app.url("/health/ready")),
    );
    let ready = ready.await.map(|r| r.status().as_u16());
    assert!(
        matches!(ready, Ok(200)),
        "Redis is no part of readiness: {ready:?}"
    );
    status
}

async fn a_new_connect_is_answered(app: &TestApp) {
    let opts = Connect {
        auth: Some(json!({ "token": app.token("carol") })),
        wait: Some(BOUND),
        ..Connect::default()
    };
    let connected =
        answered_within(BOUND, "a new connect", app.try_connect("/realtime", opts)).await;
    assert!(
        connected
            .as_ref()
            .map_or_else(|e| e == "unavailable", |_| true),
        "accepted or refused `unavailable`: {:?}",
        connected.err()
    );
}

/// A publish answered 503 must not be published once Redis hears of it after the heal
/// (the proxy held its script, as a blackholed link holds unacknowledged segments).
async fn no_late_publication(alice: &mut SioClient, status: u16) {
    let mut seen = Vec::new();
    while let Some(event) = alice.within("event", Duration::from_millis(500)).await {
        seen.push(event.data["data"]["n"].clone());
        if seen.len() > 10 {
            break;
        }
    }
    assert!(
        seen.contains(&json!(2)),
        "the publish after the heal arrives: {seen:?}"
    );
    if status == 503 {
        assert!(
            !seen.contains(&json!(1)),
            "answered 503, published later: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_redis_connections_are_reset_recovers() {
    let node = node_behind_proxy().await;
    let alice = node.app.connect("/realtime", "alice").await;
    node.proxy.cut();
    recovers_within(Duration::from_secs(5), async || {
        let ack = alice
            .try_emit_ack("subscribe", json!({ "channels": ["public:c"] }))
            .await;
        let published = publish(&node.app, "public:c", json!({}), None).await.0 == 202;
        published && ack.is_some_and(|a| a["ok"] == json!(true))
    })
    .await;
}

/// A slow but working Redis (a 600 ms round trip, under the 1 s deadline) is not an
/// outage: publishes are accepted and delivered, none refused as late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_within_the_deadline_still_publishes() {
    let node = node_behind_proxy().await;
    let mut alice = node.app.connect("/realtime", "alice").await;
    let ack = alice
        .emit_ack("subscribe", json!({ "channels": ["public:slow"] }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    node.proxy.delay(Duration::from_millis(300));
    for n in 0..3 {
        let (status, body) = publish(&node.app, "public:slow", json!({ "n": n }), None).await;
        assert_eq!(status, 202, "{body}");
    }
    for n in 0..3 {
        let event = alice.expect("event").await;
        assert_eq!(event.data["data"]["n"], json!(n));
    }
}
