//! Stopping: wait for a signal, then close the Socket.IO side ourselves, because axum's
//! graceful shutdown does not end upgraded WebSocket connections.

use std::future::Future;

use socketioxide::SocketIo;

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

/// Waits for `stop`, then disconnects every socket so the HTTP server can finish.
pub async fn close_sockets_after(stop: impl Future<Output = ()>, io: SocketIo) {
    stop.await;
    tracing::info!("shutting down: closing all sockets");
    io.close().await;
}
