//! Who is typing where. A `typing:start` lasts 5 s unless renewed, so a client that
//! vanishes mid-sentence does not leave others watching a typing indicator forever.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub const TYPING_TIMEOUT: Duration = Duration::from_secs(5);

type Key = (String, String);

/// Tracks each (conversation, user) typing state with a generation number: a timer that
/// wakes up to a newer generation knows it was renewed and does nothing.
#[derive(Default)]
pub struct TypingTracker {
    active: Mutex<HashMap<Key, u64>>,
    next_generation: Mutex<u64>,
}

/// What a `typing:start` changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The user was not typing here before: others must be told.
    pub is_new: bool,
    /// Pass to [`TypingTracker::expire`] when the timeout ends.
    pub generation: u64,
}

impl TypingTracker {
    pub fn start(&self, conversation_id: &str, user_id: &str) -> Started {
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

    /// Ends typing; true when the user was typing (others must be told).
    pub fn stop(&self, conversation_id: &str, user_id: &str) -> bool {
        let key = (conversation_id.to_owned(), user_id.to_owned());
        lock(&self.active).remove(&key).is_some()
    }

    /// Ends typing if `generation` is still the latest start; true when it ended.
    pub fn expire(&self, conversation_id: &str, user_id: &str, generation: u64) -> bool {
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

    #[test]
    fn first_start_is_new_and_renewal_is_not() {
        let t = TypingTracker::default();
        assert!(t.start("c", "u").is_new);
        assert!(!t.start("c", "u").is_new);
        assert!(t.start("c", "v").is_new);
    }

    #[test]
    fn a_renewed_start_outlives_the_old_timer() {
        let t = TypingTracker::default();
        let first = t.start("c", "u");
        let second = t.start("c", "u");
        assert!(!t.expire("c", "u", first.generation));
        assert!(t.expire("c", "u", second.generation));
        assert!(!t.stop("c", "u"));
    }

    #[test]
    fn stop_reports_only_real_changes() {
        let t = TypingTracker::default();
        assert!(!t.stop("c", "u"));
        t.start("c", "u");
        assert!(t.stop("c", "u"));
    }
}
