//! Conversations: create, the rooms they give, and the list with unread counts.

use std::time::Duration;

use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{Db, SioClient, TestApp};

pub async fn create(s: &SioClient, others: &[&str]) -> String {
    let ack = s
        .emit_ack("conversation:create", json!({ "participantIds": others }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    ack["conversation"]["id"].as_str().expect("id").to_owned()
}

pub async fn send(s: &SioClient, conversation: &str, client_id: &str, content: &str) -> Value {
    let ack = s
        .emit_ack(
            "message:send",
            json!({ "conversationId": conversation, "clientMsgId": client_id, "content": content }),
        )
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    ack["message"].clone()
}

on_both_databases!(
    create_tells_participants_and_joins_their_sockets,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let alice = app.connect("/ws", "alice").await;
        let mut bob = app.connect("/ws", "bob").await;
        let mut carol = app.connect("/ws", "carol").await;
        let ack = alice
            .emit_ack(
                "conversation:create",
                json!({ "participantIds": ["bob", "bob"], "title": "Lunch" }),
            )
            .await;
        let conversation = &ack["conversation"];
        assert_eq!(conversation["participantIds"], json!(["alice", "bob"]));
        assert_eq!(conversation["title"], json!("Lunch"));
        assert!(
            conversation["createdAt"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000)
        );
        let told = bob.expect("conversation:new").await;
        assert_eq!(told.data["conversation"], *conversation);
        // Bob's already-open socket joined the room: it receives the first message.
        let id = conversation["id"].as_str().expect("id");
        send(&alice, id, "m1", "hello").await;
        assert_eq!(
            bob.expect("message:new").await.data["message"]["content"],
            json!("hello")
        );
        carol
            .expect_none("conversation:new", Duration::from_millis(200))
            .await;
        carol
            .expect_none("message:new", Duration::from_millis(100))
            .await;
    }
);

on_both_databases!(
    sockets_join_their_conversations_at_connect,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let alice = app.connect("/ws", "alice").await;
        let id = create(&alice, &["bob"]).await;
        let mut late_bob = app.connect("/ws", "bob").await;
        send(&alice, &id, "m1", "are you there?").await;
        assert_eq!(
            late_bob.expect("message:new").await.data["message"]["conversationId"],
            json!(id)
        );
    }
);

on_both_databases!(
    list_shows_last_message_and_unread_counts,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let alice = app.connect("/ws", "alice").await;
        let bob = app.connect("/ws", "bob").await;
        let quiet = create(&alice, &["carol"]).await;
        let busy = create(&alice, &["bob"]).await;
        for i in 1..=3 {
            send(&alice, &busy, &format!("m{i}"), &format!("text {i}")).await;
        }
        send(&bob, &busy, "b1", "reply").await;
        let list = bob.emit_ack_bare("conversation:list").await;
        assert_eq!(list["ok"], json!(true));
        let conversations = list["conversations"].as_array().expect("array");
        assert_eq!(conversations.len(), 1, "bob is only in one: {list}");
        assert_eq!(
            conversations[0]["unread"],
            json!(3),
            "his own message does not count"
        );
        assert_eq!(conversations[0]["lastMessage"]["content"], json!("reply"));
        let list = alice.emit_ack("conversation:list", json!({})).await;
        let ids: Vec<&str> = list["conversations"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert_eq!(
            ids,
            vec![busy.as_str(), quiet.as_str()],
            "most recent activity first"
        );
        assert_eq!(list["conversations"][0]["unread"], json!(1));
        assert!(list["conversations"][1].get("lastMessage").is_none());
    }
);
