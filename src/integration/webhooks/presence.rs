//! `user.online` and `user.offline`: presence transitions have no database row of their
//! own, so they are written to the outbox outside any change's transaction. The presence
//! service tells them through a port whose calls return at once; one task per node writes
//! them in the order they came (so a user's online and offline from this node keep their
//! order), retrying a failed write a few times before giving up on it.

use std::sync::Arc;
use std::time::Duration;

use switchyard_namespaces::ports::PresenceTransitions;
use tokio::sync::mpsc;

use super::event::WebhookEvent;
use crate::store::WebhookOutbox;

/// Transitions waiting to be written; past it (the database away for long) new ones are
/// dropped, and said so.
const QUEUE: usize = 10_000;
const ATTEMPTS: u32 = 5;

pub struct PresenceWebhooks {
    queue: mpsc::Sender<WebhookEvent>,
}

impl PresenceWebhooks {
    /// The port, and the receiving end [`write_transitions`] drains.
    pub fn new() -> (Self, mpsc::Receiver<WebhookEvent>) {
        let (queue, rx) = mpsc::channel(QUEUE);
        (Self { queue }, rx)
    }

    fn push(&self, event: WebhookEvent) {
        if let Err(err) = self.queue.try_send(event) {
            tracing::warn!(error = %err, "presence webhook not queued: too many waiting");
        }
    }
}

impl PresenceTransitions for PresenceWebhooks {
    fn online(&self, user_id: &str, at: i64) {
        self.push(WebhookEvent::presence(user_id, true, Some(at), at));
    }

    fn offline(&self, user_id: &str, last_seen: i64) {
        self.push(WebhookEvent::presence(
            user_id,
            false,
            Some(last_seen),
            last_seen,
        ));
    }
}

/// Writes queued transitions to the outbox, one at a time, until the port is dropped.
pub async fn write_transitions(
    mut rx: mpsc::Receiver<WebhookEvent>,
    outbox: Arc<dyn WebhookOutbox>,
) {
    while let Some(event) = rx.recv().await {
        let mut attempt = 0;
        while let Err(err) = outbox.enqueue(&event).await {
            attempt += 1;
            if attempt >= ATTEMPTS {
                tracing::warn!(error = %err, id = %event.id, kind = event.kind, "presence webhook not stored");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(attempt)).await;
        }
    }
}
