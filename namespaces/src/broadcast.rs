//! Emits to rooms, counted and traced alike wherever they happen.

use std::future::Future;

use tracing::Instrument;

/// Runs `emit` (an emit to rooms of `ns`) in a `broadcast` span and counts it.
pub async fn broadcast<F: Future>(ns: &'static str, event: &'static str, emit: F) -> F::Output {
    crate::metrics::broadcast(ns, event);
    emit.instrument(tracing::info_span!("broadcast", ns, event))
        .await
}
