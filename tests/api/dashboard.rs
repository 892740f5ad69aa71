//! The Grafana dashboard (`k8s/grafana/switchyard-dashboard.json`) asks only for metrics
//! the server exports: every metric name in its PromQL must be on `GET /metrics` of a
//! server that has seen some traffic.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::realtime::publish;
use crate::support::scrape::{Scrape, until};
use crate::support::{Db, TestApp};

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/k8s/grafana/switchyard-dashboard.json"
);

/// Every PromQL text of the dashboard: panel targets (rows included) and variables.
fn queries(dashboard: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for panel in list.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.extend(target["expr"].as_str().map(str::to_owned));
            }
            panels(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dashboard["panels"], &mut out);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let query = &variable["query"];
        out.extend(
            query
                .as_str()
                .or(query["query"].as_str())
                .map(str::to_owned),
        );
    }
    out
}

/// `switchyard_*` names in PromQL, with the histogram suffixes taken off.
fn metric_names(promql: &str) -> BTreeSet<String> {
    promql
        .match_indices("switchyard_")
        .filter(|(at, _)| {
            let before = promql[..*at].chars().next_back();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            let name: String = promql[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .map_or(name.clone(), str::to_owned)
        })
        .collect()
}

#[test]
fn names_are_read_from_promql() {
    let q = "histogram_quantile(0.99, sum by (le) (rate(switchyard_ack_duration_seconds_bucket{a=\"b\"}[5m]))) / x_switchyard_not";
    assert_eq!(
        metric_names(q).into_iter().collect::<Vec<_>>(),
        ["switchyard_ack_duration_seconds"]
    );
}

#[tokio::test]
async fn every_metric_the_dashboard_uses_is_exported() {
    let text = std::fs::read_to_string(DASHBOARD).expect("dashboard file");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let used: BTreeSet<String> = queries(&dashboard)
        .iter()
        .flat_map(|q| metric_names(q))
        .collect();
    assert!(used.len() >= 15, "the dashboard reads {used:?}");

    let app = TestApp::spawn(Db::Sqlite).await;
    let alice = app.connect("/realtime", "alice").await;
    alice
        .emit_ack("subscribe", json!({ "channels": ["public:d"] }))
        .await;
    alice.emit_ack("latency:ping", json!({ "t": 1 })).await;
    alice.emit_ack("no:such:event", json!({})).await;
    publish(&app, "public:d", json!(1), None).await;
    alice.disconnect();
    // The disconnect is counted after the socket is gone.
    let disconnected = |s: &Scrape| s.has("switchyard_disconnects_total", &[("ns", "/realtime")]);
    let exported: BTreeSet<String> = until(&app.url("/metrics"), disconnected)
        .await
        .families()
        .into_iter()
        .collect();
    let missing: Vec<&String> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard uses metrics the server does not export: {missing:?}"
    );
}
