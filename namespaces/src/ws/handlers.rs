//! The socket side of `/ws`: one small handler per event, each parsing its typed request,
//! asking [`Chat`](super::Chat) and telling the right rooms.

use futures_util::StreamExt;
use futures_util::stream::select_all;
use serde::de::IgnoredAny;
use serde_json::json;
use socketioxide::AckError;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

use super::outgoing::{
    self, ConversationNew, Conversations, MessageDeleted, MessageDelivered, MessageNew,
    MessageUpdated, SentMessage,
};
use super::payloads::{
    CreateConversation, DeleteMessage, EditMessage, Empty, History, Read, SendMessage, Sync, Typing,
};
use super::{PATH, TYPING_TIMEOUT, WsState, events};
use crate::Identity;
use crate::broadcast::{emit_to, emit_with_ack_to};
use crate::dispatch::EventTable;
use crate::incoming::Incoming;
use crate::notifications::{Notice, NotificationsState, notify_user};
use crate::ports::{Inserted, Message, Priority};
use crate::rooms::{conversation_room, user_room};

/// The events of `/ws` and their handlers (shared by its sockets, see [`crate::dispatch`]).
pub fn event_table<A: Adapter>() -> EventTable<A> {
    EventTable::new(crate::incoming::on_unknown_event::<A>)
        .on(events::CONVERSATION_CREATE, on_conversation_create::<A>)
        .on(events::CONVERSATION_LIST, on_conversation_list::<A>)
        .on(events::MESSAGE_SEND, on_message_send::<A>)
        .on(events::MESSAGE_EDIT, on_message_edit::<A>)
        .on(events::MESSAGE_DELETE, on_message_delete::<A>)
        .on(events::MESSAGE_HISTORY, on_message_history::<A>)
        .on(events::MESSAGE_SYNC, on_message_sync::<A>)
        .on(events::MESSAGE_READ, on_message_read::<A>)
        .on(events::TYPING_START, on_typing_start::<A>)
        .on(events::TYPING_STOP, on_typing_stop::<A>)
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::CONVERSATION_CREATE, user = %me.user_id))]
async fn on_conversation_create<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: CreateConversation| {
        let conversation = st.chat().create_conversation(&me.user_id, body).await?;
        let rooms: Vec<String> = conversation
            .participant_ids
            .iter()
            .map(|p| user_room(p))
            .collect();
        let room = conversation_room(&conversation.id);
        if let Err(err) = s.within(rooms.clone()).join(room).await {
            // Their sockets elsewhere miss the conversation's events until they reconnect.
            tracing::warn!(error = %err, "participants not joined to the conversation");
        }
        let event = ConversationNew { conversation };
        emit_to(s.to(rooms), PATH, &event).await;
        Ok(event)
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::CONVERSATION_LIST, user = %me.user_id))]
async fn on_conversation_list<A: Adapter>(
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |_: Empty| {
        let conversations = st.chat().list(&me.user_id).await?;
        Ok(Conversations { conversations })
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::MESSAGE_SEND, user = %me.user_id))]
async fn on_message_send<A: Adapter>(
    io: SocketIo<A>,
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: SendMessage| {
        let (inserted, participants) = st.chat().send(&me.user_id, body).await?;
        let message = match inserted {
            Inserted::New(message) => {
                fan_out_new_message(&s, &st, &me.user_id, &participants, &message).await;
                if let Some(notifications) = &st.inner.message_push {
                    let offline = OfflineNotice {
                        io: io.clone(),
                        notifications: notifications.clone(),
                    };
                    tokio::spawn(offline.send(me.clone(), participants, message.clone()));
                }
                message
            }
            // A resend: the first send already told everyone.
            Inserted::Existing(message) => message,
        };
        Ok(SentMessage { message })
    })
    .await;
}

/// Sends `message:new` to every other participant with an ack request, and to the
/// sender's other sockets without one. The first recipient ack becomes
/// `message:delivered` for the sender.
async fn fan_out_new_message<A: Adapter>(
    s: &SocketRef<A>,
    st: &WsState,
    sender: &str,
    participants: &[String],
    message: &Message,
) {
    let event = MessageNew { message };
    emit_to(s.to(user_room(sender)), PATH, &event).await;
    let mut acks = Vec::new();
    for recipient in participants.iter().filter(|p| *p != sender) {
        let to = s
            .to(user_room(recipient))
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
            s.clone(),
            st.clone(),
            sender.to_owned(),
            (receipt, message.created_at),
            select_all(acks),
        ));
    }
}

/// Turns a message into a notification for each recipient with no socket on `/ws` or
/// `/notifications`, so it reaches their phone by push.
struct OfflineNotice<A: Adapter> {
    io: SocketIo<A>,
    notifications: NotificationsState,
}

/// How much of a message a push shows.
const PUSH_PREVIEW_CHARS: usize = 200;

