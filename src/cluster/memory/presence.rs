//! Presence of one node in memory: each user's sockets, chosen status, last activity and
//! channel membership, behind one lock (every call is a few map operations).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::few_strings::FewStrings;
use async_trait::async_trait;
use switchyard_namespaces::ports::{
    Change, ChannelStats, ChosenStatus, PresenceRecord, PresenceRegistry, Reaped,
};

#[derive(Default)]
struct User {
    sockets: FewStrings,
    chosen: ChosenStatus,
    message: Option<String>,
    last_activity: i64,
    last_seen: Option<i64>,
    /// The last status told to others (see [`PresenceRegistry::mark_told`]).
    told: Option<String>,
}

#[derive(Default)]
struct State {
    users: HashMap<String, User>,
    /// channel -> user -> that user's sockets in the channel
    members: HashMap<String, HashMap<String, FewStrings>>,
    /// socket -> (user, channels)
    sockets: HashMap<String, (String, FewStrings)>,
}

#[derive(Default)]
pub struct MemoryPresence {
    state: Mutex<State>,
}

impl MemoryPresence {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sockets here close through `socket_closed` or not at all (with the process), so
/// nothing ever expires: `reap_expired` finds no one.
#[async_trait]
impl PresenceRegistry for MemoryPresence {
    async fn socket_opened(&self, user_id: &str, socket_id: &str, now: i64) -> Change {
        let mut state = self.state();
        state
            .sockets
            .entry(socket_id.to_owned())
            .or_insert_with(|| (user_id.to_owned(), FewStrings::default()));
        let user = state.users.entry(user_id.to_owned()).or_default();
        let first = user.sockets.is_empty();
        user.sockets.insert(socket_id);
        user.last_activity = now;
        flipped(first)
    }

    async fn socket_closed(&self, user_id: &str, socket_id: &str, now: i64) -> Change {
        let mut state = self.state();
        state.sockets.remove(socket_id);
        let Some(user) = state.users.get_mut(user_id) else {
            return Change::default();
        };
        let removed = user.sockets.remove(socket_id);
        if removed && user.sockets.is_empty() {
            user.last_seen = Some(now);
            return flipped(true);
        }
        Change::default()
    }

    async fn set_status(&self, user_id: &str, status: ChosenStatus, message: Option<String>) {
        let mut state = self.state();
        let user = state.users.entry(user_id.to_owned()).or_default();
        user.chosen = status;
        user.message = message;
    }

    async fn touch(&self, user_id: &str, now: i64) {
        if let Some(user) = self.state().users.get_mut(user_id) {
            user.last_activity = user.last_activity.max(now);
        }
    }

    async fn records(&self, user_ids: &[String]) -> Vec<PresenceRecord> {
        let state = self.state();
        user_ids
            .iter()
            .filter_map(|id| {
                let user = state.users.get(id)?;
                Some(PresenceRecord {
                    user_id: id.clone(),
                    devices: user.sockets.len(),
                    chosen: user.chosen,
                    message: user.message.clone(),
                    last_activity: user.last_activity,
                    last_seen: user.last_seen,
                })
            })
            .collect()
    }

    async fn local_users(&self) -> Vec<String> {
        let state = self.state();
        state
            .users
            .iter()
            .filter(|(_, u)| !u.sockets.is_empty())
            .map(|(id, _)| id.clone())
            .collect()
    }

    async fn joined(&self, channel: &str, user_id: &str, socket_id: &str) -> bool {
        let mut state = self.state();
        if let Some((_, channels)) = state.sockets.get_mut(socket_id) {
            channels.insert(channel);
        }
        let sockets = state
            .members
            .entry(channel.to_owned())
            .or_default()
            .entry(user_id.to_owned())
            .or_default();
        let first = sockets.is_empty();
        sockets.insert(socket_id);
        first
    }

    async fn left(&self, channel: &str, user_id: &str, socket_id: &str) -> bool {
        let mut state = self.state();
        if let Some((_, channels)) = state.sockets.get_mut(socket_id) {
            channels.remove(channel);
        }
        let Some(users) = state.members.get_mut(channel) else {
            return false;
        };
        let Some(sockets) = users.get_mut(user_id) else {
            return false;
        };
        let was_there = sockets.remove(socket_id);
        let last = was_there && sockets.is_empty();
        if sockets.is_empty() {
            users.remove(user_id);
        }
        if users.is_empty() {
            state.members.remove(channel);
        }
        last
    }

    async fn channels_of_socket(&self, socket_id: &str) -> Vec<String> {
        let state = self.state();
        state
            .sockets
            .get(socket_id)
            .map(|(_, c)| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    async fn channels_of_user(&self, user_id: &str) -> Vec<String> {
        let state = self.state();
        let Some(user) = state.users.get(user_id) else {
            return Vec::new();
        };
        let mut channels: Vec<String> = user
            .sockets
            .iter()
            .filter_map(|sid| state.sockets.get(sid))
            .flat_map(|(_, c)| c.iter().cloned())
            .collect();
        channels.sort();
        channels.dedup();
        channels
    }

    async fn forget_offline_before(&self, before: i64) {
        self.state()
            .users
            .retain(|_, u| !u.sockets.is_empty() || u.last_seen.is_none_or(|seen| seen >= before));
    }

    async fn mark_told(&self, user_id: &str, told: &str) -> bool {
        let mut state = self.state();
        let user = state.users.entry(user_id.to_owned()).or_default();
        if user.told.as_deref() == Some(told) {
            return false;
        }
        user.told = Some(told.to_owned());
        true
    }

    async fn told(&self, user_id: &str) -> Option<String> {
        self.state().users.get(user_id)?.told.clone()
    }

    async fn reap_expired(&self, _now: i64) -> Vec<Reaped> {
        Vec::new()
    }

    async fn members(&self, channel: &str) -> Vec<String> {
        let state = self.state();
        let mut users: Vec<String> = state
            .members
            .get(channel)
            .map(|u| u.keys().cloned().collect())
            .unwrap_or_default();
        users.sort();
        users
    }

    fn local_subscriptions(&self) -> usize {
        let state = self.state();
        state
            .sockets
            .values()
            .map(|(_, channels)| channels.len())
            .sum()
    }

    fn local_sockets(&self) -> Vec<(String, String)> {
        let state = self.state();
        state
            .sockets
            .iter()
            .map(|(sid, (user, _))| (user.clone(), sid.clone()))
            .collect()
    }

    async fn subscribers(&self, channel: &str) -> Option<usize> {
        let state = self.state();
        let count = state
            .members
            .get(channel)
            .map_or(0, |users| users.values().map(FewStrings::len).sum());
        Some(count)
    }

    async fn stats(&self, channel: &str) -> ChannelStats {
        let state = self.state();
        state
            .members
            .get(channel)
            .map_or_else(ChannelStats::default, |users| ChannelStats {
                users: users.len(),
                sockets: users.values().map(FewStrings::len).sum(),
            })
    }
}

impl MemoryPresence {
    /// Entries of every map, for tests that memory is given back: users kept (online, or
    /// offline for less than a day), channels with members, sockets, and memberships.
    #[cfg(test)]
    fn entries(&self) -> [usize; 4] {
        let state = self.state();
        let memberships = state.members.values().flat_map(|users| users.values());
        [
            state.users.len(),
            state.members.len(),
            state.sockets.len(),
            memberships.map(FewStrings::len).sum(),
        ]
    }
}

fn flipped(flipped: bool) -> Change {
    Change {
        flipped,
        left_channels: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
