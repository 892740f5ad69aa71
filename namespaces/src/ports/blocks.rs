//! The port of user blocks: repeat offenders of the rate limits are kept out for a while,
//! on every node of a cluster.

use std::time::Duration;

use async_trait::async_trait;

#[async_trait]
pub trait UserBlocks: Send + Sync + 'static {
    /// Keeps `user_id` out for `duration` from now.
    async fn block(&self, user_id: &str, duration: Duration);
    /// How much longer the user is kept out, if at all.
    async fn blocked_for(&self, user_id: &str) -> Option<Duration>;
}
