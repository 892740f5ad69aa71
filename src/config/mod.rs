//! One typed [`Settings`], nested by concern: built-in defaults, then an optional TOML
//! file, then `SWITCHYARD_*` environment variables (the variable wins), as PROTOCOL.md §8
//! lists them. The file and the environment write one flat table (`raw.rs`); it is
//! checked and turned into these groups once, at load, with durations as [`Duration`]s
//! and modes as enums.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_namespaces::limits::ClassQuota;
use switchyard_namespaces::realtime::{ChannelRule, SocketCaps};

mod convert;
mod integration;
mod raw;
mod raw_tables;
mod redact;

pub use integration::{HookSettings, IntegrationSettings, WebhookEndpoint};
pub use redact::redact_url;

/// Every setting, grouped. `Default` is the built-in defaults; `Debug` hides secrets
/// (`config/redact.rs`), so settings can be logged. `Serialize` (here and on the groups)
/// only feeds that `Debug`: the format read from files and the environment is `raw.rs`'s.
#[derive(Clone, PartialEq, Serialize)]
pub struct Settings {
    /// `env`: `production` refuses to start without configured keys.
    pub env: Environment,
    pub http: HttpSettings,
    pub connections: ConnectionSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub channels: ChannelSettings,
    pub history: HistorySettings,
    pub recovery: RecoverySettings,
    pub presence: PresenceSettings,
    pub notifications: NotificationSettings,
    pub push: PushSettings,
    pub drain: DrainSettings,
    pub telemetry: TelemetrySettings,
    pub integration: IntegrationSettings,
}

/// `env`: what the deployment may do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub enum Environment {
    /// The default: what only a developer's machine may do (a generated secret,
    /// `http://` JWKS from other hosts) is allowed.
    #[default]
    Development,
    /// Refuses to start without configured keys, or with `*` origins.
    Production,
    /// Any other name (`staging`, say): neither of the above.
    Other(String),
}

/// The listeners and what the HTTP side accepts.
#[derive(Clone, PartialEq, Serialize)]
pub struct HttpSettings {
    /// `bind`: HTTP + Socket.IO listener; port 0 picks a free port.
    pub bind: SocketAddr,
    /// `metrics_bind`: `GET /metrics` on this address instead of on `bind`.
    pub metrics_bind: Option<SocketAddr>,
    /// `max_payload_bytes`: an event's or a request body's limit.
    pub max_payload_bytes: usize,
    /// `cors_origins`: page origins allowed besides the gateway's own; `*` allows any.
    pub cors_origins: Vec<String>,
    /// `trusted_proxies`: CIDRs (comma-separated) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<String>,
}