impl<A: Adapter> OfflineNotice<A> {
    async fn send(self, sender: Identity, participants: Vec<String>, message: Message) {
        let notice = Notice {
            kind: "message".into(),
            title: sender
                .name
                .clone()
                .unwrap_or_else(|| sender.user_id.clone()),
            body: message.content.chars().take(PUSH_PREVIEW_CHARS).collect(),
            data: json!({
                "conversationId": message.conversation_id,
                "messageId": message.id,
                "seq": message.seq,
                "senderId": sender.user_id,
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            priority: Priority::High,
            ttl_seconds: None,
            idempotency_key: Some(format!("message:{}", message.id)),
        };
        for recipient in participants.iter().filter(|p| **p != sender.user_id) {
            if self.has_socket(recipient).await {
                continue;
            }
            if let Err(err) = notify_user(&self.io, &self.notifications, recipient, &notice).await {
                tracing::warn!(error = %err, "message push not scheduled");
            }
        }
    }

    async fn has_socket(&self, user_id: &str) -> bool {
        for ns in [super::PATH, crate::notifications::PATH] {
            let Some(op) = self.io.of(ns) else { continue };
            if op
                .within(user_room(user_id))
                .fetch_sockets()
                .await
                .is_ok_and(|s| !s.is_empty())
            {
                return true;
            }
        }
        false
    }
}

/// Waits for the first recipient ack and tells the sender's sockets who received it;
/// `stored_at` is when the message was stored, for the delivery latency.
async fn report_first_delivery<A: Adapter, S>(
    s: SocketRef<A>,
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
            emit_to(s.within(user_room(&sender)), PATH, &receipt).await;
            return;
        }
    }
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::MESSAGE_EDIT, user = %me.user_id))]
async fn on_message_edit<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: EditMessage| {
        let message = st.chat().edit(&me.user_id, body).await?;
        let room = conversation_room(&message.conversation_id);
        let event = MessageUpdated { message };
        emit_to(s.to(room), PATH, &event).await;
        Ok(event)
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::MESSAGE_DELETE, user = %me.user_id))]
async fn on_message_delete<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: DeleteMessage| {
        let message = st.chat().delete(&me.user_id, body).await?;
        let room = conversation_room(&message.conversation_id);
        let event = MessageDeleted {
            conversation_id: message.conversation_id,
            message_id: message.id,
        };
        emit_to(s.to(room), PATH, &event).await;
        Ok(())
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::MESSAGE_HISTORY, user = %me.user_id))]
async fn on_message_history<A: Adapter>(
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: History| {
        st.chat().history(&me.user_id, body).await
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::MESSAGE_SYNC, user = %me.user_id))]
async fn on_message_sync<A: Adapter>(
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: Sync| {
        st.chat().sync(&me.user_id, body).await
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::MESSAGE_READ, user = %me.user_id))]
async fn on_message_read<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: Read| {
        let receipt = st.chat().read(&me.user_id, body).await?;
        let room = conversation_room(&receipt.conversation_id);
        emit_to(s.to(room), PATH, &receipt).await;
        Ok(())
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::TYPING_START, user = %me.user_id))]
async fn on_typing_start<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: Typing| {
        let conversation_id = body.conversation_id.into_string();
        st.chat()
            .participants_for(&me.user_id, &conversation_id)
            .await?;
        let started = st.inner.typing.start(&conversation_id, &me.user_id).await;
        if started.is_new {
            announce_typing(&s, &conversation_id, &me.user_id, true).await;
        }
        tokio::spawn(expire_typing(
            s.clone(),
            st.clone(),
            conversation_id,
            me.user_id.clone(),
            started.generation,
        ));
        Ok(())
    })
    .await;
}

/// After [`TYPING_TIMEOUT`] without a renewal, typing ends by itself.
async fn expire_typing<A: Adapter>(
    s: SocketRef<A>,
    st: WsState,
    conversation_id: String,
    user_id: String,
    generation: u64,
) {
    tokio::time::sleep(TYPING_TIMEOUT).await;
    if st
        .inner
        .typing
        .expire(&conversation_id, &user_id, generation)
        .await
    {
        announce_typing(&s, &conversation_id, &user_id, false).await;
    }
}

#[tracing::instrument(skip_all, fields(ns = super::PATH, event = events::TYPING_STOP, user = %me.user_id))]
async fn on_typing_stop<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    let max = st.inner.max_payload_bytes;
    req.respond(max, async |body: Typing| {
        let conversation_id = body.conversation_id.into_string();
        st.chat()
            .participants_for(&me.user_id, &conversation_id)
            .await?;
        if st.inner.typing.stop(&conversation_id, &me.user_id).await {
            announce_typing(&s, &conversation_id, &me.user_id, false).await;
        }
        Ok(())
    })
    .await;
}

/// Tells the conversation, except the typist's own sockets, who is typing.
async fn announce_typing<A: Adapter>(
    s: &SocketRef<A>,
    conversation_id: &str,
    user_id: &str,
    typing: bool,
) {
    let others = s
        .within(conversation_room(conversation_id))
        .except(user_room(user_id));
    let event = outgoing::Typing {
        conversation_id,
        user_id,
        typing,
    };
    emit_to(others, PATH, &event).await;
}
