//! The connect hook: grants join the connection's identity, refusals carry the backend's
//! code, every failure refuses `unavailable`, answers are cached, and neither a resumed
//! socket nor `auth:refresh` gets around it.

use std::time::Duration;

use serde_json::json;

use super::{Answer, Backend, auth_with, nowhere};
use crate::channels::{subscribe, with_token};
use crate::realtime::publish;
use crate::support::{Connect, Db, SioClient, TestApp};

const DEADLINE: Duration = Duration::from_millis(500);

async fn app_with(
    backend: &Backend,
    configure: impl FnOnce(&mut switchyard::config::Settings),
) -> TestApp {
    TestApp::spawn_with(Db::Sqlite, |s| {
        backend.configure(s, DEADLINE);
        configure(s);
    })
    .await
}

async fn refused(app: &TestApp, ns: &str, user: &str) -> Option<String> {
    app.try_connect(ns, with_token(app.token(user))).await.err()
}

#[tokio::test]
async fn an_allowed_connect_gets_the_backends_roles_and_channel_grants() {
    let backend = Backend::start().await;
    let grants = json!({"allow": true, "roles": ["admin"], "channels": ["private:team-*"]});
    backend.answer("connect", Answer::Json(grants));
    let app = app_with(&backend, |_| {}).await;
    let token = app.token("alice");
    let alice = app
        .try_connect("/realtime", auth_with(token, json!({"device": "ios"})))
        .await
        .expect("allowed");
    let ack = subscribe(&alice, &["private:team-1", "admin:ops", "private:other"]).await;
    assert_eq!(ack["subscribed"], json!(["private:team-1", "admin:ops"]));
    assert_eq!(
        ack["denied"],
        json!([{"channel": "private:other", "code": "forbidden"}])
    );
    let calls = backend.calls("connect");
    assert_eq!(calls.len(), 1);
    assert!(calls[0].signed, "signed with the hooks' secret");
    assert_eq!(
        calls[0].body,
        json!({
            "user": {"id": "alice", "roles": []},
            "ns": "/realtime",
            "transport": "websocket",
            "data": {"device": "ios"},
        })
    );
    // Another user without the grant, on a backend that grants nothing.
    backend.answer("connect", Answer::Json(json!({"allow": true})));
    let bob = app.connect("/realtime", "bob").await;
    let ack = subscribe(&bob, &["private:team-1"]).await;
    assert_eq!(ack["denied"][0]["code"], json!("forbidden"));
}

#[tokio::test]
async fn a_refusal_carries_the_backends_code_or_forbidden() {
    let backend = Backend::start().await;
    let app = app_with(&backend, |_| {}).await;
    for (answer, code) in [
        (json!({"allow": false}), "forbidden"),
        (json!({"allow": false, "code": "banned"}), "forbidden"),
        (
            json!({"allow": false, "code": "rate_limited"}),
            "rate_limited",
        ),
    ] {
        backend.answer("connect", Answer::Json(answer.clone()));
        for ns in ["/realtime", "/ws", "/notifications"] {
            assert_eq!(
                refused(&app, ns, "mallory").await.as_deref(),
                Some(code),
                "{answer} on {ns}"
            );
        }
    }
}

#[tokio::test]
async fn no_usable_answer_in_time_refuses_unavailable() {
    let backend = Backend::start().await;
    let app = app_with(&backend, |_| {}).await;
    for answer in [
        Answer::Slow(DEADLINE * 4, json!({"allow": true})),
        Answer::Status(500),
        Answer::Status(302),
        Answer::Text("allow".into()),
        Answer::Json(json!({"roles": ["admin"]})),
        Answer::Json(json!({"allow": true, "roles": ["x".repeat(500)]})),
    ] {
        backend.answer("connect", answer);
        assert_eq!(
            refused(&app, "/realtime", "alice").await.as_deref(),
            Some("unavailable")
        );
    }
    // Failures are not cached: the backend answering again lets the user in.
    backend.answer("connect", Answer::Json(json!({"allow": true})));
    app.connect("/realtime", "alice").await;
}

#[tokio::test]
async fn a_backend_that_is_down_refuses_unavailable() {
    let down = nowhere().await;
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.integration.hooks.connect_url = Some(down);
        s.integration.hooks.secret = Some(super::SECRET.into());
    })
    .await;
    assert_eq!(
        refused(&app, "/ws", "alice").await.as_deref(),
        Some("unavailable")
    );
}

