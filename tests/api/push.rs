//! The push fallback end to end: the real server, the stand-in FCM, devices registered
//! over `/notifications`, and notifications created over HTTP or by chat messages.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::conversations::create;
use crate::notifications::{notify, simple};
use crate::on_both_databases;
use crate::support::fake_fcm::{FakeFcm, Recorded, Reply};
use crate::support::{Db, SioClient, TestApp};

/// A server whose pushes go to `fcm`, with a short ack timeout.
pub(crate) async fn app_with_push(db: Db, fcm: &FakeFcm, dir: &tempfile::TempDir) -> TestApp {
    let key_file = fcm.write_service_account(dir.path());
    let endpoint = fcm.base_url();
    TestApp::spawn_with(db, move |s| {
        s.push.fcm_credentials = Some(key_file.display().to_string());
        s.push.fcm_endpoint = Some(endpoint);
        s.notifications.ack_timeout = std::time::Duration::from_millis(600);
    })
    .await
}

pub(crate) async fn register(s: &SioClient, token: &str, platform: &str) {
    let ack = s
        .emit_ack(
            "device:register",
            json!({ "token": token, "platform": platform }),
        )
        .await;
    assert_eq!(ack, json!({ "ok": true }));
}

/// Waits until `fcm` has recorded `n` requests, or a few seconds pass.
pub(crate) async fn pushes(fcm: &FakeFcm, n: usize) -> Vec<Recorded> {
    let deadline = Instant::now() + Duration::from_secs(8);
    while fcm.requests().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fcm.requests()
}

fn tokens(requests: &[Recorded]) -> Vec<String> {
    let mut t: Vec<String> = requests.iter().map(|r| r.token.clone()).collect();
    t.sort();
    t
}

