//! Channel history in Redis, shared by every node: per channel an epoch, an offset counter
//! and a sorted set of the last N publications, each operation one Lua script so offsets
//! and entries never disagree. Keys expire after twice the history TTL of idleness; the
//! next publication then starts a new epoch, as a restart does on one node.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{Client, Expiration, KeysInterface, LuaInterface, SetOptions};
use serde::Deserialize;
use serde_json::Value;
use switchyard_namespaces::ports::{
    ChannelHistory, Clock, LiveFeed, Publication, Recovery, StoreError, StoreResult,
};

use super::link::RedisLink;
use super::publication_entry::Entry;
use super::redis::RedisHealth;
use super::redis_clock::RedisClock;
use super::redis_feed::{Feed, MarkerMissed};
use super::redis_recovery::LogKeys;
use switchyard_namespaces::realtime::channels::channel_room;
use switchyard_namespaces::realtime::emits as realtime_emits;

mod scripts;
#[cfg(test)]
mod tests;

use scripts::{APPEND, MARK, SINCE};

/// How long a repeated publish `idempotencyKey` returns the first result.
const IDEMPOTENCY_SECS: i64 = 300;
/// A publish racing one with the same key waits this long for the first to finish.
const IDEMPOTENCY_WAIT: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
struct Snapshot {
    epoch: String,
    last: u64,
    /// cjson encodes an empty array as `{}`, so this is read loosely.
    entries: Value,
}

pub struct RedisHistory {
    client: Client,
    prefix: String,
    size: usize,
    ttl: Duration,
    clock: std::sync::Arc<dyn Clock>,
    feed: Arc<Feed>,
    /// `redis_timeout_ms`: how long a publish's caller waits for its script.
    deadline: Duration,
    redis_clock: RedisClock,
    link: RedisLink,
    /// `/realtime`'s packet log, with connection-state recovery on.
    recovery: Option<LogKeys>,
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    super::redis_error("history");
    StoreError::Unavailable(err.to_string().into())
}

impl RedisHistory {
    pub fn new(
        redis: &RedisHealth,
        prefix: &str,
        size: usize,
        ttl: Duration,
        clock: std::sync::Arc<dyn Clock>,
        feed: Arc<Feed>,
    ) -> Self {
        Self {
            client: redis.client(),
            link: redis.link(),
            deadline: redis.deadline(),
            prefix: prefix.to_owned(),
            size,
            ttl,
            clock,
            feed,
            redis_clock: RedisClock::default(),
            recovery: None,
        }
    }

    /// With connection-state recovery, each publication is also logged in `/realtime`'s
    /// packet log by the same script, and carries its log offset on the feed.
    pub fn with_recovery(self, recovery: Option<LogKeys>) -> Self {
        Self { recovery, ..self }
    }

    /// While Redis is known to be away a publish or a recovery is refused at once: it
    /// would only wait out its deadline.
    fn reachable(&self) -> StoreResult<()> {
        self.link.reachable()
    }

    fn keys(&self, channel: &str) -> Vec<String> {
        ["epoch", "offset", "log"]
            .iter()
            .map(|k| format!("{}:ch:{{{channel}}}:{k}", self.prefix))
            .collect()
    }

    async fn append_now(
        &self,
        channel: &str,
        event: &str,
        data: Value,
        ts: i64,
    ) -> StoreResult<Publication> {
        let entry = serde_json::to_string(&Entry {
            event: event.to_owned(),
            data: data.clone(),
            ts,
        })
        .map_err(unavailable)?;
        let epoch = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let expire = (self.ttl.as_secs() * 2).max(1).to_string();
        let channel_json = serde_json::to_string(channel).map_err(unavailable)?;
        let (sent, not_after) = self
            .redis_clock
            .not_after(&self.client, self.deadline)
            .await
            .map_err(unavailable)?;
        let mut args = vec![
            epoch,
            entry,
            self.size.to_string(),
            expire,
            self.feed.channel.clone(),
            channel_json,
            not_after.to_string(),
        ];
        let mut keys = self.keys(channel);
        match &self.recovery {
            Some(log) => {
                let room = serde_json::to_string(&channel_room(channel)).map_err(unavailable)?;
                let event = serde_json::to_string(event).map_err(unavailable)?;
                let data = serde_json::to_string(&data).map_err(unavailable)?;
                let emitted = serde_json::to_string(realtime_emits::EVENT).map_err(unavailable)?;
                args.extend([
                    log.max_entries.to_string(),
                    room,
                    event,
                    data,
                    ts.to_string(),
                    emitted,
                ]);
                keys.extend(log.keys.clone());
            }
            None => args.push(String::new()),
        }
        // A timeout here is answered `unavailable`; the script, if it reaches Redis
        // later, sees it is past `not_after` and publishes nothing (see APPEND).
        let reply: String = self
            .client
            .eval(APPEND, keys, args)
            .await
            .map_err(unavailable)?;
        let (epoch, offset) = self.read_append_reply(&reply, sent)?;
        Ok(Publication {
            channel: channel.to_owned(),
            event: event.to_owned(),
            data,
            offset,
            epoch,
            ts,
        })
    }

