//! `/realtime` channels: rules, publish, idempotency and recovery after a real disconnect.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Connect, Db, SioClient, TestApp};

const QUIET: Duration = Duration::from_millis(300);

pub async fn publish(app: &TestApp, channel: &str, data: Value, key: Option<&str>) -> (u16, Value) {
    let mut body = json!({ "channel": channel, "event": "tick", "data": data });
    if let Some(key) = key {
        body["idempotencyKey"] = json!(key);
    }
    let token = app.token_with(json!({ "sub": "backend", "roles": ["service"] }));
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/publish"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("response");
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn subscribe(s: &SioClient, body: Value) -> Value {
    let ack = s.emit_ack("subscribe", body).await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    ack
}

#[tokio::test]
async fn subscribe_applies_the_default_rules_and_validates_names() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let alice = app.connect("/realtime", "alice").await;
    let ack = subscribe(
        &alice,
        json!({ "channels": ["public:lobby", "user:alice", "task:9", "user:bob", "admin:ops", "secret:x", "no colon"] }),
    )
    .await;
    assert_eq!(
        ack["subscribed"],
        json!(["public:lobby", "user:alice", "task:9"])
    );
    assert_eq!(
        ack["denied"],
        json!([
            { "channel": "user:bob", "code": "forbidden" },
            { "channel": "admin:ops", "code": "forbidden" },
            { "channel": "secret:x", "code": "forbidden" },
            { "channel": "no colon", "code": "invalid_payload" }
        ])
    );
    let token =
        app.token_with(json!({ "sub": "root", "roles": ["admin"], "channels": ["secret:*"] }));
    let root = app
        .try_connect(
            "/realtime",
            Connect {
                auth: Some(json!({ "token": token })),
                ..Connect::default()
            },
        )
        .await
        .expect("connects");
    let ack = subscribe(&root, json!({ "channels": ["admin:ops", "secret:x"] })).await;
    assert_eq!(ack["subscribed"], json!(["admin:ops", "secret:x"]));
    let bad = alice
        .emit_ack("subscribe", json!({ "channels": "public:lobby" }))
        .await;
    assert_eq!(bad["error"]["code"], json!("invalid_payload"));
}

#[tokio::test]
async fn publications_reach_subscribers_with_growing_offsets() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut alice = app.connect("/realtime", "alice").await;
    let mut bob = app.connect("/realtime", "bob").await;
    subscribe(&alice, json!({ "channels": ["public:scores"] })).await;
    let (status, first) = publish(&app, "public:scores", json!({ "home": 1 }), None).await;
    assert_eq!((status, first["offset"].clone()), (202, json!(1)));
    let (_, second) = publish(&app, "public:scores", json!({ "home": 2 }), None).await;
    assert_eq!(
        (second["offset"].clone(), second["epoch"].clone()),
        (json!(2), first["epoch"].clone())
    );
    let got = alice.expect("event").await.data;
    assert_eq!(
        (
            got["channel"].clone(),
            got["event"].clone(),
            got["data"].clone(),
            got["offset"].clone(),
            got["epoch"].clone()
        ),
        (
            json!("public:scores"),
            json!("tick"),
            json!({ "home": 1 }),
            json!(1),
            first["epoch"].clone()
        )
    );
    assert!(got["ts"].is_i64());
    assert_eq!(alice.expect("event").await.data["offset"], json!(2));
    bob.expect_none("event", QUIET).await;
    // Every socket is subscribed to its own user channel from the start.
    publish(&app, "user:bob", json!("hi bob"), None).await;
    assert_eq!(bob.expect("event").await.data["data"], json!("hi bob"));
    alice
        .emit_ack("unsubscribe", json!({ "channels": ["public:scores"] }))
        .await;
    publish(&app, "public:scores", json!({ "home": 3 }), None).await;
    alice.expect_none("event", QUIET).await;
}

#[tokio::test]
async fn a_repeated_idempotency_key_publishes_once() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut alice = app.connect("/realtime", "alice").await;
    subscribe(&alice, json!({ "channels": ["public:a"] })).await;
    let (_, first) = publish(&app, "public:a", json!(1), Some("order-17")).await;
    let (status, again) = publish(&app, "public:a", json!(2), Some("order-17")).await;
    assert_eq!((status, again), (202, first));
    assert_eq!(alice.expect("event").await.data["data"], json!(1));
    alice.expect_none("event", QUIET).await;
}

