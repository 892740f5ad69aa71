//! The rules of `/ws`, independent of sockets: who may do what to which conversation, and
//! what the store must keep. Handlers call this, then tell the right rooms.

use std::sync::Arc;

use serde::Serialize;

use super::payloads::{
    CreateConversation, DeleteMessage, EditMessage, History, Read, SendMessage, Sync,
};
use super::sender::Sender;
use crate::ack::{ErrorCode, NsError};
use crate::ports::{
    Clock, Conversation, ConversationSummary, Inserted, Message, MessagePage, MessageStore,
    NewMessage, StoreError,
};

/// How many messages one `message:sync` returns at most, across all its conversations.
pub const SYNC_LIMIT: i64 = 500;

/// A read receipt as sent in `message:read` to the conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    pub conversation_id: String,
    pub user_id: String,
    pub seq: i64,
    pub read_at: i64,
}

/// What creating a conversation did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New(Conversation),
    /// Created before under the same id (a repeated idempotency key): nothing new.
    Existing(Conversation),
}

impl Created {
    pub fn into_conversation(self) -> Conversation {
        match self {
            Self::New(c) | Self::Existing(c) => c,
        }
    }
}

#[derive(Clone)]
pub struct Chat {
    store: Arc<dyn MessageStore>,
    clock: Arc<dyn Clock>,
}

