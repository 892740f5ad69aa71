//! Whether this node can reach Redis right now. Redis-backed state checks it before each
//! call, so while Redis is away a node answers from its own view at once instead of
//! waiting out a deadline per call (a connect makes several). A probe pings Redis a few
//! times a second on a connection of its own. A call that lost its connection marks the
//! link down at once; one that only timed out wakes the probe, which decides.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::collections::HashSet;

use fred::error::ErrorKind;
use fred::prelude::{Client, ClientLike};
use fred::types::config::Server;
use switchyard_namespaces::ports::{StoreError, StoreResult};
use tokio::sync::{Notify, broadcast, watch};

/// 1 while this node reaches Redis, 0 while it runs degraded (cluster mode only).
pub const REDIS_UP: &str = "switchyard_redis_up";
/// Times this node lost Redis and went degraded.
pub const REDIS_OUTAGES_TOTAL: &str = "switchyard_redis_outages_total";

/// Pause between two probes.
const PROBE_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct RedisLink {
    inner: Arc<Inner>,
}

struct Inner {
    up: AtomicBool,
    /// Wakes the probe early: a call timed out.
    suspect: Notify,
    down_since: std::sync::Mutex<Option<Instant>>,
    /// Counts the times Redis came back (after an outage or a reconnect of the shared
    /// connection): what was kept in Redis may be gone, and what was sent meanwhile did
    /// not cross nodes.
    returns: watch::Sender<u64>,
}

impl Default for RedisLink {
    fn default() -> Self {
        metrics::describe_gauge!(
            REDIS_UP,
            "1 while this node reaches Redis, 0 while degraded"
        );
        metrics::describe_counter!(REDIS_OUTAGES_TOTAL, "Times this node lost Redis");
        metrics::gauge!(REDIS_UP).set(1.0);
        metrics::counter!(REDIS_OUTAGES_TOTAL).increment(0);
        Self {
            inner: Arc::new(Inner {
                up: AtomicBool::new(true),
                suspect: Notify::new(),
                down_since: std::sync::Mutex::default(),
                returns: watch::Sender::new(0),
            }),
        }
    }
}

impl RedisLink {
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    /// Counts a failed call of `area`. One that lost its connection means Redis is
    /// unreachable. One that timed out or was held back may only mean that this node's
    /// own connection is busy (a burst of reconnecting clients, a node starved of CPU):
    /// the probe, on its own connection, is asked at once. Going degraded on a single
    /// slow call sent every packet unlogged, made every new session unresumable, and
    /// ended in a resync that reconnected every socket of the node.
    pub fn failed(&self, area: &'static str, err: &fred::error::Error) {
        super::redis_error(area);
        match err.kind() {
            ErrorKind::IO | ErrorKind::Canceled => self.mark_down(&err.to_string()),
            ErrorKind::Timeout | ErrorKind::Backpressure => self.suspect(),
            _ => {}
        }
    }

    /// A call took too long: the probe pings now instead of after its pause.
    pub fn suspect(&self) {
        self.inner.suspect.notify_one();
    }

    /// Advisory state (presence, typing, blocks) answers as if empty when a call fails:
    /// the failure is logged and counted, and the caller goes on.
    pub fn degraded<T: Default>(
        &self,
        area: &'static str,
        what: &str,
        err: fred::error::Error,
    ) -> T {
        tracing::warn!(error = %err, "{area} in Redis: {what} failed");
        self.failed(area, &err);
        T::default()
    }

    /// While Redis is known to be away a store call fails at once: it would only wait out
    /// its deadline.
    pub fn reachable(&self) -> StoreResult<()> {
        if self.is_up() {
            Ok(())
        } else {
            Err(StoreError::Unavailable("Redis unreachable".into()))
        }
    }

    /// A store call of `area` failed with `err`: counted, and the link marked down when
    /// Redis is unreachable.
    pub fn store_error(&self, area: &'static str, err: fred::error::Error) -> StoreError {
        self.failed(area, &err);
        StoreError::Unavailable(err.to_string().into())
    }

    pub fn mark_down(&self, why: &str) {
        if self.inner.up.swap(false, Ordering::AcqRel) {
            *self.down_since() = Some(Instant::now());
            metrics::gauge!(REDIS_UP).set(0.0);
            metrics::counter!(REDIS_OUTAGES_TOTAL).increment(1);
            tracing::error!(
                reason = why,
                "Redis unreachable: degraded mode (this node's own view, same-node delivery)"
            );
        }
    }

