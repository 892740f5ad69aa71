//! PROTOCOL.md §2: bad input gets a clear answer and the connection keeps working.

use std::time::Duration;

use serde_json::json;

use crate::conversations::create;
use crate::support::{Db, TestApp};

#[tokio::test]
async fn unknown_events_and_malformed_payloads_are_invalid_payload() {
    // Every case on one socket: more `message:send`s than the limits allow in a burst.
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.limits.mode = switchyard::config::RateLimits::Off
    })
    .await;
    let alice = app.connect("/ws", "alice").await;
    let id = create(&alice, &["bob"]).await;
    let long = "x".repeat(4001);
    let cases = [
        ("no:such:event", json!({})),
        ("message:send", json!("a string")),
        (
            "message:send",
            json!({ "conversationId": 42, "clientMsgId": "c", "content": "x" }),
        ),
        (
            "message:send",
            json!({ "conversationId": id, "clientMsgId": "c" }),
        ),
        (
            "message:send",
            json!({ "conversationId": id, "clientMsgId": "c", "content": "" }),
        ),
        (
            "message:send",
            json!({ "conversationId": id, "clientMsgId": "c", "content": long }),
        ),
        (
            "message:send",
            json!({ "conversationId": id, "clientMsgId": "c", "content": "x", "attachments": [1] }),
        ),
        (
            "message:history",
            json!({ "conversationId": id, "limit": 1000 }),
        ),
        ("message:read", json!({ "conversationId": id, "seq": -3 })),
        ("conversation:create", json!({ "participantIds": [] })),
        ("conversation:create", json!({ "participantIds": "bob" })),
    ];
    for (event, payload) in cases {
        let ack = alice.emit_ack(event, payload.clone()).await;
        assert_eq!(ack["ok"], json!(false), "{event} {payload}");
        assert_eq!(
            ack["error"]["code"],
            json!("invalid_payload"),
            "{event} {payload}: {ack}"
        );
        assert!(
            ack["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let still = alice.emit_ack("conversation:list", json!({})).await;
    assert_eq!(still["ok"], json!(true));
}

#[tokio::test]
async fn a_failed_event_without_ack_gets_an_error_event() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut alice = app.connect("/ws", "alice").await;
    alice.emit("message:send", json!({ "nonsense": true }));
    let error = alice.expect("error").await;
    assert_eq!(error.data["code"], json!("invalid_payload"));
    alice.emit("what:ever", json!({}));
    assert_eq!(
        alice.expect("error").await.data["code"],
        json!("invalid_payload")
    );
}

#[tokio::test]
async fn oversized_payloads_are_refused_and_the_connection_is_kept() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.http.max_payload_bytes = 8 * 1024).await;
    let alice = app.connect("/ws", "alice").await;
    let id = create(&alice, &["bob"]).await;
    let big = json!({ "conversationId": id, "clientMsgId": "big", "content": "x", "attachments": [{ "blob": "y".repeat(10_000) }] });
    let ack = alice.emit_ack("message:send", big).await;
    assert_eq!(ack["error"]["code"], json!("payload_too_large"), "{ack}");
    let history = alice
        .emit_ack("message:history", json!({ "conversationId": id }))
        .await;
    assert_eq!(history["messages"], json!([]), "nothing was stored");
    let ok = alice
        .emit_ack(
            "message:send",
            json!({ "conversationId": id, "clientMsgId": "small", "content": "x" }),
        )
        .await;
    assert_eq!(ok["ok"], json!(true));
}

#[tokio::test]
async fn malformed_packets_do_not_hurt_the_server() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let rude = app.connect("/ws", "mallory").await;
    for garbage in [
        "42/ws,not json",
        "42/ws,[]",
        "42/ws,[1,2]",
        "42/ws,{\"a\":1}",
        "4x",
        "49/ws,",
        "42/ws,99999999999999999999[\"x\"]",
        "43/ws,7[{}]",
        "\u{0}\u{1}",
    ] {
        rude.send_raw(garbage);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fine = app.connect("/ws", "alice").await;
    assert_eq!(
        fine.emit_ack("conversation:list", json!({})).await["ok"],
        json!(true)
    );
}
