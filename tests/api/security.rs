//! What an attacker tries first, and that the server keeps serving a well-behaved client
//! after each: a stranger to a conversation trying every `/ws` event on it, floods of
//! every rate-limit class, and frames over the Engine.IO limit by WebSocket and polling.

use std::time::Duration;

use serde_json::{Value, json};

use crate::conversations::{create, send};
use crate::support::{Db, SioClient, TestApp};

/// A client that did nothing wrong is still served.
async fn still_serves(app: &TestApp) {
    let fine = app.connect("/ws", "well-behaved").await;
    let ack = fine.emit_ack("conversation:list", json!({})).await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
}

#[tokio::test]
async fn a_stranger_gets_nothing_from_any_ws_event_on_a_conversation() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let alice = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    let id = create(&alice, &["bob"]).await;
    bob.expect("conversation:new").await;
    let first = send(&alice, &id, "c1", "private").await;
    bob.expect("message:new").await;
    let mallory = app.connect("/ws", "mallory").await;
    let (seq, message_id) = (first["seq"].clone(), first["id"].clone());
    let attempts: Vec<(&str, Value)> = vec![
        (
            "message:send",
            json!({ "conversationId": id, "clientMsgId": "m", "content": "hi" }),
        ),
        (
            "message:edit",
            json!({ "messageId": message_id, "content": "pwned" }),
        ),
        ("message:delete", json!({ "messageId": message_id })),
        ("message:history", json!({ "conversationId": id })),
        ("message:read", json!({ "conversationId": id, "seq": seq })),
        ("typing:start", json!({ "conversationId": id })),
        ("typing:stop", json!({ "conversationId": id })),
    ];
    for (event, body) in attempts {
        let ack = mallory.emit_ack(event, body).await;
        let code = ack["error"]["code"].as_str().unwrap_or("accepted");
        assert!(
            ["forbidden", "not_found"].contains(&code),
            "{event} by a stranger: {ack}"
        );
    }
    let sync = mallory
        .emit_ack("message:sync", json!({ "cursors": { id.clone(): 0 } }))
        .await;
    let leaked = sync["messages"].as_array().map_or(0, Vec::len);
    assert!(
        sync["ok"] == json!(false) || leaked == 0,
        "message:sync leaks nothing: {sync}"
    );
    let list = mallory.emit_ack("conversation:list", json!({})).await;
    assert_eq!(list["conversations"], json!([]));
    for event in [
        "message:new",
        "message:updated",
        "message:deleted",
        "typing",
        "message:read",
    ] {
        bob.expect_none(event, Duration::from_millis(100)).await;
    }
    let history = alice
        .emit_ack("message:history", json!({ "conversationId": id }))
        .await;
    assert_eq!(
        history["messages"][0]["content"],
        json!("private"),
        "untouched"
    );
}

/// Sends `event` until it is refused `rate_limited` (at most `tries` times).
async fn flood(client: &SioClient, event: &str, body: Value, tries: usize) -> Value {
    for _ in 0..tries {
        let ack = client.emit_ack(event, body.clone()).await;
        if ack["error"]["code"] == json!("rate_limited") {
            return ack;
        }
    }
    panic!("{event} was never limited in {tries} tries");
}

#[tokio::test]
async fn a_flood_of_each_event_class_is_limited_and_others_are_served() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let chat = app.connect("/ws", "flooder").await;
    let id = create(&chat, &["victim"]).await;
    let message = json!({ "conversationId": id, "clientMsgId": "same", "content": "spam" });
    flood(&chat, "message:send", message, 10).await;
    flood(&chat, "typing:start", json!({ "conversationId": id }), 20).await;
    let live = app.connect("/realtime", "flooder").await;
    flood(&live, "presence:get", json!({ "userIds": ["x"] }), 10).await;
    let draft = json!({ "draftId": "d1", "baseVersion": 0, "content": "x" });
    flood(&live, "draft:sync", draft, 10).await;
    let other = app.connect("/notifications", "flooder").await;
    let limited = flood(&other, "notification:list", json!({}), 130).await;
    assert!(limited["error"]["retryAfterMs"].as_u64().is_some());
    still_serves(&app).await;
}

