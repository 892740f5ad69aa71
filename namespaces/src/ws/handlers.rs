//! The socket side of `/ws`: one small handler per event, each parsing its typed request,
//! asking [`Chat`](super::Chat) and telling the right rooms.

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

use super::delivery::{OfflineNotice, fan_out_new_message};
use super::outgoing::{
    self, ConversationNew, Conversations, MessageDeleted, MessageUpdated, SentMessage,
};
use super::payloads::{
    CreateConversation, DeleteMessage, EditMessage, Empty, History, Read, SendMessage, Sync, Typing,
};
use super::{PATH, TYPING_TIMEOUT, WsState};
use crate::Identity;
use crate::audience::Audience;
use crate::incoming::Incoming;
use crate::ports::{Inserted, MessagePush};
use crate::rooms::{conversation_room, user_room};

pub(super) async fn on_conversation_create<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: CreateConversation| {
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
        st.broadcaster()
            .emit_from(&s, PATH, Audience::others(&s, rooms), &event)
            .await;
        Ok(event)
    })
    .await;
}

pub(super) async fn on_conversation_list<A: Adapter>(
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |_: Empty| {
        let conversations = st.chat().list(&me.user_id).await?;
        Ok(Conversations { conversations })
    })
    .await;
}

pub(super) async fn on_message_send<A: Adapter>(
    io: SocketIo<A>,
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    State(MessagePush(push)): State<MessagePush<A>>,
    req: Incoming<A>,
) {
    req.respond(async |body: SendMessage| {
        let (inserted, participants) = st.chat().send(&me.user_id, body).await?;
        let message = match inserted {
            Inserted::New(message) => {
                fan_out_new_message(&s, &st, &me.user_id, &participants, &message).await;
                if let Some(notifier) = &push {
                    let offline = OfflineNotice {
                        io: io.clone(),
                        notifier: notifier.clone(),
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

pub(super) async fn on_message_edit<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: EditMessage| {
        let message = st.chat().edit(&me.user_id, body).await?;
        let room = conversation_room(&message.conversation_id);
        let event = MessageUpdated { message };
        st.broadcaster()
            .emit_from(&s, PATH, Audience::others(&s, [room]), &event)
            .await;
        Ok(event)
    })
    .await;
}

pub(super) async fn on_message_delete<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: DeleteMessage| {
        let message = st.chat().delete(&me.user_id, body).await?;
        let room = conversation_room(&message.conversation_id);
        let event = MessageDeleted {
            conversation_id: message.conversation_id,
            message_id: message.id,
        };
        st.broadcaster()
            .emit_from(&s, PATH, Audience::others(&s, [room]), &event)
            .await;
        Ok(())
    })
    .await;
}

pub(super) async fn on_message_history<A: Adapter>(
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: History| st.chat().history(&me.user_id, body).await)
        .await;
}

pub(super) async fn on_message_sync<A: Adapter>(
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: Sync| st.chat().sync(&me.user_id, body).await)
        .await;
}

pub(super) async fn on_message_read<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: Read| {
        let receipt = st.chat().read(&me.user_id, body).await?;
        let room = conversation_room(&receipt.conversation_id);
        st.broadcaster()
            .emit_from(&s, PATH, Audience::others(&s, [room]), &receipt)
            .await;
        Ok(())
    })
    .await;
}

pub(super) async fn on_typing_start<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: Typing| {
        let conversation_id = body.conversation_id.into_string();
        st.chat()
            .participants_for(&me.user_id, &conversation_id)
            .await?;
        let started = st.inner.typing.start(&conversation_id, &me.user_id).await;
        if started.is_new {
            announce_typing(&s, &st, &conversation_id, &me.user_id, true).await;
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
        announce_typing(&s, &st, &conversation_id, &user_id, false).await;
    }
}

pub(super) async fn on_typing_stop<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: Typing| {
        let conversation_id = body.conversation_id.into_string();
        st.chat()
            .participants_for(&me.user_id, &conversation_id)
            .await?;
        if st.inner.typing.stop(&conversation_id, &me.user_id).await {
            announce_typing(&s, &st, &conversation_id, &me.user_id, false).await;
        }
        Ok(())
    })
    .await;
}

/// Tells the conversation, except the typist's own sockets, who is typing.
async fn announce_typing<A: Adapter>(
    s: &SocketRef<A>,
    st: &WsState,
    conversation_id: &str,
    user_id: &str,
    typing: bool,
) {
    let others =
        Audience::others(s, [conversation_room(conversation_id)]).except([user_room(user_id)]);
    let event = outgoing::Typing {
        conversation_id,
        user_id,
        typing,
    };
    st.broadcaster().emit_from(s, PATH, others, &event).await;
}
