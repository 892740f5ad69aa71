//! `GET /metrics` after real traffic: every kind of metric moves, labels stay bounded,
//! histograms are histograms, and `metrics_bind` moves the endpoint to its own port.

use serde_json::{Value, json};
use switchyard::config::Settings;
use switchyard::startup::Application;

use crate::on_both_databases;
use crate::realtime::publish;
use crate::support::scrape::{Scrape, scrape, until};
use crate::support::{Connect, Db, TestApp};

fn grew(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.sum(name, labels) - before.sum(name, labels)
}

async fn chat(app: &TestApp) {
    let alice = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    let created = alice
        .emit_ack("conversation:create", json!({ "participantIds": ["bob"] }))
        .await;
    let id = created["conversation"]["id"].clone();
    bob.expect("conversation:new").await;
    let send = json!({ "conversationId": id, "clientMsgId": "m1", "content": "hi" });
    assert_eq!(
        alice.emit_ack("message:send", send).await["ok"],
        json!(true)
    );
    // Bob's client acks `message:new` by itself: the message counts as delivered.
    bob.expect("message:new").await;
    let unknown = alice.emit_ack("no:such:event", json!({})).await;
    assert_eq!(unknown["error"]["code"], json!("invalid_payload"));
    bob.disconnect();
}

#[tokio::test]
async fn socket_traffic_moves_connection_event_and_latency_metrics() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let url = app.url("/metrics");
    let before = scrape(&url).await;
    chat(&app).await;
    let ws = ("ns", "/ws");
    let send = [ws, ("event", "message:send")];
    let after = until(&url, |s| {
        grew(&before, s, "switchyard_disconnects_total", &[ws]) >= 1.0
            && grew(
                &before,
                s,
                "switchyard_delivery_latency_seconds_count",
                &[("kind", "message")],
            ) >= 1.0
    })
    .await;
    assert!(grew(&before, &after, "switchyard_connects_total", &[ws]) >= 2.0);
    assert!(after.has("switchyard_connections", &[ws]));
    let reason = [ws, ("reason", "client_disconnect")];
    assert!(grew(&before, &after, "switchyard_disconnects_total", &reason) >= 1.0);
    assert!(grew(&before, &after, "switchyard_events_received_total", &send) >= 1.0);
    let unknown = [ws, ("event", "unknown")];
    assert!(
        grew(
            &before,
            &after,
            "switchyard_events_received_total",
            &unknown
        ) >= 1.0
    );
    let refused = [ws, ("event", "unknown"), ("code", "invalid_payload")];
    assert!(grew(&before, &after, "switchyard_event_errors_total", &refused) >= 1.0);
    assert!(
        !after.text.contains("no:such:event"),
        "client-chosen event names never become labels"
    );
    for histogram in [
        "switchyard_ack_duration_seconds",
        "switchyard_handler_duration_seconds",
    ] {
        assert_eq!(after.type_of(histogram).as_deref(), Some("histogram"));
        let count = format!("{histogram}_count");
        assert!(grew(&before, &after, &count, &send) >= 1.0, "{count}");
        let bucket = format!("{histogram}_bucket");
        assert!(after.has(&bucket, &[ws, ("event", "message:send"), ("le", "10")]));
    }
    let fanout = [ws, ("event", "message:new")];
    assert!(grew(&before, &after, "switchyard_broadcasts_total", &fanout) >= 2.0);
    let kind = [("kind", "message")];
    assert!(
        grew(
            &before,
            &after,
            "switchyard_delivery_latency_seconds_count",
            &kind
        ) >= 1.0
    );
    assert!(after.text.contains("# HELP switchyard_connections "));
}

