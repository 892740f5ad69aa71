//! The fault proxy itself, against a tiny echo server: each fault does what the tests of
//! the gateway rely on it doing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::fault_proxy::FaultProxy;

/// Echoes every byte back, for as long as the test runs.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn proxied() -> (FaultProxy, TcpStream) {
    let proxy = FaultProxy::start(echo_server().await).await;
    let conn = TcpStream::connect(proxy.addr()).await.expect("connect");
    (proxy, conn)
}

/// Sends `ping` and waits up to `wait` for it to come back.
async fn round_trip(conn: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    conn.write_all(b"ping").await.ok()?;
    let mut buf = [0u8; 4];
    match tokio::time::timeout(wait, conn.read_exact(&mut buf)).await {
        Ok(Ok(_)) if &buf == b"ping" => Some(started.elapsed()),
        _ => None,
    }
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

#[tokio::test]
async fn bytes_pass_through_untouched() {
    let (_proxy, mut conn) = proxied().await;
    assert!(round_trip(&mut conn, LONG).await.is_some());
}

#[tokio::test]
async fn delay_is_added_in_each_direction() {
    let (proxy, mut conn) = proxied().await;
    proxy.delay(Duration::from_millis(200));
    let took = round_trip(&mut conn, LONG).await.expect("echo");
    assert!(took >= Duration::from_millis(400), "{took:?}");
    proxy.heal();
    let took = round_trip(&mut conn, LONG).await.expect("echo");
    assert!(took < Duration::from_millis(400), "{took:?}");
}

#[tokio::test]
async fn pause_holds_bytes_and_resume_delivers_them() {
    let (proxy, mut conn) = proxied().await;
    proxy.pause();
    // The first try is held, not lost: its echo is what arrives after the resume.
    assert_eq!(round_trip(&mut conn, SHORT).await, None);
    proxy.resume();
    let mut buf = [0u8; 4];
    tokio::time::timeout(LONG, conn.read_exact(&mut buf))
        .await
        .expect("held bytes flow on resume")
        .expect("read");
    assert_eq!(&buf, b"ping");
}

#[tokio::test]
async fn cut_resets_current_connections_and_accepts_new_ones() {
    let (proxy, mut conn) = proxied().await;
    assert!(round_trip(&mut conn, LONG).await.is_some());
    proxy.cut();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(LONG, conn.read(&mut buf))
        .await
        .expect("the cut connection ends at once");
    assert!(
        matches!(read, Err(_) | Ok(0)),
        "no bytes after a cut: {read:?}"
    );
    let mut fresh = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert!(round_trip(&mut fresh, LONG).await.is_some());
}

#[tokio::test]
async fn blackhole_accepts_and_answers_nothing_until_healed() {
    let (proxy, mut conn) = proxied().await;
    proxy.blackhole();
    assert_eq!(round_trip(&mut conn, SHORT).await, None, "old connection");
    let mut fresh = TcpStream::connect(proxy.addr())
        .await
        .expect("a blackhole still accepts");
    assert_eq!(round_trip(&mut fresh, SHORT).await, None, "new connection");
    proxy.heal();
    // Nothing was reset: what was held arrives, late, on both connections.
    for conn in [&mut conn, &mut fresh] {
        let mut buf = [0u8; 4];
        tokio::time::timeout(LONG, conn.read_exact(&mut buf))
            .await
            .expect("held bytes arrive after heal")
            .expect("not reset");
        assert_eq!(&buf, b"ping");
    }
}

/// Sends `first` and reads its echo: what a client says before a scope is set.
async fn greet(conn: &mut TcpStream, first: &[u8]) {
    conn.write_all(first).await.expect("write");
    let mut buf = vec![0u8; first.len()];
    tokio::time::timeout(LONG, conn.read_exact(&mut buf))
        .await
        .expect("echo")
        .expect("read");
}

#[tokio::test]
async fn a_scope_holds_only_the_open_connections_that_sent_its_needle() {
    let (proxy, mut subscriber) = proxied().await;
    let mut other = TcpStream::connect(proxy.addr()).await.expect("connect");
    greet(&mut subscriber, b"SUBSCRIBE feed").await;
    greet(&mut other, b"GET key").await;
    proxy.only_connections_that_sent(b"SUBSCRIBE feed");
    proxy.blackhole();
    assert_eq!(round_trip(&mut subscriber, SHORT).await, None, "in scope");
    assert!(round_trip(&mut other, LONG).await.is_some(), "out of scope");
    // A connection opened under the scope is not in it, whatever it sends.
    let mut late = TcpStream::connect(proxy.addr()).await.expect("connect");
    greet(&mut late, b"SUBSCRIBE feed").await;
    assert!(round_trip(&mut late, LONG).await.is_some(), "opened later");
    proxy.delay(Duration::from_millis(200));
    let took = round_trip(&mut other, LONG).await.expect("echo");
    assert!(took < Duration::from_millis(400), "not delayed: {took:?}");
    proxy.heal();
    let mut buf = [0u8; 4];
    tokio::time::timeout(LONG, subscriber.read_exact(&mut buf))
        .await
        .expect("held bytes arrive after heal")
        .expect("not reset");
    assert_eq!(&buf, b"ping");
}
