//! `rpc {method, data}`: forwarded signed with the user's identity, the backend's `data`
//! or contract error as the ack, `unavailable` for everything else, and always an ack.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Answer, Backend, nowhere};
use crate::support::scrape::{scrape, until};
use crate::support::{Db, SioClient, TestApp};

const DEADLINE: Duration = Duration::from_millis(500);
const MAX_PAYLOAD: usize = 2 * 1024;

async fn app_with(backend: &Backend) -> TestApp {
    TestApp::spawn_with(Db::Sqlite, |s| {
        backend.configure(s, DEADLINE);
        s.integration.hooks.connect_url = None;
        s.http.max_payload_bytes = MAX_PAYLOAD;
    })
    .await
}

async fn rpc(s: &SioClient, method: &str, data: Value) -> Value {
    s.emit_ack("rpc", json!({ "method": method, "data": data }))
        .await
}

fn code(ack: &Value) -> &str {
    ack["error"]["code"].as_str().unwrap_or("no error code")
}

#[tokio::test]
async fn the_backends_data_is_the_ack() {
    let backend = Backend::start().await;
    backend.answer("rpc", Answer::Json(json!({"data": {"views": 3}})));
    let app = app_with(&backend).await;
    let url = app.url("/metrics");
    let before = scrape(&url).await;
    let alice = app.connect("/realtime", "alice").await;
    let ack = rpc(&alice, "pitch.viewed", json!({"pitchId": "p1"})).await;
    assert_eq!(ack, json!({"ok": true, "data": {"views": 3}}));
    let calls = backend.calls("rpc");
    assert_eq!(calls.len(), 1);
    assert!(calls[0].signed, "signed");
    assert_eq!(
        calls[0].body,
        json!({
            "method": "pitch.viewed",
            "data": {"pitchId": "p1"},
            "user": {"id": "alice", "roles": []},
            "ns": "/realtime",
        })
    );
    backend.answer("rpc", Answer::Json(json!({"data": null})));
    let ack = alice.emit_ack("rpc", json!({ "method": "ping" })).await;
    assert_eq!(ack, json!({"ok": true, "data": null}));
    assert_eq!(backend.calls("rpc")[1].body["data"], Value::Null);
    // The user is the socket's, whatever the payload says.
    let forged = json!({"method": "m", "user": {"id": "root", "roles": ["admin"]}});
    assert_eq!(alice.emit_ack("rpc", forged).await["ok"], json!(true));
    assert_eq!(
        backend.calls("rpc")[2].body["user"],
        json!({"id": "alice", "roles": []})
    );
    let ids: Vec<_> = backend.calls("rpc").iter().map(|c| c.id.clone()).collect();
    assert_ne!(ids[0], ids[1], "a webhook-id per request");
    let labels = [("hook", "rpc"), ("outcome", "allowed")];
    until(&url, |s| {
        s.sum("switchyard_hook_calls_total", &labels)
            >= before.sum("switchyard_hook_calls_total", &labels) + 3.0
    })
    .await;
}

#[tokio::test]
async fn a_contract_error_is_the_ack_and_anything_else_is_unavailable() {
    let backend = Backend::start().await;
    let app = app_with(&backend).await;
    let alice = app.connect("/realtime", "alice").await;
    let refusal = json!({"error": {"code": "not_found", "message": "no such pitch"}});
    backend.answer("rpc", Answer::Json(refusal));
    let ack = rpc(&alice, "pitch.viewed", json!({})).await;
    assert_eq!(
        ack,
        json!({"ok": false, "error": {"code": "not_found", "message": "no such pitch"}})
    );
    let too_large = json!({"data": "x".repeat(MAX_PAYLOAD)});
    for answer in [
        Answer::Json(json!({"error": {"code": "teapot", "message": "short and stout"}})),
        Answer::Json(json!({"result": 1})),
        Answer::Status(500),
        Answer::Status(404),
        Answer::Text("not json".into()),
        Answer::Json(too_large),
        Answer::Slow(DEADLINE * 4, json!({"data": 1})),
    ] {
        backend.answer("rpc", answer);
        let ack = rpc(&alice, "pitch.viewed", json!({})).await;
        assert_eq!(code(&ack), "unavailable", "{ack}");
    }
    // The connection is kept and serves the next call.
    backend.answer("rpc", Answer::Json(json!({"data": 1})));
    assert_eq!(rpc(&alice, "m", json!(0)).await["data"], json!(1));
}

#[tokio::test]
async fn without_a_reachable_rpc_endpoint_rpc_is_unavailable() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let alice = app.connect("/realtime", "alice").await;
    let ack = rpc(&alice, "m", json!({})).await;
    assert_eq!(code(&ack), "unavailable", "no rpc_url: {ack}");
    let down = nowhere().await;
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.integration.hooks.rpc_url = Some(down);
        s.integration.hooks.secret = Some(super::SECRET.into());
    })
    .await;
    let alice = app.connect("/realtime", "alice").await;
    let ack = rpc(&alice, "m", json!({})).await;
    assert_eq!(code(&ack), "unavailable", "backend down: {ack}");
}

#[tokio::test]
async fn bad_calls_and_too_many_are_refused_before_the_backend() {
    let backend = Backend::start().await;
    backend.answer("rpc", Answer::Json(json!({"data": 1})));
    let app = app_with(&backend).await;
    let alice = app.connect("/realtime", "alice").await;
    for bad in [
        json!({"method": "has space"}),
        json!({"method": ""}),
        json!({"method": "m".repeat(65)}),
        json!({"data": 1}),
    ] {
        let ack = alice.emit_ack("rpc", bad.clone()).await;
        assert_eq!(code(&ack), "invalid_payload", "{bad}: {ack}");
    }
    let big = rpc(&alice, "m", json!("x".repeat(MAX_PAYLOAD))).await;
    assert_eq!(code(&big), "payload_too_large", "{big}");
    assert!(backend.calls("rpc").is_empty(), "none reached the backend");
    // Its own rate class: a burst of 10 per socket (those above took tokens too).
    let bob = app.connect("/realtime", "bob").await;
    for _ in 0..10 {
        assert_eq!(rpc(&bob, "m", json!(1)).await["ok"], json!(true));
    }
    let limited = rpc(&bob, "m", json!(1)).await;
    assert_eq!(code(&limited), "rate_limited", "{limited}");
    assert_eq!(backend.calls("rpc").len(), 10);
}
