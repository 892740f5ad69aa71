//! Switchyard's patch (PATCHES.md items 5 and 6), over HTTP long-polling as a
//! socket.io-client 2.x speaks it:
//! - a protocol v4 CONNECT's namespace carries the socket's query (`0/admin?token=abc,`):
//!   the namespace is `/admin` and the query reaches the socket's `req_parts()`, after the
//!   request's own parameters, which win; protocol v5 namespace names are left as sent;
//! - `v4_root_holds_connection(false)`: the implicit `/` of a v4 connection is accepted but
//!   does not stop the connect timeout.
#![cfg(feature = "v4")]

use std::time::Duration;

use bytes::Bytes;
use engineioxide::service::NotFoundService;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use socketioxide::{SocketIo, extract::SocketRef, service::SocketIoService};
use tokio::sync::mpsc;
use tower_service::Service;

const TIMEOUT: Duration = Duration::from_millis(200);

type Svc = SocketIoService<NotFoundService>;

/// What a namespace handler saw of a socket: its namespace and its request's query.
type Seen = mpsc::UnboundedReceiver<(String, Option<String>)>;

/// `/` and `/admin`, each reporting the sockets it connects; `root_holds` as the setting.
fn server(root_holds: bool) -> (Svc, Seen) {
    let (svc, io) = SocketIo::builder()
        .connect_timeout(TIMEOUT)
        .v4_root_holds_connection(root_holds)
        .build_svc();
    let (tx, rx) = mpsc::unbounded_channel();
    for ns in ["/", "/admin"] {
        let tx = tx.clone();
        io.ns(ns, async move |s: SocketRef| {
            let query = s.req_parts().uri.query().map(str::to_owned);
            tx.send((s.ns().to_owned(), query)).ok();
        });
    }
    (svc, rx)
}

async fn request(svc: &Svc, eio: u8, query: &str, body: Option<&str>) -> (StatusCode, String) {
    let method = if body.is_some() {
        Method::POST
    } else {
        Method::GET
    };
    let req = Request::builder()
        .method(method)
        .uri(format!(
            "http://127.0.0.1/socket.io/?EIO={eio}&transport=polling{query}"
        ))
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
        .expect("request");
    let mut res = svc.clone().call(req).await.expect("response");
    let bytes = res.body_mut().collect().await.expect("body").to_bytes();
    (res.status(), String::from_utf8_lossy(&bytes).into_owned())
}

/// Opens a session with `query` on its handshake request and returns its id.
async fn open(svc: &Svc, eio: u8, query: &str) -> String {
    let (status, body) = request(svc, eio, query, None).await;
    assert_eq!(status, StatusCode::OK);
    let start = body.find("\"sid\":\"").expect("open packet") + 7;
    body[start..].split('"').next().expect("sid").to_owned()
}

