//! The packet feed of a cluster: each room emit logged and published on the cluster's
//! feed channel by one script, so every node hands packets to its sockets in log order,
//! whichever node sent them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_namespaces::ports::{LoggedPacket, PacketFeed, StoreResult};

use super::{RedisPacketLog, unavailable};
use crate::cluster::redis_clock::RedisClock;
use crate::cluster::redis_feed::Feed;

pub struct RedisPacketFeed {
    log: Arc<RedisPacketLog>,
    feed: Arc<Feed>,
    deadline: Duration,
    redis_clock: RedisClock,
}

impl RedisPacketFeed {
    /// `deadline` is `redis_timeout_ms`: a packet the script gets later is not sent.
    pub fn new(log: Arc<RedisPacketLog>, feed: Arc<Feed>, deadline: Duration) -> Self {
        Self {
            log,
            feed,
            deadline,
            redis_clock: RedisClock::default(),
        }
    }
}

#[async_trait]
impl PacketFeed for RedisPacketFeed {
    #[tracing::instrument(skip_all, name = "redis.recovery.send")]
    async fn send(&self, ns: &str, packet: LoggedPacket) -> StoreResult<()> {
        let (sent, not_after) = self
            .redis_clock
            .not_after(&self.log.client, self.deadline)
            .await
            .map_err(unavailable)?;
        let feed = Some(self.feed.channel.as_str());
        let (_, redis_now) = self.log.append_to(ns, &packet, feed, not_after).await?;
        self.redis_clock.observed(redis_now, sent);
        Ok(())
    }
}
