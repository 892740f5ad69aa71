//! Presence over real sockets: devices across namespaces, watch, set, invisible, members,
//! join/leave, idle and away (with second-long thresholds), and the HTTP routes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Db, SioClient, TestApp};

const QUIET: Duration = Duration::from_millis(300);

async fn get(s: &SioClient, user: &str) -> Value {
    let ack = s
        .emit_ack("presence:get", json!({ "userIds": [user] }))
        .await;
    ack["users"][0].clone()
}

#[tokio::test]
async fn sockets_on_every_namespace_count_and_the_last_one_makes_offline() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut watcher = app.connect("/realtime", "watcher").await;
    let watch = watcher
        .emit_ack("presence:watch", json!({ "userIds": ["alice", "ghost"] }))
        .await;
    assert_eq!(
        watch["users"][1],
        json!({ "userId": "ghost", "status": "offline", "lastSeen": null, "devices": 0 })
    );
    let chat = app.connect("/ws", "alice").await;
    let online = watcher.expect("presence").await.data;
    assert_eq!(
        (online["userId"].clone(), online["status"].clone()),
        (json!("alice"), json!("online"))
    );
    let tab = app.connect("/realtime", "alice").await;
    let view = get(&watcher, "alice").await;
    assert_eq!(
        (view["status"].clone(), view["devices"].clone()),
        (json!("online"), json!(2))
    );
    chat.disconnect();
    watcher.expect_none("presence", QUIET).await;
    assert_eq!(get(&watcher, "alice").await["devices"], json!(1));
    tab.disconnect();
    let gone = watcher.expect("presence").await.data;
    assert_eq!(gone["status"], json!("offline"));
    assert!(gone["lastSeen"].is_i64());
    watcher
        .emit_ack("presence:unwatch", json!({ "userIds": ["alice"] }))
        .await;
    let _again = app.connect("/realtime", "alice").await;
    watcher.expect_none("presence", QUIET).await;
}

#[tokio::test]
async fn statuses_messages_and_invisible() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut watcher = app.connect("/realtime", "watcher").await;
    let alice = app.connect("/realtime", "alice").await;
    watcher
        .emit_ack("presence:watch", json!({ "userIds": ["alice"] }))
        .await;
    let ack = alice
        .emit_ack(
            "presence:set",
            json!({ "status": "dnd", "message": "in a meeting" }),
        )
        .await;
    assert_eq!(ack, json!({ "ok": true }));
    let dnd = watcher.expect("presence").await.data;
    assert_eq!(
        (dnd["status"].clone(), dnd["message"].clone()),
        (json!("dnd"), json!("in a meeting"))
    );
    alice
        .emit_ack(
            "presence:set",
            json!({ "status": "invisible", "message": "hidden" }),
        )
        .await;
    assert_eq!(
        watcher.expect("presence").await.data["status"],
        json!("offline")
    );
    let view = get(&watcher, "alice").await;
    assert_eq!(
        (
            view["status"].clone(),
            view["devices"].clone(),
            view.get("message")
        ),
        (json!("offline"), json!(0), None)
    );
    let bad = alice
        .emit_ack("presence:set", json!({ "status": "busy" }))
        .await;
    assert_eq!(bad["error"]["code"], json!("invalid_payload"));
}

#[tokio::test]
async fn channel_members_join_and_leave_are_per_user() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut bob = app.connect("/realtime", "bob").await;
    bob.emit_ack("subscribe", json!({ "channels": ["public:room"] }))
        .await;
    let alice_one = app.connect("/realtime", "alice").await;
    let alice_two = app.connect("/realtime", "alice").await;
    alice_one
        .emit_ack("subscribe", json!({ "channels": ["public:room"] }))
        .await;
    assert_eq!(
        bob.expect("presence:join").await.data,
        json!({ "channel": "public:room", "userId": "alice" })
    );
    alice_two
        .emit_ack("subscribe", json!({ "channels": ["public:room"] }))
        .await;
    bob.expect_none("presence:join", QUIET).await;
    let members = bob
        .emit_ack("presence:members", json!({ "channel": "public:room" }))
        .await;
    assert_eq!(
        members["members"],
        json!([{ "userId": "alice", "status": "online" }, { "userId": "bob", "status": "online" }])
    );
    alice_one
        .emit_ack("unsubscribe", json!({ "channels": ["public:room"] }))
        .await;
    bob.expect_none("presence:leave", QUIET).await;
    alice_two.disconnect();
    assert_eq!(
        bob.expect("presence:leave").await.data,
        json!({ "channel": "public:room", "userId": "alice" })
    );
    let outsider = app.connect("/realtime", "carol").await;
    let refused = outsider
        .emit_ack("presence:members", json!({ "channel": "public:room" }))
        .await;
    assert_eq!(refused["error"]["code"], json!("forbidden"));
}

