//! A node whose PostgreSQL sits behind the fault proxy: while the path is blackholed
//! (bytes held, no reset), `message:send`, a new `/ws` connect and readiness are answered
//! within the database deadline plus a margin, and the node works again after the heal.

use std::time::Duration;

use serde_json::{Value, json};

use super::{answered_within, recovers_within};
use crate::conversations::create;
use crate::support::fault_proxy::FaultProxy;
use crate::support::{Connect, Db, TestApp};

/// The default `database_timeout_ms`, plus room for a busy two-core machine.
const BOUND: Duration = Duration::from_millis(2_000 + 3_000);

/// The test database's URL with its server replaced by the proxy's address.
fn through(url: &str, proxy: std::net::SocketAddr) -> String {
    match (url.split_once('@'), url.rsplit_once('/')) {
        (Some((user, _)), Some((_, database))) => format!("{user}@{proxy}/{database}"),
        _ => panic!("unexpected test database URL {url}"),
    }
}

async fn node_behind_proxy() -> (TestApp, FaultProxy) {
    let proxy = FaultProxy::start(([127, 0, 0, 1], 5432).into()).await;
    let addr = proxy.addr();
    let app = TestApp::spawn_with(Db::Postgres, move |s| {
        s.database_url = through(&s.database_url, addr);
    })
    .await;
    (app, proxy)
}

fn send_body(conversation: &str, client_id: &str) -> Value {
    json!({ "conversationId": conversation, "clientMsgId": client_id, "content": "hi" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_database_gets_answers_not_hangs() {
    let (app, proxy) = node_behind_proxy().await;
    let alice = app.connect("/ws", "alice").await;
    let id = create(&alice, &["bob"]).await;
    proxy.blackhole();

    let ack = answered_within(BOUND, "message:send", async {
        alice
            .try_emit_ack("message:send", send_body(&id, "m1"))
            .await
    })
    .await;
    let ack = ack.expect("an ack");
    assert_eq!(ack["error"]["code"], json!("unavailable"), "{ack}");
    let opts = Connect {
        auth: Some(json!({ "token": app.token("bob") })),
        wait: Some(BOUND),
        ..Connect::default()
    };
    let connected = answered_within(BOUND, "a new /ws connect", async {
        app.try_connect("/ws", opts).await
    })
    .await;
    assert_eq!(connected.err().as_deref(), Some("unavailable"));
    let ready = answered_within(BOUND, "GET /health/ready", async {
        reqwest::get(app.url("/health/ready"))
            .await
            .map(|r| r.status().as_u16())
    })
    .await;
    assert_eq!(ready.ok(), Some(503));

    proxy.heal();
    recovers_within(Duration::from_secs(5), async || {
        let ack = alice
            .try_emit_ack("message:send", send_body(&id, "m2"))
            .await;
        ack.is_some_and(|a| a["ok"] == json!(true))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_database_connections_are_reset_recovers() {
    let (app, proxy) = node_behind_proxy().await;
    let alice = app.connect("/ws", "alice").await;
    let id = create(&alice, &["bob"]).await;
    proxy.cut();
    let mut attempt = 0;
    recovers_within(Duration::from_secs(5), async || {
        attempt += 1;
        let body = send_body(&id, &format!("after-cut-{attempt}"));
        let ack = alice.try_emit_ack("message:send", body).await;
        ack.is_some_and(|a| a["ok"] == json!(true))
    })
    .await;
}
