//! Composition root: builds the store, the Socket.IO layer with its namespaces and the
//! axum router, binds the listener. Tests build it on port 0 exactly as `main` does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use switchyard_namespaces::limits::{Limits, LimitsConfig};
use switchyard_namespaces::notifications::{NotificationsConfig, NotificationsState};
use switchyard_namespaces::ports::{
    ChannelHistory, Clock, LiveFeed, PresenceRegistry, SystemClock, TypingState, UserBlocks,
};
use switchyard_namespaces::presence::{Presence, PresenceConfig};
use switchyard_namespaces::realtime::{RealtimeParts, RealtimeState, SocketCaps};
use switchyard_namespaces::ws::{WsConfig, WsState};
use tokio::net::TcpListener;

use crate::auth::{ExpiryClock, RateLimiting, TokenVerifier};
use crate::cluster::fallback::{FallbackBlocks, FallbackPresence, FallbackTyping};
use crate::cluster::memory::{MemoryBlocks, MemoryHistory, MemoryPresence, TypingTracker};
use crate::cluster::redis::RedisHealth;
use crate::cluster::redis_blocks::RedisBlocks;
use crate::cluster::redis_feed::Feed;
use crate::cluster::redis_history::RedisHistory;
use crate::cluster::redis_presence::{PresenceTtl, RedisPresence};
use crate::cluster::redis_typing::RedisTyping;
use crate::cluster::resync::Resync;
use crate::config::Settings;
use crate::connections::{ConnectionCaps, TrustedProxies};
use crate::gateway::Gateway;
use crate::http::guard::{Guard, Origins};
use crate::http::{self, AppState, EventRate};
use crate::push::fcm::{self, FcmClient, FcmConfig};
use crate::push::worker::{PushWorker, WorkerConfig};
use crate::shutdown::{self, Drain, DrainConfig};
use crate::store::Database;

mod listen;
mod sockets;

use sockets::States;

/// How long a `message:new` recipient has to ack before the emit stops waiting.
const DELIVERY_ACK_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Application {
    listener: TcpListener,
    /// `metrics_bind`: `/metrics` on a listener of its own.
    metrics_listener: Option<TcpListener>,
    router: Router,
    gateway: Arc<dyn Gateway>,
    db: Database,
    presence: Presence,
    /// Cluster mode: this node's presence entries in Redis, refreshed while it lives.
    shared_presence: Option<Arc<FallbackPresence>>,
    /// Cluster mode: the Redis probe and the resync after an outage.
    cluster_tasks: Vec<tokio::task::JoinHandle<()>>,
    guard: Arc<Guard>,
    event_rate: Arc<EventRate>,
    push: Option<PushWorker>,
    drain: Drain,
    drain_config: DrainConfig,
}