#[tokio::test]
async fn an_offline_user_is_pushed_once_per_device() {
    let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
    let app = app_with_push(Db::Sqlite, &fcm, &dir).await;
    let phone = app.connect("/notifications", "alice").await;
    register(&phone, "alice-android", "android").await;
    register(&phone, "alice-ios", "ios").await;
    phone.disconnect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = json!({ "userIds": ["alice"], "type": "invoice", "title": "Paid", "body": "12 EUR", "data": { "n": 5 }, "priority": "urgent" });
    let id = notify(&app, body).await.1["ids"][0].clone();
    let sent = pushes(&fcm, 2).await;
    assert_eq!(tokens(&sent), vec!["alice-android", "alice-ios"]);
    let message = &sent[0].body["message"];
    assert_eq!(
        message["notification"],
        json!({ "title": "Paid", "body": "12 EUR" })
    );
    assert_eq!(
        (
            message["data"]["id"].clone(),
            message["data"]["type"].clone(),
            message["data"]["n"].clone()
        ),
        (id.clone(), json!("invoice"), json!("5"))
    );
    assert_eq!(
        (
            message["android"]["priority"].clone(),
            message["android"]["collapse_key"].clone()
        ),
        (json!("HIGH"), id)
    );
    assert_eq!(message["apns"]["headers"]["apns-priority"], json!("10"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(fcm.requests().len(), 2, "each device once");
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .expect("res")
        .text()
        .await
        .expect("text");
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("switchyard_push_attempts_total{outcome=\"sent\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok());
    assert!(
        sent.is_some_and(|n| n >= 2.0),
        "push outcomes are counted: {metrics}"
    );
}

#[tokio::test]
async fn a_connected_user_who_acks_is_not_pushed_one_who_does_not_is() {
    let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
    let app = app_with_push(Db::Sqlite, &fcm, &dir).await;
    let mut bob = app.connect("/notifications", "bob").await;
    register(&bob, "bob-web", "web").await;
    notify(&app, simple("bob", "acked", "normal")).await;
    bob.expect("notification").await;
    let mut carol = app.connect("/notifications", "carol").await;
    carol.manual_acks();
    register(&carol, "carol-android", "android").await;
    let created = Instant::now();
    notify(&app, simple("carol", "ignored", "low")).await;
    carol.expect("notification").await;
    let sent = pushes(&fcm, 1).await;
    assert_eq!(
        tokens(&sent),
        vec!["carol-android"],
        "bob acked in time, carol did not"
    );
    assert!(
        sent[0].at.duration_since(created) >= Duration::from_millis(550),
        "pushed only after the ack timeout"
    );
    assert_eq!(
        sent[0].body["message"]["android"]["priority"],
        json!("NORMAL")
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(fcm.requests().len(), 1);
}

#[tokio::test]
async fn reading_before_the_push_is_due_cancels_it() {
    let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
    let app = app_with_push(Db::Sqlite, &fcm, &dir).await;
    let mut dan = app.connect("/notifications", "dan").await;
    dan.manual_acks();
    register(&dan, "dan-ios", "ios").await;
    let id = notify(&app, simple("dan", "read me", "high")).await.1["ids"][0].clone();
    dan.expect("notification").await;
    dan.emit_ack("notification:read", json!({ "ids": [id] }))
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(fcm.requests().is_empty());
}

on_both_databases!(
    dead_tokens_are_pruned_and_busy_fcm_is_retried_after_its_delay,
    |db: Db| async move {
        let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
        let app = app_with_push(db, &fcm, &dir).await;
        fcm.script("erin-old", vec![Reply::Unregistered]);
        fcm.script(
            "erin-new",
            vec![
                Reply::Unavailable {
                    retry_after: Some(1),
                },
                Reply::TooManyRequests { retry_after: None },
            ],
        );
        let erin = app.connect("/notifications", "erin").await;
        register(&erin, "erin-old", "android").await;
        register(&erin, "erin-new", "android").await;
        erin.disconnect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        notify(&app, simple("erin", "first", "normal")).await;
        let sent = pushes(&fcm, 4).await;
        let to_new: Vec<&Recorded> = sent.iter().filter(|r| r.token == "erin-new").collect();
        assert_eq!(to_new.len(), 3, "503, 429, then delivered");
        assert!(
            to_new[1].at.duration_since(to_new[0].at) >= Duration::from_millis(950),
            "Retry-After honoured"
        );
        assert!(
            to_new[2].at.duration_since(to_new[1].at) >= Duration::from_millis(900),
            "backoff grows"
        );
        assert_eq!(sent.iter().filter(|r| r.token == "erin-old").count(), 1);
        notify(&app, simple("erin", "second", "normal")).await;
        let sent = pushes(&fcm, 5).await;
        assert_eq!(sent.last().map(|r| r.token.as_str()), Some("erin-new"));
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(
            fcm.requests()
                .iter()
                .filter(|r| r.token == "erin-old")
                .count()
                == 1,
            "the dead token was forgotten"
        );
    }
);

#[tokio::test]
async fn a_push_pending_at_restart_is_sent_by_the_next_process() {
    let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
    let app = app_with_push(Db::Sqlite, &fcm, &dir).await;
    let mut fay = app.connect("/notifications", "fay").await;
    fay.manual_acks();
    register(&fay, "fay-android", "android").await;
    notify(&app, simple("fay", "survives", "critical")).await;
    fay.expect("notification").await;
    // Stop before the ack timeout runs out (with no socket left the drain is instant):
    // the push is due only in the next process.
    fay.disconnect();
    let app = app.restart().await;
    let restarted = Instant::now();
    let sent = pushes(&fcm, 1).await;
    assert_eq!(tokens(&sent), vec!["fay-android"]);
    assert!(sent[0].at >= restarted, "sent by the new process");
    assert_eq!(
        sent[0].body["message"]["notification"]["title"],
        json!("survives")
    );
    drop(app);
}

#[tokio::test]
async fn a_chat_message_to_someone_with_no_socket_is_pushed() {
    let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
    let app = app_with_push(Db::Sqlite, &fcm, &dir).await;
    let gus = app.connect("/notifications", "gus").await;
    register(&gus, "gus-ios", "ios").await;
    gus.disconnect();
    let hal = app.connect("/ws", "hal").await;
    let conversation = create(&hal, &["gus"]).await;
    let sent = hal
        .emit_ack(
            "message:send",
            json!({ "conversationId": conversation, "clientMsgId": "m1", "content": "lunch?" }),
        )
        .await;
    let pushed = pushes(&fcm, 1).await;
    assert_eq!(tokens(&pushed), vec!["gus-ios"]);
    let message: &Value = &pushed[0].body["message"];
    assert_eq!(
        (
            message["data"]["type"].clone(),
            message["notification"]["body"].clone()
        ),
        (json!("message"), json!("lunch?"))
    );
    assert_eq!(message["data"]["messageId"], sent["message"]["id"]);
    // Hal is online: his own message is never pushed to him.
    assert!(pushed.iter().all(|r| r.token != "hal"));
}
