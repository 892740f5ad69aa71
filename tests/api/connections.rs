//! Connection caps per client IP (the IP from `X-Forwarded-For` only behind a trusted
//! proxy), the handshake rate limit, and the origin check.

use std::time::Duration;

use serde_json::json;

use crate::support::{Connect, Db, SioClient, TestApp};

fn as_user(app: &TestApp, user: &str, forwarded_for: Option<&str>) -> Connect {
    Connect {
        auth: Some(json!({ "token": app.token(user) })),
        headers: forwarded_for
            .map(|ip| vec![("x-forwarded-for".to_owned(), ip.to_owned())])
            .unwrap_or_default(),
        ..Connect::default()
    }
}

#[tokio::test]
async fn each_ip_gets_its_cap_and_a_freed_place_is_taken_again() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.connections.max_per_ip = 2).await;
    let first = app.connect("/ws", "a").await;
    let _second = app.connect("/realtime", "b").await;
    let refused = app.try_connect("/ws", as_user(&app, "c", None)).await;
    assert_eq!(refused.err().as_deref(), Some("too_many_connections"));
    first.disconnect();
    drop(first);
    let mut admitted = None;
    for _ in 0..40 {
        if let Ok(client) = app.try_connect("/ws", as_user(&app, "c", None)).await {
            admitted = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        admitted.is_some(),
        "the place a closed connection held is free again"
    );
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let trusted = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.max_per_ip = 1;
        s.http.trusted_proxies = Some("127.0.0.0/8".into());
    })
    .await;
    let _one = trusted
        .try_connect("/ws", as_user(&trusted, "a", Some("203.0.113.1")))
        .await
        .expect("first client");
    let _two = trusted
        .try_connect("/ws", as_user(&trusted, "b", Some("203.0.113.2")))
        .await
        .expect("another client behind the same proxy");
    let again = trusted
        .try_connect("/ws", as_user(&trusted, "c", Some("203.0.113.1")))
        .await;
    assert_eq!(again.err().as_deref(), Some("too_many_connections"));

    let untrusted = TestApp::spawn_with(Db::Sqlite, |s| s.connections.max_per_ip = 1).await;
    let _one = untrusted
        .try_connect("/ws", as_user(&untrusted, "a", Some("203.0.113.1")))
        .await
        .expect("first");
    let spoofed = untrusted
        .try_connect("/ws", as_user(&untrusted, "b", Some("203.0.113.2")))
        .await;
    assert_eq!(
        spoofed.err().as_deref(),
        Some("too_many_connections"),
        "a header from an untrusted peer changes nothing"
    );
}

#[tokio::test]
async fn handshakes_beyond_the_rate_get_429_with_retry_after() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.handshakes_per_ip_per_minute = 8
    })
    .await;
    let handshake = || reqwest::get(app.url("/socket.io/?EIO=4&transport=polling"));
    for _ in 0..2 {
        assert_eq!(handshake().await.expect("res").status().as_u16(), 200);
    }
    let refused = handshake().await.expect("res");
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], json!("rate_limited"));
    let health = reqwest::get(app.url("/health/live")).await.expect("res");
    assert_eq!(
        health.status().as_u16(),
        200,
        "other requests are not handshakes"
    );
}

#[tokio::test]
async fn other_origins_are_refused_unless_listed() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.http.cors_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let http = reqwest::Client::new();
    let polling = app.url("/socket.io/?EIO=4&transport=polling");
    let from = |origin: &'static str| http.get(&polling).header("origin", origin).send();
    let evil = from("https://evil.example").await.expect("res");
    assert_eq!(evil.status().as_u16(), 403);
    let body: serde_json::Value = evil.json().await.expect("json");
    assert_eq!(body["error"]["code"], json!("forbidden"));
    let listed = from("https://app.example.com").await.expect("res");
    assert_eq!(listed.status().as_u16(), 200);
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let ws = SioClient::connect(
        &app.addr.to_string(),
        "/ws",
        Connect {
            auth: Some(json!({ "token": app.token("a") })),
            headers: vec![("origin".into(), "https://evil.example".into())],
            ..Connect::default()
        },
    )
    .await;
    assert!(
        ws.is_err(),
        "a WebSocket from another site's page is refused too"
    );
}

#[tokio::test]
async fn ipv6_clients_of_one_64_behind_a_proxy_share_one_cap() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.max_per_ip = 1;
        s.http.trusted_proxies = Some("127.0.0.0/8".into());
    })
    .await;
    let _one = app
        .try_connect("/ws", as_user(&app, "a", Some("[2001:db8:5:6::1]:50000")))
        .await
        .expect("first client");
    let same_64 = app
        .try_connect("/ws", as_user(&app, "b", Some("2001:db8:5:6:ffff::9")))
        .await;
    assert_eq!(
        same_64.err().as_deref(),
        Some("too_many_connections"),
        "another address of the same /64 counts as the same client"
    );
    let _other_64 = app
        .try_connect("/ws", as_user(&app, "c", Some("2001:db8:5:7::1")))
        .await
        .expect("another /64 is another client");
}

#[tokio::test]
async fn the_handshake_rate_counts_an_ipv6_64_as_one_client() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.handshakes_per_ip_per_minute = 8;
        s.http.trusted_proxies = Some("127.0.0.0/8".into());
    })
    .await;
    let http = reqwest::Client::new();
    let handshake = |n: u32| {
        http.get(app.url("/socket.io/?EIO=4&transport=polling"))
            .header("x-forwarded-for", format!("2001:db8:9:9::{n:x}"))
            .send()
    };
    for n in 1..=2 {
        assert_eq!(handshake(n).await.expect("res").status().as_u16(), 200);
    }
    assert_eq!(
        handshake(3).await.expect("res").status().as_u16(),
        429,
        "a fresh address from the same /64 does not get a fresh bucket"
    );
}
