//! Ack round trips: every connection sends `latency:ping` on a fixed schedule; latency is
//! measured from when each ping was due, so a stalled server shows up as latency rather
//! than as fewer samples (no coordinated omission).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::setup::Setup;
use crate::stats::Latency;

pub async fn run(setup: &Setup, connections: usize, rate: f64, duration: Duration) -> Value {
    let (clients, failures) = setup.connect_many("ping", connections, false).await;
    let per_client = Duration::from_secs_f64(clients.len() as f64 / rate.max(0.001));
    let start = Instant::now() + Duration::from_millis(200);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            // Spread the first pings over one interval so they do not all fire at once.
            let offset = per_client.mul_f64(i as f64 / connections.max(1) as f64);
            tokio::spawn(async move {
                let mut latency = Latency::default();
                let (mut sent, mut lost) = (0u64, 0u64);
                let mut due = start + offset;
                while due < start + duration {
                    tokio::time::sleep_until(due).await;
                    sent += 1;
                    let body = json!({ "t": sent });
                    match c
                        .client
                        .emit_ack("latency:ping", &body, Duration::from_secs(10))
                        .await
                    {
                        Some(_) => latency.record_us(due.elapsed().as_micros() as u64),
                        None => lost += 1,
                    }
                    due += per_client;
                }
                (latency, sent, lost)
            })
        })
        .collect();
    let mut all = Latency::default();
    let (mut sent, mut lost) = (0, 0);
    for task in tasks {
        if let Ok((latency, s, l)) = task.await {
            all.merge(&latency);
            sent += s;
            lost += l;
        }
    }
    json!({
        "mode": "ping",
        "connections": connections,
        "connect_failures": failures,
        "offered_per_second": rate,
        "sent": sent,
        "unanswered": lost,
        "acks_per_second": all.count() as f64 / duration.as_secs_f64(),
        "latency": all.summary(),
    })
}
