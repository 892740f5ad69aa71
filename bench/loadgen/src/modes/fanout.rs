//! Channel fan-out: subscribers on one channel, a publisher posting to the HTTP publish
//! API at a fixed offered rate. Each publication carries when it was due and its number;
//! every subscriber accounts for every number (lost, duplicated) and the latency from
//! when it was due to when it arrived.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::field_u64;
use crate::setup::Setup;
use crate::stats::{Latency, now_us};

const CHANNEL: &str = "public:bench-fanout";

pub async fn run(setup: &Setup, subscribers: usize, rate: f64, duration: Duration) -> Value {
    let (clients, failures) = setup.connect_many("fan", subscribers, true).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut receivers = Vec::new();
    for mut c in clients {
        let ack = c
            .client
            .emit_ack(
                "subscribe",
                &json!({ "channels": [CHANNEL] }),
                Duration::from_secs(30),
            )
            .await;
        if ack.is_none() {
            eprintln!("a subscribe got no ack");
        }
        let events = c.events.take().expect("connected with events");
        receivers.push(tokio::spawn(count(c, events, stopped.clone())));
    }
    let published = publish(setup, rate, duration).await;
    // Deliveries still in flight get a moment after the last publication.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop.send(true);
    let mut latency = Latency::default();
    let mut duplicates = 0u64;
    for r in receivers {
        if let Ok(tally) = r.await {
            latency.merge(&tally.latency);
            duplicates += tally.duplicates;
        }
    }
    let expected = published.ok * subscribers.saturating_sub(failures) as u64;
    json!({
        "mode": "fanout",
        "subscribers": subscribers,
        "connect_failures": failures,
        "offered_publications_per_second": rate,
        "published": published.ok,
        "publish_failures": published.failed,
        "expected_deliveries": expected,
        "delivered": latency.count(),
        "lost": expected.saturating_sub(latency.count()),
        "duplicates": duplicates,
        "deliveries_per_second": latency.count() as f64 / duration.as_secs_f64(),
        "latency": latency.summary(),
    })
}

#[derive(Default)]
struct Tally {
    latency: Latency,
    duplicates: u64,
}

/// Accounts for one subscriber's publications until told to stop.
async fn count(
    _keep_open: crate::setup::Connected,
    mut events: tokio::sync::mpsc::UnboundedReceiver<crate::client::Event>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Tally {
    let mut tally = Tally::default();
    let mut seen = std::collections::HashSet::new();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = stop.changed() => return tally,
        };
        let Some(event) = event else { return tally };
        if event.name != "event" {
            continue;
        }
        let (Some(sent), Some(seq)) = (field_u64(&event.raw, "sent"), field_u64(&event.raw, "seq"))
        else {
            continue;
        };
        if seen.insert(seq) {
            tally.latency.record_us(now_us().saturating_sub(sent));
        } else {
            tally.duplicates += 1;
        }
    }
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
