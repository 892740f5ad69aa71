//! Issue 18 on `/realtime` channels: `{sub}` is the user's id as literal text and a `sub`
//! that could read as a pattern is refused; per-socket caps on subscriptions and watched
//! users, given back at disconnect; `auth:refresh` replaces the socket's grants.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_namespaces::realtime::{Allow, ChannelRule};

use crate::realtime::publish;
use crate::support::{Connect, Db, SioClient, TestApp};

const QUIET: Duration = Duration::from_millis(300);

fn with_token(token: String) -> Connect {
    Connect {
        auth: Some(json!({ "token": token })),
        ..Connect::default()
    }
}

async fn subscribe(s: &SioClient, channels: &[&str]) -> Value {
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
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.channel_rules.push(rule)).await;
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
