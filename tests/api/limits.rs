//! Rate limits (PROTOCOL.md §2): per socket and event class, answered `rate_limited` with
//! `retryAfterMs`; repeat offenders disconnected and their user kept out, on every node.

use std::time::Duration;

use serde_json::json;
use switchyard_namespaces::limits::{ClassQuota, EventClass};

use crate::cluster::cluster_with;
use crate::support::{Connect, Db, TestApp};

fn presence_get() -> serde_json::Value {
    json!({ "userIds": ["someone"] })
}

#[tokio::test]
async fn an_event_over_its_class_limit_is_refused_with_when_to_retry() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let alice = app.connect("/realtime", "alice").await;
    for _ in 0..5 {
        let ack = alice.emit_ack("presence:get", presence_get()).await;
        assert_eq!(ack["ok"], json!(true), "{ack}");
    }
    let refused = alice.emit_ack("presence:get", presence_get()).await;
    assert_eq!(refused["error"]["code"], json!("rate_limited"), "{refused}");
    let retry = refused["error"]["retryAfterMs"]
        .as_u64()
        .expect("retryAfterMs");
    assert!(
        (1..=12_000).contains(&retry),
        "5/min: one more within 12 s: {retry}"
    );
    let other = alice.emit_ack("latency:ping", json!({ "t": 1 })).await;
    assert_eq!(
        other["ok"],
        json!(true),
        "other classes and the connection go on"
    );
    let bob = app.connect("/realtime", "bob").await;
    let ack = bob.emit_ack("presence:get", presence_get()).await;
    assert_eq!(ack["ok"], json!(true), "limits are per socket");
}

#[tokio::test]
async fn quotas_come_from_the_settings() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.limits.quotas = vec![ClassQuota {
            class: EventClass::All,
            per_minute: 3,
            burst: None,
        }];
    })
    .await;
    let alice = app.connect("/realtime", "alice").await;
    for _ in 0..3 {
        let ack = alice.emit_ack("latency:ping", json!({ "t": 1 })).await;
        assert_eq!(ack["ok"], json!(true));
    }
    let refused = alice.emit_ack("latency:ping", json!({ "t": 1 })).await;
    assert_eq!(refused["error"]["code"], json!("rate_limited"));
    // Unknown events count too, and are refused for the rate before their name.
    let unknown = alice.emit_ack("no:such", json!({})).await;
    assert_eq!(unknown["error"]["code"], json!("rate_limited"));
}

#[tokio::test]
async fn a_repeat_offender_is_disconnected_and_kept_out_of_every_node_for_a_while() {
    let (a, b) = cluster_with(|s| s.limits.block_for = std::time::Duration::from_secs(2)).await;
    let mut mallory = a.connect("/realtime", "mallory").await;
    let bystander = a.connect("/realtime", "bystander").await;
    for _ in 0..5 {
        mallory.emit_ack("presence:get", presence_get()).await;
    }
    for n in 1..=5 {
        let refused = mallory.emit_ack("presence:get", presence_get()).await;
        assert_eq!(
            refused["error"]["code"],
            json!("rate_limited"),
            "violation {n}"
        );
    }
    assert!(
        mallory
            .within("disconnect", Duration::from_secs(2))
            .await
            .is_some(),
        "the fifth violation in a minute disconnects"
    );
    for node in [&a, &b] {
        let again = node
            .try_connect(
                "/realtime",
                Connect {
                    auth: Some(json!({ "token": node.token("mallory") })),
                    ..Connect::default()
                },
            )
            .await;
        assert_eq!(
            again.err().as_deref(),
            Some("rate_limited"),
            "blocked everywhere"
        );
    }
    let ack = bystander.emit_ack("presence:get", presence_get()).await;
    assert_eq!(ack["ok"], json!(true), "others are served meanwhile");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let back = b.connect("/realtime", "mallory").await;
    let ack = back.emit_ack("latency:ping", json!({ "t": 1 })).await;
    assert_eq!(ack["ok"], json!(true), "let back in once the block ends");
}
