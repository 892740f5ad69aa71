//! Composition root: settings → store → backend → namespaces → Socket.IO → router →
//! listeners. Tests build it on port 0 exactly as `main` does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use switchyard_namespaces::ports::{Clock, SystemClock};
use switchyard_namespaces::presence::Presence;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::TokenVerifier;
use crate::backend::{Backend, NODE_ID};
use crate::config::Settings;
use crate::connections::ConnectionCaps;
use crate::gateway::Gateway;
use crate::http::guard::Guard;
use crate::http::{self, AppState, EventRate};
use crate::integration::hooks::Hooks;
use crate::integration::webhooks::sender::WebhookSender;
use crate::push::fcm::{self, FcmClient, FcmConfig};
use crate::push::worker::{PushWorker, WorkerConfig};
use crate::shutdown::{self, Drain, DrainConfig};
use crate::store::Database;

mod listen;
mod namespaces;
mod routes;
mod sockets;

use sockets::Mounted;
pub use sockets::contract;

pub struct Application {
    listener: TcpListener,
    /// `metrics_bind`: `/metrics` on a listener of its own.
    metrics_listener: Option<TcpListener>,
    router: Router,
    gateway: Arc<dyn Gateway>,
    db: Database,
    presence: Presence,
    backend: Backend,
    /// Cluster mode: the Redis probe and the resync after an outage.
    backend_tasks: Vec<JoinHandle<()>>,
    guard: Arc<Guard>,
    event_rate: Arc<EventRate>,
    push: Option<PushWorker>,
    /// The webhook sender when `[[webhooks]]` names an endpoint.
    webhooks: Option<WebhookSender>,
    drain: Drain,
    drain_config: DrainConfig,
}

impl Application {
    /// `secret` is the HS256 secret in force (see [`crate::secrets`]).
    pub async fn build(settings: &Settings, secret: Option<&str>) -> anyhow::Result<Self> {
        crate::telemetry::prometheus();
        let db = database(settings).await?;
        let verifier = verifier(settings, secret).await?;
        let caps = ConnectionCaps::new(settings.connections.max_per_ip, settings.connections.max);
        let guard = routes::guard(settings, caps.clone())?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
        let push = push_worker(settings, &db, clock.clone()).await?;
        let webhooks =
            WebhookSender::new(&settings.integration, db.webhook_outbox(), clock.clone())?;
        let backend = Backend::build(settings, clock.clone()).await?;
        let drain = Drain::default();
        let hooks = Hooks::build(settings).context("the backend's hooks")?;
        let services = namespaces::services(settings, &db, &backend, clock, hooks.as_ref());
        let gateway_states =
            namespaces::gateway_states(settings, &backend, drain.clone(), hooks.as_ref());
        let mut mounted = sockets::mount(
            settings,
            verifier.clone(),
            gateway_states,
            &services,
            &backend,
        )
        .await?;
        let presence = services.presence;
        if let Some(port) = webhooks.as_ref().and_then(WebhookSender::presence_port) {
            presence.set_transitions(port);
        }
        let backend_tasks = attach_sockets(&presence, &backend, &mut mounted);
        let event_rate = Arc::new(EventRate::default());
        let state = AppState {
            verifier,
            gateway: mounted.gateway.clone(),
            redis: backend.redis(),
            db: db.clone(),
            realtime: mounted.states.get().context("/realtime's state")?,
            notifications: mounted.states.get().context("/notifications' state")?,
            chat: mounted.chat.clone().context("/ws' state")?,
            event_rate: event_rate.clone(),
            caps,
            drain: drain.clone(),
            node_id: NODE_ID.clone(),
            max_body_bytes: settings.http.max_payload_bytes,
        };
        let router = routes::router(settings, state, mounted.apply, guard.clone());
        let (listener, metrics_listener) = routes::listeners(settings).await?;
        Ok(Self {
            listener,
            metrics_listener,
            router,
            gateway: mounted.gateway,
            db,
            presence,
            backend,
            backend_tasks,
            guard,
            event_rate,
            push,
            webhooks,
            drain,
            drain_config: drain_config(settings),
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

    /// Where `/metrics` is served when it has a listener of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until SIGTERM or Ctrl-C, then drains; if the drain overruns the grace
    /// period the process exits anyway, as Kubernetes would kill it.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let grace = self.drain_config.grace;
        let stop = async move {
            shutdown::signal().await;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                tracing::error!("grace period over before the drain finished; exiting");
                crate::telemetry::shutdown();
                std::process::exit(1);
            });
        };
        self.run_until(stop).await
    }

