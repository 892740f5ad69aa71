//! What `/ws` sends: its server → client events, each payload tied to its name, and the
//! replies to its client events (PROTOCOL.md §5).

use serde::Serialize;

use super::chat::ReadReceipt;
use crate::emit::Emit;
use crate::ports::{Conversation, ConversationSummary, Message};

/// Server → client events.
pub mod emits {
    pub const CONVERSATION_NEW: &str = "conversation:new";
    pub const MESSAGE_NEW: &str = "message:new";
    pub const MESSAGE_DELIVERED: &str = "message:delivered";
    pub const MESSAGE_UPDATED: &str = "message:updated";
    pub const MESSAGE_DELETED: &str = "message:deleted";
    pub const MESSAGE_READ: &str = "message:read";
    pub const TYPING: &str = "typing";
    pub const ALL: &[&str] = &[
        CONVERSATION_NEW,
        MESSAGE_NEW,
        MESSAGE_DELIVERED,
        MESSAGE_UPDATED,
        MESSAGE_DELETED,
        MESSAGE_READ,
        TYPING,
    ];
}

/// `conversation:new` to every participant; also the reply to `conversation:create`.
#[derive(Debug, Serialize)]
pub struct ConversationNew {
    pub conversation: Conversation,
}

impl Emit for ConversationNew {
    const EVENT: &'static str = emits::CONVERSATION_NEW;
}

/// `message:new` to the participants' sockets.
#[derive(Debug, Serialize)]
pub struct MessageNew<'a> {
    pub message: &'a Message,
}

impl Emit for MessageNew<'_> {
    const EVENT: &'static str = emits::MESSAGE_NEW;
}

/// `message:delivered` to the sender: the first recipient that acked `message:new`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDelivered {
    pub conversation_id: String,
    pub seq: i64,
    pub user_id: String,
}

impl Emit for MessageDelivered {
    const EVENT: &'static str = emits::MESSAGE_DELIVERED;
}

/// `message:updated` to the conversation; also the reply to `message:edit`.
#[derive(Debug, Serialize)]
pub struct MessageUpdated {
    pub message: Message,
}

impl Emit for MessageUpdated {
    const EVENT: &'static str = emits::MESSAGE_UPDATED;
}

/// `message:deleted` to the conversation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDeleted {
    pub conversation_id: String,
    pub message_id: String,
}

impl Emit for MessageDeleted {
    const EVENT: &'static str = emits::MESSAGE_DELETED;
}

/// `message:read` to the conversation: the receipt itself.
impl Emit for ReadReceipt {
    const EVENT: &'static str = emits::MESSAGE_READ;
}

/// `typing` to the conversation, except the typist's own sockets.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Typing<'a> {
    pub conversation_id: &'a str,
    pub user_id: &'a str,
    pub typing: bool,
}

impl Emit for Typing<'_> {
    const EVENT: &'static str = emits::TYPING;
}

/// The reply to `conversation:list`.
#[derive(Debug, Serialize)]
pub struct Conversations {
    pub conversations: Vec<ConversationSummary>,
}

/// The reply to `message:send`: the stored message (the first one, for a resend).
#[derive(Debug, Serialize)]
pub struct SentMessage {
    pub message: Message,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn emits_keep_their_wire_shape() {
        let typing = Typing {
            conversation_id: "c",
            user_id: "u",
            typing: true,
        };
        assert_eq!(
            serde_json::to_value(typing).ok(),
            Some(json!({ "conversationId": "c", "userId": "u", "typing": true }))
        );
        let delivered = MessageDelivered {
            conversation_id: "c".into(),
            seq: 3,
            user_id: "u".into(),
        };
        assert_eq!(
            serde_json::to_value(delivered).ok(),
            Some(json!({ "conversationId": "c", "seq": 3, "userId": "u" }))
        );
        let deleted = MessageDeleted {
            conversation_id: "c".into(),
            message_id: "m".into(),
        };
        assert_eq!(
            serde_json::to_value(deleted).ok(),
            Some(json!({ "conversationId": "c", "messageId": "m" }))
        );
    }
}