impl Application {
    /// `secret` is the HS256 secret in force (see [`crate::secrets`]).
    pub async fn build(settings: &Settings, secret: Option<&str>) -> anyhow::Result<Self> {
        crate::telemetry::prometheus();
        let db = Database::connect(&settings.database_url, settings.database_timeout()).await?;
        db.migrate().await?;
        let verifier = TokenVerifier::new(settings, secret)?;
        verifier.preload().await.context("loading the JWKS")?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
        let push = push_worker(settings, &db, clock.clone()).await?;
        let redis = match &settings.redis_url {
            Some(url) => Some(RedisHealth::connect(url, settings.redis_timeout()).await?),
            None => None,
        };
        let (registry, shared_presence) =
            presence_registry(settings, clock.clone(), redis.as_ref());
        let presence = Presence::new(registry, clock.clone(), presence_config(settings));
        let feed = match (&settings.redis_url, &redis) {
            (Some(url), Some(redis)) => Some(start_feed(settings, url, redis).await?),
            _ => None,
        };
        let realtime = realtime_state(
            settings,
            &db,
            &presence,
            clock.clone(),
            redis.as_ref().zip(feed.clone()),
        );
        let notifications = NotificationsState::new(
            db.notification_store(),
            clock.clone(),
            presence.clone(),
            notifications_config(settings),
        );
        let message_push =
            (settings.push_messages && notifications.push_enabled()).then(|| notifications.clone());
        let ws = WsState::new(
            db.message_store(),
            clock,
            presence.clone(),
            typing_state(settings, redis.as_ref()),
            message_push,
            ws_config(settings),
        );
        let drain = Drain::default();
        let trusted = match &settings.trusted_proxies {
            Some(list) => TrustedProxies::parse(list)?,
            None => TrustedProxies::default(),
        };
        let caps = ConnectionCaps::new(settings.max_connections_per_ip, settings.max_connections);
        let guard = Guard::new(
            settings.handshakes_per_ip_per_minute,
            Origins::parse(&settings.cors_origins),
            trusted,
            caps.clone(),
        );
        let states = States {
            drain: drain.clone(),
            limits: rate_limiting(settings, redis.as_ref()),
            auth_expiry: ExpiryClock::start(Duration::from_millis(settings.auth_grace_ms)),
            ws,
            realtime: realtime.clone(),
            notifications: notifications.clone(),
        };
        let mounted = sockets::mount(settings, verifier.clone(), states, redis).await?;
        presence.set_sink(mounted.presence_sink);
        let mut cluster_tasks = Vec::new();
        if let (Some(feed), Some(redis), Some(shared)) =
            (feed, &mounted.redis, shared_presence.clone())
        {
            feed.set_sink(mounted.publication_sink);
            cluster_tasks = degraded_mode(settings, redis, shared, &feed, mounted.gateway.clone());
        }
        let event_rate = Arc::new(EventRate::default());
        let state = AppState {
            verifier,
            gateway: mounted.gateway.clone(),
            redis: mounted.redis,
            db: db.clone(),
            realtime,
            notifications,
            event_rate: event_rate.clone(),
            caps,
            drain: drain.clone(),
            node_id: NODE_ID.clone(),
            max_body_bytes: settings.max_payload_bytes,
        };
        // The Socket.IO layer wraps the merged router, or `/socket.io/` would answer 404;
        // the guard and CORS come before both.
        let router = (mounted.apply)(http::router(state, settings.metrics_bind.is_none()))
            .layer(axum::middleware::map_request(http::own_socket_io_head))
            .layer(axum::middleware::from_fn_with_state(
                guard.clone(),
                http::guard::guard,
            ))
            .layer(cors(&settings.cors_origins));
        let listener =
            listen::bind(settings.bind).with_context(|| format!("binding {}", settings.bind))?;
        let metrics_listener = match settings.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr} for metrics"))?,
            ),
            None => None,
        };
        Ok(Self {
            listener,
            metrics_listener,
            router,
            gateway: mounted.gateway,
            db,
            presence,
            shared_presence,
            cluster_tasks,
            guard,
            event_rate,
            push,
            drain,
            drain_config: DrainConfig {
                grace: Duration::from_secs(settings.shutdown_grace_secs),
                reconnect_spread: Duration::from_millis(settings.drain_reconnect_spread_ms),
            },
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
            shared_presence,
            cluster_tasks,
            guard,
            event_rate,
            push,
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
        background.extend(shared_presence.map(|registry| registry.spawn_refresher()));
        background.extend(cluster_tasks);
        background.push(tokio::spawn(forget_idle_clients(guard)));
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

/// The FCM sender and its worker when `SWITCHYARD_FCM_CREDENTIALS` is set; push is off
/// (and said so once) otherwise.
async fn push_worker(
    settings: &Settings,
    db: &Database,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Option<PushWorker>> {
    let Some(credentials) = &settings.fcm_credentials else {
        tracing::info!("push disabled: SWITCHYARD_FCM_CREDENTIALS is not set");
        return Ok(None);
    };
    let config = FcmConfig {
        credentials_file: credentials.into(),
        endpoint: settings
            .fcm_endpoint
            .clone()
            .unwrap_or_else(|| fcm::DEFAULT_ENDPOINT.to_owned()),
        token_url: settings.fcm_token_url.clone(),
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

/// This process among a cluster's nodes: host name (the pod name on Kubernetes) and pid.
static NODE_ID: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
});

/// Cluster mode: the probe that tells whether Redis is reachable, and the resync that
/// follows its return (`cluster::resync`).
fn degraded_mode(
    settings: &Settings,
    redis: &RedisHealth,
    presence: Arc<FallbackPresence>,
    feed: &Feed,
    gateway: Arc<dyn Gateway>,
) -> Vec<tokio::task::JoinHandle<()>> {
    // Tests run several nodes in one process.
    let node_id = format!("{}:{}", *NODE_ID, uuid::Uuid::new_v4().simple());
    let resync = Resync {
        gateway,
        link: redis.link(),
        presence,
        client: redis.client(),
        feed_channel: feed.channel.clone(),
        node_id: node_id.clone(),
        spread: Duration::from_millis(settings.drain_reconnect_spread_ms),
    };
    let (requests, resyncing) = resync.spawn();
    feed.set_resync(node_id, requests);
    vec![redis.spawn_probe(), resyncing]
}

fn presence_ttl(settings: &Settings) -> PresenceTtl {
    PresenceTtl {
        ttl: Duration::from_secs(settings.presence_ttl_secs),
    }
}

fn presence_config(settings: &Settings) -> PresenceConfig {
    PresenceConfig {
        idle_after: Duration::from_secs(settings.presence_idle_secs),
        away_after: Duration::from_secs(settings.presence_away_secs),
        reap_every: presence_ttl(settings).reap_every(),
        channel_limit: settings.presence_channel_limit,
        channel_rules: settings.channel_rules.clone(),
    }
}

/// Presence in Redis for a cluster (returned twice: the node refreshes its entries), in
/// memory for one node.
fn presence_registry(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    redis: Option<&RedisHealth>,
) -> (Arc<dyn PresenceRegistry>, Option<Arc<FallbackPresence>>) {
    match redis {
        Some(redis) => {
            let shared = Arc::new(RedisPresence::new(
                redis.client(),
                &settings.redis_prefix,
                presence_ttl(settings),
                clock,
                redis.link(),
            ));
            let shared = Arc::new(FallbackPresence::new(shared, redis.link()));
            (shared.clone(), Some(shared))
        }
        None => (Arc::new(MemoryPresence::default()), None),
    }
}

/// Rate limits unless `rate_limits = off`, blocking repeat offenders cluster-wide in
/// cluster mode.
fn rate_limiting(settings: &Settings, redis: Option<&RedisHealth>) -> RateLimiting {
    if !settings.rate_limits_on() {
        tracing::warn!("rate limits are off (SWITCHYARD_RATE_LIMITS=off)");
        return RateLimiting(None);
    }
    let blocks: Arc<dyn UserBlocks> = match redis {
        Some(redis) => Arc::new(FallbackBlocks::new(
            RedisBlocks::new(redis.client(), &settings.redis_prefix, redis.link()),
            redis.link(),
        )),
        None => Arc::new(MemoryBlocks::default()),
    };
    let config = LimitsConfig {
        quotas: settings.rate_limit_quotas.clone(),
        violations_to_block: settings.rate_limit_violations,
        block_for: Duration::from_secs(settings.rate_limit_block_secs),
    };
    RateLimiting(Some(Limits::new(config, blocks)))
}

/// Keeps the handshake limiter's memory to recent clients.
async fn forget_idle_clients(guard: Arc<Guard>) {
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

/// Who is typing: in Redis for a cluster, in memory for one node.
fn typing_state(settings: &Settings, redis: Option<&RedisHealth>) -> Arc<dyn TypingState> {
    match redis {
        Some(redis) => Arc::new(FallbackTyping::new(
            RedisTyping::new(redis.client(), &settings.redis_prefix, redis.link()),
            redis.link(),
        )),
        None => Arc::new(TypingTracker::default()),
    }
}

fn notifications_config(settings: &Settings) -> NotificationsConfig {
    NotificationsConfig {
        max_payload_bytes: settings.max_payload_bytes,
        ack_timeout: Duration::from_millis(settings.notification_ack_timeout_ms),
        max_pending: i64::from(settings.max_pending_notifications),
        push_enabled: settings.fcm_credentials.is_some(),
        max_devices: i64::from(settings.max_devices_per_user),
    }
}

fn ws_config(settings: &Settings) -> WsConfig {
    WsConfig {
        max_payload_bytes: settings.max_payload_bytes,
        delivery_ack_timeout: DELIVERY_ACK_TIMEOUT,
    }
}

/// The cluster's publication feed, read from now on; publications reach this node's
/// sockets once `/realtime` is its sink.
async fn start_feed(
    settings: &Settings,
    url: &str,
    redis: &RedisHealth,
) -> anyhow::Result<Arc<Feed>> {
    let feed = Arc::new(Feed::new(&settings.redis_prefix));
    feed.start(url, redis.link(), redis.deadline()).await?;
    Ok(feed)
}

/// Channel history and its feed in Redis for a cluster, history in memory for one node.
fn realtime_state(
    settings: &Settings,
    db: &Database,
    presence: &Presence,
    clock: Arc<dyn Clock>,
    redis: Option<(&RedisHealth, Arc<Feed>)>,
) -> RealtimeState {
    let (size, ttl) = (
        settings.history_size,
        Duration::from_secs(settings.history_ttl_secs),
    );
    let (history, feed): (Arc<dyn ChannelHistory>, Option<Arc<dyn LiveFeed>>) = match redis {
        Some((redis, feed)) => {
            let shared = Arc::new(RedisHistory::new(
                redis,
                &settings.redis_prefix,
                size,
                ttl,
                clock.clone(),
                feed,
            ));
            (shared.clone(), Some(shared))
        }
        None => (Arc::new(MemoryHistory::new(size, ttl)), None),
    };
    RealtimeState::new(RealtimeParts {
        history,
        feed,
        drafts: db.draft_store(),
        presence: presence.clone(),
        clock,
        rules: settings.channel_rules.clone(),
        max_payload_bytes: settings.max_payload_bytes,
        caps: SocketCaps {
            subscriptions: settings.max_subscriptions_per_socket,
            watched_users: settings.max_watched_users_per_socket,
        },
    })
}
