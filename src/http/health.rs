//! Liveness and readiness for load balancers and Kubernetes probes.

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

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers; a node that cannot store must not take traffic.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    state.db.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness: database unreachable");
        AppError::Unavailable("database unreachable".into())
    })?;
    Ok(Json(json!({ "status": "ready", "database": "ok" })))
}
