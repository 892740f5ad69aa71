//! The JWKS client against a real HTTP provider on port 0 that turns slow, then fails,
//! then recovers: misses share one read, errors answer at once, and the key comes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::{Jwks, MAX_JWKS_BYTES, Timing};
use crate::auth::{AuthError, TokenVerifier};

const EMPTY: u8 = 0;
const SLOW: u8 = 1;
const FAILING: u8 = 2;
const ROTATED: u8 = 3;
const HUGE: u8 = 4;

#[derive(Default)]
struct Provider {
    mode: AtomicU8,
    hits: AtomicUsize,
}

fn fixture(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt");
    std::fs::read(dir.join(name)).expect("fixture")
}

async fn serve_jwks(State(p): State<Arc<Provider>>) -> (StatusCode, Body) {
    p.hits.fetch_add(1, Ordering::SeqCst);
    match p.mode.load(Ordering::SeqCst) {
        SLOW => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            (StatusCode::OK, Body::from(r#"{"keys": []}"#))
        }
        FAILING => (StatusCode::BAD_GATEWAY, Body::from("upstream down")),
        ROTATED => (StatusCode::OK, Body::from(fixture("jwks.json"))),
        // Streamed, so no Content-Length tells the client the size in advance.
        HUGE => {
            let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = (0..(MAX_JWKS_BYTES / chunk.len() + 2))
                .map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
            (
                StatusCode::OK,
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
        }
        _ => (StatusCode::OK, Body::from(r#"{"keys": []}"#)),
    }
}

async fn provider() -> (Arc<Provider>, String) {
    let state = Arc::new(Provider::default());
    let app = axum::Router::new()
        .route("/jwks", axum::routing::get(serve_jwks))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (state, url)
}

const TIMING: Timing = Timing {
    min_interval: Duration::from_millis(500),
    max_backoff: Duration::from_secs(4),
    miss_ttl: Duration::from_millis(500),
    deadline: Duration::from_millis(300),
};

fn verifier(url: &str) -> Arc<TokenVerifier> {
    Arc::new(TokenVerifier {
        secret: None,
        jwks: Some(Jwks::with_timing(url, false, TIMING).expect("jwks")),
        audience: None,
        issuer: None,
    })
}

/// A token naming `kid` whose signature is never checked: the kid is looked up first.
fn forged(kid: &str) -> String {
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = b64(json!({"alg": "RS256", "typ": "JWT", "kid": kid}));
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    format!("{header}.{}.c2ln", b64(json!({"sub": "alice", "exp": exp})))
}

fn token(kid: &str) -> String {
    let key = EncodingKey::from_rsa_pem(&fixture("rsa.pem")).expect("key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    jsonwebtoken::encode(&header, &json!({"sub": "alice", "exp": exp}), &key).expect("signed")
}

/// 300 tokens with made-up kids at once: how many reads they caused, and how long the
/// slowest waited. Every one must be `invalid_token`.
async fn forged_burst(v: &Arc<TokenVerifier>, p: &Provider) -> (usize, Duration) {
    let before = p.hits.load(Ordering::SeqCst);
    let started = Instant::now();
    let tokens: Vec<String> = (0..300).map(|n| forged(&format!("forged-{n}"))).collect();
    let verifications = tokens.into_iter().map(|token| {
        let v = v.clone();
        tokio::spawn(async move { v.verify(&token).await })
    });
    for outcome in futures_util::future::join_all(verifications).await {
        assert_eq!(outcome.expect("task").err(), Some(AuthError::Invalid));
    }
    (p.hits.load(Ordering::SeqCst) - before, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_then_failing_provider_is_read_once_at_a_time_and_backed_off() {
    let (p, url) = provider().await;
    p.mode.store(EMPTY, Ordering::SeqCst);
    let v = verifier(&url);
    v.preload().await.expect("first read");
    // Past the production spacing too (2 s), so a read is due under any spacing rule.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    p.mode.store(SLOW, Ordering::SeqCst);
    let (hits, slowest) = forged_burst(&v, &p).await;
    assert!(hits <= 2, "one read for 300 misses, not {hits}");
    assert!(slowest < Duration::from_secs(2), "answered in {slowest:?}");

    p.mode.store(FAILING, Ordering::SeqCst);
    let (hits, slowest) = forged_burst(&v, &p).await;
    assert_eq!(hits, 0, "a failed read is followed by a wait");
    assert!(slowest < Duration::from_secs(1), "answered in {slowest:?}");
    tokio::time::sleep(TIMING.min_interval).await;
    let (hits, _) = forged_burst(&v, &p).await;
    assert!(hits <= 2, "after the wait, one read again, not {hits}");

    p.mode.store(ROTATED, Ordering::SeqCst);
    let rotated = token("rsa-1");
    assert_eq!(
        v.verify(&rotated).await.err(),
        Some(AuthError::Invalid),
        "still backing off: two failures wait twice as long"
    );
    tokio::time::sleep(TIMING.min_interval * 2).await;
    assert_eq!(
        v.verify(&rotated).await.map(|id| id.user_id),
        Ok("alice".to_owned()),
        "the recovered provider's new key is picked up"
    );
}

#[tokio::test]
async fn a_key_set_over_the_size_cap_is_refused_without_reading_it_all() {
    let (p, url) = provider().await;
    p.mode.store(HUGE, Ordering::SeqCst);
    let jwks = Jwks::with_timing(&url, false, TIMING).expect("jwks");
    let err = jwks.refresh().await.expect_err("too large");
    assert!(format!("{err:#}").contains("too large"), "{err:#}");
}

#[test]
fn plain_http_is_for_loopback_unless_in_development() {
    for url in [
        "http://127.0.0.1:8080/jwks",
        "http://[::1]/jwks",
        "http://localhost/jwks",
    ] {
        assert!(Jwks::new(url, false).is_ok(), "{url}");
    }
    assert!(Jwks::new("http://idp.example.com/jwks", false).is_err());
    assert!(Jwks::new("http://10.0.0.5/jwks", false).is_err());
    assert!(Jwks::new("http://idp.example.com/jwks", true).is_ok());
    assert!(Jwks::new("https://idp.example.com/jwks", false).is_ok());
}
