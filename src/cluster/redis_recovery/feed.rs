//! The packet feed of a cluster: each room emit logged and published on the cluster's
//! feed channel by one script, so every node hands packets to its sockets in log order,
//! whichever node sent them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::interfaces::PubsubInterface;
use switchyard_namespaces::ports::{LoggedPacket, PacketFeed, StoreResult};

use super::{RedisPacketLog, unavailable};
use crate::cluster::redis_clock::RedisClock;
use crate::cluster::redis_feed::{Feed, MarkerMissed, marker_message};

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

    /// Puts a marker on the feed and waits for this node's reader to reach it: the feed
    /// is read in the order it was published, and each logged packet was published in the
    /// step that logged it, so every packet logged before the marker was handed out first.
    #[tracing::instrument(skip_all, name = "redis.recovery.caught_up")]
    async fn caught_up(&self, _ns: &str) -> StoreResult<()> {
        self.log.reachable()?;
        let publish = |marker: String| {
            let channel = self.feed.channel.as_str();
            self.log
                .client
                .publish::<i64, _, _>(channel, marker_message(&marker))
        };
        match self.feed.round_trip(Box::new(|| {}), publish).await {
            Ok(_) => Ok(()),
            Err(MarkerMissed::NotPut(err)) => Err(self.log.failed(err)),
            Err(MarkerMissed::Late) => {
                Err(unavailable("the packet feed did not come back in time"))
            }
        }
    }
}

/// Also the memory feed's (`cluster::memory::sessions`).
#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use serde_json::json;
    use switchyard_namespaces::ports::{Logged, LoggedPacket, PacketFeed, PacketSink};

    use super::RedisPacketFeed;
    use crate::cluster::redis_feed::Feed;
    use crate::cluster::redis_recovery::RedisPacketLog;

    /// A node busy enough that each packet takes a while to hand out.
    #[derive(Default)]
    pub(crate) struct SlowSink(Mutex<Vec<String>>);

    impl SlowSink {
        pub(crate) fn handed_out(&self) -> Vec<String> {
            self.0.lock().expect("lock").clone()
        }
    }

    #[async_trait]
    impl PacketSink for SlowSink {
        async fn deliver(&self, _ns: &str, logged: Logged) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.0.lock().expect("lock").push(logged.offset);
        }
    }

    pub(crate) fn packet(n: u64) -> LoggedPacket {
        LoggedPacket {
            rooms: vec!["ch:news".into()],
            except: Vec::new(),
            except_sid: None,
            event: "tick".into(),
            data: json!({ "n": n }),
        }
    }

    #[tokio::test]
    async fn caught_up_resolves_once_what_was_logged_before_it_is_handed_out() {
        let (redis, prefix) = crate::cluster::test_redis_health().await;
        let feed = Arc::new(Feed::new(&prefix));
        let sink = Arc::new(SlowSink::default());
        feed.set_packet_sink(sink.clone());
        feed.start(
            &crate::cluster::test_redis_url(),
            redis.link(),
            redis.deadline(),
        )
        .await
        .expect("the feed");
        let log = Arc::new(RedisPacketLog::new(&redis, &prefix, 10));
        let packets = RedisPacketFeed::new(log, feed, redis.deadline());
        for n in 1..=2 {
            packets.send("/ns", packet(n)).await.expect("logged");
        }
        packets.caught_up("/ns").await.expect("the marker back");
        assert_eq!(sink.handed_out().len(), 2, "both handed out first");
    }
}
