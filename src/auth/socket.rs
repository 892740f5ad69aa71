//! The connect middleware every namespace runs: find the token, verify it, put the
//! [`Identity`] in the socket's extensions. Refusals carry only the wire codes.

use std::sync::Arc;

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::{ProtocolVersion, SocketIo, TransportType};
use switchyard_namespaces::Identity;
use switchyard_namespaces::limits::Limits;

use super::expiry::ExpiryClock;
use super::session;
use super::{AuthError, TokenVerifier};
use crate::integration::hooks::{ConnectHook, Connecting};

/// Token sources in contract order: handshake `auth.token`, query `?token=`,
/// `Authorization: Bearer`.
pub(super) fn find_token(auth: Option<&Value>, parts: &http::request::Parts) -> Option<String> {
    let from_auth = auth
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let from_query = || {
        let query = parts.uri.query()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    };
    let from_header = || super::http::bearer(&parts.headers).map(str::to_owned);
    from_auth
        .or_else(from_query)
        .or_else(from_header)
        .filter(|t| !t.is_empty())
}

/// The rate limits every socket gets, unless they are off.
#[derive(Clone)]
pub struct RateLimiting(pub Option<Arc<Limits>>);

/// Verifies the token, refuses a user blocked for breaking the rate limits, asks the
/// backend's connect hook when there is one (its grants join this socket's identity), and
/// gives the socket its identity and its rate limiter. A resumed socket (connection-state
/// recovery) comes through here too: recovery never skips the hook.
pub async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    io: SocketIo<A>,
    TryData(auth): TryData<Value>,
    State(verifier): State<Arc<TokenVerifier>>,
    State(RateLimiting(limits)): State<RateLimiting>,
    State(expiry): State<ExpiryClock>,
    State(hook): State<ConnectHook>,
) -> Result<(), AuthError> {
    let auth = auth.ok();
    let verified = match find_token(auth.as_ref(), s.req_parts()) {
        Some(token) => verifier.verify(&token).await,
        None => Err(AuthError::Missing),
    };
    let mut identity: Identity = verified.inspect_err(|err| err.count("socket"))?;
    if let Some(limits) = &limits
        && limits
            .blocks()
            .blocked_for(&identity.user_id)
            .await
            .is_some()
    {
        AuthError::RateLimited.count("socket");
        return Err(AuthError::RateLimited);
    }
    let connecting = Connecting {
        ns: s.ns(),
        transport: transport_name(&s),
        auth: auth.as_ref(),
    };
    let grants = hook
        .authorize(&identity, connecting)
        .await
        .inspect_err(|err| err.count("socket"))?;
    if let Some(grants) = grants {
        grants.apply(&mut identity);
        // Kept so that `auth:refresh` adds them to the new token's identity too.
        s.extensions.insert(grants);
    }
    if let Some(limits) = limits {
        s.extensions.insert(limits.for_socket(&identity.user_id));
    }
    session::start(&s, io, &identity, &expiry);
    s.extensions.insert(identity);
    Ok(())
}

fn transport_name<A: Adapter>(s: &SocketRef<A>) -> &'static str {
    match s.transport_type() {
        TransportType::Websocket => "websocket",
        TransportType::Polling => "polling",
    }
}

/// The error of [`refuse_namespace`]; its text is the wire code.
#[derive(Debug, thiserror::Error)]
#[error("unknown_namespace")]
pub struct UnknownNamespace;

/// Middleware for the main namespace `/`, which the contract does not serve. A protocol 4
/// connection (socket.io-client 2.x) is put on it by the server itself, before the client
/// asks for anything: that socket is accepted silently, with no identity and nothing to
/// serve, so 2.x shows no refusal to the client's sockets; it does not hold the session
/// open (`v4_root_holds_connection(false)` in startup: the connect timeout still closes a
/// session with no other namespace). Asked for by a protocol 5 client, `/` is
/// `unknown_namespace`.
pub async fn main_namespace<A: Adapter>(s: SocketRef<A>) -> Result<(), UnknownNamespace> {
    match s.protocol() {
        ProtocolVersion::V4 => Ok(()),
        ProtocolVersion::V5 => Err(UnknownNamespace),
    }
}

/// Middleware for every namespace the contract does not name. socketioxide creates
/// a namespace for each new name that matches the catch-all; it is deleted again right
/// after the refusal, or clients trying names at random would pile them up.
pub async fn refuse_namespace<A: Adapter>(
    s: SocketRef<A>,
    io: SocketIo<A>,
) -> Result<(), UnknownNamespace> {
    let path = s.ns().to_owned();
    if path != "/" {
        tokio::spawn(async move { io.delete_ns(path) });
    }
    Err(UnknownNamespace)
}
