//! `/api/v1/conversations`: what a backend does on `/ws` without a socket (issue 22 item
//! 4). Each route is the socket event's own code ([`ChatApi`]), so a conversation or a
//! message made here is stored, told and pushed exactly as `conversation:create` and
//! `message:send` do it. A new resource answers `201`; a repeat (the same
//! `idempotencyKey`, or the same `senderId` and `clientMsgId`) answers `200` with the
//! first result and tells no one again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_namespaces::ports::Inserted;
use switchyard_namespaces::wire::Id;
use switchyard_namespaces::ws::Created;
use switchyard_namespaces::ws::api_payloads::{ApiCreateConversation, ApiPostMessage};

use super::{AppError, AppState, JsonBody};
use crate::auth::Caller;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/conversations", post(create_conversation))
        .route("/conversations/{id}/messages", post(post_message))
}

type Answer = Result<(StatusCode, Json<Value>), AppError>;

/// `{participantIds, title?, idempotencyKey?}` → `201 {conversation}`, told to the
/// participants as `conversation:new`; the caller is not made a participant.
async fn create_conversation(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<ApiCreateConversation>,
) -> Answer {
    caller.require_any(&["service"])?;
    let id = req
        .idempotency_key
        .map(|key| keyed_conversation_id(&caller.0.user_id, key.as_str()));
    let created = state.chat.create_conversation(id, req.conversation).await?;
    let (status, conversation) = match created {
        Created::New(c) => (StatusCode::CREATED, c),
        Created::Existing(c) => (StatusCode::OK, c),
    };
    Ok((status, Json(json!({ "conversation": conversation }))))
}

/// `{senderId | system: true, clientMsgId, content, attachments?, replyTo?}` →
/// `201 {message}`, delivered as `message:send` delivers it.
async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(conversation_id): Path<String>,
    JsonBody(req): JsonBody<ApiPostMessage>,
) -> Answer {
    caller.require_any(&["service"])?;
    let conversation_id = Id::try_from(conversation_id).map_err(AppError::InvalidPayload)?;
    let (sender, send) = req.into_send(conversation_id)?;
    let (status, message) = match state.chat.send_message(sender, send).await? {
        Inserted::New(m) => (StatusCode::CREATED, m),
        Inserted::Existing(m) => (StatusCode::OK, m),
    };
    Ok((status, Json(json!({ "message": message }))))
}

/// The id a keyed conversation gets: the same caller and key always name the same
/// conversation, so the database itself answers "created already?" on every node, with
/// no window to expire and no other store. A UUID (version 8) from a SHA-256 of both.
fn keyed_conversation_id(caller: &str, key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"switchyard conversation\0")
        .chain_update(caller.as_bytes())
        .chain_update(b"\0")
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_ids_depend_on_caller_and_key_only() {
        let id = keyed_conversation_id("backend", "k1");
        assert_eq!(id, keyed_conversation_id("backend", "k1"));
        assert_ne!(id, keyed_conversation_id("backend", "k2"));
        assert_ne!(id, keyed_conversation_id("other", "k1"));
        // No concatenation of caller and key collides with another.
        assert_ne!(
            keyed_conversation_id("a", "bc"),
            keyed_conversation_id("ab", "c")
        );
        assert_eq!(
            uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()),
            Ok(8)
        );
    }
}
