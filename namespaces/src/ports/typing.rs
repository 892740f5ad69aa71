//! The port of typing state: who is typing in which conversation. One node keeps it in
//! memory; a cluster keeps it in Redis, so a user typing on two devices on two nodes is
//! one typist, started and stopped once.

use std::time::Duration;

use async_trait::async_trait;

/// A `typing:start` lasts this long unless renewed, so a client that vanishes
/// mid-sentence does not leave others watching a typing indicator forever.
pub const TYPING_TIMEOUT: Duration = Duration::from_secs(5);

/// What a `typing:start` changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The user was not typing here before: others must be told.
    pub is_new: bool,
    /// Pass to [`TypingState::expire`] when the timeout ends: a timer that wakes up to a
    /// newer generation knows typing was renewed and does nothing.
    pub generation: u64,
}

#[async_trait]
pub trait TypingState: Send + Sync + 'static {
    async fn start(&self, conversation_id: &str, user_id: &str) -> Started;
    /// Ends typing; true when the user was typing (others must be told).
    async fn stop(&self, conversation_id: &str, user_id: &str) -> bool;
    /// Ends typing if `generation` is still the latest start; true when it ended.
    async fn expire(&self, conversation_id: &str, user_id: &str, generation: u64) -> bool;
}
