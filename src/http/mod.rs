//! The HTTP side: health, the `/api/v1` routes, and one [`AppError`] that turns every
//! failure into `{error: {code, message}}` with the matching status.

mod api;
mod conversations;
mod demo;
mod error;
pub mod guard;
mod health;
mod own_head;
mod stats;
mod trace;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use switchyard_namespaces::notifications::NotificationsState;
use switchyard_namespaces::realtime::RealtimeState;
use switchyard_namespaces::ws::ChatApi;

use crate::auth::TokenVerifier;
use crate::gateway::Gateway;
use crate::store::Database;
#[doc(hidden)]
pub use api::Announcement;
pub use error::{AppError, JsonBody};
pub use health::{metrics_routes, serve_metrics};
pub use own_head::own_socket_io_head;
pub use stats::EventRate;

/// What HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub verifier: Arc<TokenVerifier>,
    pub gateway: Arc<dyn Gateway>,
    /// Set in cluster mode: readiness checks Redis too.
    pub redis: Option<crate::cluster::redis::RedisHealth>,
    pub db: Database,
    pub realtime: RealtimeState,
    pub notifications: NotificationsState,
    /// `/ws`'s conversations and messages, for the HTTP API.
    pub chat: Arc<dyn ChatApi>,
    pub event_rate: Arc<EventRate>,
    /// Engine.IO sessions of this node under the connection caps (stats).
    pub caps: Arc<crate::connections::ConnectionCaps>,
    pub drain: crate::shutdown::Drain,
    /// Names this process in stats: host name and pid.
    pub node_id: String,
    pub max_body_bytes: usize,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The HTTP routes; `/metrics` among them unless it has a listener of its own.
pub fn router(state: AppState, with_metrics: bool) -> Router {
    let metrics = if with_metrics {
        health::metrics_routes()
    } else {
        Router::new()
    };
    Router::new()
        .merge(health::routes())
        .merge(metrics)
        .merge(demo::routes())
        .nest("/api/v1", api::routes(state.max_body_bytes))
        .fallback(error::not_found)
        .with_state(state)
}
