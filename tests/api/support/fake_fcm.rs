//! `FakeFcm`: a stand-in for Google's OAuth2 token endpoint and FCM HTTP v1 on
//! 127.0.0.1:0, so push tests never leave the machine.
//!
//! ```ignore
//! let fcm = FakeFcm::start().await;
//! let dir = tempfile::tempdir()?;
//! let key_file = fcm.write_service_account(dir.path()); // token_uri -> the fake
//! fcm.script("device-a", vec![Reply::Unavailable { retry_after: Some(7) }]);
//! // ... point the sender at `fcm.base_url()` and `key_file`, send ...
//! assert_eq!(fcm.requests()[0].token, "device-a");
//! ```
//!
//! The token endpoint verifies the signed assertion for real against the fixture RSA
//! key, and `messages:send` accepts only access tokens it issued. A device token with
//! no script left gets 200.

mod handlers;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};

pub const PROJECT_ID: &str = "switchyard-test";
pub const CLIENT_EMAIL: &str = "push@switchyard-test.iam.gserviceaccount.com";
pub const KEY_ID: &str = "fake-fcm-key-1";
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// One scripted answer from `messages:send`, in FCM's real status and error JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200 `{"name": "projects/{project}/messages/{n}"}`, the default.
    Ok,
    /// 404 NOT_FOUND, errorCode UNREGISTERED: the app was uninstalled.
    Unregistered,
    /// 400 INVALID_ARGUMENT: not a valid registration token.
    InvalidArgument,
    /// 503 UNAVAILABLE, with `Retry-After: N` when given.
    Unavailable { retry_after: Option<u64> },
    /// 429 RESOURCE_EXHAUSTED (QUOTA_EXCEEDED), with `Retry-After: N` when given.
    TooManyRequests { retry_after: Option<u64> },
    /// 401 UNAUTHENTICATED, as for a revoked access token.
    Unauthorized,
}

/// One `messages:send` request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub project: String,
    /// `message.token` of the body: the device it was for.
    pub token: String,
    pub body: Value,
    /// Whether it carried an access token this fake issued.
    pub authorized: bool,
    /// The reply it got.
    pub reply: Reply,
    pub at: Instant,
}

pub struct FakeFcm {
    state: Arc<State>,
}

struct State {
    base_url: String,
    public_key: DecodingKey,
    token_calls: AtomicUsize,
    token_lifetime_secs: AtomicU64,
    issued: Mutex<HashSet<String>>,
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    requests: Mutex<Vec<Recorded>>,
    gate: Gate,
}

/// Holds `messages:send` requests back until let through, so a test can fix what the
/// sender has claimed before it queues more (order, not timing, is then asserted).
struct Gate {
    held: std::sync::atomic::AtomicBool,
    passes: tokio::sync::Semaphore,
    waiting: AtomicUsize,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            held: Default::default(),
            passes: tokio::sync::Semaphore::new(0),
            waiting: AtomicUsize::new(0),
        }
    }
}

impl Gate {
    async fn pass(&self) {
        if !self.held.load(Ordering::SeqCst) {
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if let Ok(pass) = self.passes.acquire().await {
            pass.forget();
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeFcm {
    pub async fn start() -> FakeFcm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake FCM");
        let addr = listener.local_addr().expect("fake FCM addr");
        let public_pem = std::fs::read(fixture("rsa.pub.pem")).expect("rsa.pub.pem");
        let state = Arc::new(State {
            base_url: format!("http://{addr}"),
            public_key: DecodingKey::from_rsa_pem(&public_pem).expect("RSA public key"),
            token_calls: AtomicUsize::new(0),
            token_lifetime_secs: AtomicU64::new(3600),
            issued: Mutex::default(),
            scripts: Mutex::default(),
            requests: Mutex::default(),
            gate: Gate::default(),
        });
        let app = handlers::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeFcm { state }
    }

    /// The FCM endpoint: what `FcmConfig::endpoint` should be.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// The OAuth2 token endpoint; also the audience the assertion must name.
    pub fn token_url(&self) -> String {
        self.state.token_url()
    }

    /// Writes a service-account key file (fixture RSA key, project [`PROJECT_ID`],
    /// `token_uri` = [`Self::token_url`]) into `dir` and returns its path.
    pub fn write_service_account(&self, dir: &Path) -> PathBuf {
        let private_key = std::fs::read_to_string(fixture("rsa.pem")).expect("rsa.pem");
        let key = json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": KEY_ID,
            "private_key": private_key,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url(),
        });
        let path = dir.join("fcm-service-account.json");
        std::fs::write(&path, key.to_string()).expect("write service account");
        path
    }

    /// Every `messages:send` request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("requests").clone()
    }

    /// How many times the token endpoint was called, accepted or not.
    pub fn token_calls(&self) -> usize {
        self.state.token_calls.load(Ordering::SeqCst)
    }

    /// The next sends to `device_token` get `replies`, in order; then 200 again.
    pub fn script(&self, device_token: &str, replies: Vec<Reply>) {
        self.state
            .scripts
            .lock()
            .expect("scripts")
            .entry(device_token.to_owned())
            .or_default()
            .extend(replies);
    }

    /// From now on `messages:send` requests wait (unrecorded) until [`Self::let_through`]
    /// or [`Self::open`].
    pub fn hold(&self) {
        self.state.gate.held.store(true, Ordering::SeqCst);
    }

    /// Lets `n` held (or future) requests through while holding.
    pub fn let_through(&self, n: usize) {
        self.state.gate.passes.add_permits(n);
    }

    /// Stops holding and lets every waiting request through.
    pub fn open(&self) {
        self.state.gate.held.store(false, Ordering::SeqCst);
        self.state.gate.passes.add_permits(10_000);
    }

    /// Requests waiting at the gate now.
    pub fn held(&self) -> usize {
        self.state.gate.waiting.load(Ordering::SeqCst)
    }

    /// The `expires_in` of access tokens issued from now on (default one hour).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state
            .token_lifetime_secs
            .store(lifetime.as_secs(), Ordering::SeqCst);
    }
}

impl State {
    fn token_url(&self) -> String {
        format!("{}/token", self.base_url)
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}
