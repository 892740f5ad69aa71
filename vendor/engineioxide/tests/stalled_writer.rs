//! Switchyard's patch (PATCHES.md, item 5): closing a websocket session whose client has
//! stopped reading completes, and the handler is told, although the writer's last write
//! never does: the write is given up a moment after the close.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use engineioxide::{
    Str,
    config::EngineIoConfig,
    handler::EngineIoHandler,
    service::EngineIoService,
    socket::{DisconnectReason, Socket},
};
use engineioxide_core::ProtocolVersion;
use futures_util::StreamExt;
use http::Request;
use tokio::sync::mpsc;
use tokio_tungstenite::{WebSocketStream, tungstenite::protocol::Role};

#[derive(Debug, Clone)]
struct Handler {
    sockets: mpsc::UnboundedSender<Arc<Socket<()>>>,
    closed: mpsc::UnboundedSender<DisconnectReason>,
}

impl EngineIoHandler for Handler {
    type Data = ();
    fn on_connect(self: Arc<Self>, socket: Arc<Socket<()>>) {
        self.sockets.send(socket).ok();
    }
    fn on_disconnect(&self, _socket: Arc<Socket<()>>, reason: DisconnectReason) {
        self.closed.send(reason).ok();
    }
    fn on_message(self: &Arc<Self>, _msg: Str, _socket: Arc<Socket<()>>) {}
    fn on_binary(self: &Arc<Self>, _data: Bytes, _socket: Arc<Socket<()>>) {}
}

#[tokio::test]
async fn closing_a_session_whose_client_stopped_reading_completes() {
    let (sockets_tx, mut sockets) = mpsc::unbounded_channel();
    let (closed_tx, mut closed) = mpsc::unbounded_channel();
    let handler = Handler {
        sockets: sockets_tx,
        closed: closed_tx,
    };
    // Heartbeats far away: only the close under test ends the session.
    let config = EngineIoConfig::builder()
        .ping_interval(Duration::from_secs(60))
        .ping_timeout(Duration::from_secs(60))
        .max_buffer_size(8)
        .build();
    let svc = EngineIoService::with_config(Arc::new(handler), config);

    // An in-memory connection that holds 4 KB: once the client stops reading, the
    // server's writes wait for room that never comes, as over a full TCP window.
    let (server_io, client_io) = tokio::io::duplex(4096);
    let parts = Request::builder()
        .uri("ws://127.0.0.1/engine.io/?EIO=4&transport=websocket")
        .body(())
        .expect("request")
        .into_parts()
        .0;
    tokio::spawn(svc.ws_init(server_io, ProtocolVersion::V4, None, parts));
    let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    client.next().await.expect("open packet").expect("a frame");

    let socket = sockets.recv().await.expect("a socket");
    let big = "x".repeat(1024);
    let mut refused = false;
    for _ in 0..100 {
        if socket.emit(big.clone()).is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the queue filled behind the stalled writer");

    socket.close(DisconnectReason::ClosingServer);
    let told = tokio::time::timeout(Duration::from_secs(5), closed.recv()).await;
    assert_eq!(told.ok().flatten(), Some(DisconnectReason::ClosingServer));
    drop(client);
}
