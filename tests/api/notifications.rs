//! `/notifications` without push: live delivery with acks, pending at connect in
//! priority order, idempotency, expiry, the pending cap, history, receipts, devices.

use std::time::Duration;

use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{Db, TestApp};

const QUIET: Duration = Duration::from_millis(300);

pub async fn notify(app: &TestApp, body: Value) -> (u16, Value) {
    let token = app.token_with(json!({ "sub": "backend", "roles": ["service"] }));
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/notifications"))
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

pub fn simple(user: &str, title: &str, priority: &str) -> Value {
    json!({ "userIds": [user], "type": "test", "title": title, "body": "b", "priority": priority })
}

on_both_databases!(
    live_notifications_are_acked_and_not_sent_again,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let mut alice = app.connect("/notifications", "alice").await;
        let (status, created) = notify(&app, json!({
        "userIds": ["alice"], "type": "invoice", "title": "Paid", "body": "Thanks", "data": { "amount": 12 }, "priority": "high"
    })).await;
        assert_eq!(status, 202);
        let id = created["ids"][0].clone();
        let got = alice.expect("notification").await;
        assert!(got.ack_id.is_some(), "sent with an ack request");
        let n = got.data;
        assert_eq!(
            (
                n["id"].clone(),
                n["type"].clone(),
                n["title"].clone(),
                n["body"].clone(),
                n["data"].clone(),
                n["priority"].clone()
            ),
            (
                id,
                json!("invoice"),
                json!("Paid"),
                json!("Thanks"),
                json!({ "amount": 12 }),
                json!("high")
            )
        );
        assert!(n["createdAt"].is_i64());
        tokio::time::sleep(QUIET).await;
        let mut again = app.connect("/notifications", "alice").await;
        again.expect_none("notification", QUIET).await;
    }
);

on_both_databases!(
    pending_ones_arrive_at_connect_by_priority_then_age,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        for (title, priority) in [
            ("a", "low"),
            ("b", "critical"),
            ("c", "normal"),
            ("d", "critical"),
            ("e", "urgent"),
        ] {
            assert_eq!(notify(&app, simple("bob", title, priority)).await.0, 202);
        }
        let mut bob = app.connect_without_acks("/notifications", "bob").await;
        let mut titles = Vec::new();
        for _ in 0..5 {
            titles.push(bob.expect("notification").await.data["title"].clone());
        }
        assert_eq!(
            titles,
            vec![json!("b"), json!("d"), json!("e"), json!("c"), json!("a")]
        );
        // Not acked: they are still pending for the next connection.
        drop(bob);
        let mut bob = app.connect("/notifications", "bob").await;
        assert_eq!(bob.expect("notification").await.data["title"], json!("b"));
    }
);

on_both_databases!(idempotency_keys_dedupe_per_user, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let body = json!({ "userIds": ["u1", "u2"], "type": "t", "title": "x", "body": "", "idempotencyKey": "k1" });
    let (_, first) = notify(&app, body.clone()).await;
    let (_, again) = notify(&app, body).await;
    assert_eq!(first, again);
    assert_ne!(
        first["ids"][0], first["ids"][1],
        "one notification per user"
    );
    let mut u1 = app.connect("/notifications", "u1").await;
    u1.expect("notification").await;
    u1.expect_none("notification", QUIET).await;
});

#[tokio::test]
async fn expired_and_overflowing_notifications_are_not_delivered() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.notifications.max_pending = 3).await;
    let short =
        json!({ "userIds": ["carol"], "type": "t", "title": "gone", "body": "", "ttlSeconds": 1 });
    notify(&app, short).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for title in ["1", "2", "3", "4", "5"] {
        notify(&app, simple("carol", title, "normal")).await;
    }
    let mut carol = app.connect("/notifications", "carol").await;
    let mut titles = Vec::new();
    while let Some(e) = carol.within("notification", QUIET).await {
        titles.push(e.data["title"].clone());
    }
    assert_eq!(
        titles,
        vec![json!("3"), json!("4"), json!("5")],
        "the newest three, oldest first"
    );
}

on_both_databases!(
    history_reads_and_receipts_to_other_sockets,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let mut ids = Vec::new();
        for title in ["1", "2", "3", "4"] {
            ids.push(notify(&app, simple("dave", title, "normal")).await.1["ids"][0].clone());
        }
        let phone = app.connect("/notifications", "dave").await;
        let mut laptop = app.connect("/notifications", "dave").await;
        let page = phone
            .emit_ack("notification:list", json!({ "limit": 3 }))
            .await;
        let titles = |v: &Value| {
            v["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["title"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            (titles(&page), page["unread"].clone()),
            (vec![json!("4"), json!("3"), json!("2")], json!(4))
        );
        let next = phone
            .emit_ack("notification:list", json!({ "limit": 3, "before": ids[1] }))
            .await;
        assert_eq!(titles(&next), vec![json!("1")]);
        let read = phone
            .emit_ack(
                "notification:read",
                json!({ "ids": [ids[0], ids[2], "not-mine"] }),
            )
            .await;
        assert_eq!(read, json!({ "ok": true, "unread": 2 }));
        let told = laptop.expect("notification:read").await.data;
        assert_eq!(told, json!({ "ids": [ids[0], ids[2]], "unread": 2 }));
        let unread = phone
            .emit_ack("notification:list", json!({ "unreadOnly": true }))
            .await;
        assert_eq!(titles(&unread), vec![json!("4"), json!("2")]);
        assert!(page["items"][0].get("readAt").is_none());
        let all = phone
            .emit_ack("notification:read", json!({ "all": true }))
            .await;
        assert_eq!(all["unread"], json!(0));
        let list = phone.emit_ack("notification:list", json!({})).await;
        assert!(list["items"][0]["readAt"].is_i64());
        let bad = phone.emit_ack("notification:read", json!({})).await;
        assert_eq!(bad["error"]["code"], json!("invalid_payload"));
    }
);

#[tokio::test]
async fn devices_register_and_unregister_with_checks() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let eve = app.connect("/notifications", "eve").await;
    let ok = eve
        .emit_ack(
            "device:register",
            json!({ "token": "fcm-token-1", "platform": "android", "appId": "com.example" }),
        )
        .await;
    assert_eq!(ok, json!({ "ok": true }));
    let bad = eve
        .emit_ack(
            "device:register",
            json!({ "token": "fcm-token-1", "platform": "palm" }),
        )
        .await;
    assert_eq!(bad["error"]["code"], json!("invalid_payload"));
    assert_eq!(
        eve.emit_ack("device:unregister", json!({ "token": "fcm-token-1" }))
            .await,
        json!({ "ok": true })
    );
}

#[tokio::test]
async fn creating_notifications_needs_the_service_role_and_a_valid_body() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let http = reqwest::Client::new();
    let url = app.url("/api/v1/notifications");
    let body = simple("x", "t", "normal");
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(http.post(&url).json(&body).send().await.expect("res")),
        401
    );
    assert_eq!(
        status(
            http.post(&url)
                .bearer_auth(app.token("x"))
                .json(&body)
                .send()
                .await
                .expect("res")
        ),
        403
    );
    let (code, _) = notify(&app, simple("x", "t", "sometimes")).await;
    assert_eq!(code, 422);
    let (code, _) = notify(
        &app,
        json!({ "userIds": [], "type": "t", "title": "t", "body": "" }),
    )
    .await;
    assert_eq!(code, 422);
}