/// What one client, and all of them, may hold open (README, Settings).
#[derive(Clone, PartialEq, Serialize)]
pub struct ConnectionSettings {
    /// `max_connections_per_ip`.
    pub max_per_ip: u32,
    /// `max_connections`: Engine.IO sessions this node takes at most.
    pub max: u32,
    /// `connect_timeout_ms`: a session with no namespace is closed after this.
    #[serde(serialize_with = "redact::duration")]
    pub connect_timeout: Duration,
    /// `handshakes_per_ip_per_minute`, in bursts of a quarter; 0 turns the limit off.
    pub handshakes_per_ip_per_minute: u32,
    /// `slow_consumer_grace_ms`: a connection whose outgoing queue stays full this long is
    /// closed; `None` (written 0) never closes one.
    #[serde(serialize_with = "redact::optional_duration")]
    pub slow_consumer_grace: Option<Duration>,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct DatabaseSettings {
    /// `database_url`: `sqlite://…` (embedded default) or `postgres://…`.
    pub url: String,
    /// `database_timeout_ms`: what a database call (pool acquire plus its statements) may
    /// take; also PostgreSQL's `statement_timeout` and SQLite's busy timeout.
    #[serde(serialize_with = "redact::duration")]
    pub timeout: Duration,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct RedisSettings {
    /// `redis_url`; unset: one node with the in-process adapter and memory state.
    pub url: Option<String>,
    /// `redis_prefix`: of every key and channel, so several gateways can share one Redis.
    pub prefix: String,
    /// `redis_timeout_ms`: what a command, script or subscription may take before its
    /// caller gets `unavailable` (or degraded advisory state) instead of waiting on.
    #[serde(serialize_with = "redact::duration")]
    pub timeout: Duration,
    /// `adapter_request_timeout_ms`: how long a cross-node adapter request waits for other
    /// nodes' answers (at least twice `timeout`).
    #[serde(serialize_with = "redact::duration")]
    pub adapter_request_timeout: Duration,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct AuthSettings {
    /// `jwt_secret`: the HS256 secret.
    pub jwt_secret: Option<String>,
    /// `jwks_url`: `file://…`, `https://…` (or `http://…` on loopback, for tests).
    pub jwks_url: Option<String>,
    pub jwt_audience: Option<String>,
    pub jwt_issuer: Option<String>,
    /// `auth_grace_ms`: how long a socket outlives its token's expiry.
    #[serde(serialize_with = "redact::duration")]
    pub grace: Duration,
}

/// Event rate limits (PROTOCOL.md §2).
#[derive(Clone, PartialEq, Serialize)]
pub struct LimitSettings {
    /// `rate_limits`.
    pub mode: RateLimits,
    /// `rate_limit_quotas`: per event class, `{ class, per_minute, burst? }`.
    pub quotas: Vec<ClassQuota>,
    /// `rate_limit_violations`: within a minute, they disconnect a socket and block its user.
    pub violations_to_block: u32,
    /// `rate_limit_block_secs`.
    #[serde(serialize_with = "redact::duration")]
    pub block_for: Duration,
}

/// `rate_limits`: whether events are rate limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum RateLimits {
    /// The contract's limits, with `rate_limit_quotas` overrides.
    #[default]
    Default,
    /// For benchmarks.
    Off,
}

/// Who may subscribe to what, and how much one socket may hold.
#[derive(Clone, PartialEq, Serialize)]
pub struct ChannelSettings {
    /// `channel_rules`; see PROTOCOL.md §3 for the defaults.
    pub rules: Vec<ChannelRule>,
    /// `max_subscriptions_per_socket`: its own `user:{sub}` included.
    pub max_subscriptions_per_socket: usize,
    /// `max_watched_users_per_socket`: users one socket may `presence:watch` at once.
    pub max_watched_users_per_socket: usize,
}

/// Publications kept per channel for recovery, and for how long.
/// Connection-state recovery (socket.io 4.6+ clients resume where they were cut off).
#[derive(Clone, PartialEq, Serialize)]
pub struct RecoverySettings {
    /// `connection_recovery`: room emits are logged and carry their offset.
    pub enabled: bool,
    /// `recovery_log_size`: packets kept per namespace, at least 1.
    pub log_size: usize,
    /// `recovery_session_ttl_secs`: how long a dropped session can be resumed.
    #[serde(serialize_with = "redact::duration")]
    pub session_ttl: Duration,
    /// `recovery_max_packets`, `recovery_max_bytes`: a session that missed more is not
    /// resumed.
    pub max_packets: usize,
    pub max_bytes: usize,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct HistorySettings {
    /// `history_size`: at least 1.
    pub size: usize,
    /// `history_ttl_secs`.
    #[serde(serialize_with = "redact::duration")]
    pub ttl: Duration,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct PresenceSettings {
    /// `presence_idle_secs`, `presence_away_secs`: without activity, a user shows `idle`,
    /// then `away`.
    #[serde(serialize_with = "redact::duration")]
    pub idle_after: Duration,
    #[serde(serialize_with = "redact::duration")]
    pub away_after: Duration,
    /// `presence_ttl_secs`: cluster mode, a node that dies without closing its sockets
    /// has its users shown offline within this.
    #[serde(serialize_with = "redact::duration")]
    pub ttl: Duration,
    /// `presence_channel_limit`: bigger channels are not told joins, leaves or status
    /// changes unless their rule says `joinLeave`; 0 is no limit.
    pub channel_limit: usize,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct NotificationSettings {
    /// `notification_ack_timeout_ms`: how long a user's sockets have to ack a notification
    /// before it is pushed.
    #[serde(serialize_with = "redact::duration")]
    pub ack_timeout: Duration,
    /// `max_pending_notifications`: undelivered ones kept per user; older ones are dropped.
    pub max_pending: u32,
    /// `max_devices_per_user`: one more evicts the one registered longest ago.
    pub max_devices_per_user: u32,
}

/// FCM; push is off unless `fcm_credentials` is set.
#[derive(Clone, PartialEq, Serialize)]
pub struct PushSettings {
    pub fcm_credentials: Option<String>,
    pub fcm_endpoint: Option<String>,
    pub fcm_token_url: Option<String>,
    /// `push_messages`: messages to participants with no socket become pushes.
    pub messages: bool,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct DrainSettings {
    /// `shutdown_grace_secs`: after SIGTERM the process is gone within this.
    #[serde(serialize_with = "redact::duration")]
    pub shutdown_grace: Duration,
    /// `drain_reconnect_spread_ms`: draining clients reconnect within this, each at a
    /// random point.
    #[serde(serialize_with = "redact::duration")]
    pub reconnect_spread: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// `trace_filter`: which spans go to OTLP, as an `EnvFilter` directive, independent of
    /// `RUST_LOG`; export is on only when `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set.
    pub trace_filter: String,
}

/// `log_format`: how log lines are written; `json` is one object per line, with span
/// fields and, when the span is traced, its trace and span ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        raw::RawSettings::default().into()
    }
}

impl Settings {
    /// Defaults, then `file` when given, then the environment; a value of the wrong type
    /// or one that fails a check is an error naming the setting as written.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        raw::RawSettings::load(file).map(Settings::from)
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    pub fn is_development(&self) -> bool {
        self.env == Environment::Development
    }

    /// Whether events are rate limited (`SWITCHYARD_RATE_LIMITS=off` is for benchmarks).
    pub fn rate_limits_on(&self) -> bool {
        self.limits.mode != RateLimits::Off
    }

    /// The per-socket caps of `/realtime`.
    pub fn socket_caps(&self) -> SocketCaps {
        SocketCaps {
            subscriptions: self.channels.max_subscriptions_per_socket,
            watched_users: self.channels.max_watched_users_per_socket,
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod integration_tests;
#[cfg(test)]
// figment's Jail API fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests;
