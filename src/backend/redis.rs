//! The cluster backend: every port on Redis behind its degraded-mode fallback, the
//! publication feed, the Redis Socket.IO adapter, and the probe and resync that carry a
//! node through a Redis outage (`cluster::link`, `cluster::resync`).

use std::sync::Arc;
use std::time::Duration;

use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};
use switchyard_namespaces::ports::{Clock, PublicationSink};
use tokio::task::JoinHandle;

use super::{Backend, NODE_ID};
use crate::cluster::fallback::{FallbackBlocks, FallbackPresence, FallbackTyping};
use crate::cluster::redis::{RedisHealth, ResilientDriver};
use crate::cluster::redis_blocks::RedisBlocks;
use crate::cluster::redis_feed::Feed;
use crate::cluster::redis_history::RedisHistory;
use crate::cluster::redis_presence::{PresenceTtl, RedisPresence};
use crate::cluster::redis_recovery::RedisPacketLog;
use crate::cluster::redis_typing::RedisTyping;
use crate::cluster::resync::Resync;
use crate::config::Settings;
use crate::gateway::Gateway;
use switchyard_namespaces::realtime;

/// The Redis adapter's constructor, on a driver that degrades instead of failing.
pub type RedisAdapter = RedisAdapterCtr<ResilientDriver>;

/// Per namespace, between the adapter's subscriber and the adapter; the default (1024)
/// drops messages in a reconnect storm.
const ADAPTER_STREAM_BUFFER: usize = 1 << 14;

/// What the cluster backend keeps after building the ports.
pub(super) struct Cluster {
    pub(super) health: RedisHealth,
    /// Also kept as a port; here for the refresher and the resync's rebuild.
    pub(super) presence: Arc<FallbackPresence>,
    feed: Arc<Feed>,
    url: String,
    prefix: String,
    adapter_request_timeout: Duration,
    reconnect_spread: Duration,
}

/// Connects, builds every port on Redis and starts reading the publication feed.
pub(super) async fn connect(
    settings: &Settings,
    url: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Backend> {
    let redis = &settings.redis;
    let health = RedisHealth::connect(url, redis.timeout).await?;
    let link = || health.link();
    let presence = Arc::new(FallbackPresence::new(
        Arc::new(RedisPresence::new(
            health.client(),
            &redis.prefix,
            PresenceTtl {
                ttl: settings.presence.ttl,
            },
            clock.clone(),
            link(),
        )),
        link(),
    ));
    let feed = Arc::new(Feed::new(&redis.prefix));
    feed.start(url, link(), health.deadline()).await?;
    let packet_log = recovery_possible(settings, url).then(|| {
        Arc::new(RedisPacketLog::new(
            &health,
            &redis.prefix,
            settings.recovery.log_size,
        ))
    });
    let publications_logged = packet_log.as_ref().map(|log| log.log_keys(realtime::PATH));
    let history = Arc::new(
        RedisHistory::new(
            &health,
            &redis.prefix,
            settings.history.size,
            settings.history.ttl,
            clock,
            feed.clone(),
        )
        .with_recovery(publications_logged),
    );
    let typing = RedisTyping::new(health.client(), &redis.prefix, link());
    let blocks = RedisBlocks::new(health.client(), &redis.prefix, link());
    Ok(Backend {
        presence: presence.clone(),
        typing: Arc::new(FallbackTyping::new(typing, link())),
        blocks: Arc::new(FallbackBlocks::new(blocks, link())),
        history: history.clone(),
        feed: Some(history),
        recovery: packet_log
            .map(|log| super::Recovery::redis(&redis.prefix, &health, feed.clone(), log)),
        cluster: Some(Cluster {
            presence,
            feed,
            url: url.to_owned(),
            prefix: redis.prefix.clone(),
            adapter_request_timeout: redis.adapter_request_timeout,
            reconnect_spread: settings.drain.reconnect_spread,
            health,
        }),
    })
}

/// Connection-state recovery logs a channel publication in the same script as its
/// history, which Redis Cluster refuses (the keys are in different slots): there it is
/// off, and said so.
fn recovery_possible(settings: &Settings, url: &str) -> bool {
    let clustered = fred::types::config::Config::from_url(url)
        .map(|c| c.server.is_clustered())
        .unwrap_or(false);
    if settings.recovery.enabled && clustered {
        tracing::warn!(
            "connection-state recovery is off on Redis Cluster (SWITCHYARD_CONNECTION_RECOVERY \
             needs a single Redis or Sentinel)"
        );
    }
    settings.recovery.enabled && !clustered
}

impl Cluster {
    /// The Redis adapter, its subscriber connected and watched by the link.
    pub(super) async fn connect_adapter(&self) -> anyhow::Result<RedisAdapter> {
        let driver = ResilientDriver::connect(&self.url, &self.health).await?;
        let config = RedisAdapterConfig {
            prefix: self.prefix.clone().into(),
            request_timeout: self.adapter_request_timeout,
            stream_buffer: ADAPTER_STREAM_BUFFER,
            ..RedisAdapterConfig::default()
        };
        Ok(RedisAdapterCtr::new_with_driver(driver, config))
    }

    /// The feed's sink, then degraded mode: the probe that tells whether Redis is
    /// reachable, and the resync that follows its return.
    pub(super) fn attach(
        &self,
        gateway: Arc<dyn Gateway>,
        sink: Arc<dyn PublicationSink>,
    ) -> Vec<JoinHandle<()>> {
        self.feed.set_sink(sink);
        // Tests run several nodes in one process.
        let node_id = format!("{}:{}", *NODE_ID, uuid::Uuid::new_v4().simple());
        let resync = Resync {
            gateway,
            link: self.health.link(),
            presence: self.presence.clone(),
            client: self.health.client(),
            feed_channel: self.feed.channel.clone(),
            node_id: node_id.clone(),
            spread: self.reconnect_spread,
        };
        let (requests, resyncing) = resync.spawn();
        self.feed.set_resync(node_id, requests);
        vec![self.health.spawn_probe(), resyncing]
    }
}
