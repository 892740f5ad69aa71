//! The `/ws` changes a socket and the HTTP API both make, whoever asks: creating a
//! conversation (stored, participants joined to its room, `conversation:new`) and sending
//! a message (stored, `message:new` with acks, a push to the offline). Socket handlers call
//! these with their socket as [`Origin`]; the HTTP API through [`ChatApi`].

use async_trait::async_trait;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::WsState;
use super::chat::Created;
use super::delivery::{OfflineNotice, fan_out_new_message};
use super::origin::Origin;
use super::outgoing::ConversationNew;
use super::payloads::{CreateConversation, SendMessage};
use super::sender::Sender;
use crate::NsError;
use crate::ports::{Conversation, Inserted, MessagePush};
use crate::rooms::{conversation_room, user_room};
use crate::states::SharedStates;

/// Creates the conversation (see [`Chat::create_conversation`](super::Chat::create_conversation)),
/// and when it is new, joins its participants' sockets to its room and tells them.
pub async fn create_conversation<A: Adapter>(
    origin: &Origin<A>,
    st: &WsState,
    creator: Option<&str>,
    id: Option<String>,
    req: CreateConversation,
) -> Result<Created, NsError> {
    let created = st.chat().create_conversation(creator, id, req).await?;
    if let Created::New(conversation) = &created {
        announce_conversation(origin, st, conversation).await;
    }
    Ok(created)
}

async fn announce_conversation<A: Adapter>(
    origin: &Origin<A>,
    st: &WsState,
    conversation: &Conversation,
) {
    let rooms: Vec<String> = conversation
        .participant_ids
        .iter()
        .map(|p| user_room(p))
        .collect();
    if let Some(ops) = origin.operators() {
        let room = conversation_room(&conversation.id);
        if let Err(err) = ops.within(rooms.clone()).join(room).await {
            // Their sockets elsewhere miss the conversation's events until they reconnect.
            tracing::warn!(error = %err, "participants not joined to the conversation");
        }
    }
    let event = ConversationNew {
        conversation: conversation.clone(),
    };
    origin.emit(st, origin.audience(rooms), &event).await;
}

/// Stores the message; a new one goes to the participants' sockets and, when messages
/// become pushes, to the phones of those with no socket. A resend tells no one again.
pub async fn send_message<A: Adapter>(
    origin: &Origin<A>,
    st: &WsState,
    push: &MessagePush<A>,
    sender: Sender,
    req: SendMessage,
) -> Result<Inserted, NsError> {
    let (inserted, participants) = st.chat().send(&sender, req).await?;
    if let Inserted::New(message) = &inserted {
        fan_out_new_message(origin, st, sender.id(), &participants, message).await;
        if let Some(notifier) = &push.0 {
            let offline = OfflineNotice {
                io: origin.io().clone(),
                notifier: notifier.clone(),
            };
            tokio::spawn(offline.send(sender, participants, message.clone()));
        }
    }
    Ok(inserted)
}

/// `/ws` as the HTTP API drives it, the adapter type hidden.
#[async_trait]
pub trait ChatApi: Send + Sync + 'static {
    /// As `conversation:create`, with no creator among the participants; `id` is the
    /// idempotency key made an id, so a repeat returns [`Created::Existing`].
    async fn create_conversation(
        &self,
        id: Option<String>,
        req: CreateConversation,
    ) -> Result<Created, NsError>;
    /// As `message:send`, for a participant or the system sender.
    async fn send_message(&self, sender: Sender, req: SendMessage) -> Result<Inserted, NsError>;
}

/// [`ChatApi`] on a running Socket.IO server.
pub struct ServerChat<A: Adapter> {
    origin: Origin<A>,
    st: WsState,
    push: MessagePush<A>,
}

impl<A: Adapter> ServerChat<A> {
    /// `None` when `/ws` is not among the installed states.
    pub fn new(io: SocketIo<A>, states: &SharedStates) -> Option<Self> {
        Some(Self {
            origin: Origin::server(io),
            st: states.get::<WsState>()?,
            push: states.get::<MessagePush<A>>().unwrap_or(MessagePush(None)),
        })
    }
}

#[async_trait]
impl<A: Adapter> ChatApi for ServerChat<A> {
    async fn create_conversation(
        &self,
        id: Option<String>,
        req: CreateConversation,
    ) -> Result<Created, NsError> {
        create_conversation(&self.origin, &self.st, None, id, req).await
    }

    async fn send_message(&self, sender: Sender, req: SendMessage) -> Result<Inserted, NsError> {
        send_message(&self.origin, &self.st, &self.push, sender, req).await
    }
}
