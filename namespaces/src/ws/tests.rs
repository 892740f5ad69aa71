//! Unit tests of the `/ws` rules against the in-memory store.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Chat, Created, SYSTEM_SENDER, Sender};
use crate::ack::ErrorCode;
use crate::memory::MemoryStore;
use crate::ports::{Clock, Inserted};

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        1_700_000_000_000
    }
}

fn chat() -> Chat {
    Chat::new(Arc::new(MemoryStore::default()), Arc::new(FixedClock))
}

fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("valid request")
}

async fn conversation(chat: &Chat, me: &str, others: &[&str]) -> String {
    let c = chat
        .create_conversation(Some(me), None, req(json!({ "participantIds": others })))
        .await
        .expect("created");
    c.into_conversation().id
}

#[tokio::test]
async fn creator_is_always_a_participant_and_duplicates_collapse() {
    let chat = chat();
    let c = chat
        .create_conversation(
            Some("alice"),
            None,
            req(json!({"participantIds": ["bob", "bob", "alice"], "title": "t"})),
        )
        .await
        .expect("created")
        .into_conversation();
    assert_eq!(c.participant_ids, vec!["alice", "bob"]);
    assert_eq!(c.title.as_deref(), Some("t"));
}

#[tokio::test]
async fn resending_a_client_msg_id_returns_the_stored_message() {
    let chat = chat();
    let c = conversation(&chat, "alice", &["bob"]).await;
    let body = json!({"conversationId": c, "clientMsgId": "m1", "content": "hi"});
    let (first, _) = chat
        .send(&Sender::user("alice"), req(body.clone()))
        .await
        .expect("sent");
    let (again, _) = chat
        .send(&Sender::user("alice"), req(body))
        .await
        .expect("resent");
    let Inserted::New(first) = first else {
        panic!("first send must be new")
    };
    assert_eq!(again, Inserted::Existing(first.clone()));
    assert_eq!(first.seq, 1);
}

#[tokio::test]
async fn a_client_msg_id_reused_in_another_conversation_is_a_conflict() {
    let chat = chat();
    let c1 = conversation(&chat, "alice", &["bob"]).await;
    let c2 = conversation(&chat, "alice", &["carol"]).await;
    chat.send(
        &Sender::user("alice"),
        req(json!({"conversationId": c1, "clientMsgId": "m", "content": "a"})),
    )
    .await
    .expect("sent");
    let err = chat
        .send(
            &Sender::user("alice"),
            req(json!({"conversationId": c2, "clientMsgId": "m", "content": "b"})),
        )
        .await
        .expect_err("conflict");
    assert_eq!(err.code, ErrorCode::Conflict);
}

#[tokio::test]
async fn outsiders_are_forbidden_everywhere() {
    let chat = chat();
    let c = conversation(&chat, "alice", &["bob"]).await;
    let send = chat
        .send(
            &Sender::user("eve"),
            req(json!({"conversationId": c, "clientMsgId": "x", "content": "hi"})),
        )
        .await;
    assert_eq!(send.expect_err("forbidden").code, ErrorCode::Forbidden);
    let history = chat.history("eve", req(json!({"conversationId": c}))).await;
    assert_eq!(history.expect_err("forbidden").code, ErrorCode::Forbidden);
    let read = chat
        .read("eve", req(json!({"conversationId": c, "seq": 1})))
        .await;
    assert_eq!(read.expect_err("forbidden").code, ErrorCode::Forbidden);
    let sync = chat
        .sync("eve", req(json!({"cursors": {c.clone(): 0}})))
        .await;
    assert_eq!(sync.expect_err("forbidden").code, ErrorCode::Forbidden);
    assert_eq!(
        chat.participants_for("eve", &c)
            .await
            .expect_err("forbidden")
            .code,
        ErrorCode::Forbidden
    );
}

