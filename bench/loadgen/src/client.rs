//! A minimal Socket.IO v5 client over Engine.IO v4 WebSocket: connect to one namespace
//! with a token, answer pings, emit with or without ack, and hand events to the caller
//! (through a channel, or to a handler run in the reader task). Small on purpose:
//! thousands of them run in one process.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// One event the server sent: its name and the raw JSON array text it came in.
pub struct Event {
    pub name: String,
    pub raw: String,
}

/// Called in the reader task with each event's JSON array text, borrowed from the frame.
pub type OnEvent = Box<dyn FnMut(&str) + Send>;

/// Where the events a client receives go.
pub enum Events {
    /// Nowhere (idle, ping, soak).
    Ignore,
    /// Copied into an [`Event`] each, for a task of the caller's (chat, storm).
    Channel(mpsc::UnboundedSender<Event>),
    /// Handled where they are read, with nothing copied and no task woken: the fan-out's
    /// tens of thousands of deliveries a second.
    Handler(OnEvent),
}

type Acks = Arc<Mutex<HashMap<u64, oneshot::Sender<String>>>>;

pub struct Client {
    ns: String,
    out: mpsc::UnboundedSender<Message>,
    acks: Acks,
    next_id: AtomicU64,
}

/// Where to connect and as whom.
pub struct Target<'a> {
    pub addr: SocketAddr,
    pub ns: &'a str,
    pub token: &'a str,
    /// The local address to connect from (spreading sockets over 127.0.0.x).
    pub source: IpAddr,
    /// The WebSocket read buffer's size in bytes (see `--read-buffer`).
    pub read_buffer: usize,
}

impl Client {
    /// Connects and waits for the namespace's connect answer; events go to `events`.
    /// Ends (closing a channel given in `events`) when the server closes the connection.
    pub async fn connect(target: Target<'_>, mut events: Events) -> anyhow::Result<Client> {
        let socket = match target.source {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(target.source, 0))?;
        let stream = socket.connect(target.addr).await.context("TCP connect")?;
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", target.addr);
        let request = url.into_client_request()?;
        let config = WebSocketConfig::default().read_buffer_size(target.read_buffer);
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .context("WebSocket handshake")?;
        let (mut sink, mut stream) = ws.split();
        let open = next_text(&mut stream).await?;
        if !open.starts_with('0') {
            bail!("expected the Engine.IO open packet, got {open:.60}");
        }
        let connect = format!(
            "40{},{{\"token\":{}}}",
            target.ns,
            Value::from(target.token)
        );
        sink.send(Message::text(connect)).await?;
        let answer = loop {
            let text = next_text(&mut stream).await?;
            if text == "2" {
                sink.send(Message::text("3")).await?;
                continue;
            }
            break text;
        };
        if answer.starts_with("44") {
            bail!("connect refused: {answer:.120}");
        }
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if sink.send(message).await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        });
        let acks: Acks = Arc::default();
        let reader_out = out.clone();
        let reader_acks = acks.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                route(text.as_str(), &reader_out, &reader_acks, &mut events).await;
            }
        });
        Ok(Client {
            ns: target.ns.to_owned(),
            out,
            acks,
            next_id: AtomicU64::new(1),
        })
    }

    /// Emits and waits (at most `wait`) for the ack's first argument, as JSON text.
    pub async fn emit_ack(&self, event: &str, data: &Value, wait: Duration) -> Option<String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().await.insert(id, tx);
        let packet = format!(
            "42{},{id}{}",
            self.ns,
            Value::from(vec![Value::from(event), data.clone()])
        );
        if self.out.send(Message::text(packet)).is_err() {
            return None;
        }
        let answer = tokio::time::timeout(wait, rx).await.ok()?.ok();
        if answer.is_none() {
            self.acks.lock().await.remove(&id);
        }
        answer
    }

    /// Closes the connection (the server sees a transport close).
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }

    pub fn is_open(&self) -> bool {
        !self.out.is_closed()
    }
}

async fn next_text<S>(stream: &mut S) -> anyhow::Result<String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let wait = Duration::from_secs(20);
    loop {
        let message = tokio::time::timeout(wait, stream.next())
            .await
            .context("no answer from the server")?
            .context("connection closed")??;
        if let Message::Text(text) = message {
            return Ok(text.as_str().to_owned());
        }
    }
}

/// Handles one text frame: pings, acks, events.
async fn route(text: &str, out: &mpsc::UnboundedSender<Message>, acks: &Acks, events: &mut Events) {
    if text == "2" {
        let _ = out.send(Message::text("3"));
        return;
    }
    let Some(rest) = text.strip_prefix('4') else {
        return;
    };
    let (kind, rest) = rest.split_at(rest.len().min(1));
    let body = skip_namespace(rest);
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let (id, payload) = body.split_at(digits);
    match kind {
        "3" => {
            if let Ok(id) = id.parse::<u64>()
                && let Some(tx) = acks.lock().await.remove(&id)
            {
                let first = payload
                    .strip_prefix('[')
                    .and_then(|p| p.strip_suffix(']'))
                    .unwrap_or(payload);
                let _ = tx.send(first.to_owned());
            }
        }
        "2" => match events {
            Events::Ignore => {}
            Events::Channel(events) => {
                let name = event_name(payload).unwrap_or_default();
                let _ = events.send(Event {
                    name,
                    raw: payload.to_owned(),
                });
            }
            Events::Handler(handle) => handle(payload),
        },
        _ => {}
    }
}

/// `"/realtime,rest"` → `"rest"`; the main namespace has no prefix.
fn skip_namespace(rest: &str) -> &str {
    if rest.starts_with('/') {
        rest.split_once(',').map_or("", |(_, body)| body)
    } else {
        rest
    }
}

/// The event name: the first string of the JSON array, read without parsing the rest.
fn event_name(payload: &str) -> Option<String> {
    let start = payload.find('"')? + 1;
    let end = start + payload[start..].find('"')?;
    Some(payload[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_event_names_without_parsing() {
        let raw = r#"["event",{"channel":"public:b","data":{"sent":1700,"seq":42},"offset":7}]"#;
        assert_eq!(event_name(raw).as_deref(), Some("event"));
        assert_eq!(skip_namespace("/realtime,12[1]"), "12[1]");
    }
}
