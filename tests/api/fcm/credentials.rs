//! The sender's credentials: the key file, the token URI override, the access token's
//! life, and the fake token endpoint's own checks.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard::push::fcm::{FcmClient, FcmConfig, SendOutcome};

use super::{Setup, closed_port, config, push, retry, setup};
use crate::support::fake_fcm::{CLIENT_EMAIL, FakeFcm, KEY_ID, SCOPE};

#[tokio::test]
async fn a_token_within_a_minute_of_expiry_is_renewed() {
    let Setup { fcm, client, .. } = setup().await;
    fcm.set_token_lifetime(Duration::from_secs(59));
    for _ in 0..3 {
        let outcome = client.send(&push("device-a")).await;
        assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
    }
    assert_eq!(fcm.token_calls(), 3);
}

#[tokio::test]
async fn token_url_overrides_the_key_files_token_uri() {
    let Setup { fcm, dir, .. } = setup().await;
    let key_file = fcm.write_service_account(dir.path());
    let mut key: Value =
        serde_json::from_slice(&std::fs::read(&key_file).expect("read")).expect("json");
    key["token_uri"] = json!(format!("http://127.0.0.1:{}/token", closed_port()));
    std::fs::write(&key_file, key.to_string()).expect("write");

    let client = FcmClient::new(FcmConfig {
        token_url: Some(fcm.token_url()),
        ..config(&fcm, &key_file)
    })
    .await
    .expect("client");
    let outcome = client.send(&push("device-a")).await;
    assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
    assert_eq!(fcm.token_calls(), 1);
}

#[tokio::test]
async fn a_refused_token_request_is_retried_without_a_status() {
    let Setup { fcm, dir, .. } = setup().await;
    let key_file = fcm.write_service_account(dir.path());
    let text = std::fs::read_to_string(&key_file).expect("read");
    std::fs::write(
        &key_file,
        text.replace(CLIENT_EMAIL, "someone@else.example"),
    )
    .expect("write");
    let client = FcmClient::new(config(&fcm, &key_file))
        .await
        .expect("client");
    assert_eq!(client.send(&push("device-a")).await, retry(None, None));
    assert!(fcm.token_calls() >= 1);
    assert!(fcm.requests().is_empty(), "nothing is sent without a token");
}

#[tokio::test]
async fn bad_credentials_files_are_refused_by_new() {
    let fcm = FakeFcm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let good: Value = serde_json::from_slice(
        &std::fs::read(fcm.write_service_account(dir.path())).expect("read"),
    )
    .expect("json");
    let with = |field: &str, value: Value| {
        let mut key = good.clone();
        key[field] = value;
        key.to_string()
    };
    let broken_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let cases = [
        ("not-json", "{ this is not json".to_owned()),
        ("user", with("type", json!("authorized_user"))),
        ("no-key", with("private_key", json!(null))),
        ("bad-key", with("private_key", json!(broken_pem))),
        ("bad-uri", with("token_uri", json!("not a url"))),
    ];
    for (name, text) in cases {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, text).expect("write");
        let err = FcmClient::new(config(&fcm, &path)).await.err();
        let err = format!("{:#}", err.unwrap_or_else(|| panic!("{name} was accepted")));
        assert!(err.contains(&format!("{name}.json")), "{name}: {err}");
    }
    let missing = dir.path().join("missing.json");
    let err = FcmClient::new(config(&fcm, &missing)).await.err();
    assert!(format!("{err:?}").contains("missing.json"), "{err:?}");
}

/// The fake's token endpoint must really check assertions, or the tests above prove
/// nothing about ours.
#[tokio::test]
async fn the_fake_token_endpoint_checks_the_assertion() {
    let fcm = FakeFcm::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "iss": CLIENT_EMAIL, "aud": fcm.token_url(), "scope": SCOPE,
        "iat": now, "exp": now + 3600
    });
    let sign = |claims: &Value| {
        let pem =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt/rsa.pem"))
                .expect("rsa.pem");
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("key");
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(KEY_ID.into());
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    };
    let mut wrong_scope = claims.clone();
    wrong_scope["scope"] = json!("https://www.googleapis.com/auth/cloud-platform");
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 10);
    let good = sign(&claims);
    let tampered = format!("{}AAAA", &good[..good.len() - 4]);
    let cases = [
        (
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            good.clone(),
            200,
        ),
        ("client_credentials", good, 400),
        ("urn:ietf:params:oauth:grant-type:jwt-bearer", tampered, 401),
        (
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            sign(&wrong_scope),
            401,
        ),
        (
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            sign(&expired),
            401,
        ),
    ];
    let http = reqwest::Client::new();
    for (grant_type, assertion, status) in cases {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("grant_type", grant_type), ("assertion", &assertion)])
            .finish();
        let response = http
            .post(fcm.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token request");
        assert_eq!(
            response.status().as_u16(),
            status,
            "{grant_type} {assertion}"
        );
    }
    assert_eq!(fcm.token_calls(), 5);
}
