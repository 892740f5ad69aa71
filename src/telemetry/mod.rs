//! Logs, traces and metrics. Logs go to stdout as text or JSON (`log_format`), filtered
//! by `RUST_LOG` (default `info`); spans go to OTLP when an `OTEL_*` endpoint is set,
//! filtered by `trace_filter` on their own, so `RUST_LOG=warn` does not silence them.
//! The Prometheus recorder is behind `GET /metrics`. Neither logs nor traces carry
//! Engine.IO session ids (`redact.rs`).

mod json;
pub mod metrics;
mod otel;
mod prometheus;
mod redact;

pub use otel::shutdown;
pub use prometheus::{prometheus, sample_pending_notifications};

use anyhow::Context;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, Settings};

/// Sets up logs and trace export for the process, from `settings` and the environment.
/// Call [`shutdown`] before exiting so buffered spans are sent.
pub fn start(settings: &Settings) -> anyhow::Result<()> {
    let logs = match settings.telemetry.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => json::layer().boxed(),
    }
    .with_filter(log_filter().and(redact::no_session_ids()));
    let traces = match otel::tracer()? {
        Some(tracer) => {
            let filter =
                EnvFilter::try_new(&settings.telemetry.trace_filter).with_context(|| {
                    format!("invalid trace_filter `{}`", settings.telemetry.trace_filter)
                })?;
            let layer = tracing_opentelemetry::layer().with_tracer(tracer);
            Some(layer.with_filter(filter.and(redact::no_session_ids())))
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .context("installing the tracing subscriber")
}

/// Text logs only, for tests that build several applications in one process (a second
/// call keeps the first subscriber).
pub fn init() {
    let logs =
        tracing_subscriber::fmt::layer().with_filter(log_filter().and(redact::no_session_ids()));
    let _ = tracing_subscriber::registry().with(logs).try_init();
}

fn log_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}
