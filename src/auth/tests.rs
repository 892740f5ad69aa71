//! Token checks: every way a token can be wrong maps to its wire code.

use std::path::PathBuf;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{AuthError, TokenVerifier, issue_token};
use crate::config::Settings;

const SECRET: &str = "unit-test-secret";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn claims(extra: Value) -> Value {
    let mut c = json!({ "sub": "alice", "exp": now() + 600 });
    c.as_object_mut()
        .expect("object")
        .extend(extra.as_object().cloned().unwrap_or_default());
    c
}

fn hs256(claims: &Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("signed")
}

fn signed_with(alg: Algorithm, kid: &str, pem: &str, claims: &Value) -> String {
    let pem = std::fs::read(fixture(pem)).expect("fixture");
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    }
    .expect("key");
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key).expect("signed")
}

fn verifier(settings: Settings) -> std::sync::Arc<TokenVerifier> {
    let secret = settings.auth.jwt_secret.clone();
    TokenVerifier::new(&settings, secret.as_deref()).expect("verifier")
}

fn secret_verifier() -> std::sync::Arc<TokenVerifier> {
    let mut settings = Settings::default();
    settings.auth.jwt_secret = Some(SECRET.into());
    verifier(settings)
}

fn jwks_verifier() -> std::sync::Arc<TokenVerifier> {
    let url = format!("file://{}", fixture("jwks.json").display());
    let mut settings = Settings::default();
    settings.auth.jwks_url = Some(url);
    verifier(settings)
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn a_valid_hs256_token_gives_the_identity_from_its_claims() {
    let token = hs256(&claims(json!({"roles": ["admin"], "name": "Alice"})));
    let id = secret_verifier().verify(&token).await.expect("valid");
    assert_eq!(id.user_id, "alice");
    assert!(id.has_role("admin"));
    assert_eq!(id.name.as_deref(), Some("Alice"));
}

#[tokio::test]
async fn expired_tokens_are_token_expired() {
    let token = hs256(&claims(json!({"exp": now() - 120})));
    assert_eq!(
        secret_verifier().verify(&token).await,
        Err(AuthError::Expired)
    );
}

/// PROTOCOL.md §1: a `sub` that could read as a glob or a `{sub}` placeholder in a channel
/// rule, or that is blank, hidden or too long, is not a user id.
#[tokio::test]
async fn subs_the_contract_refuses_are_invalid_token() {
    let v = secret_verifier();
    let long = "é".repeat(129);
    for sub in [
        "*", "b*", "{sub}", "a{", "a}", "a b", "a\tb", "a\u{85}b", "a\u{a0}b", "a\u{0}", "", &long,
    ] {
        let token = hs256(&claims(json!({ "sub": sub })));
        assert_eq!(v.verify(&token).await, Err(AuthError::Invalid), "{sub:?}");
        let ttl = std::time::Duration::from_secs(60);
        assert!(
            issue_token(SECRET, sub, &[], ttl).is_err(),
            "minted for {sub:?}"
        );
    }
    let longest = "é".repeat(128);
    for sub in ["bob", "a@b.c", "user-1:x", "名前", &longest] {
        let token = hs256(&claims(json!({ "sub": sub })));
        assert_eq!(v.verify(&token).await.expect(sub).user_id, sub);
    }
}

#[tokio::test]
async fn broken_tokens_are_invalid_token() {
    let v = secret_verifier();
    let good = hs256(&claims(json!({})));
    let tampered = {
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = b64(&claims(json!({"sub": "mallory"})));
        parts[1] = &forged;
        parts.join(".")
    };
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(json!({})))
    );
    let no_exp = hs256(&json!({"sub": "alice"}));
    let no_sub = hs256(&json!({"exp": now() + 60}));
    let not_yet = hs256(&claims(json!({"nbf": now() + 600})));
    let wrong_secret = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(b"other"),
    )
    .expect("signed");
    for token in [
        &tampered,
        &unsigned,
        &no_exp,
        &no_sub,
        &not_yet,
        &wrong_secret,
        &good[..good.len() - 5].to_owned(),
        &"garbage".to_owned(),
    ] {
        assert_eq!(v.verify(token).await, Err(AuthError::Invalid), "{token}");
    }
}