#[tokio::test]
async fn a_client_that_reconnects_with_its_position_misses_nothing() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut alice = app.connect("/realtime", "alice").await;
    subscribe(&alice, json!({ "channels": ["public:feed"] })).await;
    publish(&app, "public:feed", json!("a"), None).await;
    let seen = alice.expect("event").await.data;
    alice.disconnect();
    for item in ["b", "c", "d"] {
        publish(&app, "public:feed", json!(item), None).await;
    }
    let back = app.connect("/realtime", "alice").await;
    let since = json!({ "public:feed": { "epoch": seen["epoch"], "offset": seen["offset"] } });
    let ack = subscribe(
        &back,
        json!({ "channels": ["public:feed"], "since": since }),
    )
    .await;
    assert_eq!(ack["recovered"], json!({ "public:feed": true }));
    let missed: Vec<(Value, Value)> = ack["missed"]["public:feed"]
        .as_array()
        .expect("missed")
        .iter()
        .map(|p| (p["offset"].clone(), p["data"].clone()))
        .collect();
    assert_eq!(
        missed,
        vec![
            (json!(2), json!("b")),
            (json!(3), json!("c")),
            (json!(4), json!("d"))
        ]
    );
    let up_to_date = json!({ "public:feed": { "epoch": seen["epoch"], "offset": 4 } });
    let ack = subscribe(
        &back,
        json!({ "channels": ["public:feed"], "since": up_to_date }),
    )
    .await;
    assert_eq!(
        (
            ack["recovered"]["public:feed"].clone(),
            ack["missed"]["public:feed"].clone()
        ),
        (json!(true), json!([]))
    );
}

#[tokio::test]
async fn recovery_is_refused_when_history_no_longer_covers_the_gap() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.history.size = 2).await;
    let alice = app.connect("/realtime", "alice").await;
    let (_, first) = publish(&app, "public:x", json!(1), None).await;
    for n in 2..=5 {
        publish(&app, "public:x", json!(n), None).await;
    }
    let since = json!({ "public:x": { "epoch": first["epoch"], "offset": 1 } });
    let ack = subscribe(&alice, json!({ "channels": ["public:x"], "since": since })).await;
    assert_eq!(ack["recovered"], json!({ "public:x": false }));
    assert_eq!(
        ack["missed"],
        json!({ "public:x": [] }),
        "never a partial replay"
    );
    let wrong_epoch = json!({ "public:x": { "epoch": "elsewhere", "offset": 5 } });
    let ack = subscribe(
        &alice,
        json!({ "channels": ["public:x"], "since": wrong_epoch }),
    )
    .await;
    assert_eq!(ack["recovered"], json!({ "public:x": false }));
}

#[tokio::test]
async fn publish_checks_roles_and_payloads() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let http = reqwest::Client::new();
    let url = app.url("/api/v1/publish");
    let body = json!({ "channel": "public:a", "event": "e", "data": {} });
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(http.post(&url).json(&body).send().await.expect("res")),
        401
    );
    assert_eq!(
        status(
            http.post(&url)
                .bearer_auth(app.token("alice"))
                .json(&body)
                .send()
                .await
                .expect("res")
        ),
        403
    );
    assert_eq!(
        status(
            http.post(&url)
                .bearer_auth(app.admin_token())
                .json(&body)
                .send()
                .await
                .expect("res")
        ),
        403
    );
    let service = app.token_with(json!({ "sub": "svc", "roles": ["service"] }));
    let bad = json!({ "channel": "not a channel", "event": "e" });
    assert_eq!(
        status(
            http.post(&url)
                .bearer_auth(&service)
                .json(&bad)
                .send()
                .await
                .expect("res")
        ),
        422
    );
    assert_eq!(
        status(
            http.post(&url)
                .bearer_auth(&service)
                .json(&body)
                .send()
                .await
                .expect("res")
        ),
        202
    );
}

#[tokio::test]
async fn latency_ping_activity_and_unknown_events() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let alice = app.connect("/realtime", "alice").await;
    let pong = alice.emit_ack("latency:ping", json!({ "t": 12345 })).await;
    assert_eq!(pong["t"], json!(12345));
    assert!(
        pong["serverTime"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
    assert_eq!(
        alice
            .emit_ack("activity", json!({ "kind": "scroll", "target": "doc-1" }))
            .await,
        json!({ "ok": true })
    );
    assert_eq!(
        alice.emit_ack("activity", json!({})).await["error"]["code"],
        json!("invalid_payload")
    );
    assert_eq!(
        alice.emit_ack("nope", json!({})).await["error"]["code"],
        json!("invalid_payload")
    );
}

#[tokio::test]
async fn a_restart_loses_history_and_changes_the_epoch() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let (_, before) = publish(&app, "public:r", json!(1), None).await;
    let app = app.restart().await;
    let (_, after) = publish(&app, "public:r", json!(2), None).await;
    assert_ne!(before["epoch"], after["epoch"]);
    assert_eq!(after["offset"], json!(1));
    let alice = app.connect("/realtime", "alice").await;
    let since = json!({ "public:r": { "epoch": before["epoch"], "offset": 1 } });
    let ack = subscribe(&alice, json!({ "channels": ["public:r"], "since": since })).await;
    assert_eq!(ack["recovered"], json!({ "public:r": false }));
}
