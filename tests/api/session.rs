//! Token expiry while connected (PROTOCOL.md §1): `auth:expired {graceMs}` at `exp`, the
//! socket closed after the grace period unless `auth:refresh` brought a valid token for
//! the same user.

use std::time::Duration;

use serde_json::json;

use crate::support::{Connect, Db, SioClient, TestApp};

const GRACE_MS: u64 = 600;

async fn app() -> TestApp {
    TestApp::spawn_with(Db::Sqlite, |s| {
        s.auth.grace = std::time::Duration::from_millis(GRACE_MS)
    })
    .await
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A socket of `user` whose token expires in `secs` seconds.
async fn expiring(app: &TestApp, ns: &str, user: &str, secs: u64) -> SioClient {
    let token = app.token_with(json!({ "sub": user, "exp": now() + secs }));
    app.try_connect(
        ns,
        Connect {
            auth: Some(json!({ "token": token })),
            ..Connect::default()
        },
    )
    .await
    .expect("connects while the token is valid")
}

#[tokio::test]
async fn an_expired_token_is_told_then_the_socket_closed_after_the_grace() {
    let app = app().await;
    let mut alice = expiring(&app, "/ws", "alice", 1).await;
    let told = alice
        .within("auth:expired", Duration::from_secs(3))
        .await
        .expect("auth:expired at exp");
    assert_eq!(told.data, json!({ "graceMs": GRACE_MS }));
    assert!(
        alice
            .within("disconnect", Duration::from_secs(3))
            .await
            .is_some(),
        "closed once the grace period is over"
    );
}

#[tokio::test]
async fn a_refresh_with_the_same_users_token_keeps_the_socket() {
    let app = app().await;
    let mut bob = expiring(&app, "/realtime", "bob", 1).await;
    bob.within("auth:expired", Duration::from_secs(3))
        .await
        .expect("auth:expired");
    let exp = now() + 3600;
    let fresh = app.token_with(json!({ "sub": "bob", "exp": exp }));
    let ack = bob
        .emit_ack("auth:refresh", json!({ "token": fresh }))
        .await;
    assert_eq!(ack, json!({ "ok": true, "exp": exp }));
    bob.expect_none("disconnect", Duration::from_millis(GRACE_MS + 500))
        .await;
    let pong = bob.emit_ack("latency:ping", json!({ "t": 1 })).await;
    assert_eq!(pong["ok"], json!(true), "still served");
}

#[tokio::test]
async fn another_users_or_a_bad_token_does_not_refresh() {
    let app = app().await;
    let mut carol = expiring(&app, "/notifications", "carol", 1).await;
    let mallory = app.token_with(json!({ "sub": "mallory", "exp": now() + 3600 }));
    let ack = carol
        .emit_ack("auth:refresh", json!({ "token": mallory }))
        .await;
    assert_eq!(ack["error"]["code"], json!("forbidden"), "{ack}");
    let ack = carol
        .emit_ack("auth:refresh", json!({ "token": "not.a.jwt" }))
        .await;
    assert_eq!(ack["error"]["code"], json!("invalid_payload"), "{ack}");
    carol
        .within("auth:expired", Duration::from_secs(3))
        .await
        .expect("auth:expired");
    assert!(
        carol
            .within("disconnect", Duration::from_secs(3))
            .await
            .is_some(),
        "neither refresh counted"
    );
}
