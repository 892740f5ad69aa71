//! `TokenVerifier::verify`, the token parser of the socket middleware and the HTTP
//! extractor, on three verifiers: the HS256 secret alone, the secret with an audience and
//! an issuer required, and the JWKS of tests/fixtures/jwt with the same requirements.
//!
//! Random bytes almost never carry a valid signature, so besides raw tokens the target
//! signs fuzzed claims (and fuzzed headers) itself: the claims decoding behind the
//! signature check is fuzzed too.

use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard::auth::{AuthError, TokenVerifier};
use switchyard::config::Settings;
use switchyard_namespaces::Identity;

use crate::runtime;

pub const SECRET: &str = "fuzz-secret";
pub const AUDIENCE: &str = "switchyard";
pub const ISSUER: &str = "https://issuer.test";
/// The verifier's tolerance on `exp` and `nbf`, in seconds.
const LEEWAY: i64 = 5;
/// PROTOCOL.md §1: a `sub` is at most 128 characters.
const MAX_SUB_CHARS: usize = 128;

const JWKS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/jwt/jwks.json"
);
const ED25519_PEM: &[u8] = include_bytes!("../../tests/fixtures/jwt/ed25519.pem");
const EC_PEM: &[u8] = include_bytes!("../../tests/fixtures/jwt/ec.pem");

/// Which keys a verifier holds, and whether it requires `aud` and `iss`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keys {
    Secret,
    SecretAudIss,
    JwksAudIss,
}

struct Verifiers {
    all: Vec<(Keys, Arc<TokenVerifier>)>,
    ed25519: EncodingKey,
    ec: EncodingKey,
    secret: EncodingKey,
}

static VERIFIERS: LazyLock<Verifiers> = LazyLock::new(|| {
    let make = |settings: Settings, secret: Option<&str>| {
        TokenVerifier::new(&settings, secret).expect("verifier")
    };
    let with_auth = |jwks_url: Option<String>| {
        let mut settings = Settings::default();
        settings.auth.jwks_url = jwks_url;
        settings.auth.jwt_audience = Some(AUDIENCE.into());
        settings.auth.jwt_issuer = Some(ISSUER.into());
        settings
    };
    let jwks = make(with_auth(Some(format!("file://{JWKS}"))), None);
    runtime()
        .block_on(jwks.preload())
        .expect("JWKS fixture loads");
    Verifiers {
        all: vec![
            (Keys::Secret, make(Settings::default(), Some(SECRET))),
            (Keys::SecretAudIss, make(with_auth(None), Some(SECRET))),
            (Keys::JwksAudIss, jwks),
        ],
        ed25519: EncodingKey::from_ed_pem(ED25519_PEM).expect("ed25519 fixture"),
        ec: EncodingKey::from_ec_pem(EC_PEM).expect("ec fixture"),
        secret: EncodingKey::from_secret(SECRET.as_bytes()),
    }
});

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// `header.claims.signature`, both parts as given (base64url-encoded here).
fn sign(header: &[u8], claims: &[u8], key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("signs");
    format!("{message}.{signature}")
}

/// The header fields the checks read.
#[derive(Deserialize)]
struct HeaderFields {
    alg: Option<Value>,
}

/// The claims the checks read, each as whatever JSON value it is.
#[derive(Deserialize)]
struct ClaimFields {
    sub: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    aud: Option<Value>,
    iss: Option<Value>,
}

/// The fields `T` names of the JSON object in a base64url segment, if it is one. Other
/// fields are skipped unread, as the verifier skips them: JSON allows any exponent, and
/// `Value` refuses a number beyond f64 (`1e700000000`) that a reader who never reads it
/// rightly accepts. Read lossily: serde_json does not check the UTF-8 of strings it
/// skips, so a signed segment with invalid UTF-8 in a field nobody reads is accepted, and
/// is JSON here once that field is made valid.
fn segment<T: DeserializeOwned>(token: &str, index: usize) -> Option<T> {
    let part = token.split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_str(&String::from_utf8_lossy(&bytes)).ok()
}