    /// Serves until `stop` completes, then closes every socket and the database.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics_listener,
            router,
            gateway,
            db,
            presence,
            backend,
            backend_tasks,
            guard,
            event_rate,
            push,
            webhooks,
            drain,
            drain_config,
        } = self;
        let mut background = vec![
            tokio::spawn(presence.clone().run_sweeper()),
            tokio::spawn(event_rate.run_sampler()),
            tokio::spawn(crate::telemetry::sample_pending_notifications(db.clone())),
        ];
        background.extend(metrics_listener.map(http::serve_metrics));
        background.extend(push.map(|worker| tokio::spawn(worker.run())));
        background.extend(webhooks.map(|sender| tokio::spawn(sender.run())));
        background.extend(backend.spawn_refresher());
        background.extend(backend_tasks);
        background.push(tokio::spawn(routes::forget_idle_clients(guard)));
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown::drain_after(
                stop,
                gateway,
                presence,
                drain,
                drain_config,
            ))
            .await
            .context("serving");
        background.iter().for_each(|task| task.abort());
        db.close().await;
        served
    }
}

fn drain_config(settings: &Settings) -> DrainConfig {
    DrainConfig {
        grace: settings.drain.shutdown_grace,
        reconnect_spread: settings.drain.reconnect_spread,
    }
}

/// The database, migrated, its stores writing the webhooks `[[webhooks]]` asks for.
async fn database(settings: &Settings) -> anyhow::Result<Database> {
    let db = Database::connect(&settings.database.url, settings.database.timeout).await?;
    db.migrate().await?;
    db.set_webhooks(settings.integration.webhooks.clone());
    Ok(db)
}

/// The token checks, with the JWKS loaded once so a bad URL or file fails at start.
async fn verifier(settings: &Settings, secret: Option<&str>) -> anyhow::Result<Arc<TokenVerifier>> {
    let verifier = TokenVerifier::new(settings, secret)?;
    verifier.preload().await.context("loading the JWKS")?;
    Ok(verifier)
}

/// The second phase of wiring. The Socket.IO server can only be built holding every
/// namespace's state (socketioxide takes state at build time), and that state holds
/// presence and the cluster feed, which emit through the server: so they are told where
/// to emit here, once it exists, and degraded mode (which resyncs its sockets) starts.
fn attach_sockets(
    presence: &Presence,
    backend: &Backend,
    mounted: &mut Mounted,
) -> Vec<JoinHandle<()>> {
    presence.set_sink(mounted.presence_sink.clone());
    if let Some(recovery) = &backend.recovery {
        recovery.attach(mounted.packet_sink.clone());
    }
    let mut tasks = backend.attach(mounted.gateway.clone(), mounted.publication_sink.clone());
    tasks.append(&mut mounted.tasks);
    tasks
}

/// The FCM sender and its worker when `SWITCHYARD_FCM_CREDENTIALS` is set; push is off
/// (and said so once) otherwise.
async fn push_worker(
    settings: &Settings,
    db: &Database,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Option<PushWorker>> {
    let Some(credentials) = &settings.push.fcm_credentials else {
        tracing::info!("push disabled: SWITCHYARD_FCM_CREDENTIALS is not set");
        return Ok(None);
    };
    let config = FcmConfig {
        credentials_file: credentials.into(),
        endpoint: settings
            .push
            .fcm_endpoint
            .clone()
            .unwrap_or_else(|| fcm::DEFAULT_ENDPOINT.to_owned()),
        token_url: settings.push.fcm_token_url.clone(),
    };
    let client = FcmClient::new(config).await.context("setting up FCM")?;
    tracing::info!(
        project = client.project_id(),
        "push enabled through FCM HTTP v1"
    );
    Ok(Some(PushWorker::new(
        db.push_queue(),
        client,
        clock,
        WorkerConfig::default(),
    )))
}
