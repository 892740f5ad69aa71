//! Composition root: builds the store, the Socket.IO layer with its namespaces and the
//! axum router, binds the listener. Tests build it on port 0 exactly as `main` does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use switchyard_namespaces::ports::SystemClock;
use switchyard_namespaces::ws::{self, WsConfig, WsState};
use tokio::net::TcpListener;

use crate::auth::{self, TokenVerifier};
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::shutdown;
use crate::store::Database;

/// How long a `message:new` recipient has to ack before the emit stops waiting.
const DELIVERY_ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// The Engine.IO limit sits well above the event limit so an oversized event is answered
/// `payload_too_large` on a kept connection; only a frame over this closes it.
const MIN_ENGINE_PAYLOAD: usize = 1024 * 1024;

pub struct Application {
    listener: TcpListener,
    router: Router,
    io: SocketIo,
    db: Database,
}

impl Application {
    /// `secret` is the HS256 secret in force (see [`crate::secrets`]).
    pub async fn build(settings: &Settings, secret: Option<&str>) -> anyhow::Result<Self> {
        let db = Database::connect(&settings.database_url).await?;
        db.migrate().await?;
        let verifier = TokenVerifier::new(settings, secret)?;
        verifier.preload().await.context("loading the JWKS")?;
        let io = socket_io(settings, &db, verifier.clone());
        let state = AppState {
            verifier,
            io: io.1.clone(),
            db: db.clone(),
            max_body_bytes: settings.max_payload_bytes,
        };
        // The Socket.IO layer wraps the merged router, or `/socket.io/` would answer 404.
        let router = http::router(state).layer(io.0);
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        Ok(Self {
            listener,
            router,
            io: io.1,
            db,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Serves until `stop` completes, then closes every socket and the database.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            io,
            db,
        } = self;
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service)
            .with_graceful_shutdown(shutdown::close_sockets_after(stop, io))
            .await
            .context("serving")?;
        db.close().await;
        Ok(())
    }
}

fn socket_io(
    settings: &Settings,
    db: &Database,
    verifier: Arc<TokenVerifier>,
) -> (socketioxide::layer::SocketIoLayer, SocketIo) {
    let ws_state = WsState::new(
        db.message_store(),
        Arc::new(SystemClock),
        WsConfig {
            max_payload_bytes: settings.max_payload_bytes,
            delivery_ack_timeout: DELIVERY_ACK_TIMEOUT,
        },
    );
    let engine_limit = (settings.max_payload_bytes * 4).max(MIN_ENGINE_PAYLOAD);
    let (layer, io) = SocketIo::builder()
        .with_state(verifier)
        .with_state(ws_state)
        .max_payload(engine_limit as u64)
        .ws_max_message_size(engine_limit)
        .ws_max_frame_size(engine_limit)
        .build_layer();
    // Middlewares run last-added first: authenticate, then prepare the socket.
    io.ns(
        ws::PATH,
        ws::on_connect
            .with(ws::prepare_socket)
            .with(auth::authenticate),
    );
    io.ns("/", accept_nothing.with(auth::refuse_namespace));
    if let Err(err) = io.dyn_ns("/{*rest}", accept_nothing.with(auth::refuse_namespace)) {
        tracing::error!(error = %err, "catch-all namespace not registered");
    }
    (layer, io)
}

/// Never runs: the refusing middleware stops every connect before it.
async fn accept_nothing<A: Adapter>(_: SocketRef<A>) {}
