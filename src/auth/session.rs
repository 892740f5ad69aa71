//! Token expiry while connected (PROTOCOL.md §1): at the token's `exp` the socket is sent
//! `auth:expired {graceMs}` and closed after the grace period, unless it sent
//! `auth:refresh {token}` with a valid token for the same user first.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};
use switchyard_namespaces::Identity;
use switchyard_namespaces::ack::{ErrorCode, NsError};
use switchyard_namespaces::incoming::Incoming;
use tokio::sync::oneshot;

use super::{AuthError, TokenVerifier};

/// Client → server, on every namespace.
pub mod events {
    pub const AUTH_REFRESH: &str = "auth:refresh";
}

/// Server → client, on every namespace.
pub mod emits {
    pub const AUTH_EXPIRED: &str = "auth:expired";
}

/// A token is far smaller than this; it only bounds what a refresh may carry.
const MAX_REFRESH_BYTES: usize = 16 * 1024;

/// How long an expired socket may stay to refresh its token.
#[derive(Debug, Clone, Copy)]
pub struct AuthGrace(pub Duration);

/// The expiry (seconds since the Unix epoch) of the token a socket holds now.
#[derive(Clone)]
pub struct Session(Arc<AtomicI64>);

impl Session {
    fn expires_at(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Deserialize)]
struct Refresh {
    token: String,
}

/// Lives in the socket's extensions; when the socket is gone, so is this, and the timer
/// waiting on the other end stops.
#[derive(Clone)]
struct SocketAlive(#[allow(dead_code)] Arc<oneshot::Sender<()>>);

/// Gives the socket its session, the `auth:refresh` handler, and a timer that ends the
/// session at `exp`. The timer looks the socket up by id when it wakes, so it keeps no
/// closed socket alive, and it ends as soon as the socket is dropped.
pub fn start<A: Adapter>(s: &SocketRef<A>, io: SocketIo<A>, me: &Identity, grace: AuthGrace) {
    let session = Session(Arc::new(AtomicI64::new(me.expires_at)));
    s.extensions.insert(session.clone());
    let (alive, gone) = oneshot::channel();
    s.extensions.insert(SocketAlive(Arc::new(alive)));
    s.on(events::AUTH_REFRESH, on_refresh::<A>);
    let timer = expire(io, s.ns().to_owned(), s.id, session, grace.0);
    tokio::spawn(async move {
        tokio::select! {
            () = timer => {}
            _ = gone => {}
        }
    });
}

async fn on_refresh<A: Adapter>(
    State(verifier): State<Arc<TokenVerifier>>,
    Extension(me): Extension<Identity>,
    Extension(session): Extension<Session>,
    req: Incoming<A>,
) {
    req.respond(MAX_REFRESH_BYTES, async |body: Refresh| {
        let fresh = verifier.verify(&body.token).await.map_err(refused)?;
        if fresh.user_id != me.user_id {
            return Err(NsError::new(
                ErrorCode::Forbidden,
                "the token is another user's",
            ));
        }
        session.0.fetch_max(fresh.expires_at, Ordering::SeqCst);
        Ok(json!({ "exp": fresh.expires_at }))
    })
    .await;
}

fn refused(err: AuthError) -> NsError {
    NsError::invalid(format!("token refused: {err}"))
}

async fn expire<A: Adapter>(
    io: SocketIo<A>,
    ns: String,
    sid: socketioxide::socket::Sid,
    session: Session,
    grace: Duration,
) {
    let socket = || io.of(&ns).and_then(|ns| ns.get_socket(sid));
    loop {
        let exp = session.expires_at();
        tokio::time::sleep(until_unix(exp)).await;
        if session.expires_at() > exp {
            continue;
        }
        let Some(s) = socket() else { return };
        let grace_ms = grace.as_millis() as u64;
        if let Err(err) = s.emit(emits::AUTH_EXPIRED, &json!({ "graceMs": grace_ms })) {
            tracing::debug!(error = %err, "auth:expired not sent");
        }
        drop(s);
        tokio::time::sleep(grace).await;
        if session.expires_at() > exp {
            continue;
        }
        if let Some(s) = socket() {
            tracing::info!(sid = %sid, "token expired and not refreshed; disconnecting");
            let _ = s.disconnect();
        }
        return;
    }
}

/// Time from now until `exp` (seconds since the Unix epoch); zero if passed.
fn until_unix(exp: i64) -> Duration {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Duration::from_millis(exp.saturating_mul(1000).saturating_sub(now_ms).max(0) as u64)
}
