//! The socket side of `/ws`: one small handler per event, each parsing its typed request,
//! asking [`Chat`](super::Chat) and telling the right rooms.

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

use super::origin::Origin;
use super::outgoing::{
    self, ConversationNew, Conversations, MessageDeleted, MessageUpdated, SentMessage,
};
use super::payloads::{
    CreateConversation, DeleteMessage, EditMessage, Empty, History, Read, SendMessage, Sync, Typing,
};
use super::sender::Sender;
use super::server::{create_conversation, send_message};
use super::{PATH, TYPING_TIMEOUT, WsState};
use crate::Identity;
use crate::audience::Audience;
use crate::incoming::Incoming;
use crate::ports::{Inserted, MessagePush};
use crate::rooms::{conversation_room, user_room};

pub(super) async fn on_conversation_create<A: Adapter>(
    io: SocketIo<A>,
    s: SocketRef<A>,
    State(st): State<WsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: CreateConversation| {
        let origin = Origin::socket(io.clone(), s.clone());
        let created = create_conversation(&origin, &st, Some(&me.user_id), None, body).await?;
        Ok(ConversationNew {
            conversation: created.into_conversation(),
        })
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
    State(push): State<MessagePush<A>>,
    req: Incoming<A>,
) {
    req.respond(async |body: SendMessage| {
        let origin = Origin::socket(io.clone(), s.clone());
        let sender = Sender::User {
            id: me.user_id.clone(),
            name: me.name.clone(),
        };
        let message = match send_message(&origin, &st, &push, sender, body).await? {
            // A resend returns the first message: the first send already told everyone.
            Inserted::New(message) | Inserted::Existing(message) => message,
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