    fn mark_up(&self) {
        if !self.inner.up.swap(true, Ordering::AcqRel) {
            let down_for = self.down_since().take().map(|t| t.elapsed());
            metrics::gauge!(REDIS_UP).set(1.0);
            tracing::warn!(?down_for, "Redis reachable again: leaving degraded mode");
            self.came_back();
        }
    }

    /// Redis may have lost what this node keeps there (a restart), or this node may have
    /// missed what crossed it (a reconnect): whoever rebuilds or resyncs hears of it.
    pub fn came_back(&self) {
        self.inner.returns.send_modify(|n| *n += 1);
    }

    /// Fires each time Redis comes back.
    pub fn returns(&self) -> watch::Receiver<u64> {
        self.inner.returns.subscribe()
    }

    fn down_since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.inner
            .down_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Pings through `client` (a connection of the probe's own, so that a busy shared
    /// connection is not taken for an unreachable Redis) until aborted, marking the link
    /// up or down; a [`RedisLink::suspect`] call cuts the pause short.
    pub fn spawn_probe(&self, client: Client, deadline: Duration) -> tokio::task::JoinHandle<()> {
        let link = self.clone();
        tokio::spawn(async move {
            loop {
                let ping = tokio::time::timeout(deadline, client.ping::<String>(None));
                match ping.await {
                    Ok(Ok(_)) => link.mark_up(),
                    Ok(Err(err)) => link.mark_down(&err.to_string()),
                    Err(_) => link.mark_down("ping timed out"),
                }
                tokio::select! {
                    () = tokio::time::sleep(PROBE_EVERY) => {}
                    () = link.inner.suspect.notified() => {}
                }
            }
        })
    }

    /// Hears a connection's reconnects (`reconnects` taken before its first connect) until
    /// the connection is gone. A server's first connect is not a return; a later one is:
    /// a subscriber missed what was published meanwhile, and Redis may have restarted
    /// empty even when no call noticed it was away.
    pub fn watch_reconnects(
        &self,
        mut reconnects: broadcast::Receiver<Server>,
        connection: &'static str,
    ) {
        let link = self.clone();
        tokio::spawn(async move {
            let mut connected = HashSet::new();
            loop {
                match reconnects.recv().await {
                    Ok(server) if !connected.insert(server.clone()) => {
                        tracing::warn!(connection, %server, "Redis connection re-established");
                        link.came_back();
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => link.came_back(),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_return_after_an_outage_is_told() {
        let link = RedisLink::default();
        let returns = link.returns();
        link.mark_up();
        assert!(!returns.has_changed().unwrap_or(true), "up while up");
        link.mark_down("test");
        link.mark_down("test");
        assert!(!link.is_up());
        link.mark_up();
        assert!(link.is_up());
        assert_eq!(*returns.borrow(), 1);
    }

    #[test]
    fn a_refused_command_is_not_an_outage_and_a_lost_connection_is() {
        let link = RedisLink::default();
        let err = fred::error::Error::new(ErrorKind::InvalidArgument, "WRONGTYPE");
        link.failed("presence", &err);
        assert!(link.is_up());
        let err = fred::error::Error::new(ErrorKind::IO, "connection reset");
        link.failed("presence", &err);
        assert!(!link.is_up());
    }

    /// A timed-out call wakes the probe, whose ping on its own connection decides: Redis
    /// answering it keeps the node out of degraded mode. Needs the local Redis.
    #[tokio::test]
    async fn a_timed_out_call_asks_the_probe_which_finds_redis_answering() {
        let client = Client::new(
            fred::types::config::Config::from_url("redis://127.0.0.1:6379").expect("url"),
            None,
            None,
            None,
        );
        client.init().await.expect("the local Redis");
        let link = RedisLink::default();
        let probe = link.spawn_probe(client, Duration::from_secs(1));
        let returns = link.returns();
        for _ in 0..20 {
            let err = fred::error::Error::new(ErrorKind::Timeout, "timed out");
            link.failed("presence", &err);
            assert!(link.is_up(), "one slow call is not an outage");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!returns.has_changed().unwrap_or(true), "never went down");
        probe.abort();
    }
}
