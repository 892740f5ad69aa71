//! Channel history in memory: the last N publications of each channel for T, with a
//! per-channel epoch that is new for every process (a restart loses history, and the
//! changed epoch tells clients so).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use switchyard_namespaces::ports::{
    ChannelHistory, Publication, Recovery, StoreError, StoreResult,
};
use tokio::time::Instant;

/// How long a repeated publish `idempotencyKey` returns the first result.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(300);

struct Log {
    epoch: String,
    last_offset: u64,
    entries: VecDeque<(Instant, Publication)>,
}

impl Log {
    fn new() -> Self {
        Self {
            epoch: new_epoch(),
            last_offset: 0,
            entries: VecDeque::new(),
        }
    }

    fn prune(&mut self, size: usize, ttl: Duration) {
        while self.entries.len() > size
            || self
                .entries
                .front()
                .is_some_and(|(at, _)| at.elapsed() > ttl)
        {
            self.entries.pop_front();
        }
    }
}

fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

pub struct MemoryHistory {
    size: usize,
    ttl: Duration,
    /// A channel idle for twice the history TTL has nothing left to recover and is
    /// dropped; its next publication starts a new epoch.
    logs: moka::sync::Cache<String, Arc<Mutex<Log>>>,
    published: moka::future::Cache<String, Publication>,
}

impl MemoryHistory {
    pub fn new(size: usize, ttl: Duration) -> Self {
        Self {
            size,
            ttl,
            logs: moka::sync::Cache::builder().time_to_idle(ttl * 2).build(),
            published: moka::future::Cache::builder()
                .time_to_live(IDEMPOTENCY_WINDOW)
                .build(),
        }
    }

    fn log(&self, channel: &str) -> Arc<Mutex<Log>> {
        self.logs
            .get_with(channel.to_owned(), || Arc::new(Mutex::new(Log::new())))
    }

    fn append_now(&self, channel: &str, event: &str, data: Value, ts: i64) -> Publication {
        let log = self.log(channel);
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        log.last_offset += 1;
        let publication = Publication {
            channel: channel.to_owned(),
            event: event.to_owned(),
            data,
            offset: log.last_offset,
            epoch: log.epoch.clone(),
            ts,
        };
        log.entries.push_back((Instant::now(), publication.clone()));
        log.prune(self.size, self.ttl);
        publication
    }
}

#[async_trait]
impl ChannelHistory for MemoryHistory {
    async fn append(
        &self,
        channel: &str,
        event: &str,
        data: Value,
        ts: i64,
        idempotency_key: Option<&str>,
    ) -> StoreResult<(Publication, bool)> {
        let Some(key) = idempotency_key else {
            return Ok((self.append_now(channel, event, data, ts), true));
        };
        // One insertion per key even when the same key races in from two requests.
        let entry = self
            .published
            .entry(key.to_owned())
            .or_try_insert_with(async {
                Ok::<_, StoreError>(self.append_now(channel, event, data, ts))
            })
            .await
            .map_err(|err| StoreError::Unavailable(err.to_string().into()))?;
        let fresh = entry.is_fresh();
        Ok((entry.into_value(), fresh))
    }

    async fn since(&self, channel: &str, epoch: &str, offset: u64) -> StoreResult<Recovery> {
        let Some(log) = self.logs.get(channel) else {
            return Ok(Recovery::Lost);
        };
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        log.prune(self.size, self.ttl);
        if log.epoch != epoch || offset > log.last_offset {
            return Ok(Recovery::Lost);
        }
        if offset == log.last_offset {
            return Ok(Recovery::Recovered(Vec::new()));
        }
        let first_kept = log.entries.front().map(|(_, p)| p.offset);
        if first_kept.is_none_or(|first| first > offset + 1) {
            return Ok(Recovery::Lost);
        }
        let missed = log
            .entries
            .iter()
            .map(|(_, p)| p)
            .filter(|p| p.offset > offset)
            .cloned()
            .collect();
        Ok(Recovery::Recovered(missed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn publish(h: &MemoryHistory, n: u64) -> Publication {
        h.append("public:a", "tick", json!({ "n": n }), 0, None)
            .await
            .expect("append")
            .0
    }

    fn offsets(r: Recovery) -> Option<Vec<u64>> {
        match r {
            Recovery::Recovered(ps) => Some(ps.iter().map(|p| p.offset).collect()),
            Recovery::Lost => None,
        }
    }

    #[tokio::test]
    async fn offsets_grow_by_one_and_recovery_returns_the_gap_in_order() {
        let h = MemoryHistory::new(100, Duration::from_secs(300));
        let first = publish(&h, 1).await;
        for n in 2..=5 {
            assert_eq!(publish(&h, n).await.offset, n);
        }
        let r = h.since("public:a", &first.epoch, 2).await.expect("since");
        assert_eq!(offsets(r), Some(vec![3, 4, 5]));
        assert_eq!(
            offsets(h.since("public:a", &first.epoch, 5).await.expect("since")),
            Some(vec![])
        );
    }

    #[tokio::test]
    async fn a_gap_beyond_the_kept_size_is_lost_not_partially_replayed() {
        let h = MemoryHistory::new(3, Duration::from_secs(300));
        let first = publish(&h, 1).await;
        for n in 2..=6 {
            publish(&h, n).await;
        }
        assert_eq!(
            offsets(h.since("public:a", &first.epoch, 1).await.expect("since")),
            None
        );
        assert_eq!(
            offsets(h.since("public:a", &first.epoch, 3).await.expect("since")),
            Some(vec![4, 5, 6])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn publications_older_than_the_ttl_are_gone() {
        let h = MemoryHistory::new(100, Duration::from_secs(300));
        let first = publish(&h, 1).await;
        publish(&h, 2).await;
        tokio::time::advance(Duration::from_secs(301)).await;
        publish(&h, 3).await;
        assert_eq!(
            offsets(h.since("public:a", &first.epoch, 0).await.expect("since")),
            None
        );
        assert_eq!(
            offsets(h.since("public:a", &first.epoch, 2).await.expect("since")),
            Some(vec![3])
        );
    }

    #[tokio::test]
    async fn wrong_epochs_unknown_channels_and_future_offsets_are_lost() {
        let h = MemoryHistory::new(100, Duration::from_secs(300));
        let p = publish(&h, 1).await;
        assert_eq!(
            offsets(h.since("public:a", "other-epoch", 0).await.expect("since")),
            None
        );
        assert_eq!(
            offsets(h.since("public:zzz", &p.epoch, 0).await.expect("since")),
            None
        );
        assert_eq!(
            offsets(h.since("public:a", &p.epoch, 9).await.expect("since")),
            None
        );
    }

    #[tokio::test]
    async fn a_repeated_idempotency_key_returns_the_first_publication() {
        let h = MemoryHistory::new(100, Duration::from_secs(300));
        let (first, new) = h
            .append("public:a", "e", json!(1), 0, Some("k"))
            .await
            .expect("append");
        assert!(new);
        let (again, new) = h
            .append("public:a", "e", json!(2), 0, Some("k"))
            .await
            .expect("append");
        assert!(!new);
        assert_eq!(again, first);
        assert_eq!(
            publish(&h, 3).await.offset,
            2,
            "the repeat published nothing"
        );
    }
}
