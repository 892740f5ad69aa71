//! A small Socket.IO v4 client over raw Engine.IO WebSocket frames: enough to drive the
//! real server in tests, and to send it the malformed packets a real client never would.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub data: Value,
    pub ack_id: Option<i64>,
    /// Connection-state recovery's offset: a string after the payload, as socket.io
    /// appends it.
    pub offset: Option<String>,
}

type Acks = Arc<Mutex<HashMap<i64, oneshot::Sender<Value>>>>;

pub struct SioClient {
    ns: String,
    out: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedReceiver<Event>,
    buffered: VecDeque<Event>,
    acks: Acks,
    next_id: AtomicI64,
    auto_ack: Arc<AtomicBool>,
    /// The CONNECT answer's payload: `{sid}`, and `pid` with connection-state recovery.
    pub connected: Value,
    /// The writer and the reader: aborting both cuts the connection (see [`SioClient::cut`]).
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How to connect: the namespace, the handshake `auth`, extra query and headers.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub auth: Option<Value>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// How long to wait for the connect's answer; [`WAIT`] when unset.
    pub wait: Option<Duration>,
    /// Answer no server ack request by itself from the first packet on (see
    /// [`SioClient::manual_acks`], which is too late for what the server sends at connect).
    pub manual_acks: bool,
}

/// A handshake the gateway refused over HTTP names its code in a JSON body
/// (`{"error": {"code"}}`); anything else is given as it is.
fn refusal_code(err: tokio_tungstenite::tungstenite::Error) -> String {
    if let tokio_tungstenite::tungstenite::Error::Http(response) = &err {
        let body: Value = response
            .body()
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        if let Some(code) = body["error"]["code"].as_str() {
            return code.to_owned();
        }
    }
    err.to_string()
}

impl SioClient {
    /// Connects to `ns`; `Err` carries the `connect_error` message, or the code of a
    /// handshake refused over HTTP.
    pub async fn connect(addr: &str, ns: &str, opts: Connect) -> Result<SioClient, String> {
        let mut url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        for (k, v) in &opts.query {
            url.push_str(&format!("&{k}={}", urlencode(v)));
        }
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        for (k, v) in &opts.headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
                http::HeaderValue::from_str(v).map_err(|e| e.to_string())?,
            );
        }
        // The main namespace is implicit in packets: `40{...}`, not `40/,{...}`.
        let ns_prefix = if ns == "/" {
            String::new()
        } else {
            format!("{ns},")
        };
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(refusal_code)?;
        let (mut sink, mut stream) = ws.split();
        let open = next_text(&mut stream).await.ok_or("no open packet")?;
        if !open.starts_with('0') {
            return Err(format!("unexpected first packet {open}"));
        }
        let wait = opts.wait.unwrap_or(WAIT);
        let auth = opts.auth.map(|a| a.to_string()).unwrap_or_default();
        sink.send(Message::text(format!("40{ns_prefix}{auth}")))
            .await
            .map_err(|e| e.to_string())?;
        let reply = loop {
            let text = next_text_within(&mut stream, wait)
                .await
                .ok_or("closed before connect")?;
            if text != "2" {
                break text;
            }
            sink.send(Message::text("3"))
                .await
                .map_err(|e| e.to_string())?;
        };
        let prefix_ok = format!("40{ns_prefix}");
        let prefix_err = format!("44{ns_prefix}");
        if let Some(body) = reply.strip_prefix(&prefix_err) {
            let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            return Err(v["message"].as_str().unwrap_or(body).to_owned());
        }
        if !reply.starts_with(&prefix_ok) {
            return Err(format!("unexpected connect reply {reply}"));
        }
        let connected = serde_json::from_str(&reply[prefix_ok.len()..]).unwrap_or(Value::Null);
        let mut client = Self::start(ns, sink, stream, !opts.manual_acks);
        client.connected = connected;
        Ok(client)
    }

    fn start<S, R>(ns: &str, mut sink: S, mut stream: R, auto_ack: bool) -> SioClient
    where
        S: futures_util::Sink<Message> + Unpin + Send + 'static,
        R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + Unpin
            + Send
            + 'static,
    {
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let acks: Acks = Arc::default();
        let auto_ack = Arc::new(AtomicBool::new(auto_ack));
        let writer = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                if std::env::var_os("SIO_DEBUG").is_some() {
                    eprintln!("sio -> {msg}");
                }
                if sink.send(msg).await.is_err() {
                    eprintln!("sio: send failed");
                    break;
                }
            }
        });
        let reader = Reader {
            ns: ns.to_owned(),
            out: out.clone(),
            events: events_tx,
            acks: acks.clone(),
            auto_ack: auto_ack.clone(),
        };
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                match msg {
                    Message::Text(text) => {
                        if std::env::var_os("SIO_DEBUG").is_some() {
                            eprintln!("sio <- {text}");
                        }
                        reader.handle(text.as_str()).await
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            // The transport is gone: every namespace on it is disconnected.
            reader.closed();
        });
        SioClient {
            ns: ns.to_owned(),
            out,
            events,
            buffered: VecDeque::new(),
            acks,
            next_id: AtomicI64::new(1),
            auto_ack,
            connected: Value::Null,
            tasks: vec![writer, reader],
        }
    }

    /// Drops the connection as a network would: no DISCONNECT packet, no WebSocket close,
    /// the TCP connection closed under it.
    pub fn cut(self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Stop answering server ack requests by itself; answer with [`SioClient::ack`].
    pub fn manual_acks(&self) {
        self.auto_ack.store(false, Ordering::SeqCst);
    }

    /// Emits with an ack request and returns the ack's first argument.
    pub async fn emit_ack(&self, event: &str, data: Value) -> Value {
        self.try_emit_ack(event, data)
            .await
            .unwrap_or_else(|| panic!("no ack for {event}"))
    }

    pub async fn try_emit_ack(&self, event: &str, data: Value) -> Option<Value> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().await.insert(id, tx);
        let packet = json!([event, data]);
        self.send_raw(&format!("42{},{id}{packet}", self.ns));
        tokio::time::timeout(WAIT, rx).await.ok()?.ok()
    }

    /// Emits with no argument at all: `["event"]`.
    pub async fn emit_ack_bare(&self, event: &str) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().await.insert(id, tx);
        self.send_raw(&format!("42{},{id}{}", self.ns, json!([event])));
        tokio::time::timeout(WAIT, rx)
            .await
            .expect("ack in time")
            .expect("ack")
    }

    /// Emits without an ack request.
    pub fn emit(&self, event: &str, data: Value) {
        self.send_raw(&format!("42{},{}", self.ns, json!([event, data])));
    }

    pub fn ack(&self, ack_id: i64, data: Value) {
        self.send_raw(&format!("43{},{ack_id}{}", self.ns, json!([data])));
    }

    /// Sends one Engine.IO text frame as is.
    pub fn send_raw(&self, text: &str) {
        let _ = self.out.send(Message::text(text.to_owned()));
    }

    /// The next `name` event within [`WAIT`], keeping others for later calls.
    pub async fn expect(&mut self, name: &str) -> Event {
        self.within(name, WAIT)
            .await
            .unwrap_or_else(|| panic!("no `{name}` event"))
    }

    /// The next `name` event within `wait`, if any.
    pub async fn within(&mut self, name: &str, wait: Duration) -> Option<Event> {
        if let Some(pos) = self.buffered.iter().position(|e| e.name == name) {
            return self.buffered.remove(pos);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()??;
            if event.name == name {
                return Some(event);
            }
            self.buffered.push_back(event);
        }
    }

    /// Asserts no `name` event arrives within `wait`.
    pub async fn expect_none(&mut self, name: &str, wait: Duration) {
        if let Some(e) = self.within(name, wait).await {
            panic!("unexpected `{name}` event: {}", e.data);
        }
    }

    pub fn disconnect(&self) {
        self.send_raw(&format!("41{},", self.ns));
        let _ = self.out.send(Message::Close(None));
    }
}

