//! User blocks of one node, in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_namespaces::ports::UserBlocks;
use tokio::time::Instant;

#[derive(Default)]
pub struct MemoryBlocks {
    until: Mutex<HashMap<String, Instant>>,
}

#[async_trait]
impl UserBlocks for MemoryBlocks {
    async fn block(&self, user_id: &str, duration: Duration) {
        let now = Instant::now();
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        // Expired blocks go whenever a new one comes: the map holds current offenders only.
        until.retain(|_, end| *end > now);
        until.insert(user_id.to_owned(), now + duration);
    }

    async fn blocked_for(&self, user_id: &str) -> Option<Duration> {
        let until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let left = until.get(user_id)?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }
}
