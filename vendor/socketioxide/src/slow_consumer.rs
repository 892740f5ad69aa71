//! Switchyard's patch: how long a connection's outgoing queue has stayed full, so that a
//! client that stops reading is closed instead of silently missing every packet sent to
//! it from then on (see [`SocketIoBuilder::slow_consumer_timeout`](crate::SocketIoBuilder)).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Kept per connection (the queue is the connection's, whichever namespace sends).
#[derive(Debug, Default)]
pub(crate) struct QueueWatch {
    /// When a send first found the queue full, in [`now_ms`]; 0 once a send got through.
    full_since: AtomicU64,
    /// Set once, by the send that decided to close the connection.
    closing: AtomicBool,
}

impl QueueWatch {
    /// A send got a place in the queue: the client is reading. A load before the store, so
    /// the common case (never full) only reads a shared cache line.
    pub(crate) fn sent(&self) {
        if self.full_since.load(Ordering::Relaxed) != 0 {
            self.full_since.store(0, Ordering::Relaxed);
        }
    }

    /// A send found the queue full. True, once, when every send for `timeout` has: the
    /// caller closes the connection. A queue that empties in between starts over, so a
    /// client that keeps up but bursts is never closed.
    pub(crate) fn full(&self, timeout: Duration) -> bool {
        let now = now_ms();
        let since =
            match self
                .full_since
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => now,
                Err(since) => since,
            };
        let waited = Duration::from_millis(now.saturating_sub(since));
        waited >= timeout && !self.closing.swap(true, Ordering::Relaxed)
    }

    /// True for the one caller that decides to close the connection now.
    pub(crate) fn close_once(&self) -> bool {
        !self.closing.swap(true, Ordering::Relaxed)
    }

    /// Whether the connection is being closed for not reading.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }
}

/// Milliseconds since the first call, plus one (0 means "not full").
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed().as_millis();
    u64::try_from(elapsed).unwrap_or(u64::MAX - 1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_once_after_the_queue_stays_full() {
        let watch = QueueWatch::default();
        assert!(!watch.full(Duration::from_millis(30)));
        std::thread::sleep(Duration::from_millis(40));
        assert!(watch.full(Duration::from_millis(30)));
        assert!(watch.is_closing());
        assert!(!watch.full(Duration::from_millis(30)), "decided once");
    }

    #[test]
    fn a_send_that_gets_through_starts_over() {
        let watch = QueueWatch::default();
        assert!(!watch.full(Duration::from_millis(30)));
        std::thread::sleep(Duration::from_millis(40));
        watch.sent();
        assert!(!watch.full(Duration::from_millis(30)));
        assert!(!watch.is_closing());
    }
}
