//! The port of `/ws`: conversations and messages.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StoreResult;

/// A conversation as sent on the wire (`conversation:new`, `conversation:create`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub title: Option<String>,
    pub participant_ids: Vec<String>,
    pub created_at: i64,
}

/// One entry of `conversation:list`: the conversation, its newest message and how many
/// messages from others the user has not read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub id: String,
    pub title: Option<String>,
    pub participant_ids: Vec<String>,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    pub unread: i64,
}

/// A stored message, exactly as PROTOCOL.md §5 names its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub sender_id: String,
    pub client_msg_id: String,
    pub content: String,
    pub attachments: Vec<Value>,
    pub reply_to: Option<String>,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub deleted: bool,
}

/// What `message:send` asks the store to keep; `seq` is the store's to assign.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub conversation_id: String,
    pub sender_id: String,
    pub client_msg_id: String,
    pub content: String,
    pub attachments: Vec<Value>,
    pub reply_to: Option<String>,
    pub created_at: i64,
}

/// Whether `insert_message` stored a new message or found the one already sent under the
/// same `(senderId, clientMsgId)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    New(Message),
    Existing(Message),
}

/// A page of messages and whether more exist beyond it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub more: bool,
}

/// Conversations and messages for `/ws`. Every write is durable when the call returns.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    async fn create_conversation(&self, conversation: &Conversation) -> StoreResult<()>;
    /// The conversation's participants, or `NotFound`.
    async fn participants(&self, conversation_id: &str) -> StoreResult<Vec<String>>;
    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>>;
    async fn list_conversations(&self, user_id: &str) -> StoreResult<Vec<ConversationSummary>>;
    /// Stores the message with the conversation's next `seq`, unless the sender already
    /// sent one with this `client_msg_id`.
    async fn insert_message(&self, message: NewMessage) -> StoreResult<Inserted>;
    async fn message(&self, message_id: &str) -> StoreResult<Message>;
    async fn edit_message(&self, message_id: &str, content: &str, at: i64) -> StoreResult<Message>;
    async fn delete_message(&self, message_id: &str, at: i64) -> StoreResult<Message>;
    /// Up to `limit` messages below `before_seq` (all when `None`), oldest first.
    async fn history(
        &self,
        conversation_id: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage>;
    /// Up to `limit` messages above `after_seq`, oldest first.
    async fn messages_after(
        &self,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<MessagePage>;
    /// Moves the user's read cursor forward (never back); returns the cursor now held.
    async fn mark_read(&self, conversation_id: &str, user_id: &str, seq: i64) -> StoreResult<i64>;
}
