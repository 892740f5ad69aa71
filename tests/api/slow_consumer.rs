//! Slow consumers (issue 19 item 6): a client that stops reading its WebSocket is closed
//! once its outgoing queue has stayed full for `slow_consumer_grace_ms`, and counted,
//! while the other subscribers of the channel keep receiving.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::realtime::publish;
use crate::support::scrape::scrape;
use crate::support::{Db, TestApp};

const CHANNEL: &str = "public:flood";

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame, skipping Engine.IO pings (answered, so the session stays up).
async fn next_text(ws: &mut Ws) -> String {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("a frame");
        match frame {
            Message::Text(text) if text.as_str() == "2" => {
                ws.send(Message::text("3")).await.expect("pong");
            }
            Message::Text(text) => return text.to_string(),
            _ => {}
        }
    }
}

/// A `/realtime` client subscribed to [`CHANNEL`] on a socket with a tiny receive buffer,
/// so the server's writes block after a few publications once it stops reading.
async fn raw_subscriber(app: &TestApp, user: &str) -> Ws {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small buffer");
    let tcp = socket.connect(app.addr).await.expect("connect");
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&token={}",
        app.addr,
        app.token(user)
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
        .await
        .expect("upgrade");
    assert!(next_text(&mut ws).await.starts_with('0'), "open packet");
    ws.send(Message::text("40/realtime,")).await.expect("send");
    assert!(next_text(&mut ws).await.starts_with("40/realtime,"));
    let subscribe = json!(["subscribe", { "channels": [CHANNEL] }]);
    ws.send(Message::text(format!("42/realtime,1{subscribe}")))
        .await
        .expect("send");
    while !next_text(&mut ws).await.starts_with("43/realtime,1") {}
    ws
}

async fn slow_consumers(app: &TestApp) -> f64 {
    scrape(&app.url("/metrics"))
        .await
        .sum("switchyard_slow_consumers_total", &[("ns", "/realtime")])
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_counted_while_others_keep_receiving() {
    // Without connection-state recovery: a socket that can resume is closed at the first
    // event its queue refuses instead (vendor/socketioxide tests/slow_consumer.rs).
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.slow_consumer_grace = Some(std::time::Duration::from_millis(500));
        s.recovery.enabled = false;
    })
    .await;
    let mut reader = app.connect("/realtime", "reader").await;
    let ack = reader
        .emit_ack("subscribe", json!({ "channels": [CHANNEL] }))
        .await;
    assert_eq!(ack["subscribed"], json!([CHANNEL]));
    // Held, never read again.
    let _stalled = raw_subscriber(&app, "stalled").await;
    assert_eq!(slow_consumers(&app).await, 0.0);

    let bulk = "x".repeat(48 * 1024);
    let started = Instant::now();
    let mut sent = 0;
    while slow_consumers(&app).await < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(40) && sent < 3_000,
            "the stalled client was not closed after {sent} publications"
        );
        for _ in 0..20 {
            let (status, _) = publish(&app, CHANNEL, json!({ "bulk": bulk }), None).await;
            assert_eq!(status, 202);
            sent += 1;
        }
    }
    assert_eq!(slow_consumers(&app).await, 1.0, "the reader was not closed");

    publish(&app, CHANNEL, json!({ "last": true }), None).await;
    let read_all = async {
        let mut offsets = Vec::new();
        loop {
            let event = reader.expect("event").await.data;
            offsets.push(event["offset"].as_u64().unwrap_or_default());
            if event["data"]["last"] == json!(true) {
                return offsets;
            }
        }
    };
    let offsets = tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("the reader still receives");
    let every: Vec<u64> = (1..=sent + 1).collect();
    assert!(offsets == every, "the reader missed publications");
}
