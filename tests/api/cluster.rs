//! Cluster mode: nodes sharing one Redis (a prefix of their own per test) and one
//! PostgreSQL database, with the two sides of each interaction on different nodes.

use std::time::Duration;

use serde_json::json;

use crate::conversations::{create, send};
use crate::notifications::{notify, simple};
use crate::realtime::publish;
use crate::support::{Db, TestApp};

/// Two nodes of one cluster.
async fn cluster() -> (TestApp, TestApp) {
    let prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
    let a = TestApp::spawn_with(Db::Postgres, move |s| {
        s.redis_url = Some("redis://127.0.0.1:6379".into());
        s.redis_prefix = prefix;
    })
    .await;
    let b = a.another_node().await;
    // Let both adapters finish subscribing before traffic crosses.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, b)
}

#[tokio::test]
async fn messages_receipts_and_typing_cross_nodes() {
    let (a, b) = cluster().await;
    let mut alice = a.connect("/ws", "alice").await;
    let mut bob = b.connect("/ws", "bob").await;
    bob.manual_acks();
    let id = create(&alice, &["bob"]).await;
    assert_eq!(
        bob.expect("conversation:new").await.data["conversation"]["id"],
        json!(id)
    );
    send(&alice, &id, "c1", "across").await;
    let incoming = bob.expect("message:new").await;
    assert_eq!(incoming.data["message"]["content"], json!("across"));
    bob.ack(incoming.ack_id.expect("ack requested"), json!({}));
    let delivered = alice.expect("message:delivered").await.data;
    assert_eq!(
        delivered,
        json!({ "conversationId": id, "userId": "bob", "seq": 1 })
    );
    bob.emit_ack("typing:start", json!({ "conversationId": id }))
        .await;
    assert_eq!(alice.expect("typing").await.data["typing"], json!(true));
    bob.emit_ack("message:read", json!({ "conversationId": id, "seq": 1 }))
        .await;
    assert_eq!(
        alice.expect("message:read").await.data["userId"],
        json!("bob")
    );
}

#[tokio::test]
async fn announcements_publications_and_disconnects_reach_other_nodes() {
    let (a, b) = cluster().await;
    let mut carol = b.connect("/realtime", "carol").await;
    carol
        .emit_ack("subscribe", json!({ "channels": ["public:news"] }))
        .await;
    let (status, _) = publish(&a, "public:news", json!("hello"), None).await;
    assert_eq!(status, 202);
    assert_eq!(carol.expect("event").await.data["data"], json!("hello"));
    let http = reqwest::Client::new();
    let body = json!({ "title": "t", "body": "b" });
    let res = http
        .post(a.url("/api/v1/announce"))
        .bearer_auth(a.admin_token())
        .json(&body)
        .send()
        .await
        .expect("res");
    assert_eq!(res.status().as_u16(), 202);
    assert_eq!(carol.expect("announcement").await.data["title"], json!("t"));
    let res = http
        .post(a.url("/api/v1/users/carol/disconnect"))
        .bearer_auth(a.admin_token())
        .send()
        .await
        .expect("res");
    assert_eq!(res.status().as_u16(), 200);
    carol.expect("disconnect").await;
}

#[tokio::test]
async fn notifications_reach_a_user_connected_to_another_node() {
    let (a, b) = cluster().await;
    let mut dave = b.connect("/notifications", "dave").await;
    notify(&a, simple("dave", "from a", "high")).await;
    assert_eq!(
        dave.expect("notification").await.data["title"],
        json!("from a")
    );
    // Acked on node b: not pending any more, whichever node dave comes back to.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = a.connect("/notifications", "dave").await;
    again
        .expect_none("notification", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn readiness_reports_redis() {
    let (a, _b) = cluster().await;
    let body: serde_json::Value = reqwest::get(a.url("/health/ready"))
        .await
        .expect("res")
        .json()
        .await
        .expect("json");
    assert_eq!(body["redis"], json!("ok"));
}
