//! Degraded mode (PROTOCOL §7): a cluster node whose Redis path is blackholed stays ready,
//! accepts connections, serves `/ws` with same-node delivery, answers presence from its
//! own view marked `degraded`, and refuses at once what needs Redis (a publish, a
//! recovery with `since`) with `unavailable` / 503 and `Retry-After`.

use std::time::Duration;

use serde_json::{Value, json};

use super::redis::{BOUND, node_behind_proxy};
use super::{answered_within, recovers_within};
use crate::conversations::{create, send};
use crate::realtime::publish;
use crate::support::{Connect, TestApp};

/// `/health/ready`'s status and body.
async fn readiness(app: &TestApp) -> (u16, Value) {
    let res = reqwest::get(app.url("/health/ready")).await.expect("ready");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Waits (within the probe's detection time, bounded) until the node says it runs
/// degraded; readiness stays 200 all along.
async fn until_readiness_says(app: &TestApp, redis: &str) {
    recovers_within(Duration::from_secs(8), async || {
        let (status, body) = readiness(app).await;
        assert_eq!(
            status, 200,
            "a Redis outage does not make a node unready: {body}"
        );
        body["redis"] == json!(redis)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_redis_serves_its_own_sockets() {
    let node = node_behind_proxy().await;
    let alice = node.app.connect("/ws", "alice").await;
    let mut bob = node.app.connect("/ws", "bob").await;
    let conversation = create(&alice, &["bob"]).await;
    bob.expect("conversation:new").await;
    let watcher = node.app.connect("/realtime", "carol").await;
    node.proxy.blackhole();
    until_readiness_says(&node.app, "degraded").await;

    let opts = Connect {
        auth: Some(json!({ "token": node.app.token("dave") })),
        wait: Some(BOUND),
        ..Connect::default()
    };
    let connect = node.app.try_connect("/realtime", opts);
    let dave = answered_within(BOUND, "a connect while degraded", connect).await;
    let dave = dave.expect("accepted while degraded");

    let sent = answered_within(
        BOUND,
        "message:send",
        send(&alice, &conversation, "d1", "hi"),
    );
    assert_eq!(sent.await["seq"], json!(1));
    let incoming = bob.expect("message:new").await;
    assert_eq!(
        incoming.data["message"]["content"],
        json!("hi"),
        "same-node delivery"
    );
    let typing = json!({ "conversationId": conversation });
    let ack = answered_within(
        BOUND,
        "typing:start",
        alice.emit_ack("typing:start", typing),
    );
    assert_eq!(ack.await["ok"], json!(true));
    assert_eq!(bob.expect("typing").await.data["userId"], json!("alice"));

    presence_comes_from_this_node(&watcher).await;
    refuses_what_needs_redis(&node.app, &dave).await;

    node.proxy.heal();
    until_readiness_says(&node.app, "ok").await;
    recovers_within(Duration::from_secs(5), async || {
        publish(&node.app, "public:after", json!({}), None).await.0 == 202
    })
    .await;
}

/// Bob's sockets are on this node: he is online, and the answer says it is this node's
/// view.
async fn presence_comes_from_this_node(watcher: &crate::support::SioClient) {
    let body = json!({ "userIds": ["bob"] });
    let ack = answered_within(
        BOUND,
        "presence:get",
        watcher.emit_ack("presence:get", body),
    );
    let ack = ack.await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    assert_eq!(ack["users"][0]["status"], json!("online"), "{ack}");
    assert_eq!(ack["degraded"], json!(true), "{ack}");
}

async fn refuses_what_needs_redis(app: &TestApp, dave: &crate::support::SioClient) {
    let token = app.token_with(json!({ "sub": "backend", "roles": ["service"] }));
    let body = json!({ "channel": "public:a", "event": "tick", "data": {} });
    let publish = reqwest::Client::new()
        .post(app.url("/api/v1/publish"))
        .bearer_auth(token)
        .json(&body)
        .send();
    let res = answered_within(BOUND, "POST /api/v1/publish", publish)
        .await
        .expect("response");
    assert_eq!(res.status().as_u16(), 503);
    assert!(res.headers().contains_key("retry-after"), "{res:?}");

    let since = json!({ "public:a": { "epoch": "e", "offset": 0 } });
    let body = json!({ "channels": ["public:a"], "since": since });
    let ack = answered_within(
        BOUND,
        "subscribe with since",
        dave.emit_ack("subscribe", body),
    );
    let ack = ack.await;
    let refused = ack["error"]["code"] == json!("unavailable")
        || ack["denied"][0]["code"] == json!("unavailable");
    assert!(refused, "recovery needs Redis: {ack}");
    let body = json!({ "channels": ["public:b"] });
    let ack = answered_within(BOUND, "subscribe", dave.emit_ack("subscribe", body));
    assert_eq!(ack.await["subscribed"], json!(["public:b"]));
}
