//! The flat table as written (`raw.rs`, already checked) into the nested, typed
//! [`Settings`]: integers of milliseconds or seconds become durations, names become enums.

use std::time::Duration;

use super::raw::RawSettings;
use super::*;

impl From<RawSettings> for Settings {
    fn from(raw: RawSettings) -> Self {
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        Settings {
            env: environment(&raw.env),
            http: HttpSettings {
                bind: raw.bind,
                metrics_bind: raw.metrics_bind,
                max_payload_bytes: raw.max_payload_bytes,
                cors_origins: raw.cors_origins,
                trusted_proxies: raw.trusted_proxies,
            },
            connections: ConnectionSettings {
                max_per_ip: raw.max_connections_per_ip,
                max: raw.max_connections,
                connect_timeout: ms(raw.connect_timeout_ms),
                handshakes_per_ip_per_minute: raw.handshakes_per_ip_per_minute,
                slow_consumer_grace: (raw.slow_consumer_grace_ms > 0)
                    .then(|| ms(raw.slow_consumer_grace_ms)),
            },
            database: DatabaseSettings {
                url: raw.database_url,
                timeout: ms(raw.database_timeout_ms),
            },
            redis: RedisSettings {
                url: raw.redis_url,
                prefix: raw.redis_prefix,
                timeout: ms(raw.redis_timeout_ms),
                adapter_request_timeout: ms(raw.adapter_request_timeout_ms),
            },
            auth: AuthSettings {
                jwt_secret: raw.jwt_secret,
                jwks_url: raw.jwks_url,
                jwt_audience: raw.jwt_audience,
                jwt_issuer: raw.jwt_issuer,
                grace: ms(raw.auth_grace_ms),
            },
            limits: LimitSettings {
                mode: rate_limits(&raw.rate_limits),
                quotas: raw.rate_limit_quotas,
                violations_to_block: raw.rate_limit_violations,
                block_for: secs(raw.rate_limit_block_secs),
            },
            channels: ChannelSettings {
                rules: raw.channel_rules,
                max_subscriptions_per_socket: raw.max_subscriptions_per_socket,
                max_watched_users_per_socket: raw.max_watched_users_per_socket,
            },
            history: HistorySettings {
                size: raw.history_size,
                ttl: secs(raw.history_ttl_secs),
            },
            recovery: RecoverySettings {
                enabled: raw.connection_recovery,
                log_size: raw.recovery_log_size,
                session_ttl: secs(raw.recovery_session_ttl_secs),
                max_packets: raw.recovery_max_packets,
                max_bytes: raw.recovery_max_bytes,
            },
            presence: PresenceSettings {
                idle_after: secs(raw.presence_idle_secs),
                away_after: secs(raw.presence_away_secs),
                ttl: secs(raw.presence_ttl_secs),
                channel_limit: raw.presence_channel_limit,
            },
            notifications: NotificationSettings {
                ack_timeout: ms(raw.notification_ack_timeout_ms),
                max_pending: raw.max_pending_notifications,
                max_devices_per_user: raw.max_devices_per_user,
            },
            push: PushSettings {
                fcm_credentials: raw.fcm_credentials,
                fcm_endpoint: raw.fcm_endpoint,
                fcm_token_url: raw.fcm_token_url,
                messages: raw.push_messages,
            },
            drain: DrainSettings {
                shutdown_grace: secs(raw.shutdown_grace_secs),
                reconnect_spread: ms(raw.drain_reconnect_spread_ms),
            },
            telemetry: TelemetrySettings {
                log_format: raw.log_format,
                trace_filter: raw.trace_filter,
            },
            integration: IntegrationSettings {
                webhooks: raw
                    .webhooks
                    .into_iter()
                    .map(|w| WebhookEndpoint {
                        url: w.url,
                        secret: w.secret,
                        events: w.events,
                    })
                    .collect(),
                webhook_timeout: ms(raw.webhook_timeout_ms),
                webhook_retry_for: secs(raw.webhook_retry_for_secs),
                hooks: HookSettings {
                    connect_url: raw.hooks.connect_url,
                    subscribe_url: raw.hooks.subscribe_url,
                    rpc_url: raw.hooks.rpc_url,
                    secret: raw.hooks.secret,
                    timeout: ms(raw.hooks.timeout_ms.unwrap_or(1_000)),
                    cache_for: ms(raw.hooks.cache_ms.unwrap_or(5_000)),
                },
            },
        }
    }
}

/// Names compare without case, as they always have.
fn environment(name: &str) -> Environment {
    if name.eq_ignore_ascii_case("production") {
        Environment::Production
    } else if name.eq_ignore_ascii_case("development") {
        Environment::Development
    } else {
        Environment::Other(name.to_owned())
    }
}

/// `raw.rs` has refused anything but `default` and `off`.
fn rate_limits(name: &str) -> RateLimits {
    if name.eq_ignore_ascii_case("off") {
        RateLimits::Off
    } else {
        RateLimits::Default
    }
}