#[tokio::test]
async fn audience_and_issuer_are_checked_when_configured() {
    let mut settings = Settings::default();
    settings.auth.jwt_secret = Some(SECRET.into());
    settings.auth.jwt_audience = Some("switchyard".into());
    settings.auth.jwt_issuer = Some("https://issuer.test".into());
    let v = verifier(settings);
    let right = hs256(&claims(
        json!({"aud": "switchyard", "iss": "https://issuer.test"}),
    ));
    assert!(v.verify(&right).await.is_ok());
    let wrong_aud = hs256(&claims(
        json!({"aud": "other", "iss": "https://issuer.test"}),
    ));
    let wrong_iss = hs256(&claims(
        json!({"aud": "switchyard", "iss": "https://evil.test"}),
    ));
    let missing = hs256(&claims(json!({})));
    for token in [wrong_aud, wrong_iss, missing] {
        assert_eq!(v.verify(&token).await, Err(AuthError::Invalid));
    }
}

#[tokio::test]
async fn jwks_keys_verify_rs256_es256_and_eddsa() {
    let v = jwks_verifier();
    let c = claims(json!({}));
    for (alg, kid, pem) in [
        (Algorithm::RS256, "rsa-1", "rsa.pem"),
        (Algorithm::ES256, "ec-1", "ec.pem"),
        (Algorithm::EdDSA, "ed-1", "ed25519.pem"),
    ] {
        let token = signed_with(alg, kid, pem, &c);
        assert_eq!(
            v.verify(&token).await.map(|i| i.user_id),
            Ok("alice".to_owned()),
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn a_key_is_used_only_with_its_own_algorithm() {
    let v = jwks_verifier();
    // An ES256 token naming the RSA key's kid must not verify.
    let token = signed_with(Algorithm::ES256, "rsa-1", "ec.pem", &claims(json!({})));
    assert_eq!(v.verify(&token).await, Err(AuthError::Invalid));
}

#[tokio::test]
async fn hs256_signed_with_the_public_rsa_key_is_refused() {
    // The classic algorithm-confusion attack: the public key used as an HMAC secret.
    let public_pem = std::fs::read(fixture("rsa.pub.pem")).expect("fixture");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims(json!({})),
        &EncodingKey::from_secret(&public_pem),
    )
    .expect("signed");
    assert_eq!(
        jwks_verifier().verify(&token).await,
        Err(AuthError::Invalid)
    );
}

#[tokio::test]
async fn without_a_jwks_asymmetric_tokens_are_refused() {
    let token = signed_with(Algorithm::RS256, "rsa-1", "rsa.pem", &claims(json!({})));
    assert_eq!(
        secret_verifier().verify(&token).await,
        Err(AuthError::Invalid)
    );
}

#[tokio::test]
async fn an_unknown_kid_rereads_the_jwks_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, r#"{"keys": []}"#).expect("write");
    let timing = super::jwks::Timing {
        min_interval: std::time::Duration::from_millis(300),
        miss_ttl: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let url = format!("file://{}", path.display());
    let v = TokenVerifier {
        secret: None,
        jwks: Some(super::jwks::Jwks::with_timing(&url, false, timing).expect("jwks")),
        audience: None,
        issuer: None,
    };
    v.preload().await.expect("loaded");
    let token = signed_with(Algorithm::RS256, "rsa-1", "rsa.pem", &claims(json!({})));
    // The first miss right after the preload is within the refresh cool-down.
    assert_eq!(v.verify(&token).await, Err(AuthError::Invalid));
    std::fs::copy(fixture("jwks.json"), &path).expect("rotate");
    tokio::time::sleep(timing.min_interval.max(timing.miss_ttl) * 2).await;
    assert!(v.verify(&token).await.is_ok());
}
