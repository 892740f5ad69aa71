//! The HTTP API's requests on `/ws` (`POST /api/v1/conversations…`): the socket events'
//! typed payloads, so every limit is the same, plus what HTTP adds (an idempotency key,
//! the sender named in the body).

use serde::Deserialize;

use super::payloads::{Attachments, Content, CreateConversation, SendMessage};
use super::sender::{SYSTEM_SENDER, Sender};
use crate::NsError;
use crate::wire::Id;

/// `POST /api/v1/conversations`: `conversation:create`'s body and an optional key that
/// makes a repeat return the first conversation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCreateConversation {
    #[serde(flatten)]
    pub conversation: CreateConversation,
    pub idempotency_key: Option<Id>,
}

/// `POST /api/v1/conversations/{id}/messages`: `message:send`'s body with the
/// conversation in the path, from `senderId` (a participant) or, with `system: true` and
/// no `senderId`, from the system sender.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiPostMessage {
    pub sender_id: Option<Id>,
    #[serde(default)]
    pub system: bool,
    pub client_msg_id: Id,
    pub content: Content,
    #[serde(default)]
    pub attachments: Option<Attachments>,
    pub reply_to: Option<Id>,
}

impl ApiPostMessage {
    /// The sender and `message:send`'s request for conversation `conversation_id`.
    pub fn into_send(self, conversation_id: Id) -> Result<(Sender, SendMessage), NsError> {
        let sender = match (self.sender_id, self.system) {
            (Some(id), false) if id.as_str() != SYSTEM_SENDER => Sender::user(id.into_string()),
            (None, true) => Sender::System,
            _ => {
                return Err(NsError::invalid(
                    "give either senderId (a participant) or system: true",
                ));
            }
        };
        let send = SendMessage {
            conversation_id,
            client_msg_id: self.client_msg_id,
            content: self.content,
            attachments: self.attachments,
            reply_to: self.reply_to,
        };
        Ok((sender, send))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn api_messages_name_one_sender() {
        let base = json!({ "clientMsgId": "m1", "content": "hi" });
        let with = |extra: Value| {
            let mut body = base.clone();
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            let req: ApiPostMessage = parse(body).expect("valid shape");
            let id = Id::try_from("c1".to_string()).expect("id");
            req.into_send(id).map(|(sender, _)| sender).ok()
        };
        assert_eq!(with(json!({ "senderId": "u1" })), Some(Sender::user("u1")));
        assert_eq!(with(json!({ "system": true })), Some(Sender::System));
        assert_eq!(with(json!({})), None);
        assert_eq!(with(json!({ "senderId": "u1", "system": true })), None);
        assert_eq!(with(json!({ "senderId": SYSTEM_SENDER })), None);
    }

    #[test]
    fn api_conversations_keep_the_socket_limits() {
        let req: ApiCreateConversation =
            parse(json!({ "participantIds": ["a"], "title": "t", "idempotencyKey": "k" }))
                .expect("valid");
        assert_eq!(req.idempotency_key.map(Id::into_string), Some("k".into()));
        assert!(parse::<ApiCreateConversation>(json!({ "participantIds": [] })).is_err());
        let long = "x".repeat(crate::wire::MAX_TITLE_CHARS + 1);
        assert!(
            parse::<ApiCreateConversation>(json!({ "participantIds": ["a"], "title": long }))
                .is_err()
        );
    }
}
