//! Read receipts and typing indicators.

use std::time::Duration;

use serde_json::json;

use crate::conversations::{create, send};
use crate::on_both_databases;
use crate::support::{Db, TestApp};

on_both_databases!(
    read_receipts_move_forward_and_reach_the_conversation,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let mut alice = app.connect("/ws", "alice").await;
        let bob = app.connect("/ws", "bob").await;
        let id = create(&alice, &["bob"]).await;
        for i in 1..=3 {
            send(&alice, &id, &format!("c{i}"), "x").await;
        }
        assert_eq!(
            bob.emit_ack("message:read", json!({ "conversationId": id, "seq": 2 }))
                .await,
            json!({ "ok": true })
        );
        let receipt = alice.expect("message:read").await.data;
        assert_eq!(
            (
                receipt["conversationId"].clone(),
                receipt["userId"].clone(),
                receipt["seq"].clone()
            ),
            (json!(id), json!("bob"), json!(2))
        );
        assert!(receipt["readAt"].is_i64());
        // Going back does not move the cursor; reading past the end stops at the newest.
        bob.emit_ack("message:read", json!({ "conversationId": id, "seq": 1 }))
            .await;
        assert_eq!(alice.expect("message:read").await.data["seq"], json!(2));
        let list = bob.emit_ack("conversation:list", json!({})).await;
        assert_eq!(list["conversations"][0]["unread"], json!(1));
        bob.emit_ack("message:read", json!({ "conversationId": id, "seq": 99 }))
            .await;
        assert_eq!(alice.expect("message:read").await.data["seq"], json!(3));
        send(&alice, &id, "c4", "new").await;
        let list = bob.emit_ack("conversation:list", json!({})).await;
        assert_eq!(
            list["conversations"][0]["unread"],
            json!(1),
            "a message after the clamp is unread"
        );
    }
);

#[tokio::test]
async fn typing_is_announced_to_others_and_stops_by_itself() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let alice = app.connect("/ws", "alice").await;
    let mut alice_other = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    let id = create(&alice, &["bob"]).await;
    assert_eq!(
        alice
            .emit_ack("typing:start", json!({ "conversationId": id }))
            .await,
        json!({ "ok": true })
    );
    let expected =
        |typing: bool| json!({ "conversationId": id, "userId": "alice", "typing": typing });
    assert_eq!(bob.expect("typing").await.data, expected(true));
    alice_other
        .expect_none("typing", Duration::from_millis(200))
        .await;
    alice
        .emit_ack("typing:stop", json!({ "conversationId": id }))
        .await;
    assert_eq!(bob.expect("typing").await.data, expected(false));
    // Renewals within the timeout are not re-announced; silence ends typing after ~5 s.
    alice
        .emit_ack("typing:start", json!({ "conversationId": id }))
        .await;
    assert_eq!(bob.expect("typing").await.data, expected(true));
    tokio::time::sleep(Duration::from_secs(2)).await;
    alice
        .emit_ack("typing:start", json!({ "conversationId": id }))
        .await;
    bob.expect_none("typing", Duration::from_secs(4)).await;
    let stopped = bob
        .within("typing", Duration::from_secs(3))
        .await
        .expect("auto stop");
    assert_eq!(stopped.data, expected(false));
}
