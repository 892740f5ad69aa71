//! Emits to rooms, counted and traced alike wherever they happen.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Instrument;

static IN_BACKGROUND: AtomicU64 = AtomicU64::new(0);

/// Runs `emit` (an emit to rooms of `ns`) in a `broadcast` span and counts it.
pub async fn broadcast<F: Future>(ns: &'static str, event: &'static str, emit: F) -> F::Output {
    crate::metrics::broadcast(ns, event);
    emit.instrument(tracing::info_span!("broadcast", ns, event))
        .await
}

/// Broadcasts running in tasks of their own that have not finished: a draining node waits
/// for zero before it closes the namespaces they go out through.
pub fn background_broadcasts() -> u64 {
    IN_BACKGROUND.load(Ordering::SeqCst)
}

/// Counts one background broadcast for as long as it lives; moved into its task.
pub(crate) struct InBackground;

impl InBackground {
    pub(crate) fn start() -> Self {
        IN_BACKGROUND.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for InBackground {
    fn drop(&mut self) {
        IN_BACKGROUND.fetch_sub(1, Ordering::SeqCst);
    }
}
