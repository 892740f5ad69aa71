//! Getting notifications to sockets: live at creation, pending at connect; the first ack
//! from any of the user's sockets marks one delivered (and so cancels its push).

use futures_util::StreamExt;
use serde::de::IgnoredAny;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::payloads::Create;
use super::{NotificationsState, PATH};
use crate::NsError;
use crate::broadcast::emit_with_ack_to;
use crate::ports::{NewNotification, Notice, Notification, OfflineNotifier};
use crate::rooms::{user_has_socket, user_room};

impl From<Create> for Notice {
    fn from(req: Create) -> Self {
        Self {
            kind: req.kind.0,
            title: req.title.into_string(),
            body: req.body.0,
            data: req.data.unwrap_or_default(),
            priority: req.priority,
            ttl_seconds: req.ttl_seconds.map(|t| t.0),
            idempotency_key: req.idempotency_key.map(|k| k.into_string()),
        }
    }
}

/// `POST /api/v1/notifications`: one notification per user, in the order of `userIds`.
pub async fn create<A: Adapter>(
    io: &SocketIo<A>,
    state: &NotificationsState,
    req: Create,
) -> Result<Vec<String>, NsError> {
    let users = req.user_ids.0.clone();
    let notice = Notice::from(req);
    let mut ids = Vec::with_capacity(users.len());
    for user_id in &users {
        ids.push(notify_user(io, state, user_id, &notice).await?);
    }
    Ok(ids)
}

/// Stores the notification (deduplicated by `idempotencyKey` per user), sends a new one
/// to the user's sockets, and schedules its push: due at once when the user has no
/// socket on `/notifications`, after the ack timeout otherwise. Returns its id.
pub async fn notify_user<A: Adapter>(
    io: &SocketIo<A>,
    state: &NotificationsState,
    user_id: &str,
    notice: &Notice,
) -> Result<String, NsError> {
    let ns = io
        .of(PATH)
        .ok_or_else(|| NsError::new(crate::ErrorCode::Internal, "namespace missing"))?;
    let connected = ns
        .clone()
        .within(user_room(user_id))
        .fetch_sockets()
        .await
        .is_ok_and(|s| !s.is_empty());
    let (notification, is_new) = state
        .store()
        .create_notification(new_for(state, notice, user_id, connected))
        .await?;
    if !is_new {
        return Ok(notification.id);
    }
    let dropped = state
        .store()
        .drop_overflow(user_id, state.inner.config.max_pending, state.now())
        .await?;
    if dropped > 0 {
        tracing::info!(user = %user_id, dropped, "pending notifications over the limit dropped");
        metrics::counter!(crate::metrics::NOTIFICATIONS_DROPPED_TOTAL).increment(dropped);
    }
    if connected {
        let sockets = ns
            .to(user_room(user_id))
            .timeout(state.inner.config.ack_timeout);
        // Not sent live (logged): the push, when enabled, is still due after the ack timeout.
        if let Some(acks) = emit_with_ack_to(sockets, PATH, &notification).await {
            spawn_mark_on_ack(acks, state, user_id, &notification);
        }
    }
    Ok(notification.id)
}

/// Messages to users with no socket on `/ws` (see [`crate::ports::MessagePush`]): stored and
/// pushed unless the user has a socket here.
#[async_trait::async_trait]
impl<A: Adapter> OfflineNotifier<A> for NotificationsState {
    async fn notify_offline(
        &self,
        io: &SocketIo<A>,
        user_id: &str,
        notice: &Notice,
    ) -> Result<(), NsError> {
        if !user_has_socket(io, PATH, user_id).await {
            notify_user(io, self, user_id, notice).await?;
        }
        Ok(())
    }
}

fn new_for(
    state: &NotificationsState,
    notice: &Notice,
    user_id: &str,
    connected: bool,
) -> NewNotification {
    let now = state.now();
    let config = &state.inner.config;
    let ack_wait = if connected {
        config.ack_timeout.as_millis() as i64
    } else {
        0
    };
    NewNotification {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_owned(),
        kind: notice.kind.clone(),
        title: notice.title.clone(),
        body: notice.body.clone(),
        data: serde_json::Value::Object(notice.data.clone()),
        priority: notice.priority,
        created_at: now,
        expires_at: notice.ttl_seconds.map(|ttl| now + i64::from(ttl) * 1000),
        idempotency_key: notice.idempotency_key.clone(),
        push_due_at: config.push_enabled.then_some(now + ack_wait),
    }
}

/// Marks the notification delivered on the first ack that arrives.
pub(super) fn spawn_mark_on_ack<S>(
    acks: S,
    state: &NotificationsState,
    user_id: &str,
    n: &Notification,
) where
    S: futures_util::Stream<
            Item = (
                socketioxide::socket::Sid,
                Result<IgnoredAny, socketioxide::AckError>,
            ),
        > + Send
        + 'static,
{
    let (state, user_id, id) = (state.clone(), user_id.to_owned(), n.id.clone());
    let stored_at = n.created_at;
    tokio::spawn(async move {
        let mut acks = std::pin::pin!(acks);
        while let Some((_, ack)) = acks.next().await {
            if matches!(ack, Ok(_) | Err(socketioxide::AckError::Decode(_))) {
                crate::metrics::delivered("notification", stored_at, state.now());
                if let Err(err) = state
                    .store()
                    .mark_delivered(&user_id, &id, state.now())
                    .await
                {
                    tracing::warn!(error = %err, "delivery not recorded");
                }
                return;
            }
        }
    });
}
