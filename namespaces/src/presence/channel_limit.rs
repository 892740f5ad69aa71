//! Which channels are told presence: all of them, or those with at most
//! [`channel_limit`](super::PresenceConfig::channel_limit) subscribed sockets.

use super::Presence;

impl Presence {
    /// Whether `channel` is small enough to be told presence: at most
    /// [`channel_limit`](super::PresenceConfig::channel_limit) subscribed sockets, counting
    /// `leaving` sockets that have just left (so a leave is judged as its join was).
    pub(super) async fn is_told_in(&self, channel: &str, leaving: usize) -> bool {
        let limit = self.inner.config.channel_limit;
        limit == 0 || self.inner.registry.subscribers(channel).await + leaving <= limit
    }

    /// The channels of `channels` that are told presence, `leaving` as in
    /// [`Presence::is_told_in`].
    pub(super) async fn within_limit(&self, channels: Vec<String>, leaving: usize) -> Vec<String> {
        if self.inner.config.channel_limit == 0 {
            return channels;
        }
        let told = channels.iter().map(|c| self.is_told_in(c, leaving));
        let told = futures_util::future::join_all(told).await;
        channels
            .into_iter()
            .zip(told)
            .filter_map(|(channel, told)| told.then_some(channel))
            .collect()
    }
}
