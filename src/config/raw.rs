//! The loading layer: the flat table of settings as a file or the environment writes it
//! (PROTOCOL.md §8), its defaults, and the checks made before it becomes [`Settings`].

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use switchyard_namespaces::limits::{ClassQuota, default_quotas};
use switchyard_namespaces::realtime::{ChannelRule, SocketCaps, default_rules};

use super::LogFormat;
use super::raw_tables::{RawHooks, RawWebhook};

/// The settings as written: one flat table, the names of PROTOCOL.md §8.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct RawSettings {
    /// HTTP + Socket.IO listener; port 0 picks a free port.
    pub bind: SocketAddr,
    /// `sqlite://…` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// Unset: one node with the in-process adapter.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several gateways can share one Redis.
    pub redis_prefix: String,
    /// Milliseconds a Redis command, script or subscription may take before its caller
    /// gets `unavailable` (or degraded advisory state) instead of waiting on.
    pub redis_timeout_ms: u64,
    /// Milliseconds a cross-node adapter request (an ack request, a socket lookup, a
    /// cluster-wide disconnect) waits for other nodes' answers; an ack request waits this
    /// plus its own ack window, so a slow Redis does not cost the acks of other nodes.
    pub adapter_request_timeout_ms: u64,
    /// Milliseconds a database call (pool acquire plus its statements) may take; also
    /// PostgreSQL's `statement_timeout` and SQLite's busy timeout.
    pub database_timeout_ms: u64,
    pub jwt_secret: Option<String>,
    /// `file://…`, `https://…` (or `http://…` on loopback, for tests).
    pub jwks_url: Option<String>,
    pub jwt_audience: Option<String>,
    pub jwt_issuer: Option<String>,
    pub fcm_credentials: Option<String>,
    pub fcm_endpoint: Option<String>,
    pub fcm_token_url: Option<String>,
    pub max_payload_bytes: usize,
    pub max_connections_per_ip: u32,
    /// Connections (Engine.IO sessions) this node takes at most.
    pub max_connections: u32,
    /// A connection (Engine.IO session) with no namespace is closed after this many
    /// milliseconds: one that never connects one, or whose last namespace has left.
    pub connect_timeout_ms: u64,
    /// New connections (handshakes) per client IP per minute, in bursts of a quarter; 0
    /// turns the limit off. 6,000 (burst 1,500) by default: one carrier-grade NAT address
    /// can front a thousand users, who all reconnect within the drain spread after a
    /// deploy (README, Settings).
    pub handshakes_per_ip_per_minute: u32,
    /// CIDRs (comma-separated) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<String>,
    /// Page origins allowed besides the gateway's own; `*` allows any (not in production).
    pub cors_origins: Vec<String>,
    /// `default` (the contract's limits, with `rate_limit_quotas` overrides) or `off`.
    pub rate_limits: String,
    /// Per event class: `{ class, per_minute, burst? }`; see PROTOCOL.md §2.
    pub rate_limit_quotas: Vec<ClassQuota>,
    /// Violations within a minute that disconnect a socket and block its user.
    pub rate_limit_violations: u32,
    pub rate_limit_block_secs: u64,
    pub auth_grace_ms: u64,
    /// `production` refuses to start without configured keys.
    pub env: String,
    /// Publications kept per channel for recovery, and for how long.
    pub history_size: usize,
    pub history_ttl_secs: u64,
    /// Connection-state recovery (socket.io 4.6+): room emits carry offsets from a log
    /// of the latest `recovery_log_size` packets per namespace.
    pub connection_recovery: bool,
    pub recovery_log_size: usize,
    /// How long a dropped session can be resumed, and what it may have missed at most.
    pub recovery_session_ttl_secs: u64,
    pub recovery_max_packets: usize,
    pub recovery_max_bytes: usize,
    /// Seconds without activity before a user shows `idle`, then `away`.
    pub presence_idle_secs: u64,
    pub presence_away_secs: u64,
    /// Cluster mode: a node that dies without closing its sockets has its users shown
    /// offline within this many seconds (each node refreshes its sockets' entries).
    pub presence_ttl_secs: u64,
    /// Channels with more subscribed sockets than this are not told `presence:join`,
    /// `presence:leave` or status changes, unless their channel rule says `joinLeave`;
    /// `0` is no limit. 100 by default: each announcement goes to every subscriber, so a
    /// big channel rejoining after a deploy costs N² messages.
    pub presence_channel_limit: usize,
    /// A connection whose outgoing queue stays full this many milliseconds (every send to
    /// it failing meanwhile: its client stopped reading) is closed, its sockets counted in
    /// `switchyard_slow_consumers_total`, rather than missing events silently from then
    /// on; 0 never closes one.
    pub slow_consumer_grace_ms: u64,
    /// Who may subscribe to which channels; see PROTOCOL.md §3 for the defaults.
    pub channel_rules: Vec<ChannelRule>,
    /// Channels one socket may be subscribed to at once, its own `user:{sub}` included.
    pub max_subscriptions_per_socket: usize,
    /// Users one socket may watch (`presence:watch`) at once.
    pub max_watched_users_per_socket: usize,
    /// How long a user's sockets have to ack a notification before it is pushed.
    pub notification_ack_timeout_ms: u64,
    /// Pending (undelivered) notifications kept per user; older ones are dropped.
    pub max_pending_notifications: u32,
    /// Device tokens kept per user; one more evicts the one registered longest ago.
    pub max_devices_per_user: u32,
    /// Messages to participants with no socket become pushes (when FCM is configured).
    pub push_messages: bool,
    /// After SIGTERM the process is gone within this many seconds.
    pub shutdown_grace_secs: u64,
    /// Draining clients are told to reconnect within this many milliseconds, each at a
    /// random point, so they do not all arrive at the next node at once.
    pub drain_reconnect_spread_ms: u64,
    /// Serves `GET /metrics` on this address instead of on `bind`; unset: on `bind`.
    pub metrics_bind: Option<SocketAddr>,
    /// `text` (default) or `json`: one JSON object per line, with span fields and, when
    /// the span is traced, its trace and span ids.
    pub log_format: LogFormat,
    /// Which spans go to OTLP, as an `EnvFilter` directive, independent of `RUST_LOG`.
    /// Export is on only when `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set.
    pub trace_filter: String,
    /// `[[webhooks]]`: the endpoints told of events (PROTOCOL.md §9).
    pub webhooks: Vec<RawWebhook>,
    /// The environment's way to set the first webhook (`SWITCHYARD_WEBHOOK_URL`,
    /// `SWITCHYARD_WEBHOOK_SECRET`): each replaces that field of `webhooks[0]`, or with
    /// no `[[webhooks]]` both make it.
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// Milliseconds one webhook POST may take.
    pub webhook_timeout_ms: u64,
    /// How long an event is retried (with backoff and jitter) before it is dead-lettered.
    pub webhook_retry_for_secs: u64,
    /// `[hooks]`: the backend's connect, subscribe and RPC endpoints.
    pub hooks: RawHooks,
    /// The environment's names for `[hooks]` (`SWITCHYARD_HOOKS_RPC_URL`, …); they win.
    pub hooks_connect_url: Option<String>,
    pub hooks_subscribe_url: Option<String>,
    pub hooks_rpc_url: Option<String>,
    pub hooks_secret: Option<String>,
    pub hooks_timeout_ms: Option<u64>,
    pub hooks_cache_ms: Option<u64>,
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 3000)),
            database_url: "sqlite://switchyard.db".into(),
            redis_url: None,
            redis_prefix: "switchyard".into(),
            redis_timeout_ms: 1_000,
            adapter_request_timeout_ms: 10_000,
            database_timeout_ms: 2_000,
            jwt_secret: None,
            jwks_url: None,
            jwt_audience: None,
            jwt_issuer: None,
            fcm_credentials: None,
            fcm_endpoint: None,
            fcm_token_url: None,
            max_payload_bytes: 64 * 1024,
            max_connections_per_ip: 50,
            max_connections: 100_000,
            connect_timeout_ms: 10_000,
            handshakes_per_ip_per_minute: 6_000,
            trusted_proxies: None,
            cors_origins: Vec::new(),
            rate_limits: "default".into(),
            rate_limit_quotas: default_quotas(),
            rate_limit_violations: 5,
            rate_limit_block_secs: 60,
            auth_grace_ms: 30_000,
            env: "development".into(),
            history_size: 100,
            history_ttl_secs: 300,
            connection_recovery: true,
            recovery_log_size: 10_000,
            recovery_session_ttl_secs: 120,
            recovery_max_packets: 1_000,
            recovery_max_bytes: 1 << 20,
            presence_idle_secs: 300,
            presence_away_secs: 900,
            presence_ttl_secs: 30,
            presence_channel_limit: 100,
            slow_consumer_grace_ms: 5_000,
            channel_rules: default_rules(),
            max_subscriptions_per_socket: SocketCaps::default().subscriptions,
            max_watched_users_per_socket: SocketCaps::default().watched_users,
            notification_ack_timeout_ms: 10_000,
            max_pending_notifications: 100,
            max_devices_per_user: 20,
            push_messages: true,
            shutdown_grace_secs: 25,
            drain_reconnect_spread_ms: 5_000,
            metrics_bind: None,
            log_format: LogFormat::Text,
            trace_filter: "switchyard=info,switchyard_namespaces=info".into(),
            webhooks: Vec::new(),
            webhook_url: None,
            webhook_secret: None,
            webhook_timeout_ms: 10_000,
            webhook_retry_for_secs: 24 * 3600,
            hooks: RawHooks::default(),
            hooks_connect_url: None,
            hooks_subscribe_url: None,
            hooks_rpc_url: None,
            hooks_secret: None,
            hooks_timeout_ms: None,
            hooks_cache_ms: None,
        }
    }
}