#[tokio::test]
async fn only_the_sender_may_edit_or_delete() {
    let chat = chat();
    let c = conversation(&chat, "alice", &["bob"]).await;
    let (sent, _) = chat
        .send(
            &Sender::user("alice"),
            req(json!({"conversationId": c, "clientMsgId": "m", "content": "hi"})),
        )
        .await
        .expect("sent");
    let Inserted::New(m) = sent else {
        panic!("new")
    };
    let by_bob = chat
        .edit("bob", req(json!({"messageId": m.id, "content": "x"})))
        .await;
    assert_eq!(by_bob.expect_err("forbidden").code, ErrorCode::Forbidden);
    let edited = chat
        .edit("alice", req(json!({"messageId": m.id, "content": "fixed"})))
        .await
        .expect("edited");
    assert_eq!(
        (edited.content.as_str(), edited.edited_at.is_some()),
        ("fixed", true)
    );
    let deleted = chat
        .delete("alice", req(json!({"messageId": m.id})))
        .await
        .expect("deleted");
    assert!(deleted.deleted && deleted.content.is_empty());
    let again = chat
        .edit("alice", req(json!({"messageId": m.id, "content": "back"})))
        .await;
    assert_eq!(again.expect_err("gone").code, ErrorCode::NotFound);
}

#[tokio::test]
async fn reply_to_must_name_a_message_of_the_same_conversation() {
    let chat = chat();
    let c = conversation(&chat, "alice", &["bob"]).await;
    let bad = chat
        .send(
            &Sender::user("alice"),
            req(
                json!({"conversationId": c, "clientMsgId": "m", "content": "x", "replyTo": "nope"}),
            ),
        )
        .await;
    assert_eq!(bad.expect_err("invalid").code, ErrorCode::InvalidPayload);
}

#[tokio::test]
async fn sync_is_bounded_and_reports_more() {
    let chat = chat();
    let c = conversation(&chat, "alice", &["bob"]).await;
    for i in 0..(super::chat::SYNC_LIMIT + 3) {
        chat.send(
            &Sender::user("alice"),
            req(json!({"conversationId": c, "clientMsgId": format!("m{i}"), "content": "x"})),
        )
        .await
        .expect("sent");
    }
    let page = chat
        .sync("bob", req(json!({"cursors": {c.clone(): 2}})))
        .await
        .expect("synced");
    assert_eq!(page.messages.len() as i64, super::chat::SYNC_LIMIT);
    assert_eq!(page.messages[0].seq, 3);
    assert!(page.more);
}

#[tokio::test]
async fn read_cursor_only_moves_forward() {
    let chat = chat();
    let c = conversation(&chat, "alice", &["bob"]).await;
    for i in 0..3 {
        chat.send(
            &Sender::user("alice"),
            req(json!({"conversationId": c, "clientMsgId": format!("m{i}"), "content": "x"})),
        )
        .await
        .expect("sent");
    }
    let r = chat
        .read("bob", req(json!({"conversationId": c, "seq": 2})))
        .await
        .expect("read");
    assert_eq!((r.seq, r.user_id.as_str()), (2, "bob"));
    let r = chat
        .read("bob", req(json!({"conversationId": c, "seq": 1})))
        .await
        .expect("read");
    assert_eq!(r.seq, 2);
    let list = chat.list("bob").await.expect("listed");
    assert_eq!(list[0].unread, 1);
}

#[tokio::test]
async fn a_keyed_conversation_is_created_once_and_returned_after() {
    let chat = chat();
    let body = json!({ "participantIds": ["bob", "alice"], "title": "t" });
    let id = Some("k-1".to_string());
    let first = chat
        .create_conversation(None, id.clone(), req(body.clone()))
        .await
        .expect("created");
    let Created::New(first) = first else {
        panic!("the first create must be new")
    };
    assert_eq!(
        first.participant_ids,
        vec!["alice", "bob"],
        "no creator added"
    );
    let other = json!({ "participantIds": ["carol"] });
    let again = chat
        .create_conversation(None, id, req(other))
        .await
        .expect("found");
    assert_eq!(again, Created::Existing(first));
}

#[tokio::test]
async fn the_system_sender_needs_no_participation_but_a_conversation() {
    let chat = chat();
    let c = conversation(&chat, "alice", &["bob"]).await;
    let body = json!({"conversationId": c, "clientMsgId": "s1", "content": "welcome"});
    let (sent, participants) = chat.send(&Sender::System, req(body)).await.expect("sent");
    let Inserted::New(message) = sent else {
        panic!("a new message")
    };
    assert_eq!(message.sender_id, SYSTEM_SENDER);
    assert_eq!(participants, vec!["alice", "bob"]);
    let body = json!({"conversationId": "nope", "clientMsgId": "s2", "content": "x"});
    let err = chat
        .send(&Sender::System, req(body))
        .await
        .expect_err("none");
    assert_eq!(err.code, ErrorCode::NotFound);
}
