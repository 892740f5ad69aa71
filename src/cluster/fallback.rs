//! Degraded mode: presence, typing and blocks kept in Redis for the cluster, and by this
//! node for its own sockets. While the link is up Redis answers; while it is down this
//! node's own view answers at once (a connect makes several such calls, each of which
//! would otherwise wait out the Redis deadline). Writes always reach the node's view, so
//! it is current the moment Redis goes away, and it is what presence is rebuilt from
//! when Redis returns, possibly empty after a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use switchyard_namespaces::ports::{
    Change, ChannelStats, ChosenStatus, PresenceRecord, PresenceRegistry, Reaped, Started,
    TypingState, UserBlocks,
};
use tokio::sync::watch;

use super::link::RedisLink;
use super::memory::{MemoryBlocks, MemoryPresence, TypingTracker};
use super::redis_blocks::RedisBlocks;
use super::redis_presence::RedisPresence;
use super::redis_typing::RedisTyping;

pub struct FallbackPresence {
    redis: Arc<RedisPresence>,
    own: MemoryPresence,
    link: RedisLink,
    /// How many times Redis came back, and up to which of them it has been rebuilt: in
    /// between, Redis may be empty (a restart), and a user read from it would look
    /// offline to watchers, so this node's view answers until the rebuild is done.
    returns: watch::Receiver<u64>,
    rebuilt: AtomicU64,
}

impl FallbackPresence {
    pub fn new(redis: Arc<RedisPresence>, link: RedisLink) -> Self {
        Self {
            redis,
            own: MemoryPresence::default(),
            returns: link.returns(),
            rebuilt: AtomicU64::new(0),
            link,
        }
    }

    /// Keeps this node's entries in Redis alive (see [`RedisPresence`]).
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        self.redis.spawn_refresher()
    }

    fn shared(&self) -> Option<&RedisPresence> {
        let rebuilt = self.rebuilt.load(Ordering::Acquire) >= *self.returns.borrow();
        (rebuilt && self.link.is_up()).then_some(self.redis.as_ref())
    }

    /// Puts this node's sockets, their channels and their users' chosen statuses back in
    /// Redis (after an outage, or a restart that emptied it), then reads from Redis
    /// again; the presence sweep tells watchers what changed meanwhile.
    pub async fn rebuild(&self) {
        let returned = *self.returns.borrow();
        self.redis.refresh().await;
        let users = self.redis.local_users().await;
        for record in self.own.records(&users).await {
            if record.chosen != ChosenStatus::Online || record.message.is_some() {
                self.redis
                    .set_status(&record.user_id, record.chosen, record.message)
                    .await;
            }
        }
        if self.link.is_up() {
            self.rebuilt.fetch_max(returned, Ordering::AcqRel);
        }
    }
}

#[async_trait]
impl PresenceRegistry for FallbackPresence {
    async fn socket_opened(&self, user_id: &str, socket_id: &str, now: i64) -> Change {
        let own = self.own.socket_opened(user_id, socket_id, now).await;
        match self.shared() {
            Some(redis) => redis.socket_opened(user_id, socket_id, now).await,
            // Redis is told when it returns (`rebuild`); its refresher forgets nothing.
            None => {
                self.redis.hold(user_id, socket_id);
                own
            }
        }
    }

    async fn socket_closed(&self, user_id: &str, socket_id: &str, now: i64) -> Change {
        let own = self.own.socket_closed(user_id, socket_id, now).await;
        match self.shared() {
            Some(redis) => redis.socket_closed(user_id, socket_id, now).await,
            None => {
                self.redis.release(socket_id);
                own
            }
        }
    }

    async fn set_status(&self, user_id: &str, status: ChosenStatus, message: Option<String>) {
        self.own.set_status(user_id, status, message.clone()).await;
        if let Some(redis) = self.shared() {
            redis.set_status(user_id, status, message).await;
        }
    }

    async fn touch(&self, user_id: &str, now: i64) {
        self.own.touch(user_id, now).await;
        if let Some(redis) = self.shared() {
            redis.touch(user_id, now).await;
        }
    }

    async fn records(&self, user_ids: &[String]) -> Vec<PresenceRecord> {
        match self.shared() {
            Some(redis) => redis.records(user_ids).await,
            None => self.own.records(user_ids).await,
        }
    }

    async fn local_users(&self) -> Vec<String> {
        self.redis.local_users().await
    }

    async fn joined(&self, channel: &str, user_id: &str, socket_id: &str) -> bool {
        let own = self.own.joined(channel, user_id, socket_id).await;
        match self.shared() {
            Some(redis) => redis.joined(channel, user_id, socket_id).await,
            None => {
                self.redis.hold_channel(socket_id, channel);
                own
            }
        }
    }

