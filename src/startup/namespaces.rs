//! What the namespaces' states are built from (the settings, the database and the
//! backend's ports), and the gateway's own states.

use std::sync::Arc;
use std::time::Duration;

use switchyard_namespaces::Services;
use switchyard_namespaces::limits::{Limits, LimitsConfig};
use switchyard_namespaces::ports::Clock;
use switchyard_namespaces::presence::{Presence, PresenceConfig};
use switchyard_namespaces::resume::{ResumeConfig, Resumption};
use switchyard_namespaces::services::{
    NamespaceConfig, NotificationsConfig, RealtimeConfig, WsConfig,
};

use super::sockets::GatewayStates;
use crate::auth::{ExpiryClock, RateLimiting};
use crate::backend::Backend;
use crate::cluster::redis_presence::PresenceTtl;
use crate::config::Settings;
use crate::integration::hooks::{ConnectHook, Hooks};
use crate::shutdown::Drain;
use crate::store::Database;

/// How long a `message:new` recipient has to ack before the emit stops waiting.
const DELIVERY_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the namespaces build their states from (each descriptor builds its own).
pub fn services(
    settings: &Settings,
    db: &Database,
    backend: &Backend,
    clock: Arc<dyn Clock>,
    hooks: Option<&Arc<Hooks>>,
) -> Services {
    let presence = Presence::new(
        backend.presence.clone(),
        clock.clone(),
        presence_config(settings),
    );
    Services {
        clock,
        presence,
        messages: db.message_store(),
        typing: backend.typing.clone(),
        notifications: db.notification_store(),
        history: backend.history.clone(),
        feed: backend.feed.clone(),
        drafts: db.draft_store(),
        packets: backend.recovery.as_ref().map(|r| r.feed.clone()),
        resumption: resumption(settings, backend),
        hooks: Hooks::port(hooks),
        config: NamespaceConfig {
            ws: ws_config(),
            realtime: RealtimeConfig {
                rules: settings.channels.rules.clone(),
                caps: settings.socket_caps(),
            },
            notifications: notifications_config(settings),
            push_messages: settings.push.messages,
        },
    }
}

/// The gateway's own states, which every namespace's pipeline reads.
pub fn gateway_states(
    settings: &Settings,
    backend: &Backend,
    drain: Drain,
    hooks: Option<&Arc<Hooks>>,
) -> GatewayStates {
    GatewayStates {
        drain,
        limits: rate_limiting(settings, backend),
        auth_expiry: ExpiryClock::start(settings.auth.grace),
        connect_hook: ConnectHook(hooks.cloned()),
    }
}

/// How often a node saves its connected sessions again.
const SESSION_REFRESH: Duration = Duration::from_secs(30);

fn resumption(settings: &Settings, backend: &Backend) -> Option<Resumption> {
    let recovery = backend.recovery.as_ref()?;
    let config = ResumeConfig {
        session_ttl: settings.recovery.session_ttl,
        refresh_every: SESSION_REFRESH
            .min(settings.recovery.session_ttl / 2)
            .max(Duration::from_secs(1)),
        max_packets: settings.recovery.max_packets,
        max_bytes: settings.recovery.max_bytes,
    };
    Some(Resumption::new(
        recovery.sessions.clone(),
        recovery.log.clone(),
        recovery.feed.clone(),
        config,
    ))
}

fn presence_config(settings: &Settings) -> PresenceConfig {
    PresenceConfig {
        idle_after: settings.presence.idle_after,
        away_after: settings.presence.away_after,
        reap_every: PresenceTtl {
            ttl: settings.presence.ttl,
        }
        .reap_every(),
        channel_limit: settings.presence.channel_limit,
        channel_rules: settings.channels.rules.clone(),
    }
}

/// Rate limits unless `rate_limits = off`, blocking repeat offenders through the
/// backend (cluster-wide in cluster mode).
fn rate_limiting(settings: &Settings, backend: &Backend) -> RateLimiting {
    if !settings.rate_limits_on() {
        tracing::warn!("rate limits are off (SWITCHYARD_RATE_LIMITS=off)");
        return RateLimiting(None);
    }
    let config = LimitsConfig {
        quotas: settings.limits.quotas.clone(),
        violations_to_block: settings.limits.violations_to_block,
        block_for: settings.limits.block_for,
    };
    RateLimiting(Some(Limits::new(config, backend.blocks.clone())))
}

fn notifications_config(settings: &Settings) -> NotificationsConfig {
    NotificationsConfig {
        ack_timeout: settings.notifications.ack_timeout,
        max_pending: i64::from(settings.notifications.max_pending),
        push_enabled: settings.push.fcm_credentials.is_some(),
        max_devices: i64::from(settings.notifications.max_devices_per_user),
    }
}

fn ws_config() -> WsConfig {
    WsConfig {
        delivery_ack_timeout: DELIVERY_ACK_TIMEOUT,
    }
}
