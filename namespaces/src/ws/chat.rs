//! The rules of `/ws`, independent of sockets: who may do what to which conversation, and
//! what the store must keep. Handlers call this, then tell the right rooms.

use std::sync::Arc;

use serde::Serialize;

use super::payloads::{
    CreateConversation, DeleteMessage, EditMessage, History, Read, SendMessage, Sync,
};
use crate::ack::{ErrorCode, NsError};
use crate::ports::{
    Clock, Conversation, ConversationSummary, Inserted, Message, MessagePage, MessageStore,
    NewMessage,
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

    /// Creates a conversation of the requested users plus the creator.
    pub async fn create_conversation(
        &self,
        me: &str,
        req: CreateConversation,
    ) -> Result<Conversation, NsError> {
        let mut participant_ids: Vec<String> = req
            .participant_ids
            .into_iter()
            .map(|id| id.into_string())
            .collect();
        participant_ids.push(me.to_owned());
        participant_ids.sort();
        participant_ids.dedup();
        let conversation = Conversation {
            id: uuid::Uuid::now_v7().to_string(),
            title: req.title.map(|t| t.into_string()),
            participant_ids,
            created_at: self.clock.now_ms(),
        };
        self.store.create_conversation(&conversation).await?;
        Ok(conversation)
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

    /// Stores the message (or finds the one already sent under its `clientMsgId`).
    pub async fn send(
        &self,
        me: &str,
        req: SendMessage,
    ) -> Result<(Inserted, Vec<String>), NsError> {
        let participants = self
            .participants_for(me, req.conversation_id.as_str())
            .await?;
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
            sender_id: me.to_owned(),
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
