//! `auth:refresh` replaces the socket's identity on `/realtime`: channels the new token no
//! longer allows are left and told as `unsubscribed`, on one node and in a cluster.

use std::time::Duration;

use serde_json::{Value, json};

use super::{QUIET, subscribe, with_token};
use crate::realtime::publish;
use crate::support::{Db, SioClient, TestApp};

async fn refresh(s: &SioClient, token: String) {
    let ack = s.emit_ack("auth:refresh", json!({ "token": token })).await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
}

async fn unsubscribed(s: &mut SioClient) -> Value {
    let mut told = s.expect("unsubscribed").await.data;
    if let Some(channels) = told["channels"].as_array_mut() {
        channels.sort_by_key(Value::to_string);
    }
    told
}

#[tokio::test]
async fn a_refresh_replaces_roles_and_grants_and_leaves_what_they_no_longer_allow() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let first = json!({ "sub": "carol", "roles": ["admin"], "channels": ["team:7:*", "team:8:*"] });
    let mut carol = app
        .try_connect("/realtime", with_token(app.token_with(first)))
        .await
        .expect("connects");
    let all = ["admin:ops", "team:7:chat", "team:8:chat", "public:lobby"];
    assert_eq!(subscribe(&carol, &all).await["subscribed"], json!(all));

    refresh(
        &carol,
        app.token_with(json!({ "sub": "carol", "channels": ["team:8:*"] })),
    )
    .await;
    assert_eq!(
        unsubscribed(&mut carol).await,
        json!({ "channels": ["admin:ops", "team:7:chat"], "code": "forbidden" })
    );
    publish(&app, "team:7:chat", json!({ "n": 7 }), None).await;
    publish(&app, "admin:ops", json!({ "n": 0 }), None).await;
    publish(&app, "team:8:chat", json!({ "n": 8 }), None).await;
    let got = carol.expect("event").await;
    assert_eq!(
        got.data["channel"],
        json!("team:8:chat"),
        "left channels are silent"
    );
    carol.expect_none("event", QUIET).await;
    let members = carol
        .emit_ack("presence:members", json!({ "channel": "team:7:chat" }))
        .await;
    assert_eq!(members["error"]["code"], json!("forbidden"), "{members}");
    // The next subscribe follows the new token, not the first.
    let again = subscribe(&carol, &["admin:ops", "team:7:chat", "team:8:x"]).await;
    assert_eq!(again["subscribed"], json!(["team:8:x"]));

    // A refresh can also grant: the admin role back, team 8 gone.
    refresh(
        &carol,
        app.token_with(json!({ "sub": "carol", "roles": ["admin"] })),
    )
    .await;
    assert_eq!(
        unsubscribed(&mut carol).await,
        json!({ "channels": ["team:8:chat", "team:8:x"], "code": "forbidden" })
    );
    let back = subscribe(&carol, &["admin:ops", "user:carol"]).await;
    assert_eq!(back["subscribed"], json!(["admin:ops", "user:carol"]));
    // A refresh that takes nothing away says nothing.
    refresh(
        &carol,
        app.token_with(json!({ "sub": "carol", "roles": ["admin"] })),
    )
    .await;
    carol.expect_none("unsubscribed", QUIET).await;
}

/// The same in cluster mode: the caps and the refresh act on the node holding the socket,
/// and a publication from another node stops reaching a channel the refresh left.
#[tokio::test]
async fn caps_and_refresh_hold_in_cluster_mode() {
    let (a, b) =
        crate::cluster::cluster_with(|s| s.channels.max_subscriptions_per_socket = 3).await;
    let grants = json!({ "sub": "dora", "channels": ["team:7:*"] });
    let mut dora = b
        .try_connect("/realtime", with_token(b.token_with(grants)))
        .await
        .expect("connects");
    let ack = subscribe(&dora, &["team:7:chat", "public:1", "public:2"]).await;
    assert_eq!(ack["subscribed"], json!(["team:7:chat", "public:1"]));
    assert_eq!(ack["denied"][0]["code"], json!("invalid_payload"));
    assert_eq!(b.stats().await["subscriptions"], json!(3));
    refresh(&dora, b.token_with(json!({ "sub": "dora" }))).await;
    assert_eq!(
        unsubscribed(&mut dora).await,
        json!({ "channels": ["team:7:chat"], "code": "forbidden" })
    );
    publish(&a, "team:7:chat", json!({ "n": 7 }), None).await;
    publish(&a, "public:1", json!({ "n": 1 }), None).await;
    let got = dora.expect("event").await;
    assert_eq!(got.data["channel"], json!("public:1"), "{got:?}");
    dora.expect_none("event", QUIET).await;
    dora.disconnect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b.stats().await["subscriptions"] != json!(0) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.stats().await["subscriptions"], json!(0));
}
