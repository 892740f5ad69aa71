//! Emits to rooms, counted and traced alike wherever they happen.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::IgnoredAny;
use socketioxide::ack::AckStream;
use socketioxide::adapter::Adapter;
use socketioxide::operators::BroadcastOperators;
use tracing::Instrument;

use crate::emit::Emit;

static IN_BACKGROUND: AtomicU64 = AtomicU64::new(0);

/// Emits `payload` to the sockets `to` selects on `ns`, counted and traced. A failure
/// means the adapter could not reach its peers and the event is lost for them, which the
/// log must show.
pub async fn emit_to<A: Adapter, E: Emit>(
    to: BroadcastOperators<A>,
    ns: &'static str,
    payload: &E,
) {
    if let Err(err) = broadcast(ns, E::EVENT, to.emit(E::EVENT, payload)).await {
        tracing::warn!(ns, event = E::EVENT, error = %err, "broadcast failed");
    }
}

/// [`emit_to`], asking every socket for an ack: the acks as they come, or `None` when the
/// emit failed (logged). Any answer counts as an ack, so its content is not decoded.
pub async fn emit_with_ack_to<A: Adapter, E: Emit>(
    to: BroadcastOperators<A>,
    ns: &'static str,
    payload: &E,
) -> Option<AckStream<IgnoredAny, A>> {
    let emit = to.emit_with_ack::<_, IgnoredAny>(E::EVENT, payload);
    match broadcast(ns, E::EVENT, emit).await {
        Ok(acks) => Some(acks),
        Err(err) => {
            tracing::warn!(ns, event = E::EVENT, error = %err, "broadcast failed");
            None
        }
    }
}

/// Runs `emit` (an emit to rooms of `ns`) in a `broadcast` span and counts it.
async fn broadcast<F: Future>(ns: &'static str, event: &'static str, emit: F) -> F::Output {
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
