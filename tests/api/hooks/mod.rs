//! Issue 22's authorization hooks and RPC against a real HTTP server standing in for the
//! app's backend: it checks every request's Standard Webhooks signature with the
//! gateway's `SigningSecret` and answers as each test scripts it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard::config::Settings;
use switchyard::integration::signing::SigningSecret;

mod connect;
mod rpc;
mod subscribe;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// How the stand-in answers one hook.
#[derive(Clone)]
pub enum Answer {
    Json(Value),
    /// This status with an empty body.
    Status(u16),
    /// The JSON, after this long.
    Slow(Duration, Value),
    /// A 200 whose body is this text (not JSON, or too large).
    Text(String),
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    pub body: Value,
    /// The `webhook-*` headers verify against [`SECRET`], with a current timestamp.
    pub signed: bool,
    pub id: String,
}

#[derive(Default)]
struct Script {
    answers: HashMap<String, Answer>,
    calls: HashMap<String, Vec<Call>>,
}

/// The app's backend: `POST /{hook}` answered as scripted, every request recorded.
pub struct Backend {
    base: String,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    pub async fn start() -> Backend {
        let script = Arc::new(Mutex::new(Script::default()));
        let router = axum::Router::new()
            .route("/{hook}", axum::routing::post(answer))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the backend");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Backend {
            base: format!("http://{addr}"),
            script,
            task,
        }
    }

    pub fn url(&self, hook: &str) -> String {
        format!("{}/{hook}", self.base)
    }

    pub fn answer(&self, hook: &str, answer: Answer) {
        let mut script = self.script.lock().expect("script");
        script.answers.insert(hook.to_owned(), answer);
    }

    /// What `hook` was sent so far.
    pub fn calls(&self, hook: &str) -> Vec<Call> {
        let script = self.script.lock().expect("script");
        script.calls.get(hook).cloned().unwrap_or_default()
    }

    /// Settings pointing every hook here, with `timeout` and no cache unless set after.
    pub fn configure(&self, s: &mut Settings, timeout: Duration) {
        let hooks = &mut s.integration.hooks;
        hooks.connect_url = Some(self.url("connect"));
        hooks.subscribe_url = Some(self.url("subscribe"));
        hooks.rpc_url = Some(self.url("rpc"));
        hooks.secret = Some(SECRET.into());
        hooks.timeout = timeout;
        hooks.cache_for = Duration::ZERO;
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signed: verified(&headers, &body),
        id: header(&headers, "webhook-id"),
    };
    let answer = {
        let mut script = script.lock().expect("script");
        script.calls.entry(hook.clone()).or_default().push(call);
        script.answers.get(&hook).cloned()
    };
    match answer {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Answer::Json(v)) => axum::Json(v).into_response(),
        Some(Answer::Status(code)) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Some(Answer::Slow(wait, v)) => {
            tokio::time::sleep(wait).await;
            axum::Json(v).into_response()
        }
        Some(Answer::Text(text)) => text.into_response(),
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The signature a Standard Webhooks receiver checks: `v1,` HMAC of `id.timestamp.body`
/// with the shared secret, and a timestamp within five minutes of now.
fn verified(headers: &HeaderMap, body: &[u8]) -> bool {
    let secret = SigningSecret::parse(SECRET).expect("the test secret");
    let id = header(headers, "webhook-id");
    let Ok(timestamp) = header(headers, "webhook-timestamp").parse::<i64>() else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let expected = secret.sign(&id, timestamp, body);
    let sent = header(headers, "webhook-signature");
    !id.is_empty()
        && (now - timestamp).abs() < 300
        && sent.split(' ').any(|signature| signature == expected)
}

/// An address nothing listens on: a backend that is down.
pub async fn nowhere() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    drop(listener);
    format!("http://{addr}/down")
}

/// `{"token", ...extra}` as the handshake `auth`.
pub fn auth_with(token: String, extra: Value) -> crate::support::Connect {
    let mut auth = json!({ "token": token });
    if let (Some(auth), Some(extra)) = (auth.as_object_mut(), extra.as_object()) {
        auth.extend(extra.clone());
    }
    crate::support::Connect {
        auth: Some(auth),
        ..Default::default()
    }
}
