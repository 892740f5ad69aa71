//! The outbox's claims on one PostgreSQL, four claimers at once (as four nodes' senders
//! would be): every delivery goes to one of them only, each key's in order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::integration::webhooks::event::{WebhookEvent, now_ms};
use switchyard::store::{Claim, Database, WebhookOutbox, WebhookOutcome};

use super::endpoint;
use crate::support::{Db, TestApp};

const EVENTS: usize = 300;
const KEYS: usize = 10;

/// (ordering key, key_seq, event id) in the order claimers took them.
type Taken = Arc<Mutex<Vec<(String, i64, String)>>>;

async fn claimer(outbox: Arc<dyn WebhookOutbox>, taken: Taken) {
    let started = Instant::now();
    while taken.lock().expect("taken").len() < EVENTS && started.elapsed() < Duration::from_secs(60)
    {
        let claim = Claim {
            limit: 40,
            run: 5,
            lease_ms: 30_000,
        };
        let runs = outbox.claim(now_ms(), claim).await.expect("claim");
        for delivery in runs.into_iter().flatten() {
            let row = (
                delivery.ordering_key.clone(),
                delivery.key_seq,
                delivery.event_id.clone(),
            );
            taken.lock().expect("taken").push(row);
            let done = WebhookOutcome::Delivered { status: 200 };
            let recorded = outbox
                .record(&delivery, done, now_ms())
                .await
                .expect("record");
            assert!(recorded, "a claimed delivery is this claimer's to record");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_share_a_delivery_and_keep_each_key_in_order() {
    let owner = TestApp::spawn(Db::Postgres).await;
    let db = Database::connect(&owner.settings.database.url, Duration::from_secs(5))
        .await
        .expect("database");
    db.set_webhooks(vec![endpoint("http://127.0.0.1:9/hooks", None)]);
    let outbox = db.webhook_outbox();
    for n in 0..EVENTS {
        let key = format!("user:u{}", n % KEYS);
        let event = WebhookEvent::new("user.online", key, json!({ "n": n }), now_ms());
        assert!(outbox.enqueue(&event).await.expect("enqueue"));
    }
    let taken: Taken = Arc::default();
    let claimers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(claimer(outbox.clone(), taken.clone())))
        .collect();
    for claimer in claimers {
        claimer.await.expect("claimer");
    }
    let taken = taken.lock().expect("taken").clone();
    let ids: HashSet<&String> = taken.iter().map(|(_, _, id)| id).collect();
    assert_eq!(
        (taken.len(), ids.len()),
        (EVENTS, EVENTS),
        "each taken once"
    );
    for k in 0..KEYS {
        let key = format!("user:u{k}");
        let seqs: Vec<i64> = taken.iter().filter(|t| t.0 == key).map(|t| t.1).collect();
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, expected, "{key} in order");
    }
    assert_eq!(
        db.webhook_outbox().oldest_pending().await.expect("lag"),
        None
    );
    db.close().await;
}
