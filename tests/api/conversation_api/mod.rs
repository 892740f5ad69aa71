//! The HTTP conversation API (`POST /api/v1/conversations`, `…/{id}/messages`): what it
//! makes reaches real `/ws` sockets as the socket events' own would, repeats create
//! nothing, and only services may call it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::conversations::{create, send};
use crate::on_both_databases;
use crate::support::{Db, TestApp};

mod beyond;

pub(crate) const QUIET: Duration = Duration::from_millis(300);

pub(crate) async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.expect("response");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(crate) fn service(app: &TestApp) -> String {
    app.token_with(json!({ "sub": "backend", "roles": ["service"] }))
}

/// `POST /api/v1/conversations` as the service.
pub(crate) async fn create_over_http(app: &TestApp, body: Value) -> (u16, Value) {
    let req = reqwest::Client::new()
        .post(app.url("/api/v1/conversations"))
        .bearer_auth(service(app))
        .json(&body);
    call(req).await
}

/// `POST /api/v1/conversations/{id}/messages` as the service.
pub(crate) async fn post_over_http(app: &TestApp, conversation: &str, body: Value) -> (u16, Value) {
    let url = app.url(&format!("/api/v1/conversations/{conversation}/messages"));
    let req = reqwest::Client::new()
        .post(url)
        .bearer_auth(service(app))
        .json(&body);
    call(req).await
}

on_both_databases!(
    a_conversation_created_over_http_is_told_and_joined,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let mut alice = app.connect("/ws", "alice").await;
        let mut bob = app.connect("/ws", "bob").await;
        let body =
            json!({ "participantIds": ["bob", "alice"], "title": "Pitch", "idempotencyKey": "k1" });
        let (status, created) = create_over_http(&app, body.clone()).await;
        assert_eq!(status, 201, "{created}");
        let conversation = &created["conversation"];
        // The calling service takes no part.
        assert_eq!(conversation["participantIds"], json!(["alice", "bob"]));
        assert_eq!(conversation["title"], json!("Pitch"));
        for s in [&mut alice, &mut bob] {
            let told = s.expect("conversation:new").await;
            assert_eq!(told.data["conversation"], *conversation);
        }
        // The same key: the first conversation, nothing created or told again.
        let (status, again) = create_over_http(&app, body).await;
        assert_eq!((status, &again["conversation"]), (200, conversation));
        alice.expect_none("conversation:new", QUIET).await;
        let listed = alice.emit_ack("conversation:list", json!({})).await;
        assert_eq!(listed["conversations"].as_array().map(Vec::len), Some(1));
        // Their open sockets joined the room: a socket message reaches the other.
        let id = conversation["id"].as_str().expect("id");
        send(&alice, id, "m1", "hello").await;
        let new = bob.expect("message:new").await;
        assert_eq!(new.data["message"]["content"], json!("hello"));
        // Another key is another conversation.
        let other = json!({ "participantIds": ["alice"], "idempotencyKey": "k2" });
        let (status, second) = create_over_http(&app, other).await;
        assert_eq!(status, 201);
        assert_ne!(second["conversation"]["id"], conversation["id"]);
    }
);

on_both_databases!(
    a_message_posted_for_a_user_is_delivered_as_message_send,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let mut alice = app.connect("/ws", "alice").await;
        let mut bob = app.connect("/ws", "bob").await;
        let id = create(&alice, &["bob"]).await;
        bob.expect("conversation:new").await;
        let body = json!({ "senderId": "alice", "clientMsgId": "c1", "content": "from the backend", "attachments": [{ "url": "u" }] });
        let (status, posted) = post_over_http(&app, &id, body.clone()).await;
        assert_eq!(status, 201, "{posted}");
        let message = &posted["message"];
        assert_eq!(
            (
                &message["senderId"],
                &message["seq"],
                &message["conversationId"]
            ),
            (&json!("alice"), &json!(1), &json!(id))
        );
        // Bob gets it with an ack request; he acks and alice hears it was delivered.
        let new = bob.expect("message:new").await;
        assert_eq!(new.data["message"], *message);
        assert!(new.ack_id.is_some(), "message:new asks for an ack");
        // The sender's sockets hear of it too: none of them sent it.
        assert_eq!(alice.expect("message:new").await.data["message"], *message);
        let delivered = alice.expect("message:delivered").await.data;
        assert_eq!(
            delivered,
            json!({ "conversationId": id, "seq": 1, "userId": "bob" })
        );
        // A repeat: the stored message, told to no one again.
        let (status, again) = post_over_http(&app, &id, body).await;
        assert_eq!((status, &again["message"]), (200, message));
        bob.expect_none("message:new", QUIET).await;
        // A socket resend of the same (senderId, clientMsgId) is the same message too.
        let resent = send(&alice, &id, "c1", "from the backend").await;
        assert_eq!(resent["id"], message["id"]);
        // Unread counts count it, as for a socket's message.
        let listed = bob.emit_ack("conversation:list", json!({})).await;
        assert_eq!(listed["conversations"][0]["unread"], json!(1), "{listed}");
        assert_eq!(listed["conversations"][0]["lastMessage"], *message);
    }
);

