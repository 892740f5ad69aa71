//! Presence shared by every node through Redis. Each socket is an entry with an expiry that
//! the node holding it refreshes; a node that dies without closing its sockets stops
//! refreshing them, and once they expire any node's sweep finds the user offline (within
//! the presence TTL, 30 s by default) and tells watchers.
//!
//! The node also keeps its own sockets and their channels in memory: to refresh them, to
//! know which users to re-derive, and to leave a closing socket's channels.
//!
//! A socket's entries name the registry that wrote them (`{socket}@{holder}`): a session
//! recovered on another node keeps its socket id, and the old node, which may see its
//! socket drop only at the ping timeout, must close its own entries, not the new node's.

mod scripts;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{Client, KeysInterface, LuaInterface, SortedSetsInterface};
use fred::types::sorted_sets::Ordering as ZOrdering;
use fred::types::{Limit, Value};
use switchyard_namespaces::ports::{
    Change, ChannelStats, ChosenStatus, Clock, PresenceRecord, PresenceRegistry, Reaped,
};
use tokio::task::JoinHandle;

use super::link::RedisLink;
use scripts::{MEMBERS, STATS, UNLIST, UserScripts};

/// How long keys of a user with no socket are kept: the forget horizon of one node.
const KEEP_MS: i64 = 24 * 3600 * 1000;
/// Users looked at per sweep for expired sockets; the rest wait for the next sweep.
const REAP_BATCH: i64 = 500;

#[derive(Debug, Clone, Copy)]
pub struct PresenceTtl {
    /// A dead node's sockets stop counting within this.
    pub ttl: Duration,
}

impl PresenceTtl {
    /// Entries are refreshed every third of the TTL and live five sixths of it, so the
    /// sweeps (every sixth) find a dead node's users within the TTL.
    fn refresh_every(self) -> Duration {
        self.ttl / 3
    }

    fn entry_life_ms(self) -> i64 {
        (self.ttl.as_millis() * 5 / 6) as i64
    }

    pub fn reap_every(self) -> Duration {
        self.ttl / 6
    }
}

#[derive(Default)]
struct LocalSocket {
    user_id: String,
    channels: HashSet<String>,
}

/// One user's sockets on this node, and (socket, channel) pairs of their channels.
#[derive(Default)]
struct Held {
    sockets: Vec<String>,
    channels: Vec<(String, String)>,
}

pub struct RedisPresence {
    client: Client,
    prefix: String,
    ttl: PresenceTtl,
    clock: Arc<dyn Clock>,
    scripts: UserScripts,
    local: Mutex<HashMap<String, LocalSocket>>,
    link: RedisLink,
    /// Random, this registry's own: the `holder` of the entries it writes.
    holder: String,
    /// Channels a refresh found users of this node left out of (their sockets there were
    /// on a dead node), for the next sweep to tell.
    reaped_by_refresh: Mutex<Vec<Reaped>>,
}

impl RedisPresence {
    pub fn new(
        client: Client,
        prefix: &str,
        ttl: PresenceTtl,
        clock: Arc<dyn Clock>,
        link: RedisLink,
    ) -> Self {
        Self {
            client,
            prefix: format!("{prefix}:pr"),
            ttl,
            clock,
            scripts: UserScripts::default(),
            local: Mutex::default(),
            link,
            holder: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            reaped_by_refresh: Mutex::default(),
        }
    }

    /// The member a socket of this node is in Redis (see the module's comment).
    fn entry(&self, socket_id: &str) -> String {
        format!("{socket_id}@{}", self.holder)
    }

    fn degraded<T: Default>(&self, what: &str, err: fred::error::Error) -> T {
        self.link.degraded("presence", what, err)
    }

