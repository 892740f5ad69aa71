//! `/api/v1`: the routes back-end services and admins call (PROTOCOL.md §6).

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_namespaces::rooms::user_room;

use super::{AppError, AppState, JsonBody};
use crate::auth::Caller;

pub fn routes(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/announce", post(announce))
        .route("/users/{user_id}/disconnect", post(disconnect_user))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

#[derive(Debug, Deserialize)]
struct Announcement {
    title: String,
    body: String,
    #[serde(default)]
    data: Option<Value>,
}

/// `announcement` to every socket of every namespace.
async fn announce(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(a): JsonBody<Announcement>,
) -> Result<(axum::http::StatusCode, Json<Value>), AppError> {
    caller.require_any(&["admin"])?;
    let ts =
        switchyard_namespaces::ports::Clock::now_ms(&switchyard_namespaces::ports::SystemClock);
    let event = json!({ "title": a.title, "body": a.body, "data": a.data, "ts": ts });
    for ns in state.io.nsps() {
        ns.emit("announcement", &event)
            .await
            .map_err(|e| anyhow::anyhow!("announce failed: {e}"))?;
    }
    Ok((axum::http::StatusCode::ACCEPTED, Json(json!({}))))
}

/// Closes every socket of the user on every namespace.
async fn disconnect_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    caller.require_any(&["admin"])?;
    for ns in state.io.nsps() {
        ns.within(user_room(&user_id))
            .disconnect()
            .await
            .map_err(|e| anyhow::anyhow!("disconnect failed: {e}"))?;
    }
    Ok(Json(json!({})))
}
