//! The rows the message queries return, and how they become the namespaces' messages,
//! pages and conversation summaries.

use std::collections::HashMap;

use switchyard_namespaces::ports::{ConversationSummary, Message, MessagePage};

#[derive(sqlx::FromRow)]
pub struct MessageRow {
    id: String,
    conversation_id: String,
    seq: i64,
    sender_id: String,
    client_msg_id: String,
    content: String,
    attachments: String,
    reply_to: Option<String>,
    created_at: i64,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        let attachments = serde_json::from_str(&row.attachments).unwrap_or_else(|err| {
            tracing::warn!(message_id = %row.id, error = %err, "stored attachments are not JSON");
            Vec::new()
        });
        Message {
            id: row.id,
            conversation_id: row.conversation_id,
            seq: row.seq,
            sender_id: row.sender_id,
            client_msg_id: row.client_msg_id,
            content: row.content,
            attachments,
            reply_to: row.reply_to,
            created_at: row.created_at,
            edited_at: row.edited_at,
            deleted: row.deleted_at.is_some(),
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct ConversationRow {
    id: String,
    title: Option<String>,
    created_at: i64,
    unread: i64,
}

/// Rows fetched one beyond `limit` tell whether there are more.
pub fn page(rows: Vec<MessageRow>, limit: i64) -> MessagePage {
    let more = rows.len() as i64 > limit;
    let messages = rows
        .into_iter()
        .take(limit as usize)
        .map(Message::from)
        .collect();
    MessagePage { messages, more }
}

/// Joins conversations with their participants and newest messages.
pub fn summaries(
    rows: Vec<ConversationRow>,
    members: Vec<(String, String)>,
    last: Vec<MessageRow>,
) -> Vec<ConversationSummary> {
    let mut by_conversation: HashMap<String, Vec<String>> = HashMap::new();
    for (conversation_id, user_id) in members {
        by_conversation
            .entry(conversation_id)
            .or_default()
            .push(user_id);
    }
    let mut last: HashMap<String, Message> = last
        .into_iter()
        .map(|m| (m.conversation_id.clone(), Message::from(m)))
        .collect();
    rows.into_iter()
        .map(|row| ConversationSummary {
            participant_ids: by_conversation.remove(&row.id).unwrap_or_default(),
            last_message: last.remove(&row.id),
            id: row.id,
            title: row.title,
            created_at: row.created_at,
            unread: row.unread,
        })
        .collect()
}