#[tokio::test]
async fn auth_recovery_publication_and_notification_metrics_move() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let url = app.url("/metrics");
    let before = scrape(&url).await;
    let refused = app.try_connect("/realtime", Connect::default()).await;
    assert_eq!(refused.err().as_deref(), Some("missing_token"));
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/publish"))
        .bearer_auth("junk")
        .json(&json!({}))
        .send()
        .await
        .expect("response");
    assert_eq!(res.status().as_u16(), 401);
    let carol = app.connect("/realtime", "carol").await;
    carol
        .emit_ack("subscribe", json!({ "channels": ["public:m"] }))
        .await;
    let (_, first) = publish(&app, "public:m", json!(1), None).await;
    let since = |epoch: &Value| json!({ "public:m": { "epoch": epoch, "offset": 0 } });
    let sub = |since: Value| json!({ "channels": ["public:m"], "since": since });
    let ok = carol
        .emit_ack("subscribe", sub(since(&first["epoch"])))
        .await;
    assert_eq!(ok["recovered"]["public:m"], json!(true));
    let lost = carol.emit_ack("subscribe", sub(since(&json!("old")))).await;
    assert_eq!(lost["recovered"]["public:m"], json!(false));
    let _dave = app.connect("/notifications", "dave").await;
    let body = json!({ "userIds": ["dave"], "type": "t", "title": "T", "body": "B" });
    let (status, _) = crate::notifications::notify(&app, body).await;
    assert_eq!(status, 202);
    let delivered = [("kind", "notification")];
    let after = until(&url, |s| {
        grew(
            &before,
            s,
            "switchyard_delivery_latency_seconds_count",
            &delivered,
        ) >= 1.0
    })
    .await;
    let auth = |code, transport| [("code", code), ("transport", transport)];
    let failures = "switchyard_auth_failures_total";
    assert!(grew(&before, &after, failures, &auth("missing_token", "socket")) >= 1.0);
    assert!(grew(&before, &after, failures, &auth("invalid_token", "http")) >= 1.0);
    for recovered in ["true", "false"] {
        let labels = [("recovered", recovered)];
        assert!(grew(&before, &after, "switchyard_recoveries_total", &labels) >= 1.0);
    }
    let fanout = "switchyard_publication_fanout_sockets_count";
    assert!(grew(&before, &after, fanout, &[]) >= 1.0);
    assert!(
        grew(
            &before,
            &after,
            "switchyard_delivery_latency_seconds_count",
            &delivered
        ) >= 1.0
    );
    assert!(after.has("switchyard_notifications_pending", &[]));
    // Known label values exist at zero before anything happens.
    for name in [
        "switchyard_db_errors_total",
        "switchyard_push_attempts_total",
    ] {
        assert!(after.has(name, &[]), "{name}");
    }
    assert!(after.has("switchyard_redis_errors_total", &[("area", "history")]));
}

#[tokio::test]
async fn metrics_bind_serves_metrics_on_its_own_port_only() {
    switchyard::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings::default();
    settings.http.bind = "127.0.0.1:0".parse().expect("addr");
    settings.http.metrics_bind = Some("127.0.0.1:0".parse().expect("addr"));
    settings.database.url = format!("sqlite://{}", dir.path().join("m.db").display());
    settings.auth.jwt_secret = Some(crate::support::app::SECRET.into());
    let app = Application::build(&settings, settings.auth.jwt_secret.as_deref())
        .await
        .expect("app builds");
    let (main, metrics) = (app.local_addr(), app.metrics_addr().expect("metrics addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let own = scrape(&format!("http://{metrics}/metrics")).await;
    assert!(own.has("switchyard_connections", &[("ns", "/realtime")]));
    let on_main = reqwest::get(format!("http://{main}/metrics"))
        .await
        .expect("response");
    assert_eq!(on_main.status().as_u16(), 404);
    let live = reqwest::get(format!("http://{main}/health/live"))
        .await
        .expect("response");
    assert_eq!(live.status().as_u16(), 200);
    let _ = stop.send(());
    let _ = server.await;
}

// A stored message times its wait for a pooled connection and its statement, each a
// histogram with the database buckets (sub-millisecond ones included).
on_both_databases!(message_store_calls_are_timed, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let url = app.url("/metrics");
    let before = scrape(&url).await;
    chat(&app).await;
    let after = scrape(&url).await;
    let call = ("call", "insert_message");
    for histogram in [
        "switchyard_db_acquire_seconds",
        "switchyard_db_statement_seconds",
    ] {
        assert_eq!(after.type_of(histogram).as_deref(), Some("histogram"));
        let count = format!("{histogram}_count");
        assert!(grew(&before, &after, &count, &[call]) >= 1.0, "{count}");
        let bucket = format!("{histogram}_bucket");
        assert!(after.has(&bucket, &[call, ("le", "0.0001")]), "{bucket}");
    }
});