impl RawSettings {
    /// Defaults, then `file` when given, then the environment; checked.
    pub(super) fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "settings file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        let mut settings: RawSettings = figment
            .merge(Env::prefixed("SWITCHYARD_"))
            .extract()
            .context("invalid settings")?;
        settings.fold_environment_integration();
        settings.check()?;
        settings.check_integration()?;
        Ok(settings)
    }

    /// The checks whose messages name the settings as written.
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.history_size > 0, "history_size must be at least 1");
        anyhow::ensure!(
            self.recovery_log_size > 0,
            "recovery_log_size must be at least 1"
        );
        anyhow::ensure!(
            self.redis_timeout_ms > 0 && self.database_timeout_ms > 0,
            "redis_timeout_ms and database_timeout_ms must be above 0: every call has a deadline"
        );
        anyhow::ensure!(
            self.adapter_request_timeout_ms >= 2 * self.redis_timeout_ms,
            "adapter_request_timeout_ms must be at least twice redis_timeout_ms: a request and its answers each cross Redis"
        );
        anyhow::ensure!(
            self.presence_idle_secs > 0 && self.presence_idle_secs < self.presence_away_secs,
            "presence_idle_secs must be above 0 and below presence_away_secs"
        );
        anyhow::ensure!(
            ["default", "off"].contains(&self.rate_limits.to_ascii_lowercase().as_str()),
            "rate_limits must be `default` or `off`"
        );
        anyhow::ensure!(
            !(self.env.eq_ignore_ascii_case("production")
                && self.cors_origins.iter().any(|o| o == "*")),
            "cors_origins may not be `*` in production"
        );
        anyhow::ensure!(
            self.rate_limit_violations > 0,
            "rate_limit_violations must be at least 1"
        );
        anyhow::ensure!(
            self.presence_ttl_secs >= 3,
            "presence_ttl_secs must be at least 3"
        );
        anyhow::ensure!(
            self.max_subscriptions_per_socket > 0 && self.max_watched_users_per_socket > 0,
            "max_subscriptions_per_socket and max_watched_users_per_socket must be at least 1"
        );
        anyhow::ensure!(
            self.max_pending_notifications > 0,
            "max_pending_notifications must be at least 1"
        );
        anyhow::ensure!(
            self.max_devices_per_user > 0,
            "max_devices_per_user must be at least 1"
        );
        Ok(())
    }
}
