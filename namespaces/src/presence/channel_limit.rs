//! Which channels are told presence: those whose channel rule says `joinLeave = true`,
//! never those whose rule says `false`, and otherwise those with at most
//! [`channel_limit`](super::PresenceConfig::channel_limit) subscribed sockets.

use super::Presence;
use crate::channel_rules::join_leave;

impl Presence {
    /// Whether `channel` is told presence of `user_id`: by its rule's `joinLeave`, else
    /// when it has at most [`channel_limit`](super::PresenceConfig::channel_limit)
    /// subscribed sockets, counting `leaving` sockets that have just left (so a leave is
    /// judged as its join was). A channel that cannot be counted is not told: taking it for
    /// empty sent every join and leave to every subscriber of the biggest channels exactly
    /// when Redis was slow, filling their queues and loading Redis further.
    pub(super) async fn is_told_in(&self, channel: &str, user_id: &str, leaving: usize) -> bool {
        let config = &self.inner.config;
        if let Some(told) = join_leave(&config.channel_rules, user_id, channel) {
            return told;
        }
        let limit = config.channel_limit;
        if limit == 0 {
            return true;
        }
        let subscribers = self.inner.registry.subscribers(channel).await;
        subscribers.is_some_and(|n| n + leaving <= limit)
    }

    /// The channels of `channels` that are told presence of `user_id`, `leaving` as in
    /// [`Presence::is_told_in`].
    pub(super) async fn within_limit(
        &self,
        channels: Vec<String>,
        user_id: &str,
        leaving: usize,
    ) -> Vec<String> {
        let told = channels
            .iter()
            .map(|c| self.is_told_in(c, user_id, leaving));
        let told = futures_util::future::join_all(told).await;
        channels
            .into_iter()
            .zip(told)
            .filter_map(|(channel, told)| told.then_some(channel))
            .collect()
    }
}
