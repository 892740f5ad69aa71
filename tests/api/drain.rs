//! Graceful drain: not ready, new connections refused, clients told when to reconnect,
//! the rest closed, the process gone within the grace period.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Connect, Db, SioClient, TestApp};

#[tokio::test]
async fn draining_refuses_newcomers_and_tells_clients_when_to_come_back() {
    let mut app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.drain_reconnect_spread_ms = 1500;
        s.shutdown_grace_secs = 10;
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
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .env("SWITCHYARD_BIND", "127.0.0.1:0")
        .env(
            "SWITCHYARD_DATABASE_URL",
            format!("sqlite://{}/d.db", dir.path().display()),
        )
        .env("SWITCHYARD_JWT_SECRET", crate::support::app::SECRET)
        .env("SWITCHYARD_SHUTDOWN_GRACE_SECS", "5")
        .env("SWITCHYARD_DRAIN_RECONNECT_SPREAD_MS", "500")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("listening on http://")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_owned)
        })
        .expect("address logged");
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let token = {
        let claims = json!({ "sub": "alice", "exp": jsonwebtoken::get_current_timestamp() + 600 });
        let key = jsonwebtoken::EncodingKey::from_secret(crate::support::app::SECRET.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("token")
    };
    runtime.block_on(async {
        let opts = Connect {
            auth: Some(json!({ "token": token })),
            ..Connect::default()
        };
        let mut alice = SioClient::connect(&addr, "/ws", opts)
            .await
            .expect("connects");
        let started = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let told = alice.expect("server:draining").await.data;
        assert!(told["reconnectInMs"].as_u64().is_some_and(|d| d <= 500));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
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
