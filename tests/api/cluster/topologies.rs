//! Redis Cluster and Sentinel, reached through `SWITCHYARD_REDIS_URL` alone: two nodes on a
//! private cluster (or behind a private Sentinel) pass traffic both ways.

use std::time::Duration;

use serde_json::json;

use super::private_redis::{PrivateCluster, PrivateSentinel};
use crate::conversations::{create, send};
use crate::realtime::publish;
use crate::support::{Db, TestApp};

async fn two_nodes_on(url: String) -> (TestApp, TestApp) {
    let a = TestApp::spawn_with(Db::Postgres, move |s| s.redis.url = Some(url)).await;
    let b = a.another_node().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, b)
}

/// Chat, channels with recovery, presence and typing, each side on its own node.
async fn traffic_crosses(a: &TestApp, b: &TestApp) {
    let mut carol = b.connect("/realtime", "carol").await;
    let first = carol
        .emit_ack("subscribe", json!({ "channels": ["public:news"] }))
        .await;
    assert_eq!(first["subscribed"], json!(["public:news"]));
    let (status, position) = publish(a, "public:news", json!("one"), None).await;
    assert_eq!(status, 202);
    assert_eq!(carol.expect("event").await.data["data"], json!("one"));
    publish(a, "public:news", json!("two"), None).await;
    let again = a.connect("/realtime", "carol").await;
    let since =
        json!({ "public:news": { "epoch": position["epoch"], "offset": position["offset"] } });
    let ack = again
        .emit_ack(
            "subscribe",
            json!({ "channels": ["public:news"], "since": since }),
        )
        .await;
    assert_eq!(ack["recovered"]["public:news"], json!(true));
    assert_eq!(ack["missed"]["public:news"][0]["data"], json!("two"));

    let watcher = a.connect("/realtime", "dan").await;
    let seen = watcher
        .emit_ack("presence:get", json!({ "userIds": ["carol"] }))
        .await;
    assert_eq!(seen["users"][0]["devices"], json!(2), "carol on both nodes");

    let mut alice = a.connect("/ws", "alice").await;
    let mut bob = b.connect("/ws", "bob").await;
    let id = create(&alice, &["bob"]).await;
    bob.expect("conversation:new").await;
    send(&alice, &id, "m1", "over the cluster").await;
    assert_eq!(
        bob.expect("message:new").await.data["message"]["content"],
        json!("over the cluster")
    );
    bob.emit_ack("typing:start", json!({ "conversationId": id }))
        .await;
    assert_eq!(alice.expect("typing").await.data["typing"], json!(true));
}

#[tokio::test]
async fn nodes_share_a_redis_cluster() {
    let redis = PrivateCluster::start();
    let (a, b) = two_nodes_on(redis.url()).await;
    traffic_crosses(&a, &b).await;
    // A publication's history and its recovery log entry cannot share a script there.
    let s = a.connect("/realtime", "erin").await;
    assert_eq!(
        s.connected["pid"],
        json!(null),
        "no connection-state recovery"
    );
    let ready: serde_json::Value = reqwest::get(a.url("/health/ready"))
        .await
        .expect("res")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["redis"], json!("ok"));
}

#[tokio::test]
async fn nodes_find_redis_through_sentinel() {
    let redis = PrivateSentinel::start();
    let (a, b) = two_nodes_on(redis.url()).await;
    traffic_crosses(&a, &b).await;
}
