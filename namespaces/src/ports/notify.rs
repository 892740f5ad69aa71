//! What a namespace asks of whoever notifies users (the `/notifications` namespace): tell a
//! user it cannot reach on its own sockets, by a stored notification and its push.

use std::sync::Arc;

use async_trait::async_trait;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::Priority;
use crate::NsError;

/// What to notify users of, whatever asked for it.
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub priority: Priority,
    pub ttl_seconds: Option<u32>,
    pub idempotency_key: Option<String>,
}

/// Notifies a user who has no socket on the asking namespace. Generic over the adapter
/// because the implementor looks for the user's sockets on its own namespace of `io`.
#[async_trait]
pub trait OfflineNotifier<A: Adapter>: Send + Sync + 'static {
    /// `notice` for `user_id`, unless the user has a socket on the implementor's namespace
    /// too (then nothing is stored: the user is online).
    async fn notify_offline(
        &self,
        io: &SocketIo<A>,
        user_id: &str,
        notice: &Notice,
    ) -> Result<(), NsError>;
}

/// `/ws`'s way to reach recipients with no socket (a socketioxide state): `None` when
/// messages do not become notifications (`push_messages` off, or push not configured).
pub struct MessagePush<A: Adapter>(pub Option<Arc<dyn OfflineNotifier<A>>>);

impl<A: Adapter> Clone for MessagePush<A> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
