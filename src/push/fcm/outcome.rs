//! What became of a send: FCM's answer sorted into what the caller should do next.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Accepted; `name` is FCM's message name (`projects/p/messages/123`).
    Sent { name: String },
    /// The device token is dead or malformed: delete it and never send to it again.
    InvalidToken { reason: String },
    /// Try again later, not before `after` when FCM said so. `status` is `None` when no
    /// answer came (network error, timeout, or no access token could be had).
    Retry {
        status: Option<u16>,
        after: Option<Duration>,
    },
    /// FCM refused for a reason that retrying the same request will not fix.
    Failed { status: u16, reason: String },
}

/// FCM's error body: `{"error": {"code", "message", "status", "details": [..]}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorInfo,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorInfo {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDetail {
    error_code: Option<String>,
    #[serde(default)]
    field_violations: Vec<FieldViolation>,
}

#[derive(Debug, Deserialize)]
struct FieldViolation {
    #[serde(default)]
    field: String,
}

impl ErrorInfo {
    /// The FCM error code (`UNREGISTERED`, ...), else the RPC status (`NOT_FOUND`, ...).
    fn code(&self) -> &str {
        self.details
            .iter()
            .find_map(|detail| detail.error_code.as_deref())
            .unwrap_or(&self.status)
    }

    /// A 400 that names fields other than the token faults the message, not the device
    /// (an oversized payload, say): the token must not be deleted for it.
    fn blames_message_not_token(&self) -> bool {
        let mut fields = self
            .details
            .iter()
            .flat_map(|detail| &detail.field_violations)
            .map(|violation| violation.field.as_str())
            .peekable();
        fields.peek().is_some() && fields.all(|field| field != "message.token")
    }
}

/// Sorts a `messages:send` answer.
pub(super) fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SendOutcome {
    if status.is_success() {
        return sent(body);
    }
    let code = status.as_u16();
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return SendOutcome::Retry {
            status: Some(code),
            after: retry_after(headers, SystemTime::now()),
        };
    }
    // An unreadable error body still yields an outcome from the status alone.
    let error = serde_json::from_slice::<ErrorBody>(body)
        .unwrap_or_default()
        .error;
    let reason = error.code().to_owned();
    let dead_token = reason == "UNREGISTERED"
        || (status == StatusCode::BAD_REQUEST
            && reason == "INVALID_ARGUMENT"
            && !error.blames_message_not_token());
    if dead_token {
        return SendOutcome::InvalidToken { reason };
    }
    SendOutcome::Failed {
        status: code,
        reason: failure_reason(reason, &error.message, status),
    }
}

fn sent(body: &[u8]) -> SendOutcome {
    #[derive(Deserialize)]
    struct Sent {
        name: String,
    }
    // FCM took the message whatever the body says: never report a 200 as a failure.
    let name = serde_json::from_slice::<Sent>(body)
        .map(|sent| sent.name)
        .unwrap_or_default();
    SendOutcome::Sent { name }
}

fn failure_reason(code: String, message: &str, status: StatusCode) -> String {
    match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{code}: {message}"),
        (false, true) => code,
        (true, false) => message.to_owned(),
        (true, true) => status.to_string(),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    // A date already past means "now", not "no advice".
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests;
