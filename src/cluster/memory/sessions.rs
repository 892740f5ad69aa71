//! Connection-state recovery on one node: the packet log and the sessions, in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use switchyard_namespaces::ports::{
    Logged, LoggedPacket, PacketFeed, PacketLog, PacketSink, Reader, Session, SessionStore,
    StoreError, StoreResult,
};
use tokio::time::Instant;

/// One node's packet feed: each packet is logged and handed to this node's sockets under
/// its namespace's lock, so offsets reach every socket in log order (a socket is in one
/// namespace, whose log numbers its packets).
pub struct MemoryPacketFeed {
    log: Arc<MemoryPacketLog>,
    sink: OnceLock<Arc<dyn PacketSink>>,
    order: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl MemoryPacketFeed {
    pub fn new(log: Arc<MemoryPacketLog>) -> Self {
        Self {
            log,
            sink: OnceLock::new(),
            order: Mutex::default(),
        }
    }

    fn lock_of(&self, ns: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.order.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(ns.to_owned()).or_default().clone()
    }

    /// Set once the sockets exist.
    pub fn set_sink(&self, sink: Arc<dyn PacketSink>) {
        if self.sink.set(sink).is_err() {
            tracing::warn!("packet sink set twice; keeping the first");
        }
    }
}

#[async_trait]
impl PacketFeed for MemoryPacketFeed {
    async fn send(&self, ns: &str, packet: LoggedPacket) -> StoreResult<()> {
        let Some(sink) = self.sink.get() else {
            return Err(StoreError::Unavailable("no sockets yet".into()));
        };
        let lock = self.lock_of(ns);
        let _in_order = lock.lock().await;
        let offset = self.log.append(ns, &packet).await?;
        sink.deliver(ns, Logged { offset, packet }).await;
        Ok(())
    }

    /// A packet is logged and handed out under the namespace's lock: once the lock is
    /// free, every packet logged before has been handed out.
    async fn caught_up(&self, ns: &str) -> StoreResult<()> {
        let lock = self.lock_of(ns);
        let _in_order = lock.lock().await;
        Ok(())
    }
}

/// Each namespace's latest packets, numbered from 1; offsets are those numbers.
pub struct MemoryPacketLog {
    logs: Mutex<HashMap<String, NamespaceLog>>,
    max_entries: usize,
}

#[derive(Default)]
struct NamespaceLog {
    entries: VecDeque<(u64, LoggedPacket)>,
    /// The number of the latest packet; 0 before the first.
    last: u64,
}

impl NamespaceLog {
    /// The packets after `after` that `reader` wants, unless one of them was already
    /// dropped or `after` was never given out.
    fn after(&self, after: u64, limit: usize, reader: Reader<'_>) -> Option<Vec<Logged>> {
        let first_kept = self.entries.front().map_or(self.last + 1, |(n, _)| *n);
        if after > self.last || after + 1 < first_kept {
            return None;
        }
        // Numbers are consecutive: the first missed one is at a known place. Walking
        // every kept entry instead cost each resume the whole log, under the lock every
        // emit takes, which a resume storm of 2,000 clients turned into a stall.
        let first_missed = (after + 1 - first_kept) as usize;
        if self.entries.len() - first_missed > limit {
            return None;
        }
        let missed = self
            .entries
            .range(first_missed..)
            .filter(|(_, packet)| reader.wants_packet(packet))
            .map(|(n, packet)| Logged {
                offset: n.to_string(),
                packet: packet.clone(),
            });
        Some(missed.collect())
    }
}

impl MemoryPacketLog {
    /// Keeps the latest `max_entries` packets of each namespace.
    pub fn new(max_entries: usize) -> Self {
        Self {
            logs: Mutex::default(),
            max_entries: max_entries.max(1),
        }
    }

    fn logs(&self) -> MutexGuard<'_, HashMap<String, NamespaceLog>> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl PacketLog for MemoryPacketLog {
    async fn append(&self, ns: &str, packet: &LoggedPacket) -> StoreResult<String> {
        let mut logs = self.logs();
        let log = logs.entry(ns.to_owned()).or_default();
        log.last += 1;
        log.entries.push_back((log.last, packet.clone()));
        while log.entries.len() > self.max_entries {
            log.entries.pop_front();
        }
        Ok(log.last.to_string())
    }

    async fn after(
        &self,
        ns: &str,
        offset: &str,
        limit: usize,
        reader: Reader<'_>,
    ) -> StoreResult<Option<Vec<Logged>>> {
        let Ok(after) = offset.parse::<u64>() else {
            return Ok(None);
        };
        Ok(match self.logs().get(ns) {
            Some(log) => log.after(after, limit, reader),
            // Nothing logged on `ns` yet: its start, 0, is all that was given out.
            None => NamespaceLog::default().after(after, limit, reader),
        })
    }

    async fn last_offset(&self, ns: &str) -> StoreResult<Option<String>> {
        Ok(Some(
            self.logs().get(ns).map_or(0, |log| log.last).to_string(),
        ))
    }
}

/// Sessions by `pid`, each dropped once its time is up.
#[derive(Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<String, (Session, Instant)>>,
    swept_at: Mutex<usize>,
}

/// Expired sessions are dropped when the map has doubled since the last sweep, so saves
/// stay cheap and the map stays within twice the live sessions.
fn sweep(sessions: &mut HashMap<String, (Session, Instant)>, now: Instant, swept_at: &mut usize) {
    if sessions.len() >= (*swept_at * 2).max(1024) {
        sessions.retain(|_, (_, until)| *until > now);
        *swept_at = sessions.len();
    }
}

impl MemorySessions {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, (Session, Instant)>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn save(&self, pid: &str, session: &Session, ttl_ms: u64) -> StoreResult<()> {
        let now = Instant::now();
        let mut sessions = self.sessions();
        let mut swept_at = self.swept_at.lock().unwrap_or_else(|e| e.into_inner());
        sweep(&mut sessions, now, &mut swept_at);
        let until = now + Duration::from_millis(ttl_ms);
        sessions.insert(pid.to_owned(), (session.clone(), until));
        Ok(())
    }

    async fn get(&self, pid: &str) -> StoreResult<Option<Session>> {
        let now = Instant::now();
        Ok(self
            .sessions()
            .get(pid)
            .filter(|(_, until)| *until > now)
            .map(|(session, _)| session.clone()))
    }

    async fn delete(&self, pid: &str) -> StoreResult<()> {
        self.sessions().remove(pid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::redis_recovery::feed_tests::{SlowSink, packet as numbered};

    crate::sessions_contract!(|max| async move { MemoryPacketLog::new(max) }, || async {
        MemorySessions::default()
    });

    #[tokio::test]
    async fn caught_up_resolves_once_what_was_logged_before_it_is_handed_out() {
        let log = Arc::new(MemoryPacketLog::new(10));
        let feed = Arc::new(MemoryPacketFeed::new(log.clone()));
        let sink = Arc::new(SlowSink::default());
        feed.set_sink(sink.clone());
        let sending = tokio::spawn({
            let feed = feed.clone();
            async move { feed.send("/ns", numbered(1)).await }
        });
        // Logged, not yet handed out: the sink takes its time.
        while log.last_offset("/ns").await.expect("log") != Some("1".into()) {
            tokio::task::yield_now().await;
        }
        feed.caught_up("/ns").await.expect("caught up");
        assert_eq!(sink.handed_out(), ["1"]);
        sending.await.expect("task").expect("sent");
    }
}
