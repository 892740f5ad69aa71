//! How a new `/ws` message travels beyond the sender's ack: `message:new` to every
//! participant (with an ack request to the recipients), the first recipient ack back to the
//! sender as `message:delivered`, and a push for recipients with no socket.

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::select_all;
use serde::de::IgnoredAny;
use serde_json::json;
use socketioxide::AckError;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::origin::Origin;
use super::outgoing::{MessageDelivered, MessageNew};
use super::sender::{SYSTEM_SENDER, Sender};
use super::{PATH, WsState};
use crate::audience::Audience;
use crate::broadcast::emit_with_ack_to;
use crate::ports::{Message, Notice, OfflineNotifier, Priority};
use crate::rooms::{user_has_socket, user_room};

/// Sends `message:new` to every other participant with an ack request, and to the
/// sender's other sockets (all of them when the server sends for the user) without one.
/// The first recipient ack becomes `message:delivered` for the sender.
pub(super) async fn fan_out_new_message<A: Adapter>(
    origin: &Origin<A>,
    st: &WsState,
    sender: &str,
    participants: &[String],
    message: &Message,
) {
    let event = MessageNew { message };
    if participants.iter().any(|p| p == sender) {
        let own_sockets = origin.audience([user_room(sender)]);
        origin.emit(st, own_sockets, &event).await;
    }
    let Some(ops) = origin.operators() else {
        return;
    };
    let mut acks = Vec::new();
    for recipient in participants.iter().filter(|p| *p != sender) {
        let to = ops
            .clone()
            .within(user_room(recipient))
            .timeout(st.inner.delivery_ack_timeout);
        if let Some(stream) = emit_with_ack_to(to, PATH, &event).await {
            let recipient = recipient.clone();
            acks.push(Box::pin(
                stream.map(move |(_, ack)| (recipient.clone(), ack)),
            ));
        }
    }
    if !acks.is_empty() {
        // Whose ack came first is filled in when it comes.
        let receipt = MessageDelivered {
            conversation_id: message.conversation_id.clone(),
            seq: message.seq,
            user_id: String::new(),
        };
        tokio::spawn(report_first_delivery(
            origin.clone(),
            st.clone(),
            sender.to_owned(),
            (receipt, message.created_at),
            select_all(acks),
        ));
    }
}

/// Turns a message into a notification for each recipient with no socket on `/ws` (nor
/// on the notifier's namespace, `/notifications`), so it reaches their phone by push.
pub(super) struct OfflineNotice<A: Adapter> {
    pub(super) io: SocketIo<A>,
    pub(super) notifier: Arc<dyn OfflineNotifier<A>>,
}

/// How much of a message a push shows.
const PUSH_PREVIEW_CHARS: usize = 200;

impl<A: Adapter> OfflineNotice<A> {
    pub(super) async fn send(self, sender: Sender, participants: Vec<String>, message: Message) {
        let notice = Notice {
            kind: "message".into(),
            title: sender.display_name().to_owned(),
            body: message.content.chars().take(PUSH_PREVIEW_CHARS).collect(),
            data: json!({
                "conversationId": message.conversation_id,
                "messageId": message.id,
                "seq": message.seq,
                "senderId": sender.id(),
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            priority: Priority::High,
            ttl_seconds: None,
            idempotency_key: Some(format!("message:{}", message.id)),
        };
        for recipient in participants.iter().filter(|p| *p != sender.id()) {
            if user_has_socket(&self.io, PATH, recipient).await {
                continue;
            }
            let notified = self.notifier.notify_offline(&self.io, recipient, &notice);
            if let Err(err) = notified.await {
                tracing::warn!(error = %err, "message push not scheduled");
            }
        }
    }
}

/// Waits for the first recipient ack and tells the sender's sockets who received it;
/// `stored_at` is when the message was stored, for the delivery latency.
async fn report_first_delivery<A: Adapter, S>(
    origin: Origin<A>,
    st: WsState,
    sender: String,
    (mut receipt, stored_at): (MessageDelivered, i64),
    mut acks: S,
) where
    S: futures_util::Stream<Item = (String, Result<IgnoredAny, AckError>)> + Unpin,
{
    while let Some((recipient, ack)) = acks.next().await {
        // Any answer, even one we cannot decode, proves the message arrived.
        if matches!(ack, Ok(_) | Err(AckError::Decode(_))) {
            receipt.user_id = recipient;
            crate::metrics::delivered("message", stored_at, st.chat().now_ms());
            // The system sender has no sockets to tell.
            if sender != SYSTEM_SENDER {
                let senders = Audience::room(user_room(&sender));
                origin.emit(&st, senders, &receipt).await;
            }
            return;
        }
    }
}
