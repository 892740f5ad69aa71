//! `/api/v1`: the routes back-end services and admins call (PROTOCOL.md §6).

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_namespaces::notifications::payloads::BodyText;
use switchyard_namespaces::presence::PresenceAnswer;
use switchyard_namespaces::realtime::PublishAck;
use switchyard_namespaces::realtime::outgoing::UsersPresence;
use switchyard_namespaces::realtime::payloads::{PresenceUsers, Publish};
use switchyard_namespaces::wire::Title;
use switchyard_namespaces::{emit, notifications};

use super::{AppError, AppState, JsonBody};
use crate::auth::Caller;

pub fn routes(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/publish", post(publish))
        .route("/notifications", post(create_notifications))
        .route("/presence/{user_id}", get(presence_of))
        .route("/presence/query", post(presence_query))
        .route("/stats", get(stats))
        .route("/announce", post(announce))
        .route("/users/{user_id}/disconnect", post(disconnect_user))
        .merge(super::conversations::routes())
        .route_layer(axum::middleware::from_fn(super::trace::span_per_request))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// The body of `POST /announce`; public for the fuzz targets in `fuzz/`. Title and body
/// have a notification's limits; `data` only the body limit (the payload maximum).
#[doc(hidden)]
#[derive(Debug, Deserialize)]
pub struct Announcement {
    pub title: Title,
    pub body: BodyText,
    #[serde(default)]
    pub data: Option<Value>,
}

/// `announcement` to every socket of every namespace.
async fn announce(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(a): JsonBody<Announcement>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    caller.require_any(&["admin"])?;
    let ts = switchyard_namespaces::ports::Clock::now_ms(
        &switchyard_namespaces::ports::SystemClock::new(),
    );
    let event = emit::Announcement {
        title: a.title.into_string(),
        body: a.body.0,
        data: a.data,
        ts,
    };
    let broadcaster = state.realtime.broadcaster();
    state.gateway.announce(broadcaster, &event).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// Closes every socket of the user on every namespace.
async fn disconnect_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    caller.require_any(&["admin"])?;
    state.gateway.disconnect_user(&user_id).await?;
    Ok(Json(json!({})))
}

/// A publication to a `/realtime` channel, for back-end services.
async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<Publish>,
) -> Result<(StatusCode, Json<PublishAck>), AppError> {
    caller.require_any(&["service"])?;
    let ack = state.gateway.publish(&state.realtime, req).await?;
    Ok((StatusCode::ACCEPTED, Json(ack)))
}

async fn presence_of(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<PresenceAnswer<UsersPresence>>, AppError> {
    caller.require_any(&["service"])?;
    let presence = state.realtime.presence();
    let users = presence.views(&[user_id]).await;
    Ok(Json(presence.answer(UsersPresence::of(users))))
}

async fn presence_query(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<PresenceUsers>,
) -> Result<Json<PresenceAnswer<UsersPresence>>, AppError> {
    caller.require_any(&["service"])?;
    let presence = state.realtime.presence();
    let users = presence.views(&req.user_ids.0).await;
    Ok(Json(presence.answer(UsersPresence::of(users))))
}

/// Connections and rooms per namespace on this node, the `/realtime` subscriptions its
/// sockets hold, and events per second.
async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    caller.require_any(&["admin"])?;
    let (mut connections, mut rooms) = (serde_json::Map::new(), serde_json::Map::new());
    for ns in state.gateway.counts().await? {
        connections.insert(ns.path.clone(), json!(ns.connections));
        rooms.insert(ns.path, json!(ns.rooms));
    }
    Ok(Json(json!({
        "node": state.node_id,
        "namespaces": state.gateway.namespace_count(),
        "sessions": state.caps.open(),
        "connections": connections,
        "rooms": rooms,
        "subscriptions": state.realtime.presence().registry().local_subscriptions(),
        "eventsPerSecond": state.event_rate.per_second(),
    })))
}

/// One notification per user, delivered live, kept pending, or pushed.
async fn create_notifications(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<notifications::payloads::Create>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    caller.require_any(&["service"])?;
    let ids = state.gateway.notify(&state.notifications, req).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "ids": ids }))))
}
