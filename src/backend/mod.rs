//! The gateway's shared state, in memory (one node) or in Redis (a cluster), decided once
//! from the settings: presence, typing, blocks, channel history, the publication feed and
//! the Socket.IO adapter. The implementations live in `cluster/`; this is the only place
//! that chooses between them.

use std::sync::Arc;
use std::sync::LazyLock;

use switchyard_namespaces::ports::{
    ChannelHistory, Clock, LiveFeed, PresenceRegistry, PublicationSink, TypingState, UserBlocks,
};
use tokio::task::JoinHandle;

use crate::cluster::memory::{MemoryBlocks, MemoryHistory, MemoryPresence, TypingTracker};
use crate::cluster::redis::RedisHealth;
use crate::config::Settings;
use crate::gateway::Gateway;

mod recovery;
mod redis;

pub use recovery::Recovery;

pub use redis::RedisAdapter;

/// This process among a cluster's nodes: host name (the pod name on Kubernetes) and pid.
pub static NODE_ID: LazyLock<String> = LazyLock::new(|| {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
});

/// Everything the namespaces share across sockets (and, in a cluster, across nodes).
pub struct Backend {
    pub presence: Arc<dyn PresenceRegistry>,
    pub typing: Arc<dyn TypingState>,
    pub blocks: Arc<dyn UserBlocks>,
    pub history: Arc<dyn ChannelHistory>,
    /// Cluster mode: publications of other nodes, for `/realtime`.
    pub feed: Option<Arc<dyn LiveFeed>>,
    /// Connection-state recovery, when on.
    pub recovery: Option<Recovery>,
    /// Cluster mode: the connection, the feed and the degraded-mode wiring.
    cluster: Option<redis::Cluster>,
}

/// Which Socket.IO adapter the sockets go on.
pub enum Adapter {
    /// One node: rooms in this process.
    InProcess,
    /// A cluster: rooms shared through Redis.
    Redis(RedisAdapter),
}

impl Backend {
    /// In Redis when `redis_url` is set (connecting, and reading the publication feed from
    /// now on), in memory otherwise.
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        match &settings.redis.url {
            Some(url) => redis::connect(settings, url, clock).await,
            None => Ok(Self::memory(settings)),
        }
    }

    fn memory(settings: &Settings) -> Self {
        Self {
            presence: Arc::new(MemoryPresence::default()),
            typing: Arc::new(TypingTracker::default()),
            blocks: Arc::new(MemoryBlocks::default()),
            history: Arc::new(MemoryHistory::new(
                settings.history.size,
                settings.history.ttl,
            )),
            feed: None,
            recovery: Recovery::memory(settings),
            cluster: None,
        }
    }

    /// The adapter to mount the sockets on; in cluster mode this connects its subscriber.
    pub async fn connect_adapter(&self) -> anyhow::Result<Adapter> {
        match &self.cluster {
            Some(cluster) => Ok(Adapter::Redis(cluster.connect_adapter().await?)),
            None => Ok(Adapter::InProcess),
        }
    }

    /// Cluster mode: the Redis connection, whose state readiness reports.
    pub fn redis(&self) -> Option<RedisHealth> {
        self.cluster.as_ref().map(|cluster| cluster.health.clone())
    }

    /// The second half of the wiring, once the Socket.IO server exists: the feed hands
    /// publications to `sink`, and degraded mode (the Redis probe, the resync after an
    /// outage, through `gateway`) starts. Nothing to do in memory.
    pub fn attach(
        &self,
        gateway: Arc<dyn Gateway>,
        sink: Arc<dyn PublicationSink>,
    ) -> Vec<JoinHandle<()>> {
        match &self.cluster {
            Some(cluster) => cluster.attach(gateway, sink),
            None => Vec::new(),
        }
    }

    /// Cluster mode: keeps this node's presence entries in Redis alive while it serves.
    pub fn spawn_refresher(&self) -> Option<JoinHandle<()>> {
        self.cluster
            .as_ref()
            .map(|cluster| cluster.presence.spawn_refresher())
    }
}
