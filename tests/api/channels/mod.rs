//! Issue 18 on `/realtime` channels: `{sub}` is the user's id as literal text and a `sub`
//! that could read as a pattern is refused; per-socket caps on subscriptions and watched
//! users, given back at disconnect; `auth:refresh` (in `refresh.rs`) replaces its grants.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_namespaces::realtime::{Allow, ChannelRule};

use crate::realtime::publish;
use crate::support::{Connect, Db, SioClient, TestApp};

mod refresh;

pub(super) const QUIET: Duration = Duration::from_millis(300);

pub(super) fn with_token(token: String) -> Connect {
    Connect {
        auth: Some(json!({ "token": token })),
        ..Connect::default()
    }
}

pub(super) async fn subscribe(s: &SioClient, channels: &[&str]) -> Value {
    let ack = s
        .emit_ack("subscribe", json!({ "channels": channels }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    ack
}

#[tokio::test]
async fn wildcard_subs_are_refused_and_reach_no_one_elses_channel() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut bob = app.connect("/realtime", "bob").await;
    for sub in ["*", "b*", "*b", "{sub}", "bo b", "x".repeat(129).as_str()] {
        let token = app.token_with(json!({ "sub": sub }));
        for ns in ["/realtime", "/ws", "/notifications"] {
            let refused = app.try_connect(ns, with_token(token.clone())).await.err();
            assert_eq!(
                refused.as_deref(),
                Some("invalid_token"),
                "sub {sub:?} on {ns}"
            );
        }
    }
    // A user whose id merely starts like bob's gets nothing of his either.
    let mut b = app.connect("/realtime", "b").await;
    let ack = subscribe(&b, &["user:bob", "user:b"]).await;
    assert_eq!(ack["subscribed"], json!(["user:b"]));
    assert_eq!(
        ack["denied"],
        json!([{ "channel": "user:bob", "code": "forbidden" }])
    );
    let members = b
        .emit_ack("presence:members", json!({ "channel": "user:bob" }))
        .await;
    assert_eq!(members["error"]["code"], json!("forbidden"), "{members}");
    let (status, _) = publish(&app, "user:bob", json!({ "secret": 1 }), None).await;
    assert_eq!(status, 202);
    let got = bob.expect("event").await;
    assert_eq!(got.data["data"], json!({ "secret": 1 }));
    b.expect_none("event", QUIET).await;
}

#[tokio::test]
async fn a_custom_sub_rule_matches_the_users_own_id_only() {
    let rule = ChannelRule::new("team:{sub}:*", Allow::Any).expect("rule");
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.channels.rules.push(rule)).await;
    let ann = app.connect("/realtime", "ann").await;
    let ack = subscribe(&ann, &["team:ann:chat", "team:anna:chat", "team:an:chat"]).await;
    assert_eq!(ack["subscribed"], json!(["team:ann:chat"]));
    let an = app.connect("/realtime", "an").await;
    let ack = subscribe(&an, &["team:ann:chat", "team:an:x"]).await;
    assert_eq!(ack["subscribed"], json!(["team:an:x"]));
    assert_eq!(ack["denied"][0]["channel"], json!("team:ann:chat"));
    let refused = app
        .try_connect(
            "/realtime",
            with_token(app.token_with(json!({ "sub": "a*" }))),
        )
        .await
        .err();
    assert_eq!(refused.as_deref(), Some("invalid_token"));
}

fn denied_codes(ack: &Value) -> Vec<(String, String)> {
    let denied = ack["denied"].as_array().cloned().unwrap_or_default();
    denied
        .iter()
        .map(|d| {
            let who = d.get("channel").or_else(|| d.get("userId"));
            (
                who.map(Value::to_string).unwrap_or_default(),
                d["code"].to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_socket_holds_at_most_its_caps_and_the_rest_is_answered() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.channels.max_subscriptions_per_socket = 5;
        s.channels.max_watched_users_per_socket = 3;
    })
    .await;
    let alice = app.connect("/realtime", "alice").await;
    // user:alice is the first of the five.
    let names = [
        "public:1", "public:2", "public:3", "public:4", "public:5", "nope",
    ];
    let ack = subscribe(&alice, &names).await;
    assert_eq!(ack["subscribed"], json!(names[..4]));
    assert_eq!(ack["denied"][0]["code"], json!("invalid_payload"), "{ack}");
    let message = ack["denied"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains('5') && message.contains("subscriptions"),
        "{message}"
    );
    assert_eq!(
        ack["denied"][1],
        json!({ "channel": "nope", "code": "invalid_payload" })
    );
    // Channels already held are no new subscription; leaving one makes room.
    let again = subscribe(&alice, &["public:1", "public:6"]).await;
    assert_eq!(again["subscribed"], json!(["public:1"]));
    let left = alice
        .emit_ack("unsubscribe", json!({ "channels": ["public:1"] }))
        .await;
    assert_eq!(left["ok"], json!(true));
    assert_eq!(
        subscribe(&alice, &["public:6"]).await["subscribed"],
        json!(["public:6"])
    );

    let watch = alice
        .emit_ack(
            "presence:watch",
            json!({ "userIds": ["u1", "u2", "u3", "u4"] }),
        )
        .await;
    assert_eq!(watch["ok"], json!(true), "{watch}");
    let users: Vec<&Value> = watch["users"].as_array().into_iter().flatten().collect();
    assert_eq!(
        users.iter().map(|u| &u["userId"]).collect::<Vec<_>>(),
        ["u1", "u2", "u3"]
    );
    assert_eq!(
        denied_codes(&watch),
        [("\"u4\"".into(), "\"invalid_payload\"".into())]
    );
    let message = watch["denied"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains('3') && message.contains("watch"),
        "{message}"
    );
    // Another socket of the same user has caps of its own.
    let other = app.connect("/realtime", "alice").await;
    assert_eq!(
        subscribe(&other, &["public:9"]).await["subscribed"],
        json!(["public:9"])
    );
}

/// The socket's rooms on `/realtime` and the presence memberships of this node.
async fn footprint(app: &TestApp) -> (Value, Value) {
    let s = app.stats().await;
    (s["rooms"]["/realtime"].clone(), s["subscriptions"].clone())
}

#[tokio::test]
async fn a_full_socket_gives_its_memory_back_when_it_closes() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let before = footprint(&app).await;
    let many = app.connect("/realtime", "many").await;
    for batch in 0..5 {
        let channels: Vec<String> = (0..100).map(|i| format!("public:{batch}-{i}")).collect();
        let ack = many
            .emit_ack("subscribe", json!({ "channels": channels }))
            .await;
        let got = ack["subscribed"].as_array().map_or(0, Vec::len);
        assert_eq!(
            got,
            if batch < 4 { 100 } else { 99 },
            "user:many is the 500th"
        );
    }
    for batch in 0..2 {
        let users: Vec<String> = (0..500).map(|i| format!("w{batch}-{i}")).collect();
        let ack = many
            .emit_ack("presence:watch", json!({ "userIds": users }))
            .await;
        assert_eq!(ack.get("denied"), None, "1,000 watched users fit: {ack}");
    }
    let full = footprint(&app).await;
    assert_eq!(full.1, json!(500), "{full:?}");
    assert!(full.0.as_u64().unwrap_or(0) >= 1_500, "{full:?}");
    many.disconnect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while footprint(&app).await != before && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        footprint(&app).await,
        before,
        "rooms and memberships given back"
    );
}
