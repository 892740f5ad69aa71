//! The fake's two endpoints: the JWT-bearer token grant and `messages:send`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Path, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CLIENT_EMAIL, KEY_ID, Recorded, Reply, SCOPE, State};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const FCM_ERROR: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/token", post(token))
        .route("/v1/projects/{project}/messages:send", post(send))
        .with_state(state)
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    assertion: String,
}

async fn token(Shared(state): Shared<Arc<State>>, Form(form): Form<TokenForm>) -> Response {
    let n = state.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
    if form.grant_type != GRANT_TYPE {
        let body = json!({ "error": "unsupported_grant_type" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    if let Err(why) = verify_assertion(&state, &form.assertion) {
        let body = json!({ "error": "invalid_grant", "error_description": why });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let access_token = format!("fake-access-{n}");
    state
        .issued
        .lock()
        .expect("issued")
        .insert(access_token.clone());
    let expires_in = state.token_lifetime_secs.load(Ordering::SeqCst);
    let body =
        json!({ "access_token": access_token, "expires_in": expires_in, "token_type": "Bearer" });
    Json(body).into_response()
}

/// Checks what Google checks: an RS256 signature by the account's key, and the claims.
fn verify_assertion(state: &State, assertion: &str) -> Result<(), String> {
    let [head, claims, signature] = assertion.split('.').collect::<Vec<_>>()[..] else {
        return Err("not a JWT".into());
    };
    let header = decode_part(head)?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    if let Some(kid) = header.get("kid").filter(|kid| *kid != KEY_ID) {
        return Err(format!("unknown kid {kid}"));
    }
    // Google accepts padded base64url, which gcp_auth sends; jsonwebtoken's decoder does
    // not, so the signature is checked over the parts exactly as they came.
    let signed = format!("{head}.{claims}");
    let valid = jsonwebtoken::crypto::verify(
        signature.trim_end_matches('='),
        signed.as_bytes(),
        &state.public_key,
        Algorithm::RS256,
    )
    .map_err(|err| format!("signature: {err}"))?;
    if !valid {
        return Err("bad signature".into());
    }
    check_claims(state, &decode_part(claims)?)
}

fn check_claims(state: &State, claims: &Value) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    let scopes = claims["scope"].as_str().unwrap_or_default();
    let problems = [
        (claims["iss"] != CLIENT_EMAIL, "iss"),
        (claims["aud"] != state.token_url().as_str(), "aud"),
        (!scopes.split_whitespace().any(|s| s == SCOPE), "scope"),
        (iat.is_none_or(|iat| iat > now + 60), "iat"),
        (exp.is_none_or(|exp| exp <= now), "exp"),
        (
            matches!((iat, exp), (Some(iat), Some(exp)) if exp.saturating_sub(iat) > 3600),
            "lifetime over an hour",
        ),
    ];
    match problems.iter().find(|(bad, _)| *bad) {
        Some((_, what)) => Err(format!("bad {what} in {claims}")),
        None => Ok(()),
    }
}

fn decode_part(part: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|err| format!("base64: {err}"))?;
    serde_json::from_slice(&bytes).map_err(|err| format!("JSON: {err}"))
}

async fn send(
    Shared(state): Shared<Arc<State>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    state.gate.pass().await;
    let at = Instant::now();
    let device = body["message"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let authorized = bearer(&headers).is_some_and(|token| {
        let issued = state.issued.lock().expect("issued");
        issued.contains(token)
    });
    let reply = if authorized {
        next_reply(&state, &device)
    } else {
        Reply::Unauthorized
    };
    let mut requests = state.requests.lock().expect("requests");
    let n = requests.len() + 1;
    requests.push(Recorded {
        project: project.clone(),
        token: device,
        body,
        authorized,
        reply: reply.clone(),
        at,
    });
    drop(requests);
    respond(&reply, &project, n)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn next_reply(state: &State, device: &str) -> Reply {
    let mut scripts = state.scripts.lock().expect("scripts");
    scripts
        .get_mut(device)
        .and_then(|queue| queue.pop_front())
        .unwrap_or(Reply::Ok)
}

fn respond(reply: &Reply, project: &str, n: usize) -> Response {
    let (status, rpc, code, message, retry_after) = match *reply {
        Reply::Ok => {
            let body = json!({ "name": format!("projects/{project}/messages/{n}") });
            return Json(body).into_response();
        }
        Reply::Unregistered => (
            404,
            "NOT_FOUND",
            Some("UNREGISTERED"),
            "Requested entity was not found.",
            None,
        ),
        Reply::InvalidArgument => (
            400,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
            "The registration token is not a valid FCM registration token",
            None,
        ),
        Reply::Unavailable { retry_after } => (
            503,
            "UNAVAILABLE",
            Some("UNAVAILABLE"),
            "The service is currently unavailable.",
            retry_after,
        ),
        Reply::TooManyRequests { retry_after } => (
            429,
            "RESOURCE_EXHAUSTED",
            Some("QUOTA_EXCEEDED"),
            "Quota exceeded for sending messages.",
            retry_after,
        ),
        Reply::Unauthorized => (
            401,
            "UNAUTHENTICATED",
            None,
            "Request had invalid authentication credentials.",
            None,
        ),
    };
    let details: Vec<Value> = code
        .map(|code| json!({ "@type": FCM_ERROR, "errorCode": code }))
        .into_iter()
        .collect();
    let body = json!({ "error": { "code": status, "message": message, "status": rpc, "details": details } });
    let status = StatusCode::from_u16(status).expect("status");
    let mut response = (status, Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
    }
    response
}