    /// Refreshes this node's entries every third of the TTL until aborted.
    pub fn spawn_refresher(self: &Arc<Self>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.ttl.refresh_every());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                this.refresh().await;
            }
        })
    }

    fn user_keys(&self, user_id: &str) -> Vec<String> {
        ["s", "i", "c"]
            .iter()
            .map(|k| format!("{}:{{{user_id}}}:{k}", self.prefix))
            .collect()
    }

    fn channel_key(&self, channel: &str) -> String {
        format!("{}:ch:{{{channel}}}", self.prefix)
    }

    fn online_key(&self) -> String {
        format!("{}:online", self.prefix)
    }

    fn expiry(&self, now: i64) -> i64 {
        now + self.ttl.entry_life_ms()
    }

    fn local(&self) -> MutexGuard<'_, HashMap<String, LocalSocket>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reaped_by_refresh(&self) -> MutexGuard<'_, Vec<Reaped>> {
        self.reaped_by_refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    async fn user_script<R: fred::types::FromValue>(
        &self,
        script: &str,
        user_id: &str,
        args: Vec<String>,
    ) -> Result<R, fred::error::Error> {
        self.client
            .eval(script, self.user_keys(user_id), args)
            .await
    }

    /// Marks the user online until `expiry` in the index the sweeps read (never lowering
    /// a later expiry set by another node).
    async fn list_online(&self, user_id: &str, expiry: i64) {
        let listed: Result<Value, _> = self
            .client
            .zadd(
                self.online_key(),
                None,
                Some(ZOrdering::GreaterThan),
                false,
                false,
                (expiry as f64, user_id),
            )
            .await;
        if let Err(err) = listed {
            self.degraded::<()>("listing a user online", err);
        }
    }

    async fn socket_change(&self, script: &str, user_id: &str, args: Vec<String>) -> Change {
        match self.user_script::<Vec<String>>(script, user_id, args).await {
            Ok(reply) => change_of(reply),
            Err(err) => self.degraded("a socket change", err),
        }
    }

    /// Re-asserts every socket of this node and its channels, user by user.
    pub(crate) async fn refresh(&self) {
        if !self.link.is_up() {
            // Rebuilt when Redis returns (`FallbackPresence::rebuild`).
            return;
        }
        let now = self.clock.now_ms();
        let expiry = self.expiry(now);
        for (user_id, held) in self.local_snapshot() {
            let mut args = vec![
                expiry.to_string(),
                KEEP_MS.to_string(),
                now.to_string(),
                held.sockets.len().to_string(),
            ];
            args.extend(held.sockets.iter().map(|sid| self.entry(sid)));
            args.extend(
                held.channels
                    .iter()
                    .map(|(sid, ch)| format!("{} {ch}", self.entry(sid))),
            );
            let left: Vec<String> = match self
                .user_script(&self.scripts.refresh, &user_id, args)
                .await
            {
                Ok(left) => left,
                Err(err) => return self.degraded("refreshing sockets", err),
            };
            if !left.is_empty() {
                self.reaped_by_refresh().push(Reaped {
                    user_id: user_id.clone(),
                    went_offline: false,
                    left_channels: left,
                });
            }
            self.list_online(&user_id, expiry).await;
            for (sid, channel) in held.channels {
                self.index_member(&channel, &sid, &user_id, expiry).await;
            }
        }
    }

    /// Remembers a socket opened while Redis was away, for the rebuild to re-assert.
    pub(crate) fn hold(&self, user_id: &str, socket_id: &str) {
        let socket = LocalSocket {
            user_id: user_id.to_owned(),
            channels: HashSet::new(),
        };
        self.local().insert(socket_id.to_owned(), socket);
    }

    pub(crate) fn release(&self, socket_id: &str) {
        self.local().remove(socket_id);
    }

    pub(crate) fn hold_channel(&self, socket_id: &str, channel: &str) {
        if let Some(socket) = self.local().get_mut(socket_id) {
            socket.channels.insert(channel.to_owned());
        }
    }

    pub(crate) fn release_channel(&self, socket_id: &str, channel: &str) {
        if let Some(socket) = self.local().get_mut(socket_id) {
            socket.channels.remove(channel);
        }
    }

    /// What this node holds of each user.
    fn local_snapshot(&self) -> HashMap<String, Held> {
        let mut by_user: HashMap<String, Held> = HashMap::new();
        for (sid, socket) in self.local().iter() {
            let held = by_user.entry(socket.user_id.clone()).or_default();
            held.sockets.push(sid.clone());
            held.channels
                .extend(socket.channels.iter().map(|ch| (sid.clone(), ch.clone())));
        }
        by_user
    }

    async fn index_member(&self, channel: &str, socket_id: &str, user_id: &str, expiry: i64) {
        let added: Result<Value, _> = self
            .client
            .zadd(
                self.channel_key(channel),
                None,
                None,
                false,
                false,
                (
                    expiry as f64,
                    format!("{} {user_id}", self.entry(socket_id)),
                ),
            )
            .await;
        if let Err(err) = added {
            self.degraded::<()>("indexing a channel member", err);
            return;
        }
        let kept: Result<Value, _> = self
            .client
            .pexpire(self.channel_key(channel), KEEP_MS, None)
            .await;
        if let Err(err) = kept {
            self.degraded::<()>("keeping a channel index", err);
        }
    }

    async fn unindex_member(&self, channel: &str, socket_id: &str, user_id: &str) {
        let removed: Result<Value, _> = self
            .client
            .zrem(
                self.channel_key(channel),
                format!("{} {user_id}", self.entry(socket_id)),
            )
            .await;
        if let Err(err) = removed {
            self.degraded::<()>("unindexing a channel member", err);
        }
    }

    async fn record(&self, user_id: &str, now: i64) -> Option<PresenceRecord> {
        let reply: Vec<String> = match self
            .user_script(&self.scripts.record, user_id, vec![now.to_string()])
            .await
        {
            Ok(reply) => reply,
            Err(err) => return self.degraded("reading a record", err),
        };
        record_of(user_id, &reply)
    }

    async fn reap_user(&self, user_id: &str, now: i64) -> Option<Reaped> {
        let args = vec![now.to_string(), KEEP_MS.to_string()];
        let change = self.socket_change(&self.scripts.reap, user_id, args).await;
        let unlisted: Result<Value, _> = self
            .client
            .eval(
                UNLIST,
                vec![self.online_key()],
                vec![user_id.to_owned(), now.to_string()],
            )
            .await;
        if let Err(err) = unlisted {
            self.degraded::<()>("unlisting a user", err);
        }
        (change.flipped || !change.left_channels.is_empty()).then(|| Reaped {
            user_id: user_id.to_owned(),
            went_offline: change.flipped,
            left_channels: change.left_channels,
        })
    }
}

