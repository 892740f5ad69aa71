//! Stopping gracefully: on SIGTERM the node turns not-ready, refuses new connections with
//! `server_draining`, tells every socket `server:draining {reconnectInMs}` with a jittered
//! delay (so a pod's clients do not all reconnect at once), waits for them to leave and for
//! in-flight events to finish, forgets the sockets still open in the cluster's presence,
//! then closes the Socket.IO side itself, because axum's graceful shutdown does not end
//! upgraded WebSocket connections.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State};
use switchyard_namespaces::broadcast::background_broadcasts;
use switchyard_namespaces::incoming::events_in_flight;
use switchyard_namespaces::presence::Presence;

use crate::gateway::Gateway;

/// What the end of a drain keeps of the grace period: forgetting the sockets left in the
/// cluster's presence (and telling others), then closing them and flushing.
const FORGET_WITHIN: Duration = Duration::from_secs(1);
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// Whether this node is draining; shared by readiness, the connect middleware and the
/// shutdown sequence.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    draining: Arc<AtomicBool>,
}

impl Drain {
    pub fn start(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// The timings of a drain.
#[derive(Debug, Clone, Copy)]
pub struct DrainConfig {
    /// Everything after the signal must be done within this.
    pub grace: Duration,
    /// Clients are told to reconnect somewhere between now and this much later.
    pub reconnect_spread: Duration,
}

/// The refusal of [`refuse_while_draining`]; its text is the wire code.
#[derive(Debug, thiserror::Error)]
#[error("server_draining")]
pub struct Draining;

/// Connect middleware, run before authentication on every namespace.
pub async fn refuse_while_draining<A: Adapter>(
    _: SocketRef<A>,
    State(drain): State<Drain>,
) -> Result<(), Draining> {
    if drain.is_draining() {
        Err(Draining)
    } else {
        Ok(())
    }
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Waits for `stop`, drains, then disconnects every socket so the HTTP server can finish.
pub async fn drain_after(
    stop: impl Future<Output = ()>,
    gateway: Arc<dyn Gateway>,
    presence: Presence,
    drain: Drain,
    config: DrainConfig,
) {
    stop.await;
    drain.start();
    let sockets = gateway.tell_draining(config.reconnect_spread);
    tracing::info!(sockets, "draining: clients told to reconnect elsewhere");
    let budget = config
        .grace
        .saturating_sub(FORGET_WITHIN)
        .saturating_sub(CLOSE_WITHIN);
    let wait_for_clients = (config.reconnect_spread + Duration::from_secs(1)).min(budget);
    wait_until(|| gateway.open_sockets() == 0, wait_for_clients).await;
    wait_until(
        || events_in_flight() == 0,
        budget.saturating_sub(wait_for_clients),
    )
    .await;
    tracing::info!(
        left = gateway.open_sockets(),
        "closing the remaining sockets"
    );
    forget_sockets(&presence).await;
    gateway.close().await;
}

/// Unregisters this node's sockets from presence while the namespaces can still tell
/// watchers on other nodes: the disconnect handlers of the sockets `close` ends do not
/// finish before the process exits, which left them online until their entries expired.
async fn forget_sockets(presence: &Presence) {
    let forgotten = tokio::time::timeout(FORGET_WITHIN, async {
        let sockets = presence.close_local_sockets().await;
        wait_until(|| background_broadcasts() == 0, FORGET_WITHIN).await;
        sockets
    })
    .await;
    match forgotten {
        Ok(sockets) => tracing::info!(sockets, "sockets forgotten in presence"),
        Err(_) => tracing::warn!(
            "presence not updated in time; the rest of this node's sockets expire by themselves"
        ),
    }
}

async fn wait_until(mut done: impl FnMut() -> bool, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