    async fn left(&self, channel: &str, user_id: &str, socket_id: &str) -> bool {
        let own = self.own.left(channel, user_id, socket_id).await;
        match self.shared() {
            Some(redis) => redis.left(channel, user_id, socket_id).await,
            None => {
                self.redis.release_channel(socket_id, channel);
                own
            }
        }
    }

    async fn channels_of_socket(&self, socket_id: &str) -> Vec<String> {
        self.redis.channels_of_socket(socket_id).await
    }

    async fn channels_of_user(&self, user_id: &str) -> Vec<String> {
        match self.shared() {
            Some(redis) => redis.channels_of_user(user_id).await,
            None => self.own.channels_of_user(user_id).await,
        }
    }

    async fn members(&self, channel: &str) -> Vec<String> {
        match self.shared() {
            Some(redis) => redis.members(channel).await,
            None => self.own.members(channel).await,
        }
    }

    async fn subscribers(&self, channel: &str) -> Option<usize> {
        match self.shared() {
            Some(redis) => redis.subscribers(channel).await,
            None => self.own.subscribers(channel).await,
        }
    }

    fn local_subscriptions(&self) -> usize {
        self.redis.local_subscriptions()
    }

    fn local_sockets(&self) -> Vec<(String, String)> {
        self.redis.local_sockets()
    }

    async fn stats(&self, channel: &str) -> ChannelStats {
        match self.shared() {
            Some(redis) => redis.stats(channel).await,
            None => self.own.stats(channel).await,
        }
    }

    async fn mark_told(&self, user_id: &str, told: &str) -> bool {
        let own = self.own.mark_told(user_id, told).await;
        match self.shared() {
            Some(redis) => redis.mark_told(user_id, told).await,
            None => own,
        }
    }

    async fn told(&self, user_id: &str) -> Option<String> {
        match self.shared() {
            Some(redis) => redis.told(user_id).await,
            None => self.own.told(user_id).await,
        }
    }

    /// Other nodes' sockets cannot be seen expiring without Redis.
    async fn reap_expired(&self, now: i64) -> Vec<Reaped> {
        match self.shared() {
            Some(redis) => redis.reap_expired(now).await,
            None => Vec::new(),
        }
    }

    async fn forget_offline_before(&self, before: i64) {
        self.own.forget_offline_before(before).await;
    }

    fn degraded(&self) -> bool {
        self.shared().is_none()
    }
}

/// Typing in Redis, or on this node alone while Redis is away (typing ends by itself
/// within seconds, so the two never need reconciling).
pub struct FallbackTyping {
    redis: RedisTyping,
    own: TypingTracker,
    link: RedisLink,
}

impl FallbackTyping {
    pub fn new(redis: RedisTyping, link: RedisLink) -> Self {
        Self {
            redis,
            own: TypingTracker::default(),
            link,
        }
    }
}

#[async_trait]
impl TypingState for FallbackTyping {
    async fn start(&self, conversation_id: &str, user_id: &str) -> Started {
        if self.link.is_up() {
            self.redis.start(conversation_id, user_id).await
        } else {
            self.own.start(conversation_id, user_id).await
        }
    }

    async fn stop(&self, conversation_id: &str, user_id: &str) -> bool {
        if self.link.is_up() {
            self.redis.stop(conversation_id, user_id).await
        } else {
            self.own.stop(conversation_id, user_id).await
        }
    }

    async fn expire(&self, conversation_id: &str, user_id: &str, generation: u64) -> bool {
        let own = self.own.expire(conversation_id, user_id, generation).await;
        if self.link.is_up() {
            self.redis
                .expire(conversation_id, user_id, generation)
                .await
                || own
        } else {
            own
        }
    }
}

/// Blocks in Redis for the cluster and on this node too, so a block holds here while
/// Redis is away.
pub struct FallbackBlocks {
    redis: RedisBlocks,
    own: MemoryBlocks,
    link: RedisLink,
}

impl FallbackBlocks {
    pub fn new(redis: RedisBlocks, link: RedisLink) -> Self {
        Self {
            redis,
            own: MemoryBlocks::default(),
            link,
        }
    }
}

#[async_trait]
impl UserBlocks for FallbackBlocks {
    async fn block(&self, user_id: &str, duration: Duration) {
        self.own.block(user_id, duration).await;
        if self.link.is_up() {
            self.redis.block(user_id, duration).await;
        }
    }

    async fn blocked_for(&self, user_id: &str) -> Option<Duration> {
        let own = self.own.blocked_for(user_id).await;
        if !self.link.is_up() {
            return own;
        }
        own.max(self.redis.blocked_for(user_id).await)
    }
}
