//! The ack shapes of PROTOCOL.md §2: `{ok: true, ...}` or `{ok: false, error: {...}}`.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::ports::StoreError;

/// The fixed error codes of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidPayload,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    PayloadTooLarge,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPayload => "invalid_payload",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// The `error` object of PROTOCOL.md §2: in a failed ack, and the payload of the `error`
/// event (see [`crate::emit`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorObject {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// An error a handler answers with. `details` are extra fields merged into the ack
/// (for example `current` on a draft conflict).
/// Its `Display` is the bare code, which is what a connect middleware's refusal sends as
/// the `connect_error` message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.code.as_str())]
pub struct NsError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
    pub details: Option<Map<String, Value>>,
}

/// The longest error message a client is sent. serde's messages quote the offending
/// value, which could be most of a 64 KiB payload; the client already has it.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 300;

/// `message`, cut to [`MAX_ERROR_MESSAGE_CHARS`] characters (with `…` when cut).
pub fn clip_message(message: String) -> String {
    match message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        None => message,
        Some((end, _)) => format!("{}…", &message[..end]),
    }
}

impl NsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: clip_message(message.into()),
            retry_after_ms: None,
            details: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The `error` object: `{code, message, retryAfterMs?}`.
    pub fn error_body(&self) -> Value {
        serde_json::to_value(self.error_object()).unwrap_or(Value::Null)
    }

    /// The `error` object, typed: what an `error` event carries and a failed ack nests.
    pub fn error_object(&self) -> ErrorObject {
        ErrorObject {
            code: self.code,
            message: self.message.clone(),
            retry_after_ms: self.retry_after_ms,
        }
    }

    /// The whole failed ack: `{ok: false, error, ...details}`.
    pub fn ack_body(&self) -> Value {
        let mut ack = Map::new();
        if let Some(details) = &self.details {
            ack.extend(details.clone());
        }
        ack.insert("ok".into(), Value::Bool(false));
        ack.insert("error".into(), self.error_body());
        Value::Object(ack)
    }
}

impl From<StoreError> for NsError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::not_found("not found"),
            StoreError::Conflict(message) => Self::new(ErrorCode::Conflict, message),
            StoreError::Unavailable(cause) => {
                // The cause may name tables or hosts: log it, tell the client only that
                // nothing was stored.
                tracing::error!(error = %cause, "store unavailable");
                Self::new(
                    ErrorCode::Unavailable,
                    "storage is unavailable, nothing was stored",
                )
            }
        }
    }
}

/// A successful ack: `{ok: true, ...fields}`. `data` must serialize to an object.
pub fn ok_body(data: impl Serialize) -> Value {
    match serde_json::to_value(data) {
        Ok(Value::Object(mut fields)) => {
            fields.insert("ok".into(), Value::Bool(true));
            Value::Object(fields)
        }
        Ok(Value::Null) => json!({ "ok": true }),
        Ok(other) => json!({ "ok": true, "data": other }),
        Err(err) => {
            tracing::error!(error = %err, "ack body failed to serialize");
            NsError::new(ErrorCode::Internal, "internal error").ack_body()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_body_merges_fields_and_sets_ok() {
        assert_eq!(ok_body(json!({"a": 1})), json!({"ok": true, "a": 1}));
        assert_eq!(ok_body(()), json!({"ok": true}));
    }

    #[test]
    fn error_ack_carries_code_message_and_retry_after() {
        let mut err = NsError::new(ErrorCode::RateLimited, "slow down");
        err.retry_after_ms = Some(1500);
        assert_eq!(
            err.ack_body(),
            json!({"ok": false, "error": {"code": "rate_limited", "message": "slow down", "retryAfterMs": 1500}})
        );
    }

    #[test]
    fn error_details_are_merged_but_cannot_override_ok() {
        let mut err = NsError::new(ErrorCode::Conflict, "stale");
        let mut details = Map::new();
        details.insert("ok".into(), json!(true));
        details.insert("current".into(), json!({"version": 3}));
        err.details = Some(details);
        let body = err.ack_body();
        assert_eq!(body["ok"], json!(false));
        assert_eq!(body["current"]["version"], json!(3));
    }

    #[test]
    fn a_payload_quoted_by_serde_is_clipped() {
        let long = "é".repeat(10_000);
        let Err(err) = crate::incoming::decode::<u32>(json!(long)) else {
            panic!("a string is not a u32");
        };
        assert_eq!(err.code, ErrorCode::InvalidPayload);
        assert_eq!(err.message.chars().count(), MAX_ERROR_MESSAGE_CHARS + 1);
        assert!(err.message.ends_with('…'));
        assert_eq!(clip_message("short".into()), "short");
    }
}
