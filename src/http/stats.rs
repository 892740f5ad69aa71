//! Events per second, sampled once a second from the count every event extractor keeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchyard_namespaces::incoming::events_received;

#[derive(Default)]
pub struct EventRate {
    last_second: AtomicU64,
}

impl EventRate {
    pub fn per_second(&self) -> u64 {
        self.last_second.load(Ordering::Relaxed)
    }

    pub async fn run_sampler(self: std::sync::Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut before = events_received();
        loop {
            tick.tick().await;
            let now = events_received();
            self.last_second
                .store(now.saturating_sub(before), Ordering::Relaxed);
            before = now;
        }
    }
}