/// Reads a `reply(flag, left)` script answer.
fn change_of(reply: Vec<String>) -> Change {
    let mut parts = reply.into_iter();
    Change {
        flipped: parts.next().as_deref() == Some("1"),
        left_channels: parts.collect(),
    }
}

fn record_of(user_id: &str, reply: &[String]) -> Option<PresenceRecord> {
    let [devices, chosen, message, act, seen] = reply else {
        return None;
    };
    Some(PresenceRecord {
        user_id: user_id.to_owned(),
        devices: devices.parse().unwrap_or(0),
        chosen: ChosenStatus::parse(chosen),
        message: Some(message.clone()).filter(|m| !m.is_empty()),
        last_activity: act.parse().unwrap_or(0),
        last_seen: seen.parse().ok(),
    })
}

#[async_trait]
impl PresenceRegistry for RedisPresence {
    #[tracing::instrument(skip_all, name = "redis.presence.socket_opened")]
    async fn socket_opened(&self, user_id: &str, socket_id: &str, now: i64) -> Change {
        self.local().insert(
            socket_id.to_owned(),
            LocalSocket {
                user_id: user_id.to_owned(),
                channels: HashSet::new(),
            },
        );
        let expiry = self.expiry(now);
        let args = vec![
            self.entry(socket_id),
            expiry.to_string(),
            now.to_string(),
            KEEP_MS.to_string(),
        ];
        let change = self.socket_change(&self.scripts.open, user_id, args).await;
        self.list_online(user_id, expiry).await;
        change
    }

