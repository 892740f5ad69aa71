//! Graceful drain: not ready, new connections refused, clients told when to reconnect,
//! the rest closed, the process gone within the grace period.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::process::{self, Gateway, listening_addr};
use crate::support::{Connect, Db, SioClient, TestApp};

#[tokio::test]
async fn draining_refuses_newcomers_and_tells_clients_when_to_come_back() {
    let mut app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.drain.reconnect_spread = std::time::Duration::from_millis(1500);
        s.drain.shutdown_grace = std::time::Duration::from_secs(10);
    })
    .await;
    let mut alice = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/realtime", "bob").await;
    app.begin_shutdown();
    for s in [&mut alice, &mut bob] {
        let told = s.expect("server:draining").await.data;
        let delay = told["reconnectInMs"].as_u64().expect("reconnectInMs");
        assert!(delay <= 1500, "{delay}");
    }
    let ready = reqwest::get(app.url("/health/ready"))
        .await
        .expect("response");
    assert_eq!(ready.status().as_u16(), 503);
    let token = app.token("carol");
    let refused = app
        .try_connect(
            "/ws",
            Connect {
                auth: Some(json!({ "token": token })),
                ..Connect::default()
            },
        )
        .await;
    assert_eq!(refused.err().as_deref(), Some("server_draining"));
    // Sockets that stay are closed once the spread has passed.
    let closed = alice.within("disconnect", Duration::from_secs(5)).await;
    assert!(closed.is_some(), "alice was disconnected by the server");
}

#[test]
fn sigterm_drains_and_exits_within_the_grace_period() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let env = [
        ("SWITCHYARD_SHUTDOWN_GRACE_SECS", "5".to_owned()),
        ("SWITCHYARD_DRAIN_RECONNECT_SPREAD_MS", "500".to_owned()),
    ];
    let mut gateway = Gateway::spawn(&env, listening_addr);
    let token = process::token("alice", &[]);
    runtime.block_on(async {
        let opts = Connect {
            auth: Some(json!({ "token": token })),
            ..Connect::default()
        };
        let mut alice = SioClient::connect(&gateway.addr, "/ws", opts)
            .await
            .expect("connects");
        let started = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &gateway.pid().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let told = alice.expect("server:draining").await.data;
        assert!(told["reconnectInMs"].as_u64().is_some_and(|d| d <= 500));
        let status = loop {
            if let Some(status) = gateway.try_wait() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(6),
                "exited within the grace period"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "a clean drain exits 0: {status:?}");
    });
}
