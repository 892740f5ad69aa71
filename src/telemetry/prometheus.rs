//! The Prometheus recorder behind `GET /metrics`: histograms with real buckets, every
//! metric described, the series with known labels created at zero, and the gauge of
//! pending notifications sampled from the database.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchyard_namespaces::metrics as names;
use switchyard_namespaces::ports::{Clock, SystemClock};

use super::metrics as infra;
use crate::integration::hooks::metrics as hooks;
use crate::store::Database;

/// How often the pending-notifications gauge is read from the database.
const PENDING_EVERY: Duration = Duration::from_secs(15);

/// The process-wide recorder, installed on first use (a process has one recorder, however
/// many applications tests build in it).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = names::HISTOGRAMS
            .iter()
            .chain(infra::HISTOGRAMS)
            .chain(hooks::HISTOGRAMS)
            .try_fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
                builder.set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
            })
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "histogram buckets refused; rendering summaries");
                PrometheusBuilder::new()
            })
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        names::describe();
        infra::describe();
        hooks::describe();
        names::register_known_series(switchyard_namespaces::paths());
        infra::register_known_series();
        hooks::register_known_series();
        handle
    })
}

/// Keeps [`infra::NOTIFICATIONS_PENDING`] current. The count is of the whole database, so
/// every node of a cluster reports the same number (aggregate it with `max`).
pub async fn sample_pending_notifications(db: Database) {
    let clock = SystemClock::new();
    let mut tick = tokio::time::interval(PENDING_EVERY);
    loop {
        tick.tick().await;
        match db.pending_notifications(clock.now_ms()).await {
            Ok(count) => metrics::gauge!(infra::NOTIFICATIONS_PENDING).set(count as f64),
            Err(err) => {
                metrics::counter!(infra::DB_ERRORS_TOTAL).increment(1);
                tracing::warn!(error = %err, "pending notifications not counted");
            }
        }
    }
}