#[tokio::test]
async fn channels_over_the_presence_limit_hear_no_joins_or_statuses_but_watchers_do() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.presence.channel_limit = 2).await;
    let mut bob = app.connect("/realtime", "bob").await;
    let alice = app.connect("/realtime", "alice").await;
    let carol = app.connect("/realtime", "carol").await;
    for s in [&bob, &alice] {
        s.emit_ack("subscribe", json!({ "channels": ["public:big"] }))
            .await;
    }
    assert_eq!(
        bob.expect("presence:join").await.data,
        json!({ "channel": "public:big", "userId": "alice" })
    );
    carol
        .emit_ack("subscribe", json!({ "channels": ["public:big"] }))
        .await;
    bob.expect_none("presence:join", QUIET).await;
    carol
        .emit_ack("presence:set", json!({ "status": "away" }))
        .await;
    bob.expect_none("presence", QUIET).await;
    let members = bob
        .emit_ack("presence:members", json!({ "channel": "public:big" }))
        .await;
    assert_eq!(members["members"].as_array().map(Vec::len), Some(3));
    bob.emit_ack("presence:watch", json!({ "userIds": ["carol"] }))
        .await;
    carol
        .emit_ack("presence:set", json!({ "status": "dnd" }))
        .await;
    assert_eq!(bob.expect("presence").await.data["status"], json!("dnd"));
}

#[tokio::test]
async fn sharing_a_channel_is_enough_to_hear_status_changes() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut bob = app.connect("/realtime", "bob").await;
    let alice = app.connect("/realtime", "alice").await;
    for s in [&bob, &alice] {
        s.emit_ack("subscribe", json!({ "channels": ["pitch:42"] }))
            .await;
    }
    alice
        .emit_ack("presence:set", json!({ "status": "away" }))
        .await;
    assert_eq!(bob.expect("presence").await.data["status"], json!("away"));
}

#[tokio::test]
async fn idle_then_away_then_back_on_activity() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.presence.idle_after = std::time::Duration::from_secs(1);
        s.presence.away_after = std::time::Duration::from_secs(2);
    })
    .await;
    let mut watcher = app.connect("/realtime", "watcher").await;
    let alice = app.connect("/realtime", "alice").await;
    watcher
        .emit_ack("presence:watch", json!({ "userIds": ["alice"] }))
        .await;
    let wait = Duration::from_secs(4);
    let mut statuses = Vec::new();
    while statuses.last() != Some(&json!("away")) {
        let event = watcher
            .within("presence", wait)
            .await
            .expect("a presence change");
        statuses.push(event.data["status"].clone());
    }
    assert!(
        statuses.ends_with(&[json!("idle"), json!("away")]),
        "{statuses:?}"
    );
    alice
        .emit_ack("activity", json!({ "kind": "typing" }))
        .await;
    assert_eq!(
        watcher.expect("presence").await.data["status"],
        json!("online")
    );
}

#[tokio::test]
async fn services_query_presence_over_http_and_admins_read_stats() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let _alice = app.connect("/realtime", "alice").await;
    let _chat = app.connect("/ws", "alice").await;
    let http = reqwest::Client::new();
    let service = app.token_with(json!({ "sub": "svc", "roles": ["service"] }));
    let one = http
        .get(app.url("/api/v1/presence/alice"))
        .bearer_auth(&service)
        .send()
        .await
        .expect("res");
    assert_eq!(one.status().as_u16(), 200);
    let body: Value = one.json().await.expect("json");
    assert_eq!(
        (
            body["users"][0]["status"].clone(),
            body["users"][0]["devices"].clone()
        ),
        (json!("online"), json!(2))
    );
    let many = http
        .post(app.url("/api/v1/presence/query"))
        .bearer_auth(&service)
        .json(&json!({ "userIds": ["alice", "nobody"] }))
        .send()
        .await
        .expect("res");
    let body: Value = many.json().await.expect("json");
    assert_eq!(body["users"][1]["status"], json!("offline"));
    let denied = http
        .get(app.url("/api/v1/presence/alice"))
        .bearer_auth(app.token("bob"))
        .send()
        .await
        .expect("res");
    assert_eq!(denied.status().as_u16(), 403);
    let anonymous = http
        .get(app.url("/api/v1/presence/alice"))
        .send()
        .await
        .expect("res");
    assert_eq!(anonymous.status().as_u16(), 401);
    let stats = http
        .get(app.url("/api/v1/stats"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .expect("res");
    let body: Value = stats.json().await.expect("json");
    assert_eq!(
        body["connections"],
        json!({ "/ws": 1, "/realtime": 1, "/notifications": 0 })
    );
    assert!(body["eventsPerSecond"].is_u64() && body["node"].is_string());
    let stats = http
        .get(app.url("/api/v1/stats"))
        .bearer_auth(&service)
        .send()
        .await
        .expect("res");
    assert_eq!(stats.status().as_u16(), 403);
}
