//! One clock for every socket's token expiry. A timer task per socket cost about 0.8 KB of
//! every idle connection (BENCHMARKS.md, heap profile); here a socket costs an entry in one
//! `DelayQueue` and a map, about 0.2 KB.
//!
//! At a socket's `exp` the clock tells it `auth:expired` and, unless a refresh moved `exp`
//! on meanwhile, closes it after the grace period. A socket that goes away is forgotten
//! when its [`Watched`] guard (kept in its extensions) drops.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::time::{DelayQueue, delay_queue};

/// The expiry (seconds since the Unix epoch) of the token a socket holds now: what the
/// clock watches, and what a refresh moves on (`session.rs`).
#[derive(Clone)]
pub struct Session(Arc<AtomicI64>);

impl Session {
    pub(super) fn new(expires_at: i64) -> Self {
        Self(Arc::new(AtomicI64::new(expires_at)))
    }

    pub(super) fn expires_at(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// A refresh only ever moves the expiry on.
    pub(super) fn extend_to(&self, expires_at: i64) {
        self.0.fetch_max(expires_at, Ordering::SeqCst);
    }
}

/// What the clock does to a socket, whatever its namespace's adapter.
pub trait ExpiryTarget: Send + Sync + 'static {
    /// Tells the socket its token expired; false if the socket is gone.
    fn tell_expired(&self, grace: Duration) -> bool;
    /// Closes the socket, if it is still there.
    fn disconnect(&self);
}

/// The handle sockets are registered with; cheap to clone.
#[derive(Clone)]
pub struct ExpiryClock {
    commands: mpsc::UnboundedSender<Command>,
    next_id: Arc<AtomicU64>,
}

enum Command {
    Watch(u64, Session, Box<dyn ExpiryTarget>),
    Forget(u64),
}

/// Kept by the socket (in its extensions): dropped with it, it has the clock forget it.
pub struct Watched {
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        // The clock is gone only at shutdown, when there is nothing left to forget.
        let _ = self.commands.send(Command::Forget(self.id));
    }
}

impl ExpiryClock {
    /// Starts the clock's task; it ends when every handle and guard is dropped.
    pub fn start(grace: Duration) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(Clock::new(grace).run(rx));
        Self {
            commands,
            next_id: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Watches a socket's session until the returned guard drops.
    pub fn watch(&self, session: Session, target: Box<dyn ExpiryTarget>) -> Watched {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.commands.send(Command::Watch(id, session, target));
        Watched {
            id,
            commands: self.commands.clone(),
        }
    }
}

/// The longest a timer is set for: tokio's timer wheel takes at most about two years, and
/// a token may say it expires in a thousand. The clock re-arms when it wakes early.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

enum Phase {
    /// Waiting for the session's `exp`.
    Valid,
    /// Told `auth:expired` when the session's `exp` was this; closed at the end of the
    /// grace period unless a refresh moved it on.
    Grace(i64),
}

struct Entry {
    session: Session,
    target: Box<dyn ExpiryTarget>,
    phase: Phase,
    key: delay_queue::Key,
}

struct Clock {
    grace: Duration,
    queue: DelayQueue<u64>,
    entries: HashMap<u64, Entry>,
}

impl Clock {
    fn new(grace: Duration) -> Self {
        Self {
            grace,
            queue: DelayQueue::new(),
            entries: HashMap::new(),
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.apply(command),
                    None => return,
                },
                Some(due) = std::future::poll_fn(|cx| self.queue.poll_expired(cx)) => {
                    self.wake(due.into_inner());
                }
            }
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Watch(id, session, target) => {
                let key = self.queue.insert(id, until(session.expires_at()));
                let phase = Phase::Valid;
                let entry = Entry {
                    session,
                    target,
                    phase,
                    key,
                };
                self.entries.insert(id, entry);
            }
            Command::Forget(id) => {
                if let Some(entry) = self.entries.remove(&id) {
                    self.queue.try_remove(&entry.key);
                }
            }
        }
    }

    fn wake(&mut self, id: u64) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let exp = entry.session.expires_at();
        let wait = until(exp);
        let next = match entry.phase {
            Phase::Grace(told_at) if exp <= told_at => {
                entry.target.disconnect();
                None
            }
            // Refreshed (in the grace period or before), or woken early by LONGEST_WAIT.
            _ if !wait.is_zero() => Some((Phase::Valid, wait)),
            _ if entry.target.tell_expired(self.grace) => Some((Phase::Grace(exp), self.grace)),
            _ => None,
        };
        match next {
            Some((phase, wait)) => {
                entry.phase = phase;
                entry.key = self.queue.insert(id, wait);
            }
            None => {
                self.entries.remove(&id);
            }
        }
    }
}

/// Time until `exp` (seconds since the Unix epoch); zero if passed.
fn until(exp: i64) -> Duration {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let ms = exp.saturating_mul(1000).saturating_sub(now_ms).max(0);
    Duration::from_millis(ms as u64).min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records what the clock did to it.
    #[derive(Clone, Default)]
    struct Probe(Arc<Mutex<Vec<&'static str>>>);

    impl Probe {
        fn record(&self, what: &'static str) {
            self.0.lock().expect("probe lock").push(what);
        }
        fn seen(&self) -> Vec<&'static str> {
            self.0.lock().expect("probe lock").clone()
        }
    }

    impl ExpiryTarget for Probe {
        fn tell_expired(&self, _grace: Duration) -> bool {
            self.record("expired");
            true
        }
        fn disconnect(&self) {
            self.record("disconnect");
        }
    }

    fn unix_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    #[tokio::test]
    async fn an_expired_session_is_told_then_closed_after_the_grace() {
        let clock = ExpiryClock::start(Duration::from_millis(200));
        let probe = Probe::default();
        let _watched = clock.watch(Session::new(unix_now() - 1), Box::new(probe.clone()));
        settle().await;
        assert_eq!(probe.seen(), ["expired", "disconnect"]);
    }

    #[tokio::test]
    async fn a_refresh_in_the_grace_period_keeps_the_socket() {
        let clock = ExpiryClock::start(Duration::from_millis(200));
        let probe = Probe::default();
        let session = Session::new(unix_now() - 1);
        let _watched = clock.watch(session.clone(), Box::new(probe.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        session.extend_to(unix_now() + 3600);
        settle().await;
        assert_eq!(probe.seen(), ["expired"]);
    }

    #[tokio::test]
    async fn a_socket_gone_is_forgotten() {
        let clock = ExpiryClock::start(Duration::from_millis(200));
        let probe = Probe::default();
        let watched = clock.watch(Session::new(unix_now() + 1), Box::new(probe.clone()));
        drop(watched);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(probe.seen().is_empty(), "nothing done to a socket gone");
    }
}