/// Sends one socket.io packet as a polling payload of the session's protocol.
async fn send(svc: &Svc, eio: u8, sid: &str, packet: &str) {
    let payload = match eio {
        3 => format!("{}:4{packet}", packet.len() + 1),
        _ => format!("4{packet}"),
    };
    let (status, _) = request(svc, eio, &format!("&sid={sid}"), Some(&payload)).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// What the server has queued for the session (one poll).
async fn poll(svc: &Svc, eio: u8, sid: &str) -> String {
    let (status, body) = request(svc, eio, &format!("&sid={sid}"), None).await;
    assert_eq!(status, StatusCode::OK);
    body
}

/// The next socket a handler saw.
async fn next(seen: &mut Seen) -> (String, Option<String>) {
    tokio::time::timeout(Duration::from_secs(1), seen.recv())
        .await
        .expect("a socket within 1 s")
        .expect("open channel")
}

/// Whether the server still knows the session after twice the timeout (a v3 client's
/// ping; an unknown session id is a 400).
async fn alive_after_timeout(svc: &Svc, sid: &str) -> bool {
    tokio::time::sleep(TIMEOUT * 2).await;
    let (status, _) = request(svc, 3, &format!("&sid={sid}"), Some("1:2")).await;
    status == StatusCode::OK
}

#[tokio::test]
async fn a_v4_connect_query_names_the_namespace_before_it_and_reaches_the_socket() {
    let (svc, mut seen) = server(true);
    let sid = open(&svc, 3, "").await;
    assert_eq!(next(&mut seen).await.0, "/", "the implicit main namespace");
    send(&svc, 3, &sid, "0/admin?token=abc&x=1,").await;
    let (ns, query) = next(&mut seen).await;
    assert_eq!(ns, "/admin");
    assert_eq!(
        query.as_deref(),
        Some("EIO=3&transport=polling&token=abc&x=1")
    );
    // The client is answered for the namespace it knows, without the query.
    assert!(poll(&svc, 3, &sid).await.contains("40/admin"));
}

#[tokio::test]
async fn the_request_s_own_parameters_win_over_the_connect_query() {
    let (svc, mut seen) = server(true);
    let sid = open(&svc, 3, "&token=first").await;
    next(&mut seen).await;
    send(&svc, 3, &sid, "0/admin?token=second&EIO=4&y=2,").await;
    let (_, query) = next(&mut seen).await;
    assert_eq!(
        query.as_deref(),
        Some("EIO=3&transport=polling&token=first&y=2")
    );
}

#[tokio::test]
async fn a_v4_connect_without_a_query_sees_the_request_as_it_came() {
    let (svc, mut seen) = server(true);
    let sid = open(&svc, 3, "&token=t").await;
    next(&mut seen).await;
    for packet in ["0/admin,", "1/admin,", "0/admin?,"] {
        send(&svc, 3, &sid, packet).await;
    }
    for _ in 0..2 {
        let (ns, query) = next(&mut seen).await;
        assert_eq!(ns, "/admin");
        assert_eq!(query.as_deref(), Some("EIO=3&transport=polling&token=t"));
    }
}

#[tokio::test]
async fn a_v4_connect_query_that_is_no_valid_uri_is_left_out() {
    let (svc, mut seen) = server(true);
    let sid = open(&svc, 3, "").await;
    next(&mut seen).await;
    send(&svc, 3, &sid, "0/admin?a b=\u{1}\"<>,").await;
    let (ns, query) = next(&mut seen).await;
    assert_eq!(ns, "/admin", "connected all the same");
    assert_eq!(query.as_deref(), Some("EIO=3&transport=polling"));
}

#[tokio::test]
async fn a_v4_connect_query_over_the_uri_limit_is_left_out() {
    // http's URIs end at 64 KiB: a socket keeps no more than that of its CONNECT.
    let (svc, mut seen) = server(true);
    let sid = open(&svc, 3, "").await;
    next(&mut seen).await;
    send(
        &svc,
        3,
        &sid,
        &format!("0/admin?big={},", "a".repeat(70_000)),
    )
    .await;
    let (ns, query) = next(&mut seen).await;
    assert_eq!(ns, "/admin");
    assert_eq!(query.as_deref(), Some("EIO=3&transport=polling"));
}

#[tokio::test]
async fn an_unknown_v4_namespace_with_a_query_is_refused_under_its_own_name() {
    let (svc, _seen) = server(true);
    let sid = open(&svc, 3, "").await;
    send(&svc, 3, &sid, "0/nope?token=abc,").await;
    let answer = poll(&svc, 3, &sid).await;
    assert!(
        answer.contains("44/nope,") && !answer.contains("?token"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_v5_namespace_name_is_left_as_sent() {
    let (svc, mut seen) = server(true);
    let sid = open(&svc, 4, "").await;
    send(&svc, 4, &sid, "0/admin?token=abc,").await;
    let answer = poll(&svc, 4, &sid).await;
    assert!(answer.starts_with("44/admin?token=abc,"), "{answer}");
    send(&svc, 4, &sid, "0/admin,").await;
    assert_eq!(
        next(&mut seen).await,
        ("/admin".into(), Some("EIO=4&transport=polling".into()))
    );
}

#[tokio::test]
async fn a_v4_connection_holding_only_the_implicit_root_is_closed_after_the_timeout() {
    let (svc, mut seen) = server(false);
    let sid = open(&svc, 3, "").await;
    assert_eq!(next(&mut seen).await.0, "/", "`/` is connected");
    assert!(poll(&svc, 3, &sid).await.contains("40"), "and told so");
    assert!(!alive_after_timeout(&svc, &sid).await);
}

#[tokio::test]
async fn a_v4_connection_is_kept_by_another_namespace_and_closed_once_it_left() {
    let (svc, mut seen) = server(false);
    let sid = open(&svc, 3, "").await;
    next(&mut seen).await;
    send(&svc, 3, &sid, "0/admin,").await;
    assert!(alive_after_timeout(&svc, &sid).await, "`/admin` holds it");
    send(&svc, 3, &sid, "1/admin,").await;
    assert!(!alive_after_timeout(&svc, &sid).await, "`/` alone does not");
}

#[tokio::test]
async fn by_default_the_implicit_root_holds_a_v4_connection() {
    let (svc, mut seen) = server(true);
    let sid = open(&svc, 3, "").await;
    next(&mut seen).await;
    assert!(alive_after_timeout(&svc, &sid).await);
}