#[tokio::test]
async fn answers_are_cached_per_user_and_namespace() {
    let backend = Backend::start().await;
    backend.answer("connect", Answer::Json(json!({"allow": true})));
    let app = app_with(&backend, |s| {
        s.integration.hooks.cache_for = Duration::from_secs(60);
    })
    .await;
    let _first = app.connect("/realtime", "alice").await;
    let _second = app.connect("/realtime", "alice").await;
    assert_eq!(
        backend.calls("connect").len(),
        1,
        "the second from the cache"
    );
    let _ws = app.connect("/ws", "alice").await;
    let _bob = app.connect("/realtime", "bob").await;
    assert_eq!(backend.calls("connect").len(), 3, "per user and namespace");
    // A refusal is an answer too, and cached as one.
    backend.answer("connect", Answer::Json(json!({"allow": false})));
    assert_eq!(
        refused(&app, "/notifications", "carol").await.as_deref(),
        Some("forbidden")
    );
    backend.answer("connect", Answer::Json(json!({"allow": true})));
    assert_eq!(
        refused(&app, "/notifications", "carol").await.as_deref(),
        Some("forbidden")
    );
    assert_eq!(backend.calls("connect").len(), 4);
}

fn pid_of(s: &SioClient) -> String {
    s.connected["pid"].as_str().expect("a pid").to_owned()
}

async fn resume(app: &TestApp, pid: &str) -> Result<SioClient, String> {
    let auth = json!({ "token": app.token("alice"), "pid": pid });
    let opts = Connect {
        auth: Some(auth),
        ..Connect::default()
    };
    app.try_connect("/realtime", opts).await
}

#[tokio::test]
async fn a_resumed_socket_is_asked_about_again() {
    let backend = Backend::start().await;
    backend.answer("connect", Answer::Json(json!({"allow": true})));
    let app = app_with(&backend, |s| s.recovery.enabled = true).await;
    let alice = app.connect("/realtime", "alice").await;
    let pid = pid_of(&alice);
    alice.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let back = resume(&app, &pid).await.expect("allowed");
    assert_eq!(pid_of(&back), pid, "resumed");
    assert_eq!(backend.calls("connect").len(), 2, "asked at the resume too");
    back.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    backend.answer("connect", Answer::Json(json!({"allow": false})));
    assert_eq!(
        resume(&app, &pid).await.err().as_deref(),
        Some("forbidden"),
        "a session the backend no longer allows does not resume"
    );
}

#[tokio::test]
async fn a_refreshed_token_keeps_the_connections_grants() {
    let backend = Backend::start().await;
    let grants = json!({"allow": true, "channels": ["private:*"]});
    backend.answer("connect", Answer::Json(grants));
    let app = app_with(&backend, |_| {}).await;
    let mut alice = app.connect("/realtime", "alice").await;
    subscribe(&alice, &["private:1"]).await;
    let fresh = app.token("alice");
    let ack = alice
        .emit_ack("auth:refresh", json!({ "token": fresh }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    alice
        .expect_none("unsubscribed", Duration::from_millis(300))
        .await;
    let ack = subscribe(&alice, &["private:2"]).await;
    assert_eq!(ack["subscribed"], json!(["private:2"]));
}

#[tokio::test]
async fn a_resumed_socket_gives_back_the_channels_its_grants_no_longer_allow() {
    let backend = Backend::start().await;
    let grants = json!({"allow": true, "channels": ["private:*"]});
    backend.answer("connect", Answer::Json(grants.clone()));
    let app = app_with(&backend, |s| s.recovery.enabled = true).await;
    let alice = app.connect("/realtime", "alice").await;
    subscribe(&alice, &["private:1", "public:1"]).await;
    let pid = pid_of(&alice);
    alice.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Still granted: the channel comes back with the session.
    let mut back = resume(&app, &pid).await.expect("allowed");
    assert_eq!(pid_of(&back), pid, "resumed");
    back.expect_none("unsubscribed", Duration::from_millis(300))
        .await;
    publish(&app, "private:1", json!({"n": 1}), None).await;
    assert_eq!(
        back.expect("event").await.data["channel"],
        json!("private:1")
    );
    back.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The grant is gone: the channel is left again, and said so.
    backend.answer("connect", Answer::Json(json!({"allow": true})));
    publish(&app, "private:1", json!({"n": 2}), None).await;
    let mut back = resume(&app, &pid).await.expect("allowed");
    assert_eq!(pid_of(&back), pid, "resumed");
    let told = back.expect("unsubscribed").await.data;
    assert_eq!(
        told,
        json!({"channels": ["private:1"], "code": "forbidden"})
    );
    publish(&app, "private:1", json!({"n": 3}), None).await;
    publish(&app, "public:1", json!({"n": 4}), None).await;
    let next = back.expect("event").await;
    assert_eq!(
        next.data["channel"],
        json!("public:1"),
        "neither the missed nor the new private publication: {next:?}"
    );
}
