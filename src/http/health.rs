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
        .route("/metrics", get(metrics))
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
/// or is shutting down must not take new traffic.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    if state.drain.is_draining() {
        return Err(AppError::Unavailable("draining".into()));
    }
    state.db.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness: database unreachable");
        AppError::Unavailable("database unreachable".into())
    })?;
    if let Some(redis) = &state.redis {
        redis.ping().await.map_err(|err| {
            tracing::warn!(error = %err, "readiness: Redis unreachable");
            AppError::Unavailable("Redis unreachable".into())
        })?;
    }
    let redis = if state.redis.is_some() {
        "ok"
    } else {
        "not used"
    };
    Ok(Json(
        json!({ "status": "ready", "database": "ok", "redis": redis }),
    ))
}
