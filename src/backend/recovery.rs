//! Connection-state recovery's backend, when `connection_recovery` is on: the packet feed
//! (room emits, logged and sent with their offset), the log a resume reads, and the
//! sessions; in memory on one node, in Redis in a cluster.

use std::sync::Arc;

use switchyard_namespaces::ports::{PacketFeed, PacketLog, PacketSink, SessionStore};

use crate::cluster::memory::{MemoryPacketFeed, MemoryPacketLog, MemorySessions};
use crate::cluster::redis::RedisHealth;
use crate::cluster::redis_feed::Feed;
use crate::cluster::redis_recovery::{RedisPacketFeed, RedisPacketLog, RedisSessions};
use crate::config::Settings;

type AttachSink = Box<dyn Fn(Arc<dyn PacketSink>) + Send + Sync>;

pub struct Recovery {
    pub feed: Arc<dyn PacketFeed>,
    pub log: Arc<dyn PacketLog>,
    pub sessions: Arc<dyn SessionStore>,
    attach: AttachSink,
}

impl Recovery {
    /// One node's, in memory; `None` when recovery is off.
    pub(super) fn memory(settings: &Settings) -> Option<Self> {
        if !settings.recovery.enabled {
            return None;
        }
        let log = Arc::new(MemoryPacketLog::new(settings.recovery.log_size));
        let feed = Arc::new(MemoryPacketFeed::new(log.clone()));
        Some(Self {
            feed: feed.clone(),
            log,
            sessions: Arc::new(MemorySessions::default()),
            attach: Box::new(move |sink| feed.set_sink(sink)),
        })
    }

    /// The cluster's, in Redis (`log`), its packets on the cluster feed `feed`.
    pub(super) fn redis(
        prefix: &str,
        health: &RedisHealth,
        feed: Arc<Feed>,
        log: Arc<RedisPacketLog>,
    ) -> Self {
        let packets = RedisPacketFeed::new(log.clone(), feed.clone(), health.deadline());
        Self {
            feed: Arc::new(packets),
            log,
            sessions: Arc::new(RedisSessions::new(health, prefix)),
            attach: Box::new(move |sink| feed.set_packet_sink(sink)),
        }
    }

    /// Where the feed's packets go: this node's sockets.
    pub fn attach(&self, sink: Arc<dyn PacketSink>) {
        (self.attach)(sink);
    }
}
