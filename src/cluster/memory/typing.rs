//! Who is typing where, on one node.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use switchyard_namespaces::ports::{Started, TypingState};

type Key = (String, String);

/// Tracks each (conversation, user) typing state with a generation number: a timer that
/// wakes up to a newer generation knows it was renewed and does nothing.
#[derive(Default)]
pub struct TypingTracker {
    active: Mutex<HashMap<Key, u64>>,
    next_generation: Mutex<u64>,
}

#[async_trait]
impl TypingState for TypingTracker {
    async fn start(&self, conversation_id: &str, user_id: &str) -> Started {
        let generation = {
            let mut next = lock(&self.next_generation);
            *next += 1;
            *next
        };
        let key = (conversation_id.to_owned(), user_id.to_owned());
        let previous = lock(&self.active).insert(key, generation);
        Started {
            is_new: previous.is_none(),
            generation,
        }
    }

    async fn stop(&self, conversation_id: &str, user_id: &str) -> bool {
        let key = (conversation_id.to_owned(), user_id.to_owned());
        lock(&self.active).remove(&key).is_some()
    }

    async fn expire(&self, conversation_id: &str, user_id: &str, generation: u64) -> bool {
        let key = (conversation_id.to_owned(), user_id.to_owned());
        let mut active = lock(&self.active);
        if active.get(&key) == Some(&generation) {
            active.remove(&key);
            true
        } else {
            false
        }
    }
}

/// A poisoned lock only means another task panicked mid-update of a plain map; the map
/// is still usable, and typing state is not worth taking the namespace down for.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::typing_contract!(|| async { TypingTracker::default() });
}
