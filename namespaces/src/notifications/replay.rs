//! The pending notifications a socket gets at connect. When the store cannot read them
//! (the database is down or slow past its deadline), the socket has already been
//! accepted, so the read is retried with backoff for as long as the socket stays open:
//! it gets them once the database is back, without reconnecting.

use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::NotificationsState;
use super::deliver::spawn_mark_on_ack;
use crate::NsError;
use crate::emit::{tell, tell_with_ack};
use crate::ports::Notification;

/// Backoff between reads: from the first retry, doubled up to the last. The cap keeps a
/// long outage at a read every few seconds per waiting socket, not a storm at recovery.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(8);
/// How often a waiting replay looks whether its socket closed: the bound on how long the
/// task outlives the socket (besides a read in progress, bounded by the store deadline).
const OPEN_CHECK: Duration = Duration::from_millis(250);

/// Reads the user's pending notifications until a read succeeds or the socket closes,
/// then sends them. The first failed read is told to the client as an `error` event
/// `unavailable`, once; the notifications follow when the retry succeeds.
pub(super) async fn replay_pending<A: Adapter>(
    s: &SocketRef<A>,
    state: &NotificationsState,
    user_id: &str,
) {
    let mut retry_in = FIRST_RETRY;
    let mut told = false;
    loop {
        let config = &state.inner.config;
        match state
            .store()
            .pending(user_id, state.now(), config.max_pending)
            .await
        {
            Ok(pending) => return send_all(s, state, user_id, pending),
            Err(err) if !told => {
                told = true;
                tell(s, &NsError::from(err).error_object()).ok();
            }
            Err(_) => {}
        }
        tracing::info!(user = %user_id, retry_in_ms = retry_in.as_millis() as u64,
            "pending notifications not read; retrying");
        if !stays_open(s, retry_in).await {
            return;
        }
        retry_in = (retry_in * 2).min(LAST_RETRY);
    }
}

/// Waits `wait`; false as soon as the socket is closed.
async fn stays_open<A: Adapter>(s: &SocketRef<A>, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if !s.connected() {
            return false;
        }
        tokio::time::sleep(OPEN_CHECK.min(wait)).await;
    }
    s.connected()
}

/// Sends each with an ack request; the first ack marks it delivered.
fn send_all<A: Adapter>(
    s: &SocketRef<A>,
    state: &NotificationsState,
    user_id: &str,
    pending: Vec<Notification>,
) {
    let ack_timeout = state.inner.config.ack_timeout;
    for notification in pending {
        match tell_with_ack(s, ack_timeout, &notification) {
            Ok(ack) => spawn_mark_on_ack(ack, state, user_id, &notification),
            Err(err) => {
                tracing::debug!(error = %err, "socket gone while sending pending notifications");
                return;
            }
        }
    }
}
