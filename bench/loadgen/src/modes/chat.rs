//! Chat through `/ws`: pairs of users, one conversation each; senders send `message:send`
//! on a fixed schedule (offered total rate), receivers account for every message and the
//! latency from when it was due to when `message:new` arrived. Every message is stored
//! before it is delivered, so this measures the store too.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::scan::field_u64;
use crate::setup::Setup;
use crate::stats::{Latency, now_us};

pub async fn run(setup: &Setup, pairs: usize, rate: f64, duration: Duration) -> Value {
    let mut setup = setup.clone();
    setup.ns = "/ws".into();
    let (senders, sender_failures) = setup.connect_many("chat-a", pairs, false).await;
    let (receivers, receiver_failures) = setup.connect_many("chat-b", pairs, true).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tallies = Vec::new();
    let mut conversations = Vec::new();
    for (i, (a, mut b)) in senders.into_iter().zip(receivers).enumerate() {
        let create = json!({ "participantIds": [format!("chat-b-{i}")] });
        let ack = a
            .client
            .emit_ack("conversation:create", &create, Duration::from_secs(30))
            .await;
        let Some(id) = ack.as_deref().and_then(conversation_id) else {
            eprintln!("conversation {i} not created: {ack:?}");
            continue;
        };
        let events = b.events.take().expect("events");
        tallies.push(tokio::spawn(count(b, events, stopped.clone())));
        conversations.push((a, id));
    }
    let per_sender = Duration::from_secs_f64(conversations.len() as f64 / rate.max(0.001));
    let start = Instant::now() + Duration::from_millis(200);
    let total = conversations.len().max(1);
    let sends: Vec<_> = conversations
        .into_iter()
        .enumerate()
        .map(|(i, (a, id))| {
            let offset = per_sender.mul_f64(i as f64 / total as f64);
            tokio::spawn(async move {
                let (mut ok, mut failed, mut seq) = (0u64, 0u64, 0u64);
                let mut due = start + offset;
                while due < start + duration {
                    tokio::time::sleep_until(due).await;
                    seq += 1;
                    let sent = now_us() - due.elapsed().as_micros() as u64;
                    let body = json!({
                        "conversationId": id,
                        "clientMsgId": format!("m{seq}"),
                        "content": format!("{{\"sent\":{sent},\"seq\":{seq}}}"),
                    });
                    match a
                        .client
                        .emit_ack("message:send", &body, Duration::from_secs(10))
                        .await
                    {
                        Some(ack) if ack.contains("\"ok\":true") => ok += 1,
                        _ => failed += 1,
                    }
                    due += per_sender;
                }
                (ok, failed)
            })
        })
        .collect();
    let (mut stored, mut failed) = (0, 0);
    for task in sends {
        if let Ok((ok, bad)) = task.await {
            stored += ok;
            failed += bad;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop.send(true);
    let mut latency = Latency::default();
    for t in tallies {
        if let Ok(l) = t.await {
            latency.merge(&l);
        }
    }
    json!({
        "mode": "chat",
        "pairs": pairs,
        "connect_failures": sender_failures + receiver_failures,
        "offered_messages_per_second": rate,
        "stored": stored,
        "send_failures": failed,
        "delivered": latency.count(),
        "lost": stored.saturating_sub(latency.count()),
        "latency": latency.summary(),
    })
}

fn conversation_id(ack: &str) -> Option<String> {
    let v: Value = serde_json::from_str(ack).ok()?;
    v["conversation"]["id"].as_str().map(str::to_owned)
}

async fn count(
    keep_open: crate::setup::Connected,
    mut events: tokio::sync::mpsc::UnboundedReceiver<crate::client::Event>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Latency {
    let mut latency = Latency::default();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = stop.changed() => break,
        };
        let Some(event) = event else { break };
        if event.name != "message:new" {
            continue;
        }
        // The content is JSON text inside JSON: its quotes arrive escaped.
        let raw = event.raw.replace("\\\"", "\"");
        if let Some(sent) = field_u64(&raw, "sent") {
            latency.record_us(now_us().saturating_sub(sent));
        }
    }
    drop(keep_open);
    latency
}
