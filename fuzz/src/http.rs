//! The request bodies of `/api/v1` (src/http/api.rs), read through `JsonBody` as the
//! routes read them: accepted bodies keep their limits, refused ones are answered with
//! the contract's error shape and a 4xx status, never a 500.

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard::http::{Announcement, JsonBody};
use switchyard_namespaces::notifications::payloads::{Create, MAX_BODY_CHARS, MAX_TTL_SECONDS};
use switchyard_namespaces::realtime::payloads::{PresenceUsers, Publish};

use crate::payloads::{
    assert_channel, assert_opt_id, assert_short_name, assert_title, realtime::assert_user_ids,
};
use crate::{chars, runtime};

/// The routes with a body, in the order the first input byte picks them.
pub const ROUTES: &[&str] = &[
    "/api/v1/publish",
    "/api/v1/notifications",
    "/api/v1/presence/query",
    "/api/v1/announce",
];

/// Content types a client may send; the second choice of the first input byte.
const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    None,
];

/// Reads `body` as the route does; `Some` with the request when it was accepted.
fn read<T: DeserializeOwned + Send + 'static>(
    route: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Option<T> {
    let mut req = Request::builder().method("POST").uri(route);
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(Body::from(body.to_vec())).expect("request");
    runtime().block_on(async {
        match JsonBody::<T>::from_request(req, &()).await {
            Ok(JsonBody(value)) => {
                assert!(
                    content_type.is_some_and(|ct| ct.starts_with("application/json")),
                    "a body without a JSON content type was accepted"
                );
                Some(value)
            }
            Err(err) => {
                let response = err.into_response();
                let status = response.status();
                assert!(
                    matches!(
                        status,
                        StatusCode::BAD_REQUEST
                            | StatusCode::UNPROCESSABLE_ENTITY
                            | StatusCode::UNSUPPORTED_MEDIA_TYPE
                            | StatusCode::PAYLOAD_TOO_LARGE
                    ),
                    "body refused with {status}"
                );
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .expect("error body");
                let json: Value = serde_json::from_slice(&bytes).expect("error body is JSON");
                let code = &json["error"]["code"];
                assert!(
                    code == "invalid_payload" || code == "payload_too_large",
                    "error code {code}"
                );
                assert!(json["error"]["message"].is_string());
                None
            }
        }
    })
}

/// One input: the first byte picks the route and the content type, the rest is the body.
pub fn fuzz(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let kind = usize::from(kind);
    let route = ROUTES[kind % ROUTES.len()];
    let content_type = CONTENT_TYPES[(kind / ROUTES.len()) % CONTENT_TYPES.len()];
    match kind % ROUTES.len() {
        0 => {
            if let Some(r) = read::<Publish>(route, content_type, body) {
                assert_channel(&r.channel);
                assert_short_name(&r.event.0);
                assert_opt_id(&r.idempotency_key);
            }
        }
        1 => {
            if let Some(r) = read::<Create>(route, content_type, body) {
                assert_user_ids(&r.user_ids);
                assert_short_name(&r.kind.0);
                assert_title(r.title);
                let count = chars(&r.body.0);
                assert!(count <= MAX_BODY_CHARS, "body of {count} characters");
                if let Some(ttl) = r.ttl_seconds {
                    assert!((1..=MAX_TTL_SECONDS).contains(&ttl.0), "ttl {}", ttl.0);
                }
                assert_opt_id(&r.idempotency_key);
            }
        }
        2 => {
            if let Some(r) = read::<PresenceUsers>(route, content_type, body) {
                assert_user_ids(&r.user_ids);
            }
        }
        _ => {
            // An announcement (admins only) has no limits of its own beyond the body size.
            if let Some(a) = read::<Announcement>(route, content_type, body) {
                let _ = (a.title, a.body, a.data);
            }
        }
    }
}
