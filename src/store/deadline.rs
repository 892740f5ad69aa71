//! The database deadline as the namespaces see it: every store call, pool acquire and
//! statements together, is answered within `database_timeout_ms` or fails `unavailable`.
//!
//! PostgreSQL's `statement_timeout` and the pool's acquire timeout bound a slow server and
//! a full pool, but not a link that holds bytes without resetting (a partition): the
//! statement was written, no answer comes, and the connection waits for TCP to give up,
//! minutes later. Only a deadline on the caller's side bounds that. A call cut off here
//! may still have committed (its COMMIT was sent, the answer lost): the caller is told
//! `unavailable`, never "stored" for what was not stored, and the contract's idempotent
//! retries (`clientMsgId`, `idempotencyKey`) make a retry safe.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_namespaces::ports::{
    Conversation, ConversationSummary, DeviceRegistration, Draft, DraftStore, DraftWrite, Inserted,
    Message, MessagePage, MessageStore, NewMessage, NewNotification, Notification,
    NotificationStore, ReadSelection, StoreError, StoreResult,
};

use super::push_queue::{AttemptOutcome, PushQueue, QueuedPush};
use super::webhook_queue::{Claim, WebhookDelivery, WebhookOutbox, WebhookOutcome};
use crate::integration::webhooks::event::WebhookEvent;

/// A store whose every call has `limit`.
pub struct Deadline<S: ?Sized> {
    inner: Arc<S>,
    limit: Duration,
}

impl<S: ?Sized> Deadline<S> {
    pub fn new(inner: Arc<S>, limit: Duration) -> Arc<Self> {
        Arc::new(Self { inner, limit })
    }

    async fn within<T>(&self, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        match tokio::time::timeout(self.limit, call).await {
            Ok(answer) => answer,
            Err(elapsed) => {
                metrics::counter!(crate::telemetry::metrics::DB_ERRORS_TOTAL).increment(1);
                Err(StoreError::Unavailable(
                    format!(
                        "the database did not answer within {:?} ({elapsed})",
                        self.limit
                    )
                    .into(),
                ))
            }
        }
    }
}

/// The push worker's calls: a stalled database holds up no client, but an unbounded call
/// would stop every push until the link heals or TCP gives up; the worker retries.
impl<S: ?Sized> Deadline<S> {
    async fn within_sqlx<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        tokio::time::timeout(self.limit, call)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }
}

#[async_trait]
impl PushQueue for Deadline<dyn PushQueue> {
    async fn schedule_due(&self, now: i64, limit: i64) -> Result<usize, sqlx::Error> {
        self.within_sqlx(self.inner.schedule_due(now, limit)).await
    }
    async fn ready(&self, now: i64, limit: i64) -> Result<Vec<QueuedPush>, sqlx::Error> {
        self.within_sqlx(self.inner.ready(now, limit)).await
    }
    async fn record(
        &self,
        push: &QueuedPush,
        outcome: &AttemptOutcome,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        self.within_sqlx(self.inner.record(push, outcome, now))
            .await
    }
}

/// The webhook senders' calls, bounded as the push worker's are.
#[async_trait]
impl WebhookOutbox for Deadline<dyn WebhookOutbox> {
    async fn enqueue(&self, event: &WebhookEvent) -> Result<bool, sqlx::Error> {
        self.within_sqlx(self.inner.enqueue(event)).await
    }
    async fn claim(
        &self,
        now: i64,
        claim: Claim,
    ) -> Result<Vec<Vec<WebhookDelivery>>, sqlx::Error> {
        self.within_sqlx(self.inner.claim(now, claim)).await
    }
    async fn record(
        &self,
        d: &WebhookDelivery,
        outcome: WebhookOutcome,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        self.within_sqlx(self.inner.record(d, outcome, now)).await
    }
    async fn release(&self, d: &WebhookDelivery, now: i64) -> Result<(), sqlx::Error> {
        self.within_sqlx(self.inner.release(d, now)).await
    }
    async fn oldest_pending(&self) -> Result<Option<i64>, sqlx::Error> {
        self.within_sqlx(self.inner.oldest_pending()).await
    }
    async fn prune_delivered(&self, before: i64) -> Result<u64, sqlx::Error> {
        self.within_sqlx(self.inner.prune_delivered(before)).await
    }
}

