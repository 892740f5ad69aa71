//! An in-memory [`MessageStore`] for unit tests of the namespace logic only; the server
//! always runs on a real database.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{
    Conversation, ConversationSummary, Inserted, Message, MessagePage, MessageStore, NewMessage,
    StoreError, StoreResult,
};

#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

#[derive(Default)]
struct Data {
    conversations: Vec<Conversation>,
    messages: Vec<Message>,
    reads: HashMap<(String, String), i64>,
}

impl MemoryStore {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn page(mut messages: Vec<Message>, limit: i64) -> MessagePage {
    let more = messages.len() as i64 > limit;
    messages.truncate(limit as usize);
    MessagePage { messages, more }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn create_conversation(&self, conversation: &Conversation) -> StoreResult<()> {
        self.data().conversations.push(conversation.clone());
        Ok(())
    }

    async fn participants(&self, conversation_id: &str) -> StoreResult<Vec<String>> {
        let data = self.data();
        let found = data.conversations.iter().find(|c| c.id == conversation_id);
        found
            .map(|c| c.participant_ids.clone())
            .ok_or(StoreError::NotFound)
    }

    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let data = self.data();
        let mine = data
            .conversations
            .iter()
            .filter(|c| c.participant_ids.iter().any(|p| p == user_id));
        Ok(mine.map(|c| c.id.clone()).collect())
    }

    async fn list_conversations(&self, user_id: &str) -> StoreResult<Vec<ConversationSummary>> {
        let data = self.data();
        let mine = data
            .conversations
            .iter()
            .filter(|c| c.participant_ids.iter().any(|p| p == user_id));
        Ok(mine
            .map(|c| {
                let read = data
                    .reads
                    .get(&(c.id.clone(), user_id.to_owned()))
                    .copied()
                    .unwrap_or(0);
                let of_c = || data.messages.iter().filter(|m| m.conversation_id == c.id);
                ConversationSummary {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    participant_ids: c.participant_ids.clone(),
                    created_at: c.created_at,
                    last_message: of_c().max_by_key(|m| m.seq).cloned(),
                    unread: of_c()
                        .filter(|m| m.seq > read && m.sender_id != user_id && !m.deleted)
                        .count() as i64,
                }
            })
            .collect())
    }

    async fn insert_message(&self, new: NewMessage) -> StoreResult<Inserted> {
        let mut data = self.data();
        let same =
            |m: &&Message| m.sender_id == new.sender_id && m.client_msg_id == new.client_msg_id;
        if let Some(old) = data.messages.iter().find(same) {
            return Ok(Inserted::Existing(old.clone()));
        }
        let seq = data
            .messages
            .iter()
            .filter(|m| m.conversation_id == new.conversation_id)
            .count() as i64
            + 1;
        let message = Message {
            id: new.id,
            conversation_id: new.conversation_id,
            seq,
            sender_id: new.sender_id,
            client_msg_id: new.client_msg_id,
            content: new.content,
            attachments: new.attachments,
            reply_to: new.reply_to,
            created_at: new.created_at,
            edited_at: None,
            deleted: false,
        };
        data.messages.push(message.clone());
        Ok(Inserted::New(message))
    }

    async fn message(&self, message_id: &str) -> StoreResult<Message> {
        let data = self.data();
        data.messages
            .iter()
            .find(|m| m.id == message_id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn edit_message(&self, message_id: &str, content: &str, at: i64) -> StoreResult<Message> {
        let mut data = self.data();
        let message = data
            .messages
            .iter_mut()
            .find(|m| m.id == message_id)
            .ok_or(StoreError::NotFound)?;
        message.content = content.to_owned();
        message.edited_at = Some(at);
        Ok(message.clone())
    }

    async fn delete_message(&self, message_id: &str, at: i64) -> StoreResult<Message> {
        let mut data = self.data();
        let message = data
            .messages
            .iter_mut()
            .find(|m| m.id == message_id)
            .ok_or(StoreError::NotFound)?;
        message.content.clear();
        message.attachments.clear();
        message.deleted = true;
        message.edited_at = Some(at);
        Ok(message.clone())
    }

    async fn history(
        &self,
        conversation_id: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        let data = self.data();
        let mut older: Vec<Message> = data
            .messages
            .iter()
            .filter(|m| {
                m.conversation_id == conversation_id && before_seq.is_none_or(|b| m.seq < b)
            })
            .cloned()
            .collect();
        older.sort_by_key(|m| std::cmp::Reverse(m.seq));
        let mut result = page(older, limit);
        result.messages.reverse();
        Ok(result)
    }

    async fn messages_after(
        &self,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        let data = self.data();
        let mut newer: Vec<Message> = data
            .messages
            .iter()
            .filter(|m| m.conversation_id == conversation_id && m.seq > after_seq)
            .cloned()
            .collect();
        newer.sort_by_key(|m| m.seq);
        Ok(page(newer, limit))
    }

    async fn mark_read(&self, conversation_id: &str, user_id: &str, seq: i64) -> StoreResult<i64> {
        let mut data = self.data();
        let last = data
            .messages
            .iter()
            .filter(|m| m.conversation_id == conversation_id)
            .count() as i64;
        let cursor = data
            .reads
            .entry((conversation_id.to_owned(), user_id.to_owned()))
            .or_insert(0);
        *cursor = (*cursor).max(seq.min(last));
        Ok(*cursor)
    }
}
