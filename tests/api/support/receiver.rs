//! A webhook receiver standing in for an app's backend: a real HTTP server on port 0 that
//! answers each POST with the status it is told to, and keeps what it accepted (2xx),
//! after checking the Standard Webhooks signature with its own HMAC.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// A Standard Webhooks secret (`whsec_` + base64 of 32 bytes).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";

/// One accepted delivery.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    /// The status answered; 200 unless told otherwise.
    status: AtomicU16,
    /// How long each answer takes (ms), as a busy backend's would.
    delay_ms: AtomicU64,
    /// `user.*` events are accepted but not kept (tests of other events).
    ignore_presence: AtomicBool,
    /// Every POST, accepted or not.
    posts: AtomicUsize,
    accepted: Mutex<Vec<Received>>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::serve(listener)
    }

    /// On a given port (a receiver that was down comes back where it was).
    pub async fn start_on(port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the port again");
        Self::serve(listener)
    }

    fn serve(listener: tokio::net::TcpListener) -> Receiver {
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared::default());
        shared.status.store(200, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, shared }
    }

    /// Answers every POST with `status` from now on.
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// From now on `user.online`/`user.offline` are answered 200 and not kept: the sockets
    /// of a chat test come online and go offline too.
    pub fn ignore_presence(self) -> Self {
        self.shared.ignore_presence.store(true, Ordering::SeqCst);
        self
    }

    /// Each answer from now on takes `delay`.
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn posts(&self) -> usize {
        self.shared.posts.load(Ordering::SeqCst)
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.shared.accepted.lock().expect("accepted").clone()
    }

    /// Waits until `n` deliveries were accepted (at most `wait`), then returns them all.
    pub async fn wait_for(&self, n: usize, wait: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.accepted();
            if got.len() >= n || started.elapsed() > wait {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    shared.posts.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let status = StatusCode::from_u16(shared.status.load(Ordering::SeqCst))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !status.is_success() {
        return status;
    }
    let Some(id) = verified(&headers, &body) else {
        return StatusCode::UNAUTHORIZED;
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let presence = body["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("user."));
    if presence && shared.ignore_presence.load(Ordering::SeqCst) {
        return status;
    }
    shared
        .accepted
        .lock()
        .expect("accepted")
        .push(Received { id, body });
    status
}

/// The `webhook-id` when the signature is `v1,` + base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under [`SECRET`] and the timestamp is within 5 minutes.
fn verified(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::to_owned);
    let (id, timestamp, signature) = (
        header("webhook-id")?,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
    );
    let sent: i64 = timestamp.parse().ok()?;
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).ok()?;
    if (now - sent).abs() > 300 {
        return None;
    }
    let key = STANDARD.decode(SECRET.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signature.split(' ').any(|s| s == expected).then_some(id)
}
