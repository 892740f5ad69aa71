//! Token expiry while connected (PROTOCOL.md §1): at the token's `exp` the socket is sent
//! `auth:expired {graceMs}` and closed after the grace period, unless it sent
//! `auth:refresh {token}` with a valid token for the same user first. The refresh replaces
//! the socket's identity, roles and channel grants included (the connect hook's grants,
//! given to the connection rather than the token, stay).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};
use switchyard_namespaces::Identity;
use switchyard_namespaces::ack::{ErrorCode, NsError};
use switchyard_namespaces::dispatch::{EventTable, PayloadLimit};
use switchyard_namespaces::emit::{Emit, tell};
use switchyard_namespaces::incoming::Incoming;
use switchyard_namespaces::limits::EventClass;
use switchyard_namespaces::realtime::{self, RealtimeState};

use super::expiry::{ExpiryClock, ExpiryTarget, Session, Watched};
use super::{AuthError, TokenVerifier};
use crate::integration::hooks::Grants;

/// Client → server, on every namespace.
pub mod events {
    pub const AUTH_REFRESH: &str = "auth:refresh";
}

/// Server → client, on every namespace.
pub mod emits {
    pub const AUTH_EXPIRED: &str = "auth:expired";
    pub const ALL: &[&str] = &[AUTH_EXPIRED];
}

/// `auth:expired`: the token expired; the socket is closed after `graceMs` unless it
/// refreshes the token first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthExpired {
    grace_ms: u64,
}

impl Emit for AuthExpired {
    const EVENT: &'static str = emits::AUTH_EXPIRED;
}

/// The reply to `auth:refresh`: the new token's expiry.
#[derive(Serialize)]
struct Refreshed {
    exp: i64,
}

/// A token is far smaller than this; it only bounds what a refresh may carry.
const MAX_REFRESH_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
struct Refresh {
    token: String,
}

/// What the gateway's auth keeps in a socket's extensions, as one entry (each entry costs
/// a slot in the socket's map and a box): its session, and what it lets go of when it is
/// gone, its place on the expiry clock.
#[derive(Clone)]
struct SocketAuth(Arc<SocketAuthInner>);

struct SocketAuthInner {
    session: Session,
    _expiry: Watched,
}

/// Gives the socket its session and a place on the expiry clock, which ends the session
/// at `exp` (its namespace's events include `auth:refresh`, see [`shared_events`]).
/// The clock looks the socket up by id when it is due, so it keeps no closed socket alive.
pub fn start<A: Adapter>(s: &SocketRef<A>, io: SocketIo<A>, me: &Identity, clock: &ExpiryClock) {
    let session = Session::new(me.expires_at);
    let target = SocketTarget {
        io,
        ns: s.ns().to_owned(),
        sid: s.id,
    };
    let expiry = clock.watch(session.clone(), Box::new(target));
    s.extensions.insert(SocketAuth(Arc::new(SocketAuthInner {
        session,
        _expiry: expiry,
    })));
}

/// The events every namespace answers besides its own: `auth:refresh`, with a payload
/// limit of its own (a token, whatever `max_payload_bytes` is).
pub fn shared_events<A: Adapter>() -> EventTable<A> {
    let limit = PayloadLimit::Bytes(MAX_REFRESH_BYTES);
    EventTable::default().on_at_most(
        events::AUTH_REFRESH,
        EventClass::All,
        limit,
        on_refresh::<A>,
    )
}

/// A socket as the expiry clock finds it: by namespace and id, when it is due.
struct SocketTarget<A: Adapter> {
    io: SocketIo<A>,
    ns: String,
    sid: socketioxide::socket::Sid,
}

impl<A: Adapter> SocketTarget<A> {
    fn socket(&self) -> Option<SocketRef<A>> {
        self.io.of(&self.ns).and_then(|ns| ns.get_socket(self.sid))
    }
}

impl<A: Adapter> ExpiryTarget for SocketTarget<A> {
    fn tell_expired(&self, grace: Duration) -> bool {
        let Some(s) = self.socket() else {
            return false;
        };
        let grace_ms = grace.as_millis() as u64;
        if let Err(err) = tell(&s, &AuthExpired { grace_ms }) {
            tracing::debug!(error = %err, "auth:expired not sent");
        }
        true
    }

    fn disconnect(&self) {
        if let Some(s) = self.socket() {
            // Not the socket id: it is the Engine.IO session id, which lets its holder
            // poll the session (src/telemetry/redact.rs).
            let user = s.extensions.get::<Identity>().map(|me| me.user_id);
            tracing::info!(ns = %self.ns, user = user.as_deref().unwrap_or_default(), "token expired and not refreshed; disconnecting");
            let _ = s.disconnect();
        }
    }
}

/// A valid token for the same user replaces the socket's identity: its expiry, roles and
/// `channels` grants hold from the next event on, and on `/realtime` the channels it no
/// longer allows are left (before the ack, so the client hears of them first).
async fn on_refresh<A: Adapter>(
    s: SocketRef<A>,
    State(verifier): State<Arc<TokenVerifier>>,
    State(realtime_state): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    Extension(SocketAuth(auth)): Extension<SocketAuth>,
    req: Incoming<A>,
) {
    let session = &auth.session;
    req.respond(async |body: Refresh| {
        let fresh = verifier.verify(&body.token).await.map_err(refused)?;
        if fresh.user_id != me.user_id {
            return Err(NsError::new(
                ErrorCode::Forbidden,
                "the token is another user's",
            ));
        }
        let mut fresh = fresh;
        // The connect hook's grants are this connection's, whichever token it holds.
        if let Some(grants) = s.extensions.get::<Grants>() {
            grants.apply(&mut fresh);
        }
        session.extend_to(fresh.expires_at);
        let exp = fresh.expires_at;
        s.extensions.insert(fresh.clone());
        if s.ns() == realtime::PATH {
            realtime::reauthorize(&s, &realtime_state, &fresh).await;
        }
        Ok(Refreshed { exp })
    })
    .await;
}

fn refused(err: AuthError) -> NsError {
    NsError::invalid(format!("token refused: {err}"))
}