    /// `epoch|offset|redis_now`, or `late|redis_now` from a script that came too late.
    fn read_append_reply(&self, reply: &str, sent: i64) -> StoreResult<(String, u64)> {
        let parts: Vec<&str> = reply.split('|').collect();
        if let Some(redis_now) = parts.last().and_then(|n| n.parse().ok()) {
            self.redis_clock.observed(redis_now, sent);
        }
        let [epoch, offset, _] = parts[..] else {
            return Err(unavailable(
                "Redis got the publish after its deadline; nothing was published",
            ));
        };
        Ok((epoch.to_owned(), offset.parse().map_err(unavailable)?))
    }

    /// The publication stored under an idempotency key, waiting briefly if the first
    /// publish with that key is still in progress.
    async fn first_with_key(&self, key: &str) -> StoreResult<Publication> {
        let deadline = tokio::time::Instant::now() + IDEMPOTENCY_WAIT;
        loop {
            let stored: Option<String> = self.client.get(key).await.map_err(unavailable)?;
            if let Some(json) = stored.filter(|s| s != "pending") {
                return serde_json::from_str(&json).map_err(unavailable);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(unavailable(
                    "the first publish with this idempotencyKey did not finish",
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[async_trait]
impl ChannelHistory for RedisHistory {
    #[tracing::instrument(skip_all, name = "redis.history.append")]
    async fn append(
        &self,
        channel: &str,
        event: &str,
        data: Value,
        ts: i64,
        idempotency_key: Option<&str>,
    ) -> StoreResult<(Publication, bool)> {
        self.reachable()?;
        let Some(key) = idempotency_key else {
            return Ok((self.append_now(channel, event, data, ts).await?, true));
        };
        let key = format!("{}:idem:{key}", self.prefix);
        let claimed: Option<String> = self
            .client
            .set(
                &key,
                "pending",
                Some(Expiration::EX(IDEMPOTENCY_SECS)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(unavailable)?;
        if claimed.is_none() {
            return Ok((self.first_with_key(&key).await?, false));
        }
        let publication = match self.append_now(channel, event, data, ts).await {
            Ok(publication) => publication,
            Err(err) => {
                // Free the key so a retry can publish.
                let _: Result<i64, _> = self.client.del(&key).await;
                return Err(err);
            }
        };
        let json = serde_json::to_string(&publication).map_err(unavailable)?;
        let _: () = self
            .client
            .set(
                &key,
                json,
                Some(Expiration::EX(IDEMPOTENCY_SECS)),
                None,
                false,
            )
            .await
            .map_err(unavailable)?;
        Ok((publication, true))
    }

    #[tracing::instrument(skip_all, name = "redis.history.since")]
    async fn since(&self, channel: &str, epoch: &str, offset: u64) -> StoreResult<Recovery> {
        self.reachable()?;
        let json: String = self
            .client
            .eval(SINCE, self.keys(channel), vec![offset.to_string()])
            .await
            .map_err(unavailable)?;
        let snapshot: Snapshot = serde_json::from_str(&json).map_err(unavailable)?;
        if snapshot.epoch != epoch || offset > snapshot.last {
            return Ok(Recovery::Lost);
        }
        let oldest_kept = self.clock.now_ms() - self.ttl.as_millis() as i64;
        let mut missed = Vec::new();
        for (expected, raw) in (offset + 1..).zip(snapshot.entries.as_array().into_iter().flatten())
        {
            let Some((number, body)) = raw.as_str().and_then(|r| r.split_once('|')) else {
                return Ok(Recovery::Lost);
            };
            let entry: Entry = serde_json::from_str(body).map_err(unavailable)?;
            if number.parse::<u64>().ok() != Some(expected) || entry.ts < oldest_kept {
                return Ok(Recovery::Lost);
            }
            missed.push(Publication {
                channel: channel.to_owned(),
                event: entry.event,
                data: entry.data,
                offset: expected,
                epoch: snapshot.epoch.clone(),
                ts: entry.ts,
            });
        }
        // Every offset up to the last must be there: anything less is a partial replay.
        if missed.len() as u64 != snapshot.last - offset {
            return Ok(Recovery::Lost);
        }
        Ok(Recovery::Recovered(missed))
    }
}

#[async_trait]
impl LiveFeed for RedisHistory {
    #[tracing::instrument(skip_all, name = "redis.history.join_at_barrier")]
    async fn join_at_barrier(
        &self,
        channel: &str,
        join: Box<dyn FnOnce() + Send>,
    ) -> StoreResult<u64> {
        self.reachable()?;
        let offset_key = self.keys(channel).swap_remove(1);
        // The channel's last offset, read by the script that puts the marker on the feed.
        let mark = |marker: String| async move {
            let args = vec![self.feed.channel.clone(), marker];
            let last: String = self
                .client
                .eval(MARK, vec![offset_key], args)
                .await
                .map_err(unavailable)?;
            last.parse::<u64>().map_err(unavailable)
        };
        match self.feed.round_trip(join, mark).await {
            Ok(last) => Ok(last),
            Err(MarkerMissed::NotPut(err)) => Err(err),
            Err(MarkerMissed::Late) => Err(unavailable(
                "the publication feed did not come back in time",
            )),
        }
    }
}
