//! Reconnect storm: clients subscribed to a channel with history stay connected until
//! the server drops them all (the script restarts it); each then reconnects with jittered
//! backoff and subscribes with its last position. Reports how long until every client
//! was back and recovered, and whether any publication was lost.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::scan::field_u64;
use crate::setup::Setup;

const CHANNEL: &str = "public:bench-storm";

/// How one client came through the storm.
struct Outcome {
    dropped_at: Option<Instant>,
    back_at: Option<Instant>,
    recovered: Option<bool>,
    attempts: u32,
}

pub struct Storm {
    pub clients: usize,
    /// How long the caller may take to drop the clients.
    pub wait_for_drop: Duration,
    /// How long each client may take to come back after its drop.
    pub deadline: Duration,
    pub ready_file: Option<PathBuf>,
}

pub async fn run(setup: &Setup, storm: Storm) -> Value {
    let started = Instant::now();
    let clients = storm.clients;
    let ready = Arc::new(Ready {
        left: AtomicUsize::new(clients),
        file: storm.ready_file,
    });
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (setup, ready) = (setup.clone(), ready.clone());
            let drop_by = started + storm.wait_for_drop;
            tokio::spawn(async move { ride(&setup, i, drop_by, storm.deadline, &ready).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        if let Ok(outcome) = task.await {
            outcomes.push(outcome);
        }
    }
    let dropped: Vec<&Outcome> = outcomes.iter().filter(|o| o.dropped_at.is_some()).collect();
    let first_drop = dropped.iter().filter_map(|o| o.dropped_at).min();
    let last_back = dropped.iter().filter_map(|o| o.back_at).max();
    let back = dropped.iter().filter(|o| o.back_at.is_some()).count();
    // Seconds from the first drop until each client was back: the curve, not only its end.
    let mut back_after: Vec<f64> = match first_drop {
        Some(first) => dropped
            .iter()
            .filter_map(|o| o.back_at.map(|at| (at - first).as_secs_f64()))
            .collect(),
        None => Vec::new(),
    };
    back_after.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        back_after
            .get(((back_after.len() as f64 * q) as usize).min(back_after.len().saturating_sub(1)))
            .copied()
    };
    json!({
        "mode": "storm",
        "clients": clients,
        "dropped": dropped.len(),
        "back": back,
        "recovered": dropped.iter().filter(|o| o.recovered == Some(true)).count(),
        "not_recovered": dropped.iter().filter(|o| o.recovered == Some(false)).count(),
        "attempts": dropped.iter().map(|o| o.attempts as u64).sum::<u64>(),
        "back_after_seconds": {
            "p50": quantile(0.5), "p90": quantile(0.9), "p99": quantile(0.99),
        },
        "seconds_until_all_back": match (first_drop, last_back) {
            (Some(first), Some(last)) if back == dropped.len() => Some((last - first).as_secs_f64()),
            _ => None,
        },
    })
}

/// Counts the clients still without a channel position; the last one to get one creates
/// the ready file.
struct Ready {
    left: AtomicUsize,
    file: Option<PathBuf>,
}

impl Ready {
    fn positioned(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(file) = &self.file
            && let Err(err) = std::fs::write(file, b"ready\n")
        {
            eprintln!("storm: cannot write {}: {err}", file.display());
        }
    }
}

/// One client: connect, subscribe, wait to be dropped (until `drop_by`), come back.
async fn ride(
    setup: &Setup,
    i: usize,
    drop_by: Instant,
    deadline: Duration,
    ready: &Ready,
) -> Outcome {
    let mut outcome = Outcome {
        dropped_at: None,
        back_at: None,
        recovered: None,
        attempts: 0,
    };
    let user = format!("storm-{i}");
    let Ok(mut c) = connect_retrying(setup, &user, i, drop_by).await else {
        return outcome;
    };
    let mut position: Option<(String, u64)> = None;
    subscribe(&c, &mut position).await;
    let mut events = c.events.take().expect("events");
    let mut counted = false;
    // Follow the channel until the connection ends.
    loop {
        if !counted && position.is_some() {
            ready.positioned();
            counted = true;
        }
        let event = tokio::time::timeout_at(drop_by + deadline, events.recv()).await;
        match event {
            Ok(Some(event)) => track(&event.raw, &mut position),
            Ok(None) => break,
            Err(_) => return outcome,
        }
    }
    let dropped_at = Instant::now();
    outcome.dropped_at = Some(dropped_at);
    let mut backoff = Duration::from_millis(100 + (i as u64 * 7919) % 400);
    while dropped_at.elapsed() < deadline {
        outcome.attempts += 1;
        if let Ok(again) = setup.connect_one(&user, i, true).await {
            outcome.recovered = Some(subscribe(&again, &mut position).await);
            outcome.back_at = Some(Instant::now());
            return outcome;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(3));
    }
    outcome
}

async fn connect_retrying(
    setup: &Setup,
    user: &str,
    i: usize,
    until: Instant,
) -> anyhow::Result<crate::setup::Connected> {
    loop {
        match setup.connect_one(user, i, true).await {
            Ok(c) => return Ok(c),
            Err(err) if Instant::now() > until => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Subscribes from `position` when known; true when the server recovered the gap.
async fn subscribe(c: &crate::setup::Connected, position: &mut Option<(String, u64)>) -> bool {
    let mut body = json!({ "channels": [CHANNEL] });
    if let Some((epoch, offset)) = position.as_ref() {
        body["since"] = json!({ CHANNEL: { "epoch": epoch, "offset": offset } });
    }
    let Some(ack) = c
        .client
        .emit_ack("subscribe", &body, Duration::from_secs(30))
        .await
    else {
        return false;
    };
    let ack: Value = serde_json::from_str(&ack).unwrap_or_default();
    for missed in ack["missed"][CHANNEL].as_array().into_iter().flatten() {
        track(&missed.to_string(), position);
    }
    ack["recovered"][CHANNEL] == json!(true)
}

fn track(raw: &str, position: &mut Option<(String, u64)>) {
    let Some(offset) = field_u64(raw, "offset") else {
        return;
    };
    let epoch = raw
        .split("\"epoch\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    *position = Some((epoch, offset));
}
