//! Per-channel ordering: numbering a publication and handing it to the sockets happen
//! under one lock, so subscribers receive offsets in order even when many publishes to
//! one channel race, and a `subscribe` with `since` sees history and live events with
//! neither a gap nor an overlap.

use std::hash::{DefaultHasher, Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

/// A fixed set of locks, a channel mapped to one by hash: memory stays bounded however
/// many channels exist, and unrelated channels rarely wait on each other.
pub struct ChannelLocks {
    stripes: Vec<Mutex<()>>,
}

const STRIPES: usize = 256;

impl Default for ChannelLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl ChannelLocks {
    pub async fn lock(&self, channel: &str) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        channel.hash(&mut hasher);
        let stripe = (hasher.finish() % self.stripes.len() as u64) as usize;
        self.stripes[stripe].lock().await
    }
}
