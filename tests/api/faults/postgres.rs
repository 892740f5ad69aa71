//! A node whose PostgreSQL sits behind the fault proxy: while the path is blackholed
//! (bytes held, no reset), `message:send`, the connect of every namespace and readiness
//! are answered within the database deadline plus a margin, the node works again after
//! the heal, and a `/notifications` socket accepted during the outage gets its pending
//! notifications once the database is back.

use std::time::Duration;

use serde_json::{Value, json};

use super::{answered_within, recovers_within};
use crate::conversations::create;
use crate::notifications::{notify, simple};
use crate::support::fault_proxy::FaultProxy;
use crate::support::{Connect, Db, SioClient, TestApp};

/// The default `database_timeout_ms`, plus room for a busy two-core machine.
const BOUND: Duration = Duration::from_millis(2_000 + 3_000);

/// The test database's URL with its server replaced by the proxy's address.
fn through(url: &str, proxy: std::net::SocketAddr) -> String {
    match (url.split_once('@'), url.rsplit_once('/')) {
        (Some((user, _)), Some((_, database))) => format!("{user}@{proxy}/{database}"),
        _ => panic!("unexpected test database URL {url}"),
    }
}

pub(crate) async fn node_behind_proxy() -> (TestApp, FaultProxy) {
    let proxy = FaultProxy::start(([127, 0, 0, 1], 5432).into()).await;
    let addr = proxy.addr();
    let app = TestApp::spawn_with(Db::Postgres, move |s| {
        s.database.url = through(&s.database.url, addr);
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

/// A connect of `user` on `ns`, failing the test unless it is answered within [`BOUND`].
async fn connect_within_bound(app: &TestApp, ns: &str, user: &str) -> Result<SioClient, String> {
    let opts = Connect {
        auth: Some(json!({ "token": app.token(user) })),
        wait: Some(BOUND),
        ..Connect::default()
    };
    let what = format!("a new {ns} connect");
    answered_within(BOUND, &what, app.try_connect(ns, opts)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_namespace_answers_its_connect_while_the_database_is_blackholed() {
    let (app, proxy) = node_behind_proxy().await;
    proxy.blackhole();
    // `/ws` joins the user's conversations before accepting: it must refuse.
    let ws = connect_within_bound(&app, "/ws", "bob").await;
    assert_eq!(ws.err().as_deref(), Some("unavailable"));
    // The others need no database to connect.
    for ns in ["/realtime", "/notifications"] {
        let connected = connect_within_bound(&app, ns, "bob").await;
        assert!(connected.is_ok(), "{ns}: {:?}", connected.err());
    }
    proxy.heal();
    recovers_within(Duration::from_secs(5), async || {
        connect_within_bound(&app, "/ws", "bob").await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_pending_during_an_outage_reach_the_socket_once_it_is_over() {
    let (app, proxy) = node_behind_proxy().await;
    // Created while dana is away; the contract's order is highest priority, then oldest.
    for (title, priority) in [
        ("n1", "normal"),
        ("n2", "urgent"),
        ("n3", "normal"),
        ("n4", "low"),
    ] {
        let (status, _) = notify(&app, simple("dana", title, priority)).await;
        assert_eq!(status, 202);
    }
    proxy.blackhole();
    let mut dana = connect_within_bound(&app, "/notifications", "dana")
        .await
        .expect("accepted while the database is down");
    let failed = dana.within("error", BOUND).await.expect("replay failed");
    assert_eq!(failed.data["code"], json!("unavailable"));
    proxy.heal();

    let mut titles = Vec::new();
    for _ in 0..4 {
        let got = dana.within("notification", Duration::from_secs(10)).await;
        let got = got.unwrap_or_else(|| panic!("pending after the heal, got {titles:?}"));
        titles.push(got.data["title"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        titles,
        ["n2", "n1", "n3", "n4"],
        "on the same socket, in order"
    );
    dana.expect_none("notification", Duration::from_secs(2))
        .await;
}
