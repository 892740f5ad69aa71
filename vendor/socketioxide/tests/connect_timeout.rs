//! Switchyard's patch (PATCHES.md): a connection that holds no namespace is closed after
//! the connect timeout, on both protocols and after its last namespace has left.
//! Over HTTP long-polling, a closed session's id is unknown to the server (400).
#![cfg(feature = "v4")]

use std::time::Duration;

use bytes::Bytes;
use engineioxide::service::NotFoundService;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use socketioxide::{
    SocketIo, extract::SocketRef, handler::ConnectHandler, service::SocketIoService,
};
use tower_service::Service;

const TIMEOUT: Duration = Duration::from_millis(200);

type Svc = SocketIoService<NotFoundService>;

/// `/` refuses every connect when `refuse_root`, as a server with no main namespace does.
fn server(refuse_root: bool) -> Svc {
    let (svc, io) = SocketIo::builder().connect_timeout(TIMEOUT).build_svc();
    let refuse = async move || if refuse_root { Err("refused") } else { Ok(()) };
    io.ns("/", { async |_: SocketRef| {} }.with(refuse));
    io.ns("/other", async |_: SocketRef| {});
    svc
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

/// Opens a session and returns its id.
async fn open(svc: &Svc, eio: u8) -> String {
    let (status, body) = request(svc, eio, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let start = body.find("\"sid\":\"").expect("open packet") + 7;
    body[start..].split('"').next().expect("sid").to_owned()
}

/// Sends socket.io packets as one polling payload of the session's protocol.
async fn send(svc: &Svc, eio: u8, sid: &str, packet: &str) {
    let payload = match eio {
        3 => format!("{}:4{packet}", packet.len() + 1),
        _ => format!("4{packet}"),
    };
    let (status, _) = request(svc, eio, &format!("&sid={sid}"), Some(&payload)).await;
    assert_eq!(status, StatusCode::OK);
    // A namespace connects in a task of its own: let it finish before the next packet.
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Whether the server still knows the session after twice the timeout: it takes a
/// heartbeat posted to it (a v3 client's ping, a v4 client's pong; an unknown session id
/// is a 400).
async fn alive_after_timeout(svc: &Svc, eio: u8, sid: &str) -> bool {
    tokio::time::sleep(TIMEOUT * 2).await;
    let heartbeat = if eio == 3 { "1:2" } else { "3" };
    let (status, _) = request(svc, eio, &format!("&sid={sid}"), Some(heartbeat)).await;
    status == StatusCode::OK
}

#[tokio::test]
async fn v4_connection_refused_on_root_is_closed_after_the_timeout() {
    let svc = server(true);
    let sid = open(&svc, 3).await;
    assert!(!alive_after_timeout(&svc, 3, &sid).await);
}

#[tokio::test]
async fn v4_connection_on_root_stays() {
    let svc = server(false);
    let sid = open(&svc, 3).await;
    assert!(alive_after_timeout(&svc, 3, &sid).await);
}

#[tokio::test]
async fn v4_connection_with_another_namespace_stays() {
    let svc = server(true);
    let sid = open(&svc, 3).await;
    send(&svc, 3, &sid, "0/other").await;
    assert!(alive_after_timeout(&svc, 3, &sid).await);
}

#[tokio::test]
async fn v5_connection_without_namespace_is_closed_after_the_timeout() {
    let svc = server(false);
    let sid = open(&svc, 4).await;
    assert!(!alive_after_timeout(&svc, 4, &sid).await);
}

#[tokio::test]
async fn v5_connection_whose_last_namespace_left_is_closed_after_the_timeout() {
    let svc = server(false);
    let sid = open(&svc, 4).await;
    send(&svc, 4, &sid, "0").await;
    send(&svc, 4, &sid, "0/other,").await;
    assert!(alive_after_timeout(&svc, 4, &sid).await, "two namespaces");
    send(&svc, 4, &sid, "1/other,").await;
    assert!(alive_after_timeout(&svc, 4, &sid).await, "one is left");
    send(&svc, 4, &sid, "1").await;
    assert!(!alive_after_timeout(&svc, 4, &sid).await, "none is left");
}

#[tokio::test]
async fn v5_connection_that_connects_again_stays() {
    let svc = server(false);
    let sid = open(&svc, 4).await;
    send(&svc, 4, &sid, "0").await;
    send(&svc, 4, &sid, "1").await;
    send(&svc, 4, &sid, "0/other,").await;
    assert!(alive_after_timeout(&svc, 4, &sid).await);
}