/// What an accepted token must have been: signed with an algorithm of the verifier's own
/// kind of key (no HS/RS confusion), not expired or not yet valid beyond the leeway, with
/// the required audience and issuer, and a user id the gateway can use as a room name.
fn assert_accepted(keys: Keys, token: &str, id: &Identity, before: i64, after: i64) {
    let header: HeaderFields = segment(token, 0).expect("accepted token has a JSON header");
    let alg = header
        .alg
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default();
    match keys {
        Keys::Secret | Keys::SecretAudIss => assert_eq!(alg, "HS256", "secret verifier took {alg}"),
        Keys::JwksAudIss => assert!(
            matches!(alg, "RS256" | "ES256" | "EdDSA"),
            "JWKS verifier took {alg}"
        ),
    }

    let n = id.user_id.chars().count();
    assert!(
        (1..=MAX_SUB_CHARS).contains(&n),
        "user id of {n} characters"
    );
    assert!(
        !id.user_id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '*' | '{' | '}')),
        "user id {:?}",
        id.user_id
    );
    assert!(
        id.expires_at >= before - LEEWAY,
        "expired token accepted: exp {}",
        id.expires_at
    );

    // The claims as any JSON reader sees them agree with the identity.
    let claims: ClaimFields = segment(token, 1).expect("accepted token has JSON claims");
    assert_eq!(
        claims.sub.as_ref().and_then(Value::as_str),
        Some(id.user_id.as_str())
    );
    assert_eq!(
        claims.exp.as_ref().and_then(Value::as_i64),
        Some(id.expires_at)
    );
    if let Some(nbf) = &claims.nbf {
        let nbf = nbf.as_u64().expect("accepted nbf is a number of seconds");
        assert!(
            nbf as i64 <= after + LEEWAY,
            "token not yet valid accepted: nbf {nbf}"
        );
    }
    if keys != Keys::Secret {
        let aud = claims.aud.as_ref().expect("accepted token without aud");
        let ours = match aud {
            Value::String(s) => s == AUDIENCE,
            Value::Array(list) => list.iter().any(|a| a == AUDIENCE),
            _ => false,
        };
        assert!(ours, "accepted aud {aud}");
        assert_eq!(
            claims.iss.as_ref().and_then(Value::as_str),
            Some(ISSUER),
            "accepted iss"
        );
    }
}

/// Verifies `token` with every verifier in `on`; true when one accepted it.
fn verify(token: &str, on: &[Keys]) -> bool {
    let mut accepted = false;
    for (keys, verifier) in VERIFIERS.all.iter().filter(|(k, _)| on.contains(k)) {
        let before = now();
        let result = runtime().block_on(verifier.verify(token));
        let after = now();
        match result {
            Ok(id) => {
                assert_accepted(*keys, token, &id, before, after);
                accepted = true;
            }
            Err(AuthError::Invalid | AuthError::Expired) => {}
            Err(other) => panic!("verify answered {other:?}"),
        }
    }
    accepted
}

const ALL: &[Keys] = &[Keys::Secret, Keys::SecretAudIss, Keys::JwksAudIss];

/// One input; the first byte picks how the rest becomes a token:
/// 0: the rest is the token, as text;
/// 1: the rest is the claims, signed HS256 with the secret;
/// 2: the rest is a header and claims (split at the second byte's offset), signed HS256;
/// 3: the rest is the claims, signed EdDSA (`ed-1`) or ES256 (`ec-1`) from the JWKS.
pub fn fuzz(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let v = &*VERIFIERS;
    match mode % 4 {
        0 => {
            verify(&String::from_utf8_lossy(rest), ALL);
        }
        1 => {
            let header = br#"{"alg":"HS256","typ":"JWT"}"#;
            let token = sign(header, rest, &v.secret, Algorithm::HS256);
            // The JWKS verifier has no secret: an HS256 token never passes it.
            verify(&token, ALL);
        }
        2 => {
            let Some((&split, rest)) = rest.split_first() else {
                return;
            };
            let at = usize::from(split).min(rest.len());
            let (header, claims) = rest.split_at(at);
            let token = sign(header, claims, &v.secret, Algorithm::HS256);
            // Whatever `alg` and `kid` the header names, an HMAC signature made with the
            // secret never passes the JWKS verifier (HS/RS confusion).
            assert!(
                !verify(&token, &[Keys::JwksAudIss]),
                "JWKS verifier accepted a token signed with the HS256 secret"
            );
            verify(&token, &[Keys::Secret, Keys::SecretAudIss]);
        }
        _ => {
            let (header, key, alg): (&[u8], _, _) = if mode & 4 == 0 {
                (
                    br#"{"alg":"EdDSA","kid":"ed-1"}"#,
                    &v.ed25519,
                    Algorithm::EdDSA,
                )
            } else {
                (br#"{"alg":"ES256","kid":"ec-1"}"#, &v.ec, Algorithm::ES256)
            };
            let token = sign(header, rest, key, alg);
            verify(&token, ALL);
        }
    }
}
