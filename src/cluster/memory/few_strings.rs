//! A set of strings that is usually tiny (a user's sockets, a socket's channels, a user's
//! sockets in one channel) but may grow to hundreds (a socket's channels, up to
//! `max_subscriptions_per_socket`).

use std::collections::HashSet;

use smallvec::SmallVec;

/// Kept as a short list while it is small and as a hash set once it is not: a `HashSet`
/// allocated a table of about 116 bytes for its first entry, and a connected socket had
/// three of them (BENCHMARKS.md, idle memory), while a list scanned on every insert made
/// a socket subscribing to N channels cost N² comparisons.
pub(super) enum FewStrings {
    Few(SmallVec<[String; 1]>),
    Many(HashSet<String>),
}

/// Above this many entries the list becomes a set; a scan of 16 short strings costs
/// about what one hash does.
const LIST_MAX: usize = 16;

impl Default for FewStrings {
    fn default() -> Self {
        Self::Few(SmallVec::new())
    }
}

impl FewStrings {
    pub(super) fn insert(&mut self, value: &str) -> bool {
        match self {
            Self::Few(list) if list.iter().any(|v| v == value) => false,
            Self::Few(list) if list.len() < LIST_MAX => {
                list.push(value.to_owned());
                true
            }
            Self::Few(list) => {
                let mut set: HashSet<String> = list.drain(..).collect();
                set.insert(value.to_owned());
                *self = Self::Many(set);
                true
            }
            Self::Many(set) => set.insert(value.to_owned()),
        }
    }

    pub(super) fn remove(&mut self, value: &str) -> bool {
        match self {
            Self::Few(list) => match list.iter().position(|v| v == value) {
                Some(at) => {
                    list.swap_remove(at);
                    true
                }
                None => false,
            },
            Self::Many(set) => {
                let removed = set.remove(value);
                // Back to the list once small again, so a socket that unsubscribes from
                // most channels does not keep a large table.
                if set.len() <= LIST_MAX / 2 {
                    *self = Self::Few(set.drain().collect());
                }
                removed
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::Few(list) => list.len(),
            Self::Many(set) => set.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn iter(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        match self {
            Self::Few(list) => Box::new(list.iter()),
            Self::Many(set) => Box::new(set.iter()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_entries_become_a_set_and_shrink_back() {
        let mut set = FewStrings::default();
        for i in 0..1_000 {
            assert!(set.insert(&format!("ch{i}")));
        }
        assert!(!set.insert("ch7"), "no duplicates");
        assert!(matches!(set, FewStrings::Many(_)));
        assert_eq!(set.len(), 1_000);
        for i in 0..1_000 {
            assert!(set.remove(&format!("ch{i}")), "ch{i}");
        }
        assert!(set.is_empty() && matches!(set, FewStrings::Few(_)));
        assert!(!set.remove("ch1"));
        assert!(set.insert("a") && set.insert("b"));
        let mut all: Vec<&String> = set.iter().collect();
        all.sort();
        assert_eq!(all, ["a", "b"]);
    }
}
