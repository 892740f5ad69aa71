//! PROTOCOL.md §1 over real connections: token sources, refusals and their codes.

use serde_json::json;

use crate::support::{Connect, Db, TestApp};

fn with_auth(token: &str) -> Connect {
    Connect {
        auth: Some(json!({ "token": token })),
        ..Connect::default()
    }
}

#[tokio::test]
async fn each_token_source_is_accepted() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let token = app.token("alice");
    let sources = [
        with_auth(&token),
        Connect {
            query: vec![("token".into(), token.clone())],
            ..Connect::default()
        },
        Connect {
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            ..Connect::default()
        },
    ];
    for opts in sources {
        let s = app
            .try_connect("/ws", opts.clone())
            .await
            .unwrap_or_else(|e| panic!("{opts:?}: {e}"));
        let list = s.emit_ack("conversation:list", json!({})).await;
        assert_eq!(list["ok"], json!(true));
    }
}

#[tokio::test]
async fn refusals_carry_the_contract_codes() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let expired = app.token_with(json!({ "sub": "alice", "exp": 1_000_000 }));
    let tampered = {
        let t = app.token("alice");
        let (head, _) = t.rsplit_once('.').expect("jwt");
        format!("{head}.AAAA")
    };
    let none_alg = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" }).to_string()),
        b64(&json!({ "sub": "alice", "exp": 4_000_000_000u64 }).to_string())
    );
    let cases = [
        (Connect::default(), "missing_token"),
        (with_auth(""), "missing_token"),
        (with_auth("not-a-jwt"), "invalid_token"),
        (with_auth(&tampered), "invalid_token"),
        (with_auth(&none_alg), "invalid_token"),
        (with_auth(&expired), "token_expired"),
    ];
    for (opts, code) in cases {
        assert_eq!(
            app.try_connect("/ws", opts.clone()).await.err().as_deref(),
            Some(code),
            "{opts:?}"
        );
    }
}

#[tokio::test]
async fn the_main_and_unknown_namespaces_are_refused() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let token = app.token("alice");
    for ns in ["/", "/admin", "/ws2", "/realtime/x"] {
        let err = app.try_connect(ns, with_auth(&token)).await.err();
        assert_eq!(err.as_deref(), Some("unknown_namespace"), "{ns}");
    }
    // Refusing many distinct names must leave the server serving, with no namespace left
    // behind for each name tried.
    for n in 0..20 {
        let err = app
            .try_connect(&format!("/random-{n}"), with_auth(&token))
            .await
            .err();
        assert_eq!(err.as_deref(), Some("unknown_namespace"));
    }
    assert!(app.try_connect("/ws", with_auth(&token)).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stats = app.stats().await;
    assert_eq!(
        stats["namespaces"],
        json!(4),
        "/, /ws, /realtime, /notifications: {stats}"
    );
}

#[tokio::test]
async fn a_configured_audience_is_enforced_on_sockets() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.auth.jwt_audience = Some("switchyard".into())
    })
    .await;
    let right = app.token_with(json!({ "sub": "a", "aud": "switchyard" }));
    let wrong = app.token_with(json!({ "sub": "a", "aud": "elsewhere" }));
    assert!(app.try_connect("/ws", with_auth(&right)).await.is_ok());
    assert_eq!(
        app.try_connect("/ws", with_auth(&wrong))
            .await
            .err()
            .as_deref(),
        Some("invalid_token")
    );
}

#[tokio::test]
async fn jwks_servers_accept_rs256_and_refuse_hs256() {
    let jwks = format!(
        "file://{}/tests/fixtures/jwt/jwks.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.auth.jwt_secret = None;
        s.auth.jwks_url = Some(jwks);
    })
    .await;
    let pem = std::fs::read(format!(
        "{}/tests/fixtures/jwt/rsa.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let claims = json!({ "sub": "alice", "exp": jsonwebtoken::get_current_timestamp() + 60 });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("pem");
    let rs256 = jsonwebtoken::encode(&header, &claims, &key).expect("token");
    assert!(app.try_connect("/ws", with_auth(&rs256)).await.is_ok());
    // The HS256 test secret means nothing to a JWKS-only server.
    let hs256 = app.token("alice");
    assert_eq!(
        app.try_connect("/ws", with_auth(&hs256))
            .await
            .err()
            .as_deref(),
        Some("invalid_token")
    );
}

#[tokio::test]
async fn the_sender_is_always_the_token_subject() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let alice = app.connect("/ws", "alice").await;
    let created = alice
        .emit_ack("conversation:create", json!({ "participantIds": ["bob"] }))
        .await;
    let id = created["conversation"]["id"].clone();
    let sent = alice
        .emit_ack(
            "message:send",
            json!({ "conversationId": id, "clientMsgId": "c1", "content": "hi", "senderId": "mallory", "userId": "mallory" }),
        )
        .await;
    assert_eq!(sent["message"]["senderId"], json!("alice"));
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