#[async_trait]
impl MessageStore for Deadline<dyn MessageStore> {
    async fn create_conversation(&self, c: &Conversation) -> StoreResult<()> {
        self.within(self.inner.create_conversation(c)).await
    }
    async fn participants(&self, conversation_id: &str) -> StoreResult<Vec<String>> {
        self.within(self.inner.participants(conversation_id)).await
    }
    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        self.within(self.inner.conversation_ids_of(user_id)).await
    }
    async fn list_conversations(&self, user_id: &str) -> StoreResult<Vec<ConversationSummary>> {
        self.within(self.inner.list_conversations(user_id)).await
    }
    async fn insert_message(&self, message: NewMessage) -> StoreResult<Inserted> {
        self.within(self.inner.insert_message(message)).await
    }
    async fn message(&self, message_id: &str) -> StoreResult<Message> {
        self.within(self.inner.message(message_id)).await
    }
    async fn edit_message(&self, message_id: &str, content: &str, at: i64) -> StoreResult<Message> {
        self.within(self.inner.edit_message(message_id, content, at))
            .await
    }
    async fn delete_message(&self, message_id: &str, at: i64) -> StoreResult<Message> {
        self.within(self.inner.delete_message(message_id, at)).await
    }
    async fn history(&self, id: &str, before: Option<i64>, limit: i64) -> StoreResult<MessagePage> {
        self.within(self.inner.history(id, before, limit)).await
    }
    async fn messages_after(&self, id: &str, after: i64, limit: i64) -> StoreResult<MessagePage> {
        self.within(self.inner.messages_after(id, after, limit))
            .await
    }
    async fn mark_read(&self, conversation_id: &str, user_id: &str, seq: i64) -> StoreResult<i64> {
        self.within(self.inner.mark_read(conversation_id, user_id, seq))
            .await
    }
}

#[async_trait]
impl NotificationStore for Deadline<dyn NotificationStore> {
    async fn create_notification(&self, n: NewNotification) -> StoreResult<(Notification, bool)> {
        self.within(self.inner.create_notification(n)).await
    }
    async fn drop_overflow(&self, user_id: &str, keep: i64, now: i64) -> StoreResult<u64> {
        self.within(self.inner.drop_overflow(user_id, keep, now))
            .await
    }
    async fn pending(&self, user_id: &str, now: i64, limit: i64) -> StoreResult<Vec<Notification>> {
        self.within(self.inner.pending(user_id, now, limit)).await
    }
    async fn mark_delivered(&self, user_id: &str, id: &str, now: i64) -> StoreResult<bool> {
        self.within(self.inner.mark_delivered(user_id, id, now))
            .await
    }
    async fn list_notifications(
        &self,
        user_id: &str,
        before: Option<&str>,
        limit: i64,
        unread_only: bool,
        now: i64,
    ) -> StoreResult<Vec<Notification>> {
        let call = self
            .inner
            .list_notifications(user_id, before, limit, unread_only, now);
        self.within(call).await
    }
    async fn unread_count(&self, user_id: &str, now: i64) -> StoreResult<i64> {
        self.within(self.inner.unread_count(user_id, now)).await
    }
    async fn mark_read(
        &self,
        user_id: &str,
        which: &ReadSelection,
        now: i64,
    ) -> StoreResult<Vec<String>> {
        self.within(self.inner.mark_read(user_id, which, now)).await
    }
    async fn register_device(
        &self,
        user_id: &str,
        device: DeviceRegistration<'_>,
        max_devices: i64,
        now: i64,
    ) -> StoreResult<()> {
        let call = self
            .inner
            .register_device(user_id, device, max_devices, now);
        self.within(call).await
    }
    async fn unregister_device(&self, user_id: &str, token: &str) -> StoreResult<()> {
        self.within(self.inner.unregister_device(user_id, token))
            .await
    }
}

#[async_trait]
impl DraftStore for Deadline<dyn DraftStore> {
    async fn draft(&self, user_id: &str, draft_id: &str) -> StoreResult<Option<Draft>> {
        self.within(self.inner.draft(user_id, draft_id)).await
    }
    async fn save_draft(
        &self,
        user_id: &str,
        draft_id: &str,
        base_version: i64,
        content: &str,
        at: i64,
    ) -> StoreResult<DraftWrite> {
        let call = self
            .inner
            .save_draft(user_id, draft_id, base_version, content, at);
        self.within(call).await
    }
}