impl Chat {
    pub fn new(store: Arc<dyn MessageStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub async fn conversation_ids_of(&self, user_id: &str) -> Result<Vec<String>, NsError> {
        Ok(self.store.conversation_ids_of(user_id).await?)
    }

    /// Creates a conversation of the requested users plus the creator (a socket's user;
    /// `None` for the HTTP API, whose caller takes no part). With an `id` (the HTTP API's
    /// idempotency key, made an id) the conversation already under it is returned instead,
    /// not created again: [`Created::Existing`].
    pub async fn create_conversation(
        &self,
        creator: Option<&str>,
        id: Option<String>,
        req: CreateConversation,
    ) -> Result<Created, NsError> {
        if let Some(id) = &id
            && let Some(existing) = self.find_conversation(id).await?
        {
            return Ok(Created::Existing(existing));
        }
        let keyed = id.is_some();
        let mut participant_ids: Vec<String> = req
            .participant_ids
            .into_iter()
            .map(|id| id.into_string())
            .chain(creator.map(str::to_owned))
            .collect();
        participant_ids.sort();
        participant_ids.dedup();
        let conversation = Conversation {
            id: id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            title: req.title.map(|t| t.into_string()),
            participant_ids,
            created_at: self.clock.now_ms(),
        };
        match self.store.create_conversation(&conversation).await {
            Ok(()) => Ok(Created::New(conversation)),
            Err(err) if !keyed => Err(err.into()),
            // A concurrent request with the same key may have won the insert.
            Err(err) => match self.find_conversation(&conversation.id).await {
                Ok(Some(existing)) => Ok(Created::Existing(existing)),
                _ => Err(err.into()),
            },
        }
    }

    /// The conversation `id` as the wire carries it, when it exists. The store has no
    /// read by id: its participants prove it exists, one participant's list holds it.
    async fn find_conversation(&self, id: &str) -> Result<Option<Conversation>, NsError> {
        let participants = match self.store.participants(id).await {
            Ok(participants) => participants,
            Err(StoreError::NotFound) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let Some(first) = participants.first() else {
            return Ok(None);
        };
        let listed = self.store.list_conversations(first).await?;
        Ok(listed
            .into_iter()
            .find(|c| c.id == id)
            .map(|c| Conversation {
                id: c.id,
                title: c.title,
                participant_ids: c.participant_ids,
                created_at: c.created_at,
            }))
    }

    pub async fn list(&self, me: &str) -> Result<Vec<ConversationSummary>, NsError> {
        Ok(self.store.list_conversations(me).await?)
    }

    /// The conversation's participants when `me` is one of them; `forbidden` otherwise.
    pub async fn participants_for(
        &self,
        me: &str,
        conversation_id: &str,
    ) -> Result<Vec<String>, NsError> {
        let participants = self.store.participants(conversation_id).await?;
        if participants.iter().any(|p| p == me) {
            Ok(participants)
        } else {
            Err(NsError::forbidden("not a participant of this conversation"))
        }
    }

    /// Stores the message (or finds the one already sent under its `clientMsgId`). A user
    /// must take part in the conversation; the system sender need not.
    pub async fn send(
        &self,
        sender: &Sender,
        req: SendMessage,
    ) -> Result<(Inserted, Vec<String>), NsError> {
        let participants = match sender {
            Sender::User { id, .. } => {
                self.participants_for(id, req.conversation_id.as_str())
                    .await?
            }
            Sender::System => {
                self.store
                    .participants(req.conversation_id.as_str())
                    .await?
            }
        };
        if let Some(reply_to) = &req.reply_to {
            let target =
                self.store.message(reply_to.as_str()).await.map_err(|_| {
                    NsError::invalid("replyTo names no message of this conversation")
                })?;
            if target.conversation_id != req.conversation_id.as_str() {
                return Err(NsError::invalid(
                    "replyTo names no message of this conversation",
                ));
            }
        }
        let new = NewMessage {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id: req.conversation_id.into_string(),
            sender_id: sender.id().to_owned(),
            client_msg_id: req.client_msg_id.into_string(),
            content: req.content.into_string(),
            attachments: req.attachments.map(|a| a.into_vec()).unwrap_or_default(),
            reply_to: req.reply_to.map(|id| id.into_string()),
            created_at: self.clock.now_ms(),
        };
        let conversation_id = new.conversation_id.clone();
        let inserted = self.store.insert_message(new).await?;
        if let Inserted::Existing(old) = &inserted
            && old.conversation_id != conversation_id
        {
            return Err(NsError::new(
                ErrorCode::Conflict,
                "clientMsgId was already used in another conversation",
            ));
        }
        Ok((inserted, participants))
    }

    /// A message `me` sent and may still change.
    async fn own_message(&self, me: &str, message_id: &str) -> Result<Message, NsError> {
        let message = self.store.message(message_id).await?;
        self.participants_for(me, &message.conversation_id).await?;
        if message.sender_id != me {
            return Err(NsError::forbidden("only the sender may change a message"));
        }
        if message.deleted {
            return Err(NsError::not_found("the message was deleted"));
        }
        Ok(message)
    }

    pub async fn edit(&self, me: &str, req: EditMessage) -> Result<Message, NsError> {
        self.own_message(me, req.message_id.as_str()).await?;
        let at = self.clock.now_ms();
        let content = req.content.into_string();
        Ok(self
            .store
            .edit_message(req.message_id.as_str(), &content, at)
            .await?)
    }

    pub async fn delete(&self, me: &str, req: DeleteMessage) -> Result<Message, NsError> {
        self.own_message(me, req.message_id.as_str()).await?;
        let at = self.clock.now_ms();
        Ok(self
            .store
            .delete_message(req.message_id.as_str(), at)
            .await?)
    }

    pub async fn history(&self, me: &str, req: History) -> Result<MessagePage, NsError> {
        self.participants_for(me, req.conversation_id.as_str())
            .await?;
        let before = req.before_seq.map(|s| s.get());
        Ok(self
            .store
            .history(req.conversation_id.as_str(), before, req.limit.get())
            .await?)
    }

    /// Everything after each cursor, conversation by conversation, up to [`SYNC_LIMIT`].
    pub async fn sync(&self, me: &str, req: Sync) -> Result<MessagePage, NsError> {
        for conversation_id in req.cursors.keys() {
            self.participants_for(me, conversation_id.as_str()).await?;
        }
        let mut page = MessagePage {
            messages: Vec::new(),
            more: false,
        };
        for (conversation_id, after) in &req.cursors {
            let room = SYNC_LIMIT - page.messages.len() as i64;
            if room <= 0 {
                page.more = true;
                break;
            }
            let part = self
                .store
                .messages_after(conversation_id.as_str(), after.get(), room)
                .await?;
            page.more |= part.more;
            page.messages.extend(part.messages);
        }
        Ok(page)
    }

    pub async fn read(&self, me: &str, req: Read) -> Result<ReadReceipt, NsError> {
        self.participants_for(me, req.conversation_id.as_str())
            .await?;
        let seq = self
            .store
            .mark_read(req.conversation_id.as_str(), me, req.seq.get())
            .await?;
        Ok(ReadReceipt {
            conversation_id: req.conversation_id.into_string(),
            user_id: me.to_owned(),
            seq,
            read_at: self.clock.now_ms(),
        })
    }
}
