//! Liveness and readiness for load balancers and Kubernetes probes, and the Prometheus
//! scrape endpoint.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

/// `GET /metrics`, on the main listener or on its own (`metrics_bind`).
pub fn metrics_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/metrics", get(metrics))
}

/// `/metrics` alone on its own listener, until the task is aborted.
pub fn serve_metrics(listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
    }
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, metrics_routes::<()>()).await {
            tracing::error!(error = %err, "metrics listener failed");
        }
    })
}

/// Prometheus text format.
async fn metrics() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let handle = crate::telemetry::prometheus();
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and the node is not draining; a node that cannot store
/// or is shutting down must not take new traffic. Redis is shared by every node: were it
/// part of readiness, its outage would take every pod out of the Service at once, while a
/// node without it still serves in degraded mode. Its state is reported, not judged (and
/// is the `switchyard_redis_up` gauge).
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    if state.drain.is_draining() {
        return Err(AppError::Unavailable("draining".into()));
    }
    state.db.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness: database unreachable");
        AppError::Unavailable("database unreachable".into())
    })?;
    let redis = match &state.redis {
        None => "not used",
        Some(redis) if redis.link().is_up() => "ok",
        Some(_) => "degraded",
    };
    Ok(Json(
        json!({ "status": "ready", "database": "ok", "redis": redis }),
    ))
}
