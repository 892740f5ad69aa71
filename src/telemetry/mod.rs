//! Logging, a `tracing` subscriber filtered by `RUST_LOG` (default `info`), and the
//! Prometheus recorder behind `GET /metrics`.

mod prometheus;

pub use prometheus::{prometheus, sample_pending_notifications};

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests build several applications) keeps the first subscriber.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