struct Reader {
    ns: String,
    out: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedSender<Event>,
    acks: Acks,
    auto_ack: Arc<AtomicBool>,
}

impl Reader {
    fn closed(&self) {
        let _ = self.events.send(Event {
            name: "disconnect".into(),
            data: json!("transport close"),
            ack_id: None,
            offset: None,
        });
    }

    async fn handle(&self, text: &str) {
        if text == "2" {
            let _ = self.out.send(Message::text("3"));
            return;
        }
        let Some(packet) = text.strip_prefix('4') else {
            return;
        };
        let (kind, rest) = packet.split_at(1);
        let rest = rest.strip_prefix(&format!("{},", self.ns)).unwrap_or(rest);
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let id = rest[..digits].parse::<i64>().ok();
        let body: Value = serde_json::from_str(&rest[digits..]).unwrap_or(Value::Null);
        match kind {
            "2" => {
                let name = body[0].as_str().unwrap_or_default().to_owned();
                let data = body.get(1).cloned().unwrap_or(Value::Null);
                let offset = body.get(2).and_then(Value::as_str).map(str::to_owned);
                if let (Some(id), true) = (id, self.auto_ack.load(Ordering::SeqCst)) {
                    let _ = self
                        .out
                        .send(Message::text(format!("43{},{id}[{{}}]", self.ns)));
                }
                let _ = self.events.send(Event {
                    name,
                    data,
                    ack_id: id,
                    offset,
                });
            }
            "3" => {
                let waiting = match id {
                    Some(id) => self.acks.lock().await.remove(&id),
                    None => None,
                };
                if let Some(tx) = waiting {
                    let _ = tx.send(body.get(0).cloned().unwrap_or(Value::Null));
                }
            }
            "1" => {
                let _ = self.events.send(Event {
                    name: "disconnect".into(),
                    data: Value::Null,
                    ack_id: None,
                    offset: None,
                });
            }
            _ => {}
        }
    }
}

async fn next_text<R>(stream: &mut R) -> Option<String>
where
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    next_text_within(stream, WAIT).await
}

async fn next_text_within<R>(stream: &mut R, wait: Duration) -> Option<String>
where
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(wait, stream.next()).await.ok()?? {
            Ok(Message::Text(text)) => return Some(text.as_str().to_owned()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
