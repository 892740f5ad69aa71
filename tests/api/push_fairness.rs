//! The push worker shares its capacity between users: one user's backlog of deliveries
//! does not hold back another user's first push. Asserted on the order the fake FCM saw
//! the sends in, never on wall-clock time.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::devices::push_app;
use crate::notifications::{notify, simple};
use crate::on_both_databases;
use crate::support::fake_fcm::{FakeFcm, Recorded};
use crate::support::{Db, TestApp};

const DEVICES: usize = 20;
const NOTIFICATIONS: usize = 40;
/// The worker's batch and concurrency (`WorkerConfig::default()`): a newcomer waits for the
/// batch being sent, no more.
const BATCH: usize = 100;
const CONCURRENCY: usize = 8;

/// Waits until a send to `token` is recorded (or 60 s pass) and returns every send so far.
async fn until_sent_to(fcm: &FakeFcm, token: &str) -> Vec<Recorded> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = fcm.requests();
        if seen.iter().any(|r| r.token == token) || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `n` sends wait at the fake's gate: the worker's round is stuck sending.
async fn until_held(fcm: &FakeFcm, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fcm.held() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fcm.held() >= n, "{} sends held, expected {n}", fcm.held());
}

async fn register(app: &TestApp, user: &str, tokens: &[String]) {
    let s = app.connect("/notifications", user).await;
    for token in tokens {
        let body = json!({ "token": token, "platform": "android" });
        assert_eq!(
            s.emit_ack("device:register", body).await,
            json!({ "ok": true })
        );
    }
    s.disconnect();
}

// The gate pins the worker's rounds: round 1 sends a warm-up push and is held while heavy's
// flood is queued; round 2 fans the flood out, claims a batch and is held while light's one
// push is queued; then everything runs. Light's push must come in the next batch, not
// after heavy's whole backlog.
on_both_databases!(
    one_users_backlog_does_not_hold_back_another_users_first_push,
    |db: Db| async move {
        let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
        let app = push_app(db, &fcm, &dir, |s| {
            s.limits.mode = switchyard::config::RateLimits::Off
        })
        .await;
        let heavy: Vec<String> = (0..DEVICES).map(|n| format!("heavy-{n}")).collect();
        register(&app, "heavy", &heavy).await;
        register(&app, "light", &["light-1".into()]).await;
        register(&app, "warm", &["warm-1".into()]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        fcm.hold();
        notify(&app, simple("warm", "warm-up", "normal")).await;
        until_held(&fcm, 1).await;
        for n in 0..NOTIFICATIONS {
            notify(&app, simple("heavy", &format!("flood {n}"), "normal")).await;
        }
        fcm.let_through(1);
        until_held(&fcm, CONCURRENCY).await;
        notify(&app, simple("light", "just one", "normal")).await;
        fcm.open();

        let seen = until_sent_to(&fcm, "light-1").await;
        let light_at = seen
            .iter()
            .position(|r| r.token == "light-1")
            .expect("light's push was sent");
        let heavy_first = seen[..light_at]
            .iter()
            .filter(|r| r.token.starts_with("heavy-"))
            .count();
        assert!(
            heavy_first <= BATCH + CONCURRENCY,
            "{heavy_first} of heavy's {} pushes went before light's first",
            DEVICES * NOTIFICATIONS
        );
    }
);