on_both_databases!(
    a_system_message_reaches_every_participant,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let mut alice = app.connect("/ws", "alice").await;
        let mut bob = app.connect("/ws", "bob").await;
        let (_, created) =
            create_over_http(&app, json!({ "participantIds": ["alice", "bob"] })).await;
        let id = created["conversation"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let body = json!({ "system": true, "clientMsgId": "welcome", "content": "Welcome!" });
        let (status, posted) = post_over_http(&app, &id, body.clone()).await;
        assert_eq!(status, 201, "{posted}");
        assert_eq!(posted["message"]["senderId"], json!("{system}"));
        for s in [&mut alice, &mut bob] {
            let new = s.expect("message:new").await;
            assert_eq!(new.data["message"], posted["message"]);
        }
        let (status, again) = post_over_http(&app, &id, body).await;
        assert_eq!((status, &again["message"]), (200, &posted["message"]));
        let history = bob
            .emit_ack("message:history", json!({ "conversationId": id }))
            .await;
        assert_eq!(history["messages"], json!([posted["message"]]));
    }
);

on_both_databases!(
    the_api_refuses_what_the_socket_events_refuse,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let alice = app.connect("/ws", "alice").await;
        let id = create(&alice, &["bob"]).await;
        let code = |body: &Value| body["error"]["code"].clone();
        let hi = |sender: &str, client: &str| json!({ "senderId": sender, "clientMsgId": client, "content": "hi" });
        let (status, body) = post_over_http(&app, "no-such-conversation", hi("alice", "x")).await;
        assert_eq!((status, code(&body)), (404, json!("not_found")));
        let (status, body) = post_over_http(&app, &id, hi("eve", "x")).await;
        assert_eq!((status, code(&body)), (403, json!("forbidden")));
        let other = create(&alice, &["carol"]).await;
        post_over_http(&app, &other, hi("alice", "used")).await;
        let (status, body) = post_over_http(&app, &id, hi("alice", "used")).await;
        assert_eq!((status, code(&body)), (409, json!("conflict")));
        let neither = json!({ "clientMsgId": "x", "content": "hi" });
        let both =
            json!({ "senderId": "alice", "system": true, "clientMsgId": "x", "content": "hi" });
        let long = json!({ "senderId": "alice", "clientMsgId": "x", "content": "x".repeat(4001) });
        for bad in [neither, both, long, json!({ "senderId": "alice" })] {
            let (status, body) = post_over_http(&app, &id, bad).await;
            assert_eq!((status, code(&body)), (422, json!("invalid_payload")));
        }
        let many: Vec<String> = (0..=200).map(|i| format!("u{i}")).collect();
        let long_title = "t".repeat(201);
        for bad in [
            json!({ "participantIds": [] }),
            json!({ "participantIds": many }),
            json!({ "participantIds": ["a"], "title": long_title }),
        ] {
            let (status, body) = create_over_http(&app, bad).await;
            assert_eq!((status, code(&body)), (422, json!("invalid_payload")));
        }
        let broken = reqwest::Client::new()
            .post(app.url("/api/v1/conversations"))
            .bearer_auth(service(&app))
            .header("content-type", "application/json")
            .body("{");
        assert_eq!(code(&call(broken).await.1), json!("invalid_payload"));
        // Only nothing was stored: alice still has her two conversations.
        let listed = alice.emit_ack("conversation:list", json!({})).await;
        assert_eq!(listed["conversations"].as_array().map(Vec::len), Some(2));
    }
);

#[tokio::test]
async fn only_services_may_call_the_conversation_api() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let http = reqwest::Client::new();
    let create_url = app.url("/api/v1/conversations");
    let post_url = app.url("/api/v1/conversations/c1/messages");
    let create_body = json!({ "participantIds": ["alice"] });
    let post_body = json!({ "system": true, "clientMsgId": "x", "content": "hi" });
    let code = |body: &Value| body["error"]["code"].clone();
    for (url, body) in [(&create_url, &create_body), (&post_url, &post_body)] {
        let (status, answer) = call(http.post(url).json(body)).await;
        assert_eq!((status, code(&answer)), (401, json!("missing_token")));
        for token in [app.token("alice"), app.admin_token()] {
            let (status, answer) = call(http.post(url).bearer_auth(token).json(body)).await;
            assert_eq!((status, code(&answer)), (403, json!("forbidden")));
        }
    }
    let mut alice = app.connect("/ws", "alice").await;
    alice
        .expect_none("conversation:new", Duration::from_millis(200))
        .await;
}
