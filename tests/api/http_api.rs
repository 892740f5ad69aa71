//! The HTTP side: health, JSON errors with the right status, admin routes.

use serde_json::{Value, json};

use crate::support::{Db, TestApp};

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.expect("response");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn health_routes_answer() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let http = reqwest::Client::new();
    assert_eq!(
        call(http.get(app.url("/health/live"))).await,
        (200, json!({ "status": "ok" }))
    );
    let (status, body) = call(http.get(app.url("/health/ready"))).await;
    assert_eq!((status, body["database"].clone()), (200, json!("ok")));
}

#[tokio::test]
async fn errors_are_json_with_matching_status() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.http.max_payload_bytes = 1024).await;
    let http = reqwest::Client::new();
    let announce = app.url("/api/v1/announce");
    let admin = app.admin_token();
    let user = app.token("alice");
    let code = |body: &Value| body["error"]["code"].clone();
    let (status, body) = call(http.get(app.url("/no/such/route"))).await;
    assert_eq!((status, code(&body)), (404, json!("not_found")));
    let (status, body) = call(
        http.post(&announce)
            .json(&json!({ "title": "t", "body": "b" })),
    )
    .await;
    assert_eq!((status, code(&body)), (401, json!("missing_token")));
    let (status, body) = call(http.post(&announce).bearer_auth("junk").json(&json!({}))).await;
    assert_eq!((status, code(&body)), (401, json!("invalid_token")));
    let (status, body) = call(
        http.post(&announce)
            .bearer_auth(&user)
            .json(&json!({ "title": "t", "body": "b" })),
    )
    .await;
    assert_eq!((status, code(&body)), (403, json!("forbidden")));
    let bad_json = http
        .post(&announce)
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{");
    let (status, body) = call(bad_json).await;
    assert_eq!((status, code(&body)), (400, json!("invalid_payload")));
    let (status, body) = call(
        http.post(&announce)
            .bearer_auth(&admin)
            .json(&json!({ "title": 5 })),
    )
    .await;
    assert_eq!((status, code(&body)), (422, json!("invalid_payload")));
    let huge = json!({ "title": "t", "body": "x".repeat(5000) });
    let (status, body) = call(http.post(&announce).bearer_auth(&admin).json(&huge)).await;
    assert_eq!((status, code(&body)), (413, json!("payload_too_large")));
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn announcements_reach_every_socket() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut alice = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    let http = reqwest::Client::new();
    let body = json!({ "title": "Maintenance", "body": "at noon", "data": { "k": 1 } });
    let (status, _) = call(
        http.post(app.url("/api/v1/announce"))
            .bearer_auth(app.admin_token())
            .json(&body),
    )
    .await;
    assert_eq!(status, 202);
    for s in [&mut alice, &mut bob] {
        let a = s.expect("announcement").await.data;
        assert_eq!(
            (a["title"].clone(), a["body"].clone(), a["data"].clone()),
            (json!("Maintenance"), json!("at noon"), json!({ "k": 1 }))
        );
        assert!(a["ts"].is_i64());
    }
}

#[tokio::test]
async fn admins_can_disconnect_a_user() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut alice = app.connect("/ws", "alice").await;
    let bob = app.connect("/ws", "bob").await;
    let http = reqwest::Client::new();
    let url = app.url("/api/v1/users/alice/disconnect");
    let (status, _) = call(http.post(&url).bearer_auth(app.token("bob"))).await;
    assert_eq!(status, 403);
    let (status, _) = call(http.post(&url).bearer_auth(app.admin_token())).await;
    assert_eq!(status, 200);
    alice.expect("disconnect").await;
    assert!(
        alice
            .try_emit_ack("conversation:list", json!({}))
            .await
            .is_none(),
        "alice is gone"
    );
    assert_eq!(
        bob.emit_ack("conversation:list", json!({})).await["ok"],
        json!(true)
    );
}
