//! Webhooks (PROTOCOL.md §9): events written with the change they report, POSTed signed
//! to a real HTTP receiver, in order per conversation, retried while it is down, then
//! dead-lettered; and several gateway processes on one PostgreSQL sending each once.

use std::time::Duration;

use serde_json::json;
use switchyard::config::{Settings, WebhookEndpoint};
use switchyard::integration::EVENT_TYPES;

use crate::conversations::{create, send};
use crate::notifications::{notify, simple};
use crate::on_both_databases;
use crate::support::receiver::{Received, Receiver, SECRET};
use crate::support::{Db, TestApp};

mod claims;
mod cluster;
mod presence;
mod push;

const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(800);

/// Every event type but `user.online`/`user.offline`: the sockets of these tests come
/// and go, and the outbox counts below are of chat and notification events.
fn not_presence() -> Vec<&'static str> {
    EVENT_TYPES
        .iter()
        .copied()
        .filter(|t| !t.starts_with("user."))
        .collect()
}

pub fn endpoint(url: &str, events: Option<&[&str]>) -> WebhookEndpoint {
    WebhookEndpoint {
        url: url.to_owned(),
        secret: SECRET.to_owned(),
        events: events.map(|e| e.iter().map(|s| (*s).to_owned()).collect()),
    }
}

async fn app_sending_to(db: Db, urls: &[&str]) -> TestApp {
    let endpoints = urls
        .iter()
        .map(|u| endpoint(u, Some(&not_presence())))
        .collect();
    TestApp::spawn_with(db, |s: &mut Settings| {
        s.integration.webhooks = endpoints;
        s.integration.webhook_timeout = Duration::from_secs(2);
        s.limits.mode = switchyard::config::RateLimits::Off;
    })
    .await
}

pub fn types(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.body["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The `seq` of each `message.created`, in the order they were accepted.
pub fn created_seqs(got: &[Received]) -> Vec<i64> {
    got.iter()
        .filter(|r| r.body["type"] == "message.created")
        .filter_map(|r| r.body["data"]["seq"].as_i64())
        .collect()
}

fn assert_each_once(got: &[Received]) {
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "a webhook-id accepted twice");
}

/// Rows of the outbox by state, read from the test's database.
pub async fn outbox_states(url: &str) -> Vec<(String, i64)> {
    let query = "SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state ORDER BY state";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        sqlx::query_as(query)
            .fetch_all(&pool)
            .await
            .expect("states")
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        sqlx::query_as(query)
            .fetch_all(&pool)
            .await
            .expect("states")
    }
}

on_both_databases!(
    chat_events_arrive_signed_and_in_order,
    |db: Db| async move {
        let receiver = Receiver::start().await.ignore_presence();
        let app = app_sending_to(db, &[&receiver.url]).await;
        let alice = app.connect("/ws", "alice").await;
        let bob = app.connect("/ws", "bob").await;
        let id = create(&alice, &["bob"]).await;
        let mut sent = Vec::new();
        for i in 1..=10 {
            sent.push(send(&alice, &id, &format!("c{i}"), &format!("m{i}")).await);
        }
        // A resend is answered with the stored message and reports nothing again.
        assert_eq!(send(&alice, &id, "c1", "m1").await, sent[0]);
        let third = sent[2]["id"].clone();
        let edit = json!({ "messageId": third, "content": "edited" });
        assert_eq!(
            alice.emit_ack("message:edit", edit).await["ok"],
            json!(true)
        );
        let delete = json!({ "messageId": sent[3]["id"] });
        assert_eq!(
            alice.emit_ack("message:delete", delete).await["ok"],
            json!(true)
        );
        let read = json!({ "conversationId": id, "seq": 10 });
        assert_eq!(bob.emit_ack("message:read", read).await["ok"], json!(true));

        let got = receiver.wait_for(14, WAIT).await;
        let mut expected = vec!["conversation.created".to_owned()];
        expected.extend(std::iter::repeat_n("message.created".to_owned(), 10));
        expected.extend(["message.edited", "message.deleted", "message.read"].map(String::from));
        assert_eq!(types(&got), expected);
        assert_eq!(created_seqs(&got), (1..=10).collect::<Vec<_>>());
        // The message as the socket events carry it, its conversation among its fields.
        assert_eq!(got[1].body["data"], sent[0]);
        assert_eq!(got[1].body["data"]["conversationId"], json!(id));
        assert_eq!(
            got[0].body["data"]["participantIds"],
            json!(["alice", "bob"])
        );
        assert_eq!(got[11].body["data"]["content"], json!("edited"));
        assert_eq!(got[12].body["data"]["deleted"], json!(true));
        assert_eq!(
            got[13].body["data"],
            json!({ "conversationId": id, "userId": "bob", "seq": 10 })
        );
        let stamp = got[1].body["timestamp"].as_str().expect("timestamp");
        assert!(humantime::parse_rfc3339(stamp).is_ok(), "{stamp}");
        assert!(got.iter().all(|r| r.id.starts_with("msg_")));
        assert_each_once(&got);
        tokio::time::sleep(QUIET).await;
        assert_eq!(receiver.accepted().len(), 14, "nothing more, nothing twice");
    }
);

