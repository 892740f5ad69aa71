//! What every HTTP request meets before Socket.IO or the API: the origin check that keeps
//! other sites' pages out unless configured, a bound on a Socket.IO request's headers, and
//! for a handshake (a new Engine.IO session, by polling or WebSocket) the rate limit per
//! client IP and its place under the connection caps.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::auth::AuthError;
use crate::connections::{ConnectionCaps, Refusal, TrustedProxies, per_ip_key};

/// The most header bytes (names and values) a Socket.IO request may carry. A session
/// keeps its handshake's headers for its whole life, and hyper accepts about 400 KB.
pub const MAX_SOCKET_IO_HEADER_BYTES: usize = 16 * 1024;

pub struct Guard {
    handshakes: Option<DefaultKeyedRateLimiter<IpAddr>>,
    origins: Origins,
    trusted: TrustedProxies,
    caps: Arc<ConnectionCaps>,
}

/// Which page origins may talk to the gateway besides its own.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub any: bool,
    pub listed: Vec<String>,
}

impl Origins {
    pub fn parse(list: &[String]) -> Self {
        Self {
            any: list.iter().any(|o| o == "*"),
            listed: list
                .iter()
                .filter(|o| *o != "*")
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.to_ascii_lowercase();
        let same_site = host.is_some_and(|host| {
            let host = host.to_ascii_lowercase();
            origin == format!("http://{host}") || origin == format!("https://{host}")
        });
        self.any || same_site || self.listed.contains(&origin)
    }
}

impl Guard {
    /// `handshakes_per_minute` 0 turns the handshake limit off.
    pub fn new(
        handshakes_per_minute: u32,
        origins: Origins,
        trusted: TrustedProxies,
        caps: Arc<ConnectionCaps>,
    ) -> Arc<Self> {
        let handshakes = NonZeroU32::new(handshakes_per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(handshakes_per_minute / 4).unwrap_or(per_minute);
            governor::RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
        });
        Arc::new(Self {
            handshakes,
            origins,
            trusted,
            caps,
        })
    }

    /// Forgets clients whose buckets are full again, so memory follows recent clients.
    pub fn forget_idle_clients(&self) {
        if let Some(limiter) = &self.handshakes {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// A request that opens an Engine.IO session: to the Socket.IO path, with no `sid`.
fn is_handshake(req: &Request) -> bool {
    req.uri().path().starts_with("/socket.io")
        && !req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("sid=")))
}

pub async fn guard(State(guard): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    if let Some(refused) = guard.refuse_origin(&req) {
        return refused;
    }
    if req.uri().path().starts_with("/socket.io") && header_bytes(&req) > MAX_SOCKET_IO_HEADER_BYTES
    {
        return refusal(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "payload_too_large",
            "the request's headers are over 16 KB",
        );
    }
    if is_handshake(&req) {
        let peer = peer_of_request(&req);
        let ip = per_ip_key(guard.trusted.client_ip(peer, req.headers()));
        if let Some(refused) = guard.refuse_rate(ip) {
            return refused;
        }
        match guard.caps.admit(ip) {
            Ok(slot) => {
                req.extensions_mut().insert(slot);
            }
            Err(refused) => return too_many(refused),
        }
    }
    next.run(req).await
}

fn peer_of_request(req: &Request) -> IpAddr {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn header_bytes(req: &Request) -> usize {
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// Over a cap the handshake is refused before a session exists: `429` when the client's
/// address has its share, `503` when this node is full (another node may have room).
fn too_many(refused: Refusal) -> Response {
    AuthError::TooManyConnections.count("socket");
    let (status, message) = match refused {
        Refusal::TooMany => (
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from this address",
        ),
        Refusal::NodeFull => (
            StatusCode::SERVICE_UNAVAILABLE,
            "this node has as many connections as it takes",
        ),
    };
    let mut response = refusal(status, "too_many_connections", message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

impl Guard {
    fn refuse_origin(&self, req: &Request) -> Option<Response> {
        let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        (!self.origins.allows(origin, host)).then(|| {
            refusal(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this origin is not allowed",
            )
        })
    }

    fn refuse_rate(&self, ip: IpAddr) -> Option<Response> {
        let not_until = self.handshakes.as_ref()?.check_key(&ip).err()?;
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        metrics::counter!(
            switchyard_namespaces::metrics::RATE_LIMITED_TOTAL,
            "class" => "handshake"
        )
        .increment(1);
        let mut refused = refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many new connections from this address",
        );
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&secs) {
            refused.headers_mut().insert(header::RETRY_AFTER, value);
        }
        Some(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_and_listed_origins_are_allowed() {
        let origins = Origins::parse(&["https://app.example.com/".into()]);
        assert!(origins.allows("https://app.example.com", None));
        assert!(origins.allows("http://gw.local:3000", Some("gw.local:3000")));
        assert!(!origins.allows("https://evil.example", Some("gw.local:3000")));
        assert!(Origins::parse(&["*".into()]).allows("https://anyone", None));
    }
}