    #[tracing::instrument(skip_all, name = "redis.presence.socket_closed")]
    async fn socket_closed(&self, user_id: &str, socket_id: &str, now: i64) -> Change {
        self.local().remove(socket_id);
        let args = vec![self.entry(socket_id), now.to_string(), KEEP_MS.to_string()];
        self.socket_change(&self.scripts.close, user_id, args).await
    }

    #[tracing::instrument(skip_all, name = "redis.presence.set_status")]
    async fn set_status(&self, user_id: &str, status: ChosenStatus, message: Option<String>) {
        let args = vec![
            status.as_str().to_owned(),
            message.unwrap_or_default(),
            KEEP_MS.to_string(),
        ];
        if let Err(err) = self
            .user_script::<Value>(&self.scripts.set_status, user_id, args)
            .await
        {
            self.degraded::<()>("setting a status", err);
        }
    }

    async fn touch(&self, user_id: &str, now: i64) {
        let args = vec![now.to_string(), KEEP_MS.to_string()];
        if let Err(err) = self
            .user_script::<Value>(&self.scripts.touch, user_id, args)
            .await
        {
            self.degraded::<()>("recording activity", err);
        }
    }

    #[tracing::instrument(skip_all, name = "redis.presence.records")]
    async fn records(&self, user_ids: &[String]) -> Vec<PresenceRecord> {
        let now = self.clock.now_ms();
        let reads = user_ids.iter().map(|id| self.record(id, now));
        futures_util::future::join_all(reads)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn local_users(&self) -> Vec<String> {
        let mut users: Vec<String> = self.local().values().map(|s| s.user_id.clone()).collect();
        users.sort();
        users.dedup();
        users
    }

    #[tracing::instrument(skip_all, name = "redis.presence.joined")]
    async fn joined(&self, channel: &str, user_id: &str, socket_id: &str) -> bool {
        if let Some(socket) = self.local().get_mut(socket_id) {
            socket.channels.insert(channel.to_owned());
        }
        let now = self.clock.now_ms();
        let expiry = self.expiry(now);
        let args = vec![
            format!("{} {channel}", self.entry(socket_id)),
            channel.to_owned(),
            expiry.to_string(),
            now.to_string(),
            KEEP_MS.to_string(),
        ];
        let first = match self
            .user_script::<i64>(&self.scripts.join, user_id, args)
            .await
        {
            Ok(first) => first == 1,
            Err(err) => self.degraded("joining a channel", err),
        };
        self.index_member(channel, socket_id, user_id, expiry).await;
        first
    }

    #[tracing::instrument(skip_all, name = "redis.presence.left")]
    async fn left(&self, channel: &str, user_id: &str, socket_id: &str) -> bool {
        if let Some(socket) = self.local().get_mut(socket_id) {
            socket.channels.remove(channel);
        }
        let args = vec![
            format!("{} {channel}", self.entry(socket_id)),
            channel.to_owned(),
            self.clock.now_ms().to_string(),
        ];
        let last = match self
            .user_script::<i64>(&self.scripts.leave, user_id, args)
            .await
        {
            Ok(last) => last == 1,
            Err(err) => self.degraded("leaving a channel", err),
        };
        self.unindex_member(channel, socket_id, user_id).await;
        last
    }

    fn local_subscriptions(&self) -> usize {
        self.local()
            .values()
            .map(|socket| socket.channels.len())
            .sum()
    }

    fn local_sockets(&self) -> Vec<(String, String)> {
        self.local()
            .iter()
            .map(|(sid, socket)| (socket.user_id.clone(), sid.clone()))
            .collect()
    }

    #[tracing::instrument(skip_all, name = "redis.presence.channels_of_socket")]
    async fn channels_of_socket(&self, socket_id: &str) -> Vec<String> {
        self.local()
            .get(socket_id)
            .map(|s| s.channels.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[tracing::instrument(skip_all, name = "redis.presence.channels_of_user")]
    async fn channels_of_user(&self, user_id: &str) -> Vec<String> {
        let key = self.user_keys(user_id).swap_remove(2);
        let now = self.clock.now_ms();
        let entries: Vec<String> = match self
            .client
            .zrangebyscore(key, format!("({now}"), "+inf", false, None)
            .await
        {
            Ok(entries) => entries,
            Err(err) => return self.degraded("reading a user's channels", err),
        };
        let mut channels: Vec<String> = entries
            .iter()
            .filter_map(|e| e.split_once(' ').map(|(_, ch)| ch.to_owned()))
            .collect();
        channels.sort();
        channels.dedup();
        channels
    }

    /// Entries not yet expired: a dead node's sockets stop counting within the TTL.
    #[tracing::instrument(skip_all, name = "redis.presence.subscribers")]
    async fn subscribers(&self, channel: &str) -> Option<usize> {
        let live_from = (self.clock.now_ms() + 1) as f64;
        match self
            .client
            .zcount::<i64, _>(self.channel_key(channel), live_from, f64::INFINITY)
            .await
        {
            Ok(count) => Some(count.max(0) as usize),
            Err(err) => self.degraded("counting channel subscribers", err),
        }
    }

    #[tracing::instrument(skip_all, name = "redis.presence.stats")]
    async fn stats(&self, channel: &str) -> ChannelStats {
        let now = self.clock.now_ms().to_string();
        match self
            .client
            .eval::<(i64, i64), _, _, _>(STATS, vec![self.channel_key(channel)], vec![now])
            .await
        {
            Ok((users, sockets)) => ChannelStats {
                users: users.max(0) as usize,
                sockets: sockets.max(0) as usize,
            },
            Err(err) => self.degraded("counting a channel", err),
        }
    }

    #[tracing::instrument(skip_all, name = "redis.presence.members")]
    async fn members(&self, channel: &str) -> Vec<String> {
        let now = self.clock.now_ms().to_string();
        let entries: Vec<String> = match self
            .client
            .eval(MEMBERS, vec![self.channel_key(channel)], vec![now])
            .await
        {
            Ok(entries) => entries,
            Err(err) => return self.degraded("reading channel members", err),
        };
        let mut users: Vec<String> = entries
            .iter()
            .filter_map(|e| e.split_once(' ').map(|(_, user)| user.to_owned()))
            .collect();
        users.sort();
        users.dedup();
        users
    }

    #[tracing::instrument(skip_all, name = "redis.presence.mark_told")]
    async fn mark_told(&self, user_id: &str, told: &str) -> bool {
        match self
            .user_script::<i64>(&self.scripts.mark_told, user_id, vec![told.to_owned()])
            .await
        {
            Ok(changed) => changed == 1,
            Err(err) => self.degraded("recording a told status", err),
        }
    }

    #[tracing::instrument(skip_all, name = "redis.presence.told")]
    async fn told(&self, user_id: &str) -> Option<String> {
        let info = self.user_keys(user_id).swap_remove(1);
        use fred::prelude::HashesInterface;
        match self.client.hget(info, "told").await {
            Ok(told) => told,
            Err(err) => self.degraded("reading a told status", err),
        }
    }

    async fn reap_expired(&self, now: i64) -> Vec<Reaped> {
        let expired: Vec<String> = match self
            .client
            .zrangebyscore(
                self.online_key(),
                "-inf",
                now as f64,
                false,
                Some(Limit::from((0, REAP_BATCH))),
            )
            .await
        {
            Ok(users) => users,
            Err(err) => return self.degraded("finding expired users", err),
        };
        let mut reaped = std::mem::take(&mut *self.reaped_by_refresh());
        for user in expired {
            reaped.extend(self.reap_user(&user, now).await);
        }
        reaped
    }

    /// Keys of offline users expire by themselves after a day.
    async fn forget_offline_before(&self, _before: i64) {}
}

#[cfg(test)]
mod tests;
