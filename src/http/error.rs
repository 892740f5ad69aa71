//! One error type at the HTTP edge. 500s are logged with their cause and never leaked.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidPayload(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized(AuthError::Missing) => (StatusCode::UNAUTHORIZED, "missing_token"),
            Self::Unauthorized(AuthError::Expired) => (StatusCode::UNAUTHORIZED, "token_expired"),
            Self::Unauthorized(AuthError::Invalid) => (StatusCode::UNAUTHORIZED, "invalid_token"),
            Self::Unauthorized(AuthError::RateLimited) => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            }
            Self::Unauthorized(AuthError::TooManyConnections) => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_connections")
            }
            // The connect hook's refusals; the HTTP API does not ask it.
            Self::Unauthorized(AuthError::Forbidden) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Unauthorized(AuthError::Unavailable) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::InvalidPayload(_) => (StatusCode::BAD_REQUEST, "invalid_payload"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_payload"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// `Retry-After` of a 503: about the time a Redis or database blip takes to heal.
const UNAVAILABLE_RETRY_SECS: &str = "2";

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
                "internal error".to_owned()
            }
            Self::Unauthorized(_) => "a valid bearer token is required".to_owned(),
            other => other.to_string(),
        };
        let body = Json(json!({ "error": { "code": code, "message": message } }));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // A dependency is away: retrying at once would only add load.
            return (
                status,
                [(header::RETRY_AFTER, UNAVAILABLE_RETRY_SECS)],
                body,
            )
                .into_response();
        }
        (status, body).into_response()
    }
}

/// axum's own JSON rejections, reshaped: syntax errors are 400, wrong shapes 422,
/// oversized bodies 413.
impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let text = switchyard_namespaces::clip_message(rejection.body_text());
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(text),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(text),
            _ => Self::InvalidPayload(text),
        }
    }
}

/// A namespace rule broken through HTTP: same code, HTTP status.
impl From<switchyard_namespaces::NsError> for AppError {
    fn from(err: switchyard_namespaces::NsError) -> Self {
        use switchyard_namespaces::ErrorCode;
        match err.code {
            ErrorCode::InvalidPayload => Self::Unprocessable(err.message),
            ErrorCode::Forbidden => Self::Forbidden(err.message),
            ErrorCode::NotFound => Self::NotFound(err.message),
            ErrorCode::PayloadTooLarge => Self::PayloadTooLarge(err.message),
            ErrorCode::Unavailable => Self::Unavailable(err.message),
            ErrorCode::Conflict => Self::Conflict(err.message),
            ErrorCode::RateLimited | ErrorCode::Internal => {
                Self::Internal(anyhow::anyhow!("{}: {}", err.code.as_str(), err.message))
            }
        }
    }
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no such route".into())
}

/// `Json<T>` whose rejections are [`AppError`]s, so bad JSON gets the contract's shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct JsonBody<T>(pub T);
