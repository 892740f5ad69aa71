//! Each namespace's state, from the settings, the database and the backend's ports.

use std::sync::Arc;
use std::time::Duration;

use switchyard_namespaces::limits::{Limits, LimitsConfig};
use switchyard_namespaces::notifications::{NotificationsConfig, NotificationsState};
use switchyard_namespaces::ports::Clock;
use switchyard_namespaces::presence::{Presence, PresenceConfig};
use switchyard_namespaces::realtime::{RealtimeParts, RealtimeState};
use switchyard_namespaces::ws::{WsConfig, WsState};

use super::sockets::States;
use crate::auth::{ExpiryClock, RateLimiting};
use crate::backend::Backend;
use crate::cluster::redis_presence::PresenceTtl;
use crate::config::Settings;
use crate::shutdown::Drain;
use crate::store::Database;

/// How long a `message:new` recipient has to ack before the emit stops waiting.
const DELIVERY_ACK_TIMEOUT: Duration = Duration::from_secs(10);

pub fn build(
    settings: &Settings,
    db: &Database,
    backend: &Backend,
    clock: Arc<dyn Clock>,
    drain: Drain,
) -> States {
    let presence = Presence::new(
        backend.presence.clone(),
        clock.clone(),
        presence_config(settings),
    );
    let realtime = realtime_state(settings, db, backend, &presence, clock.clone());
    let notifications = NotificationsState::new(
        db.notification_store(),
        clock.clone(),
        presence.clone(),
        notifications_config(settings),
    );
    let message_push =
        (settings.push.messages && notifications.push_enabled()).then(|| notifications.clone());
    let ws = WsState::new(
        db.message_store(),
        clock,
        presence.clone(),
        backend.typing.clone(),
        ws_config(),
    );
    States {
        drain,
        limits: rate_limiting(settings, backend),
        auth_expiry: ExpiryClock::start(settings.auth.grace),
        ws,
        realtime,
        notifications,
        message_push,
        presence,
    }
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

/// Channel history and the cluster feed come from the backend.
fn realtime_state(
    settings: &Settings,
    db: &Database,
    backend: &Backend,
    presence: &Presence,
    clock: Arc<dyn Clock>,
) -> RealtimeState {
    RealtimeState::new(RealtimeParts {
        history: backend.history.clone(),
        feed: backend.feed.clone(),
        drafts: db.draft_store(),
        presence: presence.clone(),
        clock,
        rules: settings.channels.rules.clone(),
        caps: settings.socket_caps(),
    })
}
