//! What every HTTP request meets before Socket.IO or the API: the handshake rate limit per
//! client IP (new Engine.IO sessions, by polling or WebSocket), and the origin check that
//! keeps other sites' pages out unless configured.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::connections::{TrustedProxies, peer_of, per_ip_key};

pub struct Guard {
    handshakes: Option<DefaultKeyedRateLimiter<IpAddr>>,
    origins: Origins,
    trusted: TrustedProxies,
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
    pub fn new(handshakes_per_minute: u32, origins: Origins, trusted: TrustedProxies) -> Arc<Self> {
        let handshakes = NonZeroU32::new(handshakes_per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(handshakes_per_minute / 4).unwrap_or(per_minute);
            governor::RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
        });
        Arc::new(Self {
            handshakes,
            origins,
            trusted,
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

pub async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        if !guard.origins.allows(origin, host) {
            return refusal(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this origin is not allowed",
            );
        }
    }
    if is_handshake(&req)
        && let Some(limiter) = &guard.handshakes
    {
        let (parts, body) = req.into_parts();
        let peer = peer_of(&parts).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let ip = per_ip_key(guard.trusted.client_ip(peer, &parts.headers));
        if let Err(not_until) = limiter.check_key(&ip) {
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
            return refused;
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(req).await
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
