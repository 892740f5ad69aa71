//! The HTTP side: the connection guard, the router wrapped in the Socket.IO layer, CORS,
//! and the listeners.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use super::listen;
use crate::config::Settings;
use crate::connections::{ConnectionCaps, TrustedProxies};
use crate::http::guard::{Guard, Origins};
use crate::http::{self, AppState};

/// Handshake rate, connection caps and origins, checked before anything else.
pub fn guard(settings: &Settings, caps: Arc<ConnectionCaps>) -> anyhow::Result<Arc<Guard>> {
    let trusted = match &settings.http.trusted_proxies {
        Some(list) => TrustedProxies::parse(list)?,
        None => TrustedProxies::default(),
    };
    Ok(Guard::new(
        settings.connections.handshakes_per_ip_per_minute,
        Origins::parse(&settings.http.cors_origins),
        trusted,
        caps,
    ))
}

/// The HTTP routes inside the Socket.IO layer (`sockets`), behind the guard and CORS.
pub fn router(
    settings: &Settings,
    state: AppState,
    sockets: Box<dyn FnOnce(Router) -> Router + Send>,
    guard: Arc<Guard>,
) -> Router {
    // The Socket.IO layer wraps the merged router, or `/socket.io/` would answer 404;
    // the guard and CORS come before both.
    sockets(http::router(state, settings.http.metrics_bind.is_none()))
        .layer(axum::middleware::map_request(http::own_socket_io_head))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            http::guard::guard,
        ))
        .layer(cors(&settings.http.cors_origins))
}

/// The gateway's listener, and `/metrics`' own when `metrics_bind` is set.
pub async fn listeners(settings: &Settings) -> anyhow::Result<(TcpListener, Option<TcpListener>)> {
    let bind = settings.http.bind;
    let listener = listen::bind(bind).with_context(|| format!("binding {bind}"))?;
    let metrics = match settings.http.metrics_bind {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr} for metrics"))?,
        ),
        None => None,
    };
    Ok((listener, metrics))
}

/// Keeps the handshake limiter's memory to recent clients.
pub async fn forget_idle_clients(guard: Arc<Guard>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        guard.forget_idle_clients();
    }
}

/// CORS headers for the configured origins (the guard refuses the others): credentials
/// allowed, so polling clients keep their sticky-session cookie.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::mirror_request()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| o.trim_end_matches('/').parse().ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_credentials(true)
        .allow_methods([::http::Method::GET, ::http::Method::POST])
        .allow_headers([::http::header::CONTENT_TYPE, ::http::header::AUTHORIZATION])
}