on_both_databases!(
    notification_events_and_the_endpoint_filter,
    |db: Db| async move {
        let all = Receiver::start().await.ignore_presence();
        let reads = Receiver::start().await.ignore_presence();
        let endpoints = vec![
            endpoint(&all.url, None),
            endpoint(&reads.url, Some(&["notification.read"])),
        ];
        let app =
            TestApp::spawn_with(db, |s: &mut Settings| s.integration.webhooks = endpoints).await;
        // Acked by hand, and read once the delivery is reported: an automatic ack could
        // still be on its way when the read is stored, and report the two the other way.
        let mut bob = app.connect_without_acks("/notifications", "bob").await;
        let (status, created) = notify(&app, simple("bob", "hi", "normal")).await;
        assert_eq!(status, 202, "{created}");
        let nid = created["ids"][0].clone();
        let notification = bob.expect("notification").await;
        bob.ack(notification.ack_id.expect("an ack request"), json!({}));
        all.wait_for(1, WAIT).await;
        let read = bob
            .emit_ack("notification:read", json!({ "all": true }))
            .await;
        assert_eq!(read["ok"], json!(true), "{read}");
        let got = all.wait_for(2, WAIT).await;
        assert_eq!(types(&got), ["notification.delivered", "notification.read"]);
        for event in &got {
            assert_eq!(event.body["data"]["userId"], json!("bob"));
            assert_eq!(event.body["data"]["notificationId"], nid);
        }
        let only = reads.wait_for(1, WAIT).await;
        assert_eq!(types(&only), ["notification.read"]);
        assert_eq!(only[0].id, got[1].id, "one event id for every endpoint");
        tokio::time::sleep(QUIET).await;
        assert_eq!(reads.accepted().len(), 1);
    }
);

on_both_databases!(
    a_receiver_answering_503_gets_everything_in_order_once_back,
    |db: Db| async move {
        let receiver = Receiver::start().await.ignore_presence();
        receiver.answer(503);
        let app = app_sending_to(db, &[&receiver.url]).await;
        let alice = app.connect("/ws", "alice").await;
        let one = create(&alice, &["bob"]).await;
        let two = create(&alice, &["carol"]).await;
        for i in 1..=8 {
            send(&alice, &one, &format!("a{i}"), "x").await;
            send(&alice, &two, &format!("b{i}"), "x").await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(receiver.posts() >= 2, "it was tried while down");
        assert!(receiver.accepted().is_empty());
        receiver.answer(200);
        let got = receiver.wait_for(18, WAIT).await;
        assert_eq!(got.len(), 18, "{:?}", types(&got));
        for conversation in [&one, &two] {
            let mine: Vec<Received> = got
                .iter()
                .filter(|r| r.body["data"]["conversationId"] == json!(conversation))
                .cloned()
                .collect();
            assert_eq!(created_seqs(&mine), (1..=8).collect::<Vec<_>>());
        }
        assert_each_once(&got);
        assert_eq!(
            outbox_states(&app.settings.database.url).await,
            [("delivered".to_owned(), 18)]
        );
    }
);

on_both_databases!(
    a_receiver_that_was_not_listening_gets_everything_once_it_is,
    |db: Db| async move {
        // A port nothing listens on, until the receiver starts on it.
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let url = format!("http://127.0.0.1:{port}/hooks");
        let app = app_sending_to(db, &[&url]).await;
        let alice = app.connect("/ws", "alice").await;
        let id = create(&alice, &["bob"]).await;
        for i in 1..=5 {
            send(&alice, &id, &format!("c{i}"), "x").await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let receiver = Receiver::start_on(port).await.ignore_presence();
        let got = receiver.wait_for(6, WAIT).await;
        assert_eq!(types(&got)[0], "conversation.created");
        assert_eq!(created_seqs(&got), (1..=5).collect::<Vec<_>>());
        assert_each_once(&got);
    }
);

on_both_databases!(
    an_event_not_accepted_for_retry_for_is_dead_lettered_and_stops_blocking,
    |db: Db| async move {
        let receiver = Receiver::start().await.ignore_presence();
        receiver.answer(500);
        let app = TestApp::spawn_with(db, |s: &mut Settings| {
            s.integration.webhooks = vec![endpoint(&receiver.url, Some(&not_presence()))];
            s.integration.webhook_retry_for = Duration::from_secs(1);
            s.limits.mode = switchyard::config::RateLimits::Off;
        })
        .await;
        let alice = app.connect("/ws", "alice").await;
        let id = create(&alice, &["bob"]).await;
        send(&alice, &id, "c1", "lost").await;
        let url = app.settings.database.url.clone();
        let dead = [("dead".to_owned(), 2)];
        let started = std::time::Instant::now();
        while outbox_states(&url).await != dead {
            assert!(started.elapsed() < WAIT, "{:?}", outbox_states(&url).await);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(receiver.posts() >= 2, "retried before giving up");
        receiver.answer(200);
        let later = send(&alice, &id, "c2", "later").await;
        let got = receiver.wait_for(1, WAIT).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body["data"], later);
        let states = outbox_states(&url).await;
        assert_eq!(
            states,
            [("dead".to_owned(), 2), ("delivered".to_owned(), 1)]
        );
    }
);

on_both_databases!(without_endpoints_nothing_is_written, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let alice = app.connect("/ws", "alice").await;
    let id = create(&alice, &["bob"]).await;
    send(&alice, &id, "c1", "x").await;
    assert_eq!(outbox_states(&app.settings.database.url).await, []);
});
