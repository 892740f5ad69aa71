//! Channel fan-out: subscribers on one channel, a publisher posting to the HTTP publish
//! API at a fixed offered rate. Each publication carries when it was due and its number;
//! every subscriber accounts for every number (lost, duplicated) and the latency from
//! when it was due to when it arrived, in its connection's reader task (crate::tally).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::OnEvent;
use crate::setup::Setup;
use crate::stats::{now_us, own_cpu_seconds, own_peak_rss_bytes};
use crate::tally::{Board, Subscriber};

const CHANNEL: &str = "public:bench-fanout";
/// Latency histograms shared by subscribers (see `Board`).
const SHARDS: usize = 16;

pub async fn run(setup: &Setup, subscribers: usize, rate: f64, duration: Duration) -> Value {
    let board = Board::new(SHARDS);
    let max_seq = (rate * duration.as_secs_f64()).ceil() as u64 + 1;
    let subs: Vec<_> = (0..subscribers)
        .map(|i| Subscriber::new(&board, i, max_seq))
        .collect();
    let (clients, failures) = setup
        .connect_many_handled("fan", subscribers, |i| handler(subs[i].clone()))
        .await;
    for c in &clients {
        let body = json!({ "channels": [CHANNEL] });
        if c.emit_ack("subscribe", &body, Duration::from_secs(30))
            .await
            .is_none()
        {
            eprintln!("a subscribe got no ack");
        }
    }
    let (cpu_before, window) = (own_cpu_seconds(), Instant::now());
    let published = publish(setup, rate, duration).await;
    // Deliveries still in flight get a moment after the last publication.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let totals = board.finish(&subs);
    let cpu = own_cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    let cpu_share = cpu.map(|c| c / window.elapsed().as_secs_f64());
    drop(clients);
    let expected = published.ok * subscribers.saturating_sub(failures) as u64;
    json!({
        "mode": "fanout",
        "subscribers": subscribers,
        "connect_failures": failures,
        "offered_publications_per_second": rate,
        "published": published.ok,
        "publish_failures": published.failed,
        "expected_deliveries": expected,
        "delivered": totals.distinct,
        "lost": totals.lost(expected),
        "duplicates": totals.duplicates,
        "unexpected": totals.unexpected,
        // Every publication is due inside the offered window; those delivered within the
        // 3 s grace after it still count, and their lateness shows in the latency.
        "deliveries_per_second": totals.distinct as f64 / duration.as_secs_f64(),
        "deliveries_per_second_is": "distinct deliveries of the publications due in the offered window / the window",
        "latency": totals.latency.summary(),
        // From the first publication to the end of the grace: near 1 per thread, the load
        // generator rather than the server may be what limits the run.
        "loadgen_cpu_seconds": cpu,
        "loadgen_cpu_share": cpu_share,
        "loadgen_peak_rss_bytes": own_peak_rss_bytes(),
    })
}

/// Accounts for each publication as its frame is read: no copy, no channel, no task.
fn handler(sub: Arc<Subscriber>) -> OnEvent {
    Box::new(move |payload: &str| {
        if let Some((sent, seq)) = crate::scan::delivery(payload) {
            sub.record(sent, seq, now_us());
        }
    })
}

struct Published {
    ok: u64,
    failed: u64,
}

/// Posts publications on schedule; each is timed from when it was due.
async fn publish(setup: &Setup, rate: f64, duration: Duration) -> Published {
    let http = Arc::new(reqwest::Client::new());
    let token = Arc::new(setup.token("bench-publisher", &["service"]));
    let url = Arc::new(format!("{}/api/v1/publish", setup.http));
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let start = Instant::now();
    let mut due = start;
    let mut seq = 0u64;
    let mut inflight = Vec::new();
    while due < start + duration {
        tokio::time::sleep_until(due).await;
        seq += 1;
        let sent = now_us() - due.elapsed().as_micros() as u64;
        let body =
            json!({ "channel": CHANNEL, "event": "tick", "data": { "sent": sent, "seq": seq } });
        let (http, token, url) = (http.clone(), token.clone(), url.clone());
        inflight.push(tokio::spawn(async move {
            let res = http
                .post(url.as_str())
                .bearer_auth(token.as_str())
                .json(&body)
                .send()
                .await;
            res.is_ok_and(|r| r.status().is_success())
        }));
        due += interval;
    }
    let mut published = Published { ok: 0, failed: 0 };
    for task in inflight {
        match task.await {
            Ok(true) => published.ok += 1,
            _ => published.failed += 1,
        }
    }
    published
}
