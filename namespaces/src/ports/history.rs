//! The port of `/realtime` channels: numbered publications kept for recovery.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StoreResult;

/// One publication, exactly as the `event` event carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    pub channel: String,
    pub event: String,
    pub data: Value,
    /// Grows by 1 per publication in the channel.
    pub offset: u64,
    /// Changes whenever the channel's history was lost, so old offsets mean nothing.
    pub epoch: String,
    pub ts: i64,
}

/// What `subscribe` with `since` can give back.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// Every publication after the client's offset, in order (possibly none).
    Recovered(Vec<Publication>),
    /// History no longer covers the gap, or the epoch changed: nothing is replayed.
    Lost,
}

/// Channel offsets, history and publish idempotency.
#[async_trait]
pub trait ChannelHistory: Send + Sync + 'static {
    /// Numbers and keeps a publication. With an `idempotency_key` seen in the last five
    /// minutes, returns that first publication and `false` (publish nothing).
    async fn append(
        &self,
        channel: &str,
        event: &str,
        data: Value,
        ts: i64,
        idempotency_key: Option<&str>,
    ) -> StoreResult<(Publication, bool)>;

    /// Publications after `offset` in `epoch`, if history still covers them all.
    async fn since(&self, channel: &str, epoch: &str, offset: u64) -> StoreResult<Recovery>;
}

/// Cluster mode: every node receives every publication through one ordered feed (the
/// history's store numbers a publication and puts it on the feed in one step), and hands
/// each to its own sockets. Publishers on different nodes then reach subscribers in
/// offset order, and a `subscribe` with `since` can join at an exact point of the feed.
#[async_trait]
pub trait LiveFeed: Send + Sync + 'static {
    /// Runs `join` at the point of this node's feed after every publication of `channel`
    /// numbered up to the returned offset, and before any later one. The caller replays
    /// history up to that offset; the feed delivers the rest: none twice, none lost.
    async fn join_at_barrier(
        &self,
        channel: &str,
        join: Box<dyn FnOnce() + Send>,
    ) -> StoreResult<u64>;
}

/// Where a node's feed hands publications: `/realtime` emits them to this node's sockets
/// in the channel's room.
#[async_trait]
pub trait PublicationSink: Send + Sync + 'static {
    /// `logged` is its offset in `/realtime`'s packet log, with connection-state recovery.
    async fn deliver(&self, publication: &Publication, logged: Option<&str>);
}
