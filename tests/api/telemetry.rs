//! Traces by OTLP and JSON logs, from the real binary (a process has one tracing
//! subscriber): spans reach a collector the test runs, even under `RUST_LOG=warn`; an
//! HTTP `traceparent` continues the caller's trace; JSON log lines carry its trace id.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::otlp::Collector;
use crate::support::process::{Gateway, listening_addr, token};
use crate::support::{Connect, SioClient};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

async fn post(gateway: &Gateway, path: &str, body: Value) -> u16 {
    reqwest::Client::new()
        .post(gateway.url(path))
        .bearer_auth(token("backend", &["service"]))
        .header("traceparent", traceparent())
        .json(&body)
        .send()
        .await
        .expect("response")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_and_http_continues_the_callers_trace() {
    let collector = Collector::start().await;
    let mut gateway = Gateway::spawn(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.clone()),
            ("OTEL_SERVICE_NAME", "switchyard-test".into()),
            // Only the address line is logged; spans must be exported all the same.
            ("RUST_LOG", "warn,switchyard::cli=info".into()),
        ],
        listening_addr,
    );
    let body = json!({ "channel": "public:otel", "event": "e", "data": {} });
    assert_eq!(post(&gateway, "/api/v1/publish", body).await, 202);
    let opts = Connect {
        auth: Some(json!({ "token": token("alice", &[]) })),
        ..Connect::default()
    };
    let alice = SioClient::connect(&gateway.addr, "/realtime", opts)
        .await
        .expect("connects");
    let pong = alice.emit_ack("latency:ping", json!({ "t": 1 })).await;
    assert_eq!(pong["ok"], json!(true));
    alice.disconnect();
    // Shutdown flushes the spans still buffered (the batch delay is 5 s).
    tokio::task::block_in_place(|| gateway.stop());
    let wait = Duration::from_secs(5);
    let http = collector
        .find(wait, |s| s.name == "POST /api/v1/publish")
        .await;
    assert_eq!(
        (http.trace_id.as_str(), http.parent_span_id.as_str()),
        (TRACE_ID, PARENT_ID)
    );
    assert_eq!(http.attributes["http.route"], "/api/v1/publish");
    assert_eq!(http.attributes["http.response.status_code"], "202");
    assert_eq!(http.service, "switchyard-test");
    let publish = collector.find(wait, |s| s.name == "publish").await;
    assert_eq!(publish.trace_id, TRACE_ID);
    assert_eq!(publish.parent_span_id, http.span_id);
    let broadcast = collector.find(wait, |s| s.name == "broadcast").await;
    assert_eq!(broadcast.parent_span_id, publish.span_id);
    assert_eq!(broadcast.attributes["event"], "event");
    let ping = collector
        .find(wait, |s| {
            s.attributes.get("event").map(String::as_str) == Some("latency:ping")
        })
        .await;
    assert_eq!(ping.attributes["ns"], "/realtime");
    assert_eq!(ping.attributes["user"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_trace_id() {
    let collector = Collector::start().await;
    let mut gateway = Gateway::spawn(
        &[
            ("SWITCHYARD_LOG_FORMAT", "json".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.clone()),
            // sqlx logs each statement at debug, inside the store call's span.
            ("RUST_LOG", "info,sqlx::query=debug".into()),
        ],
        |line| {
            let v: Value = serde_json::from_str(line).ok()?;
            v["fields"]["addr"].as_str().map(str::to_owned)
        },
    );
    let body = json!({ "userIds": ["bob"], "type": "t", "title": "T", "body": "B" });
    assert_eq!(post(&gateway, "/api/v1/notifications", body).await, 202);
    tokio::task::block_in_place(|| gateway.stop());
    let lines = gateway.lines.lock().expect("lines").clone();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        parsed
            .iter()
            .all(|v| v["level"].is_string() && v["timestamp"].is_string())
    );
    let traced = parsed
        .iter()
        .find(|v| v["trace_id"] == json!(TRACE_ID))
        .unwrap_or_else(|| panic!("no line with the trace id in {lines:#?}"));
    assert!(traced["span_id"].as_str().is_some_and(|s| s.len() == 16));
    assert!(traced["spans"].as_array().is_some_and(|s| !s.is_empty()));
    // The store call is a span of its own in the caller's trace.
    let stored = collector
        .find(Duration::from_secs(5), |s| {
            s.name == "db.create_notification"
        })
        .await;
    assert_eq!(stored.trace_id, TRACE_ID);
}