#[tokio::test]
async fn a_frame_over_the_engine_limit_closes_only_that_connection() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut rude = app.connect("/ws", "mallory").await;
    let huge = format!(
        "42/ws,[\"message:send\",\"{}\"]",
        "x".repeat(2 * 1024 * 1024)
    );
    rude.send_raw(&huge);
    assert!(
        rude.within("disconnect", Duration::from_secs(5))
            .await
            .is_some()
            || rude
                .try_emit_ack("conversation:list", json!({}))
                .await
                .is_none(),
        "the oversized WebSocket frame ended that connection"
    );
    still_serves(&app).await;

    // Long-polling: open a session, then post a body over the limit to it.
    let http = reqwest::Client::new();
    let open = http
        .get(app.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .expect("handshake")
        .text()
        .await
        .expect("body");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("sid in the handshake");
    let posted = http
        .post(app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}")))
        .body(format!("40/ws,{}", "y".repeat(2 * 1024 * 1024)))
        .send()
        .await
        .expect("response");
    assert!(
        posted.status().is_client_error(),
        "oversized polling body refused: {}",
        posted.status()
    );
    still_serves(&app).await;
}

/// Each field a payload may grow is bounded, and the refusal does not echo the input back.
#[tokio::test]
async fn every_growable_field_is_bounded_and_refusals_stay_short() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.limits.mode = switchyard::config::RateLimits::Off
    })
    .await;
    let live = app.connect("/realtime", "alice").await;
    let refused = |ack: &Value| {
        assert_eq!(ack["error"]["code"], json!("invalid_payload"), "{ack}");
        let message = ack["error"]["message"].as_str().expect("message");
        assert!(
            message.chars().count() <= 301,
            "message echoes the input: {} chars",
            message.len()
        );
    };
    let since: serde_json::Map<String, Value> = (0..101)
        .map(|i| (format!("public:{i}"), json!({ "epoch": "e", "offset": 0 })))
        .collect();
    let requests = [
        (
            "subscribe",
            json!({ "channels": ["public:a"], "since": since }),
        ),
        (
            "subscribe",
            json!({ "channels": ["public:a"], "since": { "public:a": { "epoch": "e".repeat(65), "offset": 0 } } }),
        ),
        (
            "draft:sync",
            json!({ "draftId": "d", "baseVersion": 0, "content": "x".repeat(16_001) }),
        ),
        ("latency:ping", json!({ "t": { "nested": [1, 2, 3] } })),
        ("latency:ping", json!({ "t": "x".repeat(65) })),
        ("presence:set", json!({ "status": "x".repeat(20_000) })),
    ];
    for (event, body) in requests {
        refused(&live.emit_ack(event, body).await);
    }
    let fits = json!({ "draftId": "d", "baseVersion": 0, "content": "x".repeat(16_000) });
    assert_eq!(live.emit_ack("draft:sync", fits).await["ok"], json!(true));

    let http = reqwest::Client::new();
    let announce = |body: Value| {
        http.post(app.url("/api/v1/announce"))
            .bearer_auth(app.admin_token())
            .json(&body)
            .send()
    };
    for body in [
        json!({ "title": "t".repeat(201), "body": "b" }),
        json!({ "title": "t", "body": "b".repeat(4001) }),
    ] {
        let res = announce(body).await.expect("response");
        assert_eq!(res.status().as_u16(), 422);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], json!("invalid_payload"));
    }
    // A body of the wrong shape, which serde quotes in its message.
    let res = announce(json!("b".repeat(30_000))).await.expect("response");
    assert_eq!(res.status().as_u16(), 422);
    let body: Value = res.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .chars()
            .count()
            <= 301,
        "{body}"
    );
    still_serves(&app).await;
}
