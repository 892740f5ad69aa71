//! Soak: mixed traffic with churn against one node for a long time, sampling the server's
//! resident memory and open descriptors. Connections are replaced continuously, pings and
//! publications flow at fixed rates; after a warm-up, neither memory nor descriptors may
//! keep growing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::setup::{Connected, Setup};
use crate::stats::{open_fds, rss_bytes};

const CHANNEL: &str = "public:bench-soak";

type Clients = Arc<Mutex<Vec<Arc<Connected>>>>;

pub struct Soak {
    pub connections: usize,
    pub churn_per_second: usize,
    pub pings_per_second: f64,
    pub publications_per_second: f64,
    pub duration: Duration,
    pub warmup: Duration,
    pub server_pid: u32,
}

pub async fn run(setup: &Setup, soak: Soak) -> Value {
    let (clients, failures) = setup.connect_many("soak", soak.connections, false).await;
    for c in &clients {
        subscribe(c).await;
    }
    let clients: Clients = Arc::new(Mutex::new(clients.into_iter().map(Arc::new).collect()));
    let end = Instant::now() + soak.duration;
    let churn = tokio::spawn(churn(
        setup.clone(),
        clients.clone(),
        soak.churn_per_second,
        end,
    ));
    let pings = tokio::spawn(ping(clients.clone(), soak.pings_per_second, end));
    let publisher = tokio::spawn(publish(setup.clone(), soak.publications_per_second, end));
    let samples = sample(soak.server_pid, end).await;
    let replaced = churn.await.unwrap_or(0);
    let (pinged, unanswered) = pings.await.unwrap_or((0, 0));
    let published = publisher.await.unwrap_or(0);
    json!({
        "mode": "soak",
        "connections": soak.connections,
        "connect_failures": failures,
        "replaced_connections": replaced,
        "pings": pinged,
        "unanswered_pings": unanswered,
        "publications": published,
        "growth_after_warmup": growth(&samples, soak.warmup),
        "samples": samples.iter().map(|s| json!([s.0, s.1, s.2])).collect::<Vec<_>>(),
    })
}

async fn subscribe(c: &Connected) {
    let body = json!({ "channels": [CHANNEL] });
    let _ = c
        .client
        .emit_ack("subscribe", &body, Duration::from_secs(30))
        .await;
}

/// Replaces `per_second` connections every second, oldest first.
async fn churn(setup: Setup, clients: Clients, per_second: usize, end: Instant) -> u64 {
    let mut replaced = 0u64;
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < end {
        tick.tick().await;
        for _ in 0..per_second {
            let len = clients.lock().await.len();
            if len == 0 {
                break;
            }
            let i = next % len;
            next += 1;
            // The same users come back, as real clients do.
            let user = format!("soak-{i}");
            let Ok(fresh) = setup.connect_one(&user, i, false).await else {
                continue;
            };
            subscribe(&fresh).await;
            let old = std::mem::replace(&mut clients.lock().await[i], Arc::new(fresh));
            old.client.close();
            replaced += 1;
        }
    }
    replaced
}

async fn ping(clients: Clients, per_second: f64, end: Instant) -> (u64, u64) {
    let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
    let (mut sent, mut unanswered, mut i) = (0u64, 0u64, 0usize);
    let mut due = Instant::now();
    while due < end {
        tokio::time::sleep_until(due).await;
        let target = {
            let guard = clients.lock().await;
            if guard.is_empty() {
                break;
            }
            guard[i % guard.len()].clone()
        };
        let body = json!({ "t": sent });
        let answered = target
            .client
            .emit_ack("latency:ping", &body, Duration::from_secs(5))
            .await
            .is_some();
        sent += 1;
        unanswered += u64::from(!answered);
        i += 1;
        due += interval;
    }
    (sent, unanswered)
}

async fn publish(setup: Setup, per_second: f64, end: Instant) -> u64 {
    let http = reqwest::Client::new();
    let token = setup.token("soak-publisher", &["service"]);
    let url = format!("{}/api/v1/publish", setup.http);
    let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
    let (mut published, mut due) = (0u64, Instant::now());
    while due < end {
        tokio::time::sleep_until(due).await;
        let body = json!({ "channel": CHANNEL, "event": "tick", "data": { "n": published } });
        let res = http.post(&url).bearer_auth(&token).json(&body).send().await;
        published += u64::from(res.is_ok_and(|r| r.status().is_success()));
        due += interval;
    }
    published
}

/// (seconds since start, RSS bytes, open fds) every 10 s until `end`.
async fn sample(pid: u32, end: Instant) -> Vec<(u64, u64, usize)> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    while Instant::now() < end {
        tick.tick().await;
        let (Some(rss), Some(fds)) = (rss_bytes(pid), open_fds(pid)) else {
            break;
        };
        let at = start.elapsed().as_secs();
        eprintln!(
            "soak t={at}s rss={:.1}MiB fds={fds}",
            rss as f64 / 1048576.0
        );
        samples.push((at, rss, fds));
    }
    samples
}

/// Growth from the first sample after `warmup` to the largest one after it.
fn growth(samples: &[(u64, u64, usize)], warmup: Duration) -> Value {
    let after: Vec<&(u64, u64, usize)> =
        samples.iter().filter(|s| s.0 >= warmup.as_secs()).collect();
    let Some(first) = after.first() else {
        return Value::Null;
    };
    let max_rss = after.iter().map(|s| s.1).max().unwrap_or(first.1);
    let max_fds = after.iter().map(|s| s.2).max().unwrap_or(first.2);
    let last = after.last().unwrap_or(first);
    json!({
        "rss_at_warmup": first.1,
        "rss_max_after": max_rss,
        "rss_last": last.1,
        "rss_growth_pct": (max_rss as f64 - first.1 as f64) * 100.0 / first.1.max(1) as f64,
        "fds_at_warmup": first.2,
        "fds_max_after": max_fds,
    })
}
