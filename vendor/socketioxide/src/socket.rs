//! A [`Socket`] represents a client connected to a namespace.
//! The socket struct itself should not be used directly, but through a [`SocketRef`](crate::extract::SocketRef).
use std::{
    borrow::Cow,
    collections::HashMap,
    fmt::{self, Debug},
    future::Future,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use engineioxide::socket::{DisconnectReason as EIoDisconnectReason, Permit};
use serde::Serialize;
use tokio::sync::{
    Notify,
    mpsc::error::TrySendError,
    oneshot::{self, Receiver},
};

#[cfg(feature = "extensions")]
use crate::extensions::Extensions;

use crate::{
    AckError, SendError, SocketError, SocketIo,
    ack::{AckInnerStream, AckResult, AckStream},
    adapter::{Adapter, LocalAdapter},
    client::SocketData,
    errors::Error,
    handler::{
        BoxedDisconnectHandler, BoxedMessageHandler, DisconnectHandler, MakeErasedHandler,
        MessageHandler,
    },
    ns::Namespace,
    operators::{BroadcastOperators, ConfOperators},
    parser::Parser,
    recovery::{HeldEvent, Hold, Recovery},
};
use socketioxide_core::{
    Str, Value,
    adapter::errors::{AdapterError, BroadcastError},
    adapter::{BroadcastOptions, RemoteSocketData, Room, RoomParam},
    packet::{Packet, PacketData},
    parser::Parse,
};

pub use socketioxide_core::Sid;

/// All the possible reasons for a [`Socket`] to be disconnected from a namespace.
///
/// It can be used as an extractor in the [`on_disconnect`](crate::handler::disconnect) handler.
#[derive(Debug, Copy, Clone, Eq, PartialEq)]
pub enum DisconnectReason {
    /// The client gracefully closed the connection
    TransportClose,

    /// The client sent multiple polling requests at the same time (it is forbidden according to the engine.io protocol)
    MultipleHttpPollingError,

    /// The client sent a bad request / the packet could not be parsed correctly
    PacketParsingError,

    /// The connection was closed (example: the user has lost connection, or the network was changed from WiFi to 4G)
    TransportError,

    /// The client did not send a PONG packet in the `ping timeout` delay
    HeartbeatTimeout,

    /// The client has manually disconnected the socket using [`socket.disconnect()`](https://socket.io/fr/docs/v4/client-api/#socketdisconnect)
    ClientNSDisconnect,

    /// The socket was forcefully disconnected from the namespace with [`Socket::disconnect`] or with [`SocketIo::delete_ns`](crate::io::SocketIo::delete_ns)
    ServerNSDisconnect,

    /// The server is being closed
    ClosingServer,

    /// The client did not read what was sent to it: its outgoing queue stayed full for the
    /// [`slow_consumer_timeout`](crate::SocketIoBuilder::slow_consumer_timeout)
    /// (Switchyard's patch).
    SlowConsumer,
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use DisconnectReason::*;
        let str: &'static str = match self {
            TransportClose => "client gracefully closed the connection",
            MultipleHttpPollingError => "client sent multiple polling requests at the same time",
            PacketParsingError => "client sent a bad request / the packet could not be parsed",
            TransportError => "The connection was abruptly closed",
            HeartbeatTimeout => "client did not send a PONG packet in time",
            ClientNSDisconnect => "client has manually disconnected the socket from the namespace",
            ServerNSDisconnect => "socket was forcefully disconnected from the namespace",
            ClosingServer => "server is being closed",
            SlowConsumer => "client did not read what was sent to it in time",
        };
        f.write_str(str)
    }
}

impl From<EIoDisconnectReason> for DisconnectReason {
    fn from(reason: EIoDisconnectReason) -> Self {
        use DisconnectReason::*;
        match reason {
            EIoDisconnectReason::TransportClose => TransportClose,
            EIoDisconnectReason::TransportError => TransportError,
            EIoDisconnectReason::HeartbeatTimeout => HeartbeatTimeout,
            EIoDisconnectReason::MultipleHttpPollingError => MultipleHttpPollingError,
            EIoDisconnectReason::PacketParsingError => PacketParsingError,
            EIoDisconnectReason::ClosingServer => ClosingServer,
        }
    }
}

pub(crate) trait PermitExt<'a> {
    fn send(self, packet: Packet, parser: Parser);
    fn send_raw(self, value: Value);
}
impl<'a> PermitExt<'a> for Permit<'a> {
    fn send(self, packet: Packet, parser: Parser) {
        match parser.encode(packet) {
            Value::Str(msg, None) => self.emit(msg),
            Value::Str(msg, Some(bin_payloads)) => self.emit_many(msg, bin_payloads),
            Value::Bytes(bin) => self.emit_binary(bin),
        }
    }

    fn send_raw(self, value: Value) {
        match value {
            Value::Str(msg, None) => self.emit(msg),
            Value::Str(msg, Some(bin_payloads)) => self.emit_many(msg, bin_payloads),
            Value::Bytes(bin) => self.emit_binary(bin),
        }
    }
}

/// A RemoteSocket is a [`Socket`] that is remotely connected on another server.
/// It implements a subset of the [`Socket`] API.
pub struct RemoteSocket<A> {
    adapter: Arc<A>,
    parser: Parser,
    data: RemoteSocketData,
}

impl<A> RemoteSocket<A> {
    pub(crate) fn new(data: RemoteSocketData, adapter: &Arc<A>, parser: Parser) -> Self {
        Self {
            data,
            adapter: adapter.clone(),
            parser,
        }
    }
    /// Consume the [`RemoteSocket`] and return its underlying data
    #[inline]
    pub fn into_data(self) -> RemoteSocketData {
        self.data
    }
    /// Get a ref to the underlying data of the socket
    #[inline]
    pub fn data(&self) -> &RemoteSocketData {
        &self.data
    }
}
impl<A: Adapter> RemoteSocket<A> {
    /// # Emit a message to a client that is remotely connected on another server.
    ///
    /// See [`Socket::emit`] for more info.
    pub async fn emit<T: ?Sized + Serialize>(
        &self,
        event: impl AsRef<str>,
        data: &T,
    ) -> Result<(), RemoteActionError> {
        let opts = self.get_opts();
        let data = self.parser.encode_value(data, Some(event.as_ref()))?;
        let packet = Packet::event(self.data.ns.clone(), data);
        self.adapter.broadcast(packet, opts).await?;
        Ok(())
    }

    /// # Emit a message to a client that is remotely connected on another server and wait for an acknowledgement.
    ///
    /// See [`Socket::emit_with_ack`] for more info.
    pub async fn emit_with_ack<T: ?Sized + Serialize, V: serde::de::DeserializeOwned>(
        &self,
        event: impl AsRef<str>,
        data: &T,
    ) -> Result<AckStream<V, A>, RemoteActionError> {
        let opts = self.get_opts();
        let data = self.parser.encode_value(data, Some(event.as_ref()))?;
        let packet = Packet::event(self.data.ns.clone(), data);
        let stream = self
            .adapter
            .broadcast_with_ack(packet, opts, None)
            .await
            .map_err(Into::<AdapterError>::into)?;
        Ok(AckStream::new(stream, self.parser))
    }

    /// # Get all room names this remote socket is connected to.
    ///
    /// See [`Socket::rooms`] for more info.
    #[inline]
    pub async fn rooms(&self) -> Result<Vec<Room>, A::Error> {
        self.adapter.rooms(self.get_opts()).await
    }

    /// # Add the remote socket to the specified room(s).
    ///
    /// See [`Socket::join`] for more info.
    #[inline]
    pub fn join(&self, rooms: impl RoomParam) -> impl Future<Output = Result<(), A::Error>> + '_ {
        self.adapter.add_sockets(self.get_opts(), rooms)
    }

    /// # Remove the remote socket from the specified room(s).
    ///
    /// See [`Socket::leave`] for more info.
    #[inline]
    pub fn leave(
        &self,
        rooms: impl RoomParam,
    ) -> impl Future<Output = Result<(), A::Error>> + Send + '_ {
        self.adapter.del_sockets(self.get_opts(), rooms)
    }

    /// # Disconnect the remote socket from the current namespace,
    ///
    /// See [`Socket::disconnect`] for more info.
    #[inline]
    pub async fn disconnect(self) -> Result<(), RemoteActionError> {
        self.adapter.disconnect_socket(self.get_opts()).await?;
        Ok(())
    }

    #[inline(always)]
    fn get_opts(&self) -> BroadcastOptions {
        BroadcastOptions::new_remote(&self.data)
    }
}
impl<A> fmt::Debug for RemoteSocket<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSocket")
            .field("id", &self.data.id)
            .field("server_id", &self.data.server_id)
            .field("ns", &self.data.ns)
            .finish()
    }
}
impl<A> Clone for RemoteSocket<A> {
    fn clone(&self) -> Self {
        Self {
            adapter: self.adapter.clone(),
            parser: self.parser,
            data: self.data.clone(),
        }
    }
}

/// A error that can occur when emitting a message to a remote socket.
#[derive(Debug, thiserror::Error)]
pub enum RemoteActionError {
    /// The message data could not be encoded.
    #[error("cannot encode data: {0}")]
    Serialize(#[from] crate::parser::ParserError),
    /// The remote socket is, in fact, a local socket and we should not emit to it.
    #[error("cannot send the message to the local socket: {0}")]
    Socket(crate::SocketError),
    /// The message could not be sent to the remote server.
    #[error("cannot propagate the request to the server: {0}")]
    Adapter(#[from] AdapterError),
}
impl From<BroadcastError> for RemoteActionError {
    fn from(value: BroadcastError) -> Self {
        // This conversion assumes that we broadcast to a single (remote or not) socket.
        match value {
            BroadcastError::Socket(s) if !s.is_empty() => RemoteActionError::Socket(s[0].clone()),
            BroadcastError::Socket(_) => {
                panic!("BroadcastError with an empty socket vec is not permitted")
            }
            BroadcastError::Adapter(e) => e.into(),
            BroadcastError::Serialize(e) => e.into(),
        }
    }
}

/// The minimal number of pending acks before looking for the abandoned ones.
const ACK_SWEEP_MIN: usize = 64;

/// The longest URI `http` parses (Switchyard's patch, [`with_connect_query`]).
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

/// The connection's request parts with `query`, the query of a protocol v4 CONNECT packet,
/// merged into the URI as socket.io v2 merges it into `socket.handshake.query`: the
/// request's own parameters first and winning, then each of the CONNECT's parameters whose
/// name (as sent) the request lacks (Switchyard's patch). `None` when there is nothing to
/// add, or when the result is not a valid URI or is longer than `http` parses one (the
/// socket then sees the request as it came).
pub(crate) fn with_connect_query(
    parts: &http::request::Parts,
    query: &str,
) -> Option<Box<http::request::Parts>> {
    let own = parts.uri.query().unwrap_or_default();
    let name = |pair: &str| pair.split('=').next().unwrap_or_default().to_owned();
    let taken: std::collections::HashSet<String> =
        own.split('&').filter(|p| !p.is_empty()).map(name).collect();
    let added: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !taken.contains(&name(p)))
        .collect();
    if added.is_empty() {
        return None;
    }
    let merged = if own.is_empty() {
        added.join("&")
    } else {
        format!("{own}&{}", added.join("&"))
    };
    let mut uri = http::uri::Parts::from(parts.uri.clone());
    let path = uri.path_and_query.as_ref().map_or("/", |pq| pq.path());
    let path_and_query = format!("{path}?{merged}");
    // `http` parses no longer URI (its `MAX_LEN`), but builds one from parts unchecked.
    if path_and_query.len() > MAX_URI_LEN {
        return None;
    }
    uri.path_and_query = Some(path_and_query.parse().ok()?);
    let mut merged_parts = parts.clone();
    merged_parts.uri = http::Uri::from_parts(uri).ok()?;
    Some(Box::new(merged_parts))
}

/// A Socket represents a client connected to a namespace.
/// It is used to send and receive messages from the client, join and leave rooms, etc.
/// The socket struct itself should not be used directly, but through a [`SocketRef`](crate::extract::SocketRef).
pub struct Socket<A: Adapter = LocalAdapter> {
    pub(crate) ns: Arc<Namespace<A>>,
    message_handlers: RwLock<HashMap<Cow<'static, str>, BoxedMessageHandler<A>>>,
    fallback_message_handler: RwLock<Option<BoxedMessageHandler<A>>>,
    disconnect_handler: Mutex<Option<BoxedDisconnectHandler<A>>>,
    ack_message: Mutex<HashMap<i64, oneshot::Sender<AckResult<Value>>>>,
    /// The number of entries in `ack_message` at which its abandoned entries are removed.
    ack_sweep_at: AtomicUsize,
    ack_counter: AtomicI64,
    connected: AtomicBool,
    pub(crate) parser: Parser,
    /// The socket id
    pub id: Sid,

    /// A type map of protocol extensions.
    /// It can be used to share data through the lifetime of the socket.
    ///
    /// **Note**: This is not the same data as the `extensions` field on the [`http::Request::extensions()`](http::Request) struct.
    /// If you want to extract extensions from the http request, you should use the [`HttpExtension`](crate::extract::HttpExtension) extractor.
    #[cfg(feature = "extensions")]
    pub extensions: Extensions,
    pub(crate) esocket: Arc<engineioxide::Socket<SocketData<A>>>,

    /// The private session id, with connection state recovery on (Switchyard's patch).
    pid: Option<Str>,
    /// Restored by connection state recovery (Switchyard's patch).
    recovered: bool,
    /// Whether events to this socket are queued (Switchyard's patch).
    hold: Hold,
    /// Set once the socket has left its namespace (Switchyard's patch), for a restored
    /// socket with the same id, which waits for it.
    left: AtomicBool,
    leaving: AtomicBool,
    left_notify: Notify,
    /// Set by the first [`Socket::close`] (Switchyard's patch): a later one leaves the
    /// namespace to it, whose disconnect handler may still be running.
    closing: AtomicBool,
    /// The request with the query of this socket's own CONNECT merged in, when it had one
    /// (Switchyard's patch: protocol v4 only; see [`Socket::req_parts`]).
    req_parts: Option<Box<http::request::Parts>>,
    /// Whether the connection counts this socket among its namespaces for the connect
    /// timeout (Switchyard's patch; see `SocketIoConfig::v4_root_holds_connection`).
    holds_connection: bool,
}

impl<A: Adapter> Socket<A> {
    pub(crate) fn new(
        sid: Sid,
        ns: Arc<Namespace<A>>,
        esocket: Arc<engineioxide::Socket<SocketData<A>>>,
        parser: Parser,
        recovery: Option<Recovery>,
    ) -> Self {
        let (pid, recovered) = match recovery {
            Some(Recovery { pid, recovered }) => (Some(pid), recovered),
            None => (None, false),
        };
        let hold = Hold::default();
        if recovered {
            hold.hold();
        }
        Self {
            ns,
            message_handlers: RwLock::new(HashMap::new()),
            fallback_message_handler: RwLock::new(None),
            disconnect_handler: Mutex::new(None),
            ack_message: Mutex::new(HashMap::new()),
            ack_sweep_at: AtomicUsize::new(ACK_SWEEP_MIN),
            ack_counter: AtomicI64::new(0),
            connected: AtomicBool::new(false),
            parser,
            id: sid,
            #[cfg(feature = "extensions")]
            extensions: Extensions::new(),
            esocket,
            pid,
            recovered,
            hold,
            left: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
            left_notify: Notify::new(),
            closing: AtomicBool::new(false),
            req_parts: None,
            holds_connection: true,
        }
    }

    /// Gives the socket the request parts of its own CONNECT and says whether it holds the
    /// connection open (Switchyard's patch).
    pub(crate) fn with_connect(
        mut self,
        req_parts: Option<Box<http::request::Parts>>,
        holds_connection: bool,
    ) -> Self {
        self.req_parts = req_parts;
        self.holds_connection = holds_connection;
        self
    }

    /// Whether the connection counts this socket among its namespaces (Switchyard's patch).
    pub(crate) fn holds_connection(&self) -> bool {
        self.holds_connection
    }

    /// # Registers a [`MessageHandler`] for the given event.
    ///
    /// * See the [`message`](crate::handler::message) module doc for more details on message handler.
    /// * See the [`extract`](crate::extract) module doc for more details on available extractors.
    ///
    /// _It is recommended for code clarity to define your handler as top level function rather than closures._
    ///
    /// # Simple example with an async closure and an async fn:
    /// ```
    /// # use socketioxide::{SocketIo, extract::*};
    /// # use serde::{Serialize, Deserialize};
    /// #[derive(Debug, Serialize, Deserialize)]
    /// struct MyData {
    ///     name: String,
    ///     age: u8,
    /// }
    /// async fn handler(socket: SocketRef, Data(data): Data::<MyData>) {
    ///     println!("Received a test message {:?}", data);
    ///     socket.emit("test-test", &MyData { name: "Test".to_string(), age: 8 }).ok(); // Emit a message to the client
    /// }
    ///
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", async |socket: SocketRef| {
    ///     // Register a handler for the "test" event and extract the data as a `MyData` struct
    ///     // With the Data extractor, the handler is called only if the data can be deserialized as a `MyData` struct
    ///     // If you want to manage errors yourself you can use the TryData extractor
    ///     socket.on("test", async |socket: SocketRef, Data::<MyData>(data)| {
    ///         println!("Received a test message {:?}", data);
    ///         socket.emit("test-test", &MyData { name: "Test".to_string(), age: 8 }).ok(); // Emit a message to the client
    ///     });
    ///     // Do the same thing but with an async function
    ///     socket.on("test_2", handler);
    /// });
    ///
    /// ```
    ///
    /// # Example with a closure and an fn with an acknowledgement + binary data:
    /// ```
    /// # use socketioxide::{SocketIo, extract::*};
    /// # use serde_json::Value;
    /// # use serde::{Serialize, Deserialize};
    /// #[derive(Debug, Serialize, Deserialize)]
    /// struct MyData {
    ///     name: String,
    ///     age: u8,
    /// }
    /// async fn handler(socket: SocketRef, Data(data): Data::<MyData>, ack: AckSender) {
    ///     println!("Received a test message {:?}", data);
    ///     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ///     ack.send(&data).ok(); // The data received is sent back to the client through the ack
    ///     socket.emit("test-test", &MyData { name: "Test".to_string(), age: 8 }).ok(); // Emit a message to the client
    /// }
    ///
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", async |socket: SocketRef| {
    ///     // Register an async handler for the "test" event and extract the data as a `MyData` struct
    ///     // Extract the binary payload as a `Vec<Bytes>` with the Bin extractor.
    ///     // It should be the last extractor because it consumes the request
    ///     socket.on("test", async |socket: SocketRef, Data::<MyData>(data), ack: AckSender| {
    ///         println!("Received a test message {:?}", data);
    ///         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ///         ack.send(&data).ok(); // The data received is sent back to the client through the ack
    ///         socket.emit("test-test", &MyData { name: "Test".to_string(), age: 8 }).ok(); // Emit a message to the client
    ///     });
    ///     // Do the same thing but with an async function
    ///     socket.on("test_2", handler);
    /// });
    /// ```
    pub fn on<H, T>(&self, event: impl Into<Cow<'static, str>>, handler: H)
    where
        H: MessageHandler<A, T>,
        T: Send + Sync + 'static,
    {
        self.message_handlers
            .write()
            .unwrap()
            .insert(event.into(), MakeErasedHandler::new_message_boxed(handler));
    }

    /// # Registers a fallback [`MessageHandler`] when no other handler is found. You can see this as a 404 handler.
    /// You can register only one fallback handler per socket. If you register multiple handlers, only the last one will be used.
    ///
    /// * See the [`message`](crate::handler::message) module doc for more details on message handler.
    /// * See the [`extract`](crate::extract) module doc for more details on available extractors.
    ///
    /// _It is recommended for code clarity to define your handler as top level function rather than closures._
    ///
    /// # Example:
    /// ```
    /// # use socketioxide::{SocketIo, extract::*};
    /// # use serde::{Serialize, Deserialize};
    /// # use serde_json::Value;
    /// async fn fallback_handler(socket: SocketRef, Event(event): Event, Data(data): Data::<Value>) {
    ///     println!("Received an {event} event with message {:?}", data);
    /// }
    ///
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", async |socket: SocketRef| {
    ///     // Register a fallback handler.
    ///     // In our example it will be always called as there is no other handler.
    ///     socket.on_fallback(fallback_handler);
    /// });
    ///
    /// ```
    pub fn on_fallback<H, T>(&self, handler: H)
    where
        H: MessageHandler<A, T>,
        T: Send + Sync + 'static,
    {
        self.fallback_message_handler
            .write()
            .unwrap()
            .replace(MakeErasedHandler::new_message_boxed(handler));
    }

    /// # Register a disconnect handler.
    /// You can register only one disconnect handler per socket. If you register multiple handlers, only the last one will be used.
    ///
    /// This implementation is slightly different to the socket.io spec.
    /// The difference being that [`rooms`](Self::rooms) are still available in this handler
    /// and only cleaned up AFTER the execution of this handler.
    /// Therefore you must not indefinitely stall/hang this handler, for example by entering an endless loop.
    ///
    /// _It is recommended for code clarity to define your handler as top level function rather than closures._
    ///
    /// * See the [`disconnect`](crate::handler::disconnect) module doc for more details on disconnect handler.
    /// * See the [`extract`](crate::extract) module doc for more details on available extractors.
    ///
    /// The callback will be called when the socket is disconnected from the server or the client or when the underlying connection crashes.
    /// A [`DisconnectReason`] is passed to the callback to indicate the reason for the disconnection.
    ///
    /// # Example
    /// ```
    /// # use socketioxide::{SocketIo, socket::DisconnectReason, extract::*};
    /// # use serde_json::Value;
    /// # use std::sync::Arc;
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", async |socket: SocketRef| {
    ///     socket.on("test", async |socket: SocketRef| {
    ///         // Close the current socket
    ///         socket.disconnect().ok();
    ///     });
    ///     socket.on_disconnect(async |socket: SocketRef, reason: DisconnectReason| {
    ///         println!("Socket {} on ns {} disconnected, reason: {:?}", socket.id, socket.ns(), reason);
    ///     });
    /// });
    pub fn on_disconnect<C, T>(&self, callback: C)
    where
        C: DisconnectHandler<A, T> + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let handler = MakeErasedHandler::new_disconnect_boxed(callback);
        self.disconnect_handler.lock().unwrap().replace(handler);
    }

    #[doc = include_str!("../docs/operators/emit.md")]
    pub fn emit<T: ?Sized + Serialize>(
        &self,
        event: impl AsRef<str>,
        data: &T,
    ) -> Result<(), SendError> {
        if !self.connected() {
            return Err(SendError::Socket(SocketError::Closed));
        }

        // Switchyard's patch: a held socket queues its events.
        if self.is_held() {
            let data = self.parser.encode_value(data, Some(event.as_ref()))?;
            let packet = Packet::event(self.ns.path.clone(), data);
            return Ok(self.queue_or_send(self.parser.encode(packet), false)?);
        }

        let permit = match self.reserve() {
            Ok(permit) => permit,
            Err(e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("sending error during emit message: {e:?}");
                return Err(SendError::Socket(e));
            }
        };

        let ns = self.ns.path.clone();
        let data = self.parser.encode_value(data, Some(event.as_ref()))?;

        permit.send(Packet::event(ns, data), self.parser);
        Ok(())
    }

    #[doc = include_str!("../docs/operators/emit_with_ack.md")]
    pub fn emit_with_ack<T: ?Sized + Serialize, V>(
        &self,
        event: impl AsRef<str>,
        data: &T,
    ) -> Result<AckStream<V>, SendError> {
        if !self.connected() {
            return Err(SendError::Socket(SocketError::Closed));
        }
        // Switchyard's patch: a held socket queues its events (the ack timeout runs from now).
        if self.is_held() {
            let data = self.parser.encode_value(data, Some(event.as_ref()))?;
            let packet = Packet::event(self.ns.path.clone(), data);
            let rx = self.send_with_ack_held(packet)?;
            let stream = AckInnerStream::send(rx, self.get_io().config().ack_timeout, self.id);
            return Ok(AckStream::<V>::new(stream, self.parser));
        }
        let permit = match self.reserve() {
            Ok(permit) => permit,
            Err(e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("sending error during emit message: {e:?}");
                return Err(SendError::Socket(e));
            }
        };
        let ns = self.ns.path.clone();
        let data = self.parser.encode_value(data, Some(event.as_ref()))?;
        let packet = Packet::event(ns, data);
        let rx = self.send_with_ack_permit(packet, permit);
        let stream = AckInnerStream::send(rx, self.get_io().config().ack_timeout, self.id);
        Ok(AckStream::<V>::new(stream, self.parser))
    }

    // Room actions

    /// # Add the current socket to the specified room(s).
    ///
    /// # Example
    /// ```rust
    /// # use socketioxide::{SocketIo, extract::*};
    /// async fn handler(socket: SocketRef) {
    ///     // Add all sockets that are in room1 and room3 to room4 and room5
    ///     socket.join(["room4", "room5"]);
    ///     // We should retrieve all the local sockets that are in room3 and room5
    ///     let sockets = socket.within("room4").within("room5").sockets();
    /// }
    ///
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", async |s: SocketRef| s.on("test", handler));
    /// ```
    pub fn join(&self, rooms: impl RoomParam) {
        self.ns.adapter.get_local().add_all(self.id, rooms)
    }

    /// # Remove the current socket from the specified room(s).
    ///
    /// # Example
    /// ```rust
    /// # use socketioxide::{SocketIo, extract::*};
    /// async fn handler(socket: SocketRef) {
    ///     // Remove all sockets that are in room1 and room3 from room4 and room5
    ///     socket.within("room1").within("room3").leave(["room4", "room5"]);
    /// }
    ///
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", async |s: SocketRef| s.on("test", handler));
    /// ```
    pub fn leave(&self, rooms: impl RoomParam) {
        self.ns.adapter.get_local().del(self.id, rooms)
    }

    /// # Remove the current socket from all its rooms.
    pub fn leave_all(&self) {
        self.ns.adapter.get_local().del_all(self.id);
    }

    /// # Get all room names this socket is connected to.
    ///
    /// # Example
    /// ```rust
    /// # use socketioxide::{SocketIo, extract::SocketRef};
    /// async fn handler(socket: SocketRef) {
    ///     println!("Socket connected to the / namespace with id: {}", socket.id);
    ///     socket.join(["room1", "room2"]);
    ///     let rooms = socket.rooms();
    ///     println!("All rooms in the / namespace: {:?}", rooms);
    /// }
    ///
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", handler);
    /// ```
    pub fn rooms(&self) -> Vec<Room> {
        self.ns
            .adapter
            .get_local()
            .socket_rooms(self.id)
            .into_iter()
            .collect()
    }

    /// # Return true if the socket is connected to the namespace.
    ///
    /// A socket is considered connected when it has been successfully handshaked with the server
    /// and that all [connect middlewares](crate::handler::connect#middlewares) have been executed.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Switchyard's patch: whether the socket is being closed or is closed. Unlike
    /// [`Socket::connected`], false for a socket its connect middlewares are still setting
    /// up; once true, the socket is leaving its namespace and will leave its rooms.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    // Connection state recovery (Switchyard's patch), see the [`recovery`](crate::recovery) module.

    /// # The private session id of this socket.
    ///
    /// Set for protocol 5 sockets when connection state recovery is on
    /// ([`SocketIoBuilder::with_connection_state_recovery`](crate::SocketIoBuilder::with_connection_state_recovery)):
    /// a new random one, or the restored one. It is sent in the CONNECT answer and must be
    /// kept secret: whoever knows it (and passes the application's hook) takes the session.
    pub fn pid(&self) -> Option<&str> {
        self.pid.as_deref()
    }

    /// # Whether this socket restored a session.
    ///
    /// `true` when the recovery hook returned a [`Restore`](crate::recovery::Restore) for it:
    /// it has the id and private session id of the socket it continues, and the client sees
    /// `socket.recovered === true`. Such a socket starts held: see [`Socket::release`].
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// # Queue the events sent to this socket until [`Socket::release`].
    ///
    /// From now on, events (emits, with or without ack, volatile or not, and broadcasts from
    /// this server or another one through the adapter) are queued in order instead of sent.
    /// CONNECT, CONNECT_ERROR, DISCONNECT packets and acks to the client's events are sent
    /// as usual. A restored socket is held from its creation.
    ///
    /// Nothing bounds the queue: a held socket that is never released queues until it is
    /// disconnected, when the queue is dropped. Release it (or disconnect it) in any case.
    pub fn hold(&self) {
        self.hold.hold();
    }

    /// # Whether the events sent to this socket are queued (see [`Socket::hold`]).
    pub fn is_held(&self) -> bool {
        self.hold.is_held()
    }

    /// # Send the missed events, then what was queued, then stop holding.
    ///
    /// The events of `replay` (an event name and its data, sent as `emit(event, data)` would:
    /// a tuple or [`EventArgs`](crate::recovery::EventArgs) for several arguments) are sent
    /// first, in order; then each queued event for which `keep` returns `true`, in order;
    /// then the socket is no longer held. `keep` is asked for every event queued until the
    /// end of the release (events sent during the release are queued behind, neither lost
    /// nor sent ahead), and can read them with [`HeldEvent`]. An event dropped by `keep`
    /// that asked for an ack is never acknowledged: its ack stream times out.
    ///
    /// It waits for room in the connection's queue (so a long replay is not refused by
    /// [`max_buffer_size`](crate::SocketIoBuilder::max_buffer_size)), and gives up if the
    /// socket is disconnected meanwhile. Volatile events that find the queue full are
    /// dropped, as when sent.
    ///
    /// Returns `Ok(false)` and sends nothing if the socket is not held or another release
    /// is running: a second call does nothing. Returns an error without sending anything
    /// if an event of `replay` cannot be encoded (the socket stays held), and
    /// [`SocketError::Closed`] if the socket was disconnected before the end.
    pub async fn release<E, T>(
        &self,
        replay: impl IntoIterator<Item = (E, T)>,
        mut keep: impl FnMut(&HeldEvent<'_>) -> bool,
    ) -> Result<bool, SendError>
    where
        E: AsRef<str>,
        T: Serialize,
    {
        let replay = replay
            .into_iter()
            .map(|(event, data)| {
                let data = self.parser.encode_value(&data, Some(event.as_ref()))?;
                let packet = Packet::event(self.ns.path.clone(), data);
                Ok(self.parser.encode(packet))
            })
            .collect::<Result<Vec<_>, crate::ParserError>>()?;
        if !self.hold.start_release(replay) {
            return Ok(false);
        }
        // A release dropped before its end lets another one go on with what is left.
        let _running = crate::recovery::ReleaseGuard(&self.hold);
        while let Some(held) = self.hold.next() {
            if !held.replay && !keep(&crate::recovery::held_event(&held.value, self.parser)) {
                continue;
            }
            if held.volatile {
                self.send_raw_volatile_now(held.value);
            } else if let Err(err) = self.send_waiting(held.value).await {
                self.hold.discard();
                return Err(err.into());
            }
        }
        Ok(true)
    }

    // Socket operators

    #[doc = include_str!("../docs/operators/to.md")]
    pub fn to(&self, rooms: impl RoomParam) -> BroadcastOperators<A> {
        BroadcastOperators::from_sock(self.ns.clone(), self.id, self.parser).to(rooms)
    }

    #[doc = include_str!("../docs/operators/within.md")]
    pub fn within(&self, rooms: impl RoomParam) -> BroadcastOperators<A> {
        BroadcastOperators::from_sock(self.ns.clone(), self.id, self.parser).within(rooms)
    }

    #[doc = include_str!("../docs/operators/except.md")]
    pub fn except(&self, rooms: impl RoomParam) -> BroadcastOperators<A> {
        BroadcastOperators::from_sock(self.ns.clone(), self.id, self.parser).except(rooms)
    }

    #[doc = include_str!("../docs/operators/local.md")]
    pub fn local(&self) -> BroadcastOperators<A> {
        BroadcastOperators::from_sock(self.ns.clone(), self.id, self.parser).local()
    }

    #[doc = include_str!("../docs/operators/timeout.md")]
    pub fn timeout(&self, timeout: Duration) -> ConfOperators<'_, A> {
        ConfOperators::new(self).timeout(timeout)
    }

    #[doc = include_str!("../docs/operators/broadcast.md")]
    pub fn broadcast(&self) -> BroadcastOperators<A> {
        BroadcastOperators::from_sock(self.ns.clone(), self.id, self.parser).broadcast()
    }

    #[doc = include_str!("../docs/operators/volatile.md")]
    pub fn volatile(&self) -> ConfOperators<'_, A> {
        ConfOperators::new(self).volatile()
    }

    /// # Get the [`SocketIo`] context related to this socket
    ///
    /// # Panics
    /// Because [`SocketData::io`] should be immediately set at the creation of the socket.
    /// this should never panic.
    pub(crate) fn get_io(&self) -> &SocketIo<A> {
        self.esocket.data.io.get().unwrap()
    }

    /// # Disconnect the socket from the current namespace,
    ///
    /// It will also call the disconnect handler if it is set with a [`DisconnectReason::ServerNSDisconnect`].
    pub fn disconnect(self: Arc<Self>) -> Result<(), SocketError> {
        let res = self.send(Packet::disconnect(self.ns.path.clone()));
        if let Err(SocketError::InternalChannelFull) = res {
            return Err(SocketError::InternalChannelFull);
        }
        self.close(DisconnectReason::ServerNSDisconnect);
        Ok(())
    }

    /// # Get the request info made by the client to connect.
    ///
    /// It might be used to retrieve the [`http::Extensions`]
    ///
    /// With protocol v4 (socket.io-client 2.x), a socket whose CONNECT packet carried a
    /// query (`/admin?token=abc`) sees it in this request's URI, after the request's own
    /// parameters; a parameter the request already has keeps the request's value, as in
    /// socket.io v2's `socket.handshake.query` (Switchyard's patch).
    pub fn req_parts(&self) -> &http::request::Parts {
        self.req_parts.as_deref().unwrap_or(&self.esocket.req_parts)
    }

    /// # Get the [`TransportType`](crate::TransportType) used by the client to connect with this [`Socket`].
    ///
    /// It can also be accessed as an extractor
    /// # Example
    /// ```
    /// # use socketioxide::{SocketIo, TransportType, extract::*};
    ///
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", async |socket: SocketRef, transport: TransportType| {
    ///     assert_eq!(socket.transport_type(), transport);
    /// });
    pub fn transport_type(&self) -> crate::TransportType {
        self.esocket.transport_type()
    }

    /// Get the socket.io [`ProtocolVersion`](crate::ProtocolVersion) used by the client to connect with this [`Socket`].
    ///
    /// It can also be accessed as an extractor:
    /// # Example
    /// ```
    /// # use socketioxide::{SocketIo, ProtocolVersion, extract::*};
    ///
    /// let (_, io) = SocketIo::new_svc();
    /// io.ns("/", async |socket: SocketRef, v: ProtocolVersion| {
    ///     assert_eq!(socket.protocol(), v);
    /// });
    pub fn protocol(&self) -> crate::ProtocolVersion {
        self.esocket.protocol.into()
    }

    /// # Get the socket namespace path.
    #[inline]
    pub fn ns(&self) -> &str {
        &self.ns.path
    }

    /// # Close the engine.io connection if it is not already closed.
    ///
    /// Return a future that resolves when the underlying transport is closed.
    pub(crate) async fn close_underlying_transport(&self) {
        if !self.esocket.is_closed() {
            #[cfg(feature = "tracing")]
            tracing::debug!("closing underlying transport for socket: {}", self.id);
            self.esocket.close(EIoDisconnectReason::ClosingServer);
        }
        self.esocket.closed().await;
    }

    /// Switchyard's patch: closes the connection this socket is on at the engine (every
    /// namespace on it), as the server closes a slow consumer's. Its client sees its
    /// transport close and reconnects by itself, where after a namespace DISCONNECT
    /// ([`Socket::disconnect`]) a socket.io client stays away until the app reconnects it.
    /// The connection's sockets leave with [`DisconnectReason::ClosingServer`].
    pub fn close_connection(&self) {
        self.esocket.close(EIoDisconnectReason::ClosingServer);
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::SeqCst);
    }

    pub(crate) fn reserve(&self) -> Result<Permit<'_>, SocketError> {
        match self.esocket.reserve() {
            Ok(permit) => {
                self.esocket.data.queue.sent();
                Ok(permit)
            }
            Err(TrySendError::Full(_)) => {
                self.queue_full();
                Err(SocketError::InternalChannelFull)
            }
            Err(TrySendError::Closed(_)) => Err(SocketError::Closed),
        }
    }

    /// Switchyard's patch: a send found the queue full. Once every send has for the
    /// slow-consumer timeout, the connection is closed at the engine, since a full queue
    /// cannot carry a DISCONNECT packet; its sockets are closed with
    /// [`DisconnectReason::SlowConsumer`].
    ///
    /// With connection state recovery (item 7) and `close_resumable_on_full_queue`, a
    /// socket that has a `pid` is closed the same way at the first send that finds the
    /// queue full: the event it could not take would otherwise be missing for good, the
    /// client's offset moving past it with the next one; closed, the client resumes from
    /// its last offset and gets it replayed.
    fn queue_full(&self) {
        let config = self.get_io().config();
        if self.pid.is_some() && config.close_resumable_on_full_queue {
            if self.esocket.data.queue.close_once() {
                #[cfg(feature = "tracing")]
                tracing::debug!(?self.id, "outgoing queue full, closing a resumable connection");
                self.esocket.close(EIoDisconnectReason::ClosingServer);
            }
            return;
        }
        let Some(timeout) = config.slow_consumer_timeout else {
            return;
        };
        if self.esocket.data.queue.full(timeout) {
            #[cfg(feature = "tracing")]
            tracing::debug!(?self.id, "outgoing queue stayed full, closing the connection");
            self.esocket.close(EIoDisconnectReason::ClosingServer);
        }
    }

    pub(crate) fn send(&self, packet: Packet) -> Result<(), SocketError> {
        let permit = self.reserve()?;
        permit.send(packet, self.parser);
        Ok(())
    }
    /// Sends an encoded event (a broadcast); queued while the socket is held (Switchyard's patch).
    pub(crate) fn send_raw(&self, value: Value) -> Result<(), SocketError> {
        let Some(value) = self.hold.push(value, false) else {
            return Ok(());
        };
        let permit = self.reserve()?;
        permit.send_raw(value);
        Ok(())
    }

    /// Sends an encoded event unless the connection's queue is full; queued while the
    /// socket is held (Switchyard's patch).
    pub(crate) fn send_raw_volatile(&self, value: Value) {
        if let Some(value) = self.hold.push(value, true) {
            self.send_raw_volatile_now(value);
        }
    }

    fn send_raw_volatile_now(&self, value: Value) {
        match value {
            Value::Str(msg, None) => {
                self.esocket.emit_volatile(msg);
            }
            Value::Str(msg, Some(bin_payloads)) => {
                self.esocket.emit_many_volatile(msg, bin_payloads);
            }
            Value::Bytes(bin) => {
                self.esocket.emit_binary_volatile(bin);
            }
        }
    }

    pub(crate) fn send_with_ack_permit(
        &self,
        mut packet: Packet,
        permit: Permit<'_>,
    ) -> Receiver<AckResult<Value>> {
        let rx = self.register_ack(&mut packet);
        permit.send(packet, self.parser);
        rx
    }

    /// Gives `packet` an ack id and registers the channel its ack will be sent to.
    fn register_ack(&self, packet: &mut Packet) -> Receiver<AckResult<Value>> {
        let (tx, rx) = oneshot::channel();

        let ack = self.ack_counter.fetch_add(1, Ordering::SeqCst) + 1;
        packet.inner.set_ack_id(ack);
        // insert ack channel before to avoid race condition
        let mut ack_message = self.ack_message.lock().unwrap();
        // retain acks receiver that are now closed if the ack receiver map is above `ack_sweep_at`
        if ack_message.len() >= self.ack_sweep_at.load(Ordering::Relaxed) {
            ack_message.retain(|_, tx| !tx.is_closed());
            let threshold = (ack_message.len() * 2).max(ACK_SWEEP_MIN);
            self.ack_sweep_at.store(threshold, Ordering::Relaxed);
        }
        ack_message.insert(ack, tx);
        rx
    }

    /// Switchyard's patch: sends an event with an ack request to a held socket, which
    /// queues it (or sends it, if the socket was released meanwhile).
    pub(crate) fn send_with_ack_held(
        &self,
        mut packet: Packet,
    ) -> Result<Receiver<AckResult<Value>>, SocketError> {
        let rx = self.register_ack(&mut packet);
        self.queue_or_send(self.parser.encode(packet), false)?;
        Ok(rx)
    }

    pub(crate) fn send_with_ack(&self, packet: Packet) -> Receiver<AckResult<Value>> {
        // Switchyard's patch: a held socket queues its events.
        if self.is_held() {
            return match self.send_with_ack_held(packet) {
                Ok(rx) => rx,
                Err(err) => {
                    let (tx, rx) = oneshot::channel();
                    tx.send(Err(AckError::Socket(err))).ok();
                    rx
                }
            };
        }
        match self.reserve() {
            Ok(permit) => self.send_with_ack_permit(packet, permit),
            Err(err) => {
                let (tx, rx) = oneshot::channel();
                tx.send(Err(AckError::Socket(err))).ok();
                rx
            }
        }
    }

    /// Called when the socket is gracefully disconnected from the server or the client
    ///
    /// It maybe also close when the underlying transport is closed or failed.
    pub(crate) fn close(self: Arc<Self>, reason: DisconnectReason) {
        // Switchyard's patch: the connection counts its connected namespaces (once each,
        // however often a socket is closed) to close itself when none is left.
        if self.connected.swap(false, Ordering::SeqCst) && self.holds_connection {
            crate::client::namespace_left(&self.esocket);
            // Connection state recovery: the connection's id for the namespace goes too.
            self.esocket.data.forget_sid(&self.ns.path, self.id);
        }
        // Switchyard's patch: what a held socket queued will never be sent.
        self.hold.discard();

        // Switchyard's patch: only the first close leaves the namespace, once its
        // disconnect handler is done. Another one (a restored socket replacing this one,
        // see `close_for_recovery`) used to remove it at once, while the handler still ran
        // on its rooms and the state its id keys: the restored socket, with the same id,
        // then had them undone.
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        let disconnect_handler = { self.disconnect_handler.lock().unwrap().take() };

        if let Some(handler) = disconnect_handler {
            #[cfg(feature = "tracing")]
            tracing::trace!(?reason, ?self.id, "spawning disconnect handler");

            handler.call_with_defer(self.clone(), reason, |s| s.leave_ns());
        } else {
            self.leave_ns();
        }
    }

    /// Removes the socket from its namespace and its rooms, once (Switchyard's patch: a
    /// restored socket with the same id may have taken its place, see
    /// [`Namespace::remove_socket`]; it waits for this, see [`Self::left`]).
    pub(crate) fn leave_ns(&self) {
        if self.leaving.swap(true, Ordering::SeqCst) {
            return;
        }
        self.ns.remove_socket(self);
        self.left.store(true, Ordering::SeqCst);
        self.left_notify.notify_waiters();
    }

    /// Resolves once the socket has left its namespace (Switchyard's patch).
    pub(crate) async fn left(&self) {
        let notified = self.left_notify.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if self.left.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }

    /// Switchyard's patch: disconnects this socket because a socket of another connection
    /// restores its id in the namespace, and waits until it has left the namespace (its
    /// disconnect handler has run), for at most `timeout`; it is then removed anyway.
    ///
    /// The reason is [`DisconnectReason::ServerNSDisconnect`], as for [`Socket::disconnect`]:
    /// the server ends this socket; a client still behind it receives a DISCONNECT packet
    /// and does not reconnect on its own, since its session now lives on the new connection.
    pub(crate) async fn close_for_recovery(self: Arc<Self>, timeout: Duration) {
        // A full queue cannot carry the DISCONNECT packet: the socket is closed anyway.
        self.send(Packet::disconnect(self.ns.path.clone())).ok();
        self.clone().close(DisconnectReason::ServerNSDisconnect);
        if tokio::time::timeout(timeout, self.left()).await.is_err() {
            #[cfg(feature = "tracing")]
            tracing::debug!(?self.id, "disconnect handler still running, removing the socket");
            self.leave_ns();
        }
    }

    /// Sends an encoded event, or queues it if the socket is held (Switchyard's patch).
    pub(crate) fn queue_or_send(&self, value: Value, volatile: bool) -> Result<(), SocketError> {
        match self.hold.push(value, volatile) {
            None => Ok(()),
            Some(value) if volatile => {
                self.send_raw_volatile_now(value);
                Ok(())
            }
            Some(value) => {
                let permit = self.reserve()?;
                permit.send_raw(value);
                Ok(())
            }
        }
    }

    /// Sends an encoded event for [`Socket::release`], waiting for room in the connection's
    /// queue (Switchyard's patch).
    async fn send_waiting(&self, value: Value) -> Result<(), SocketError> {
        let mut wait = Duration::from_millis(1);
        loop {
            if !self.connected() {
                return Err(SocketError::Closed);
            }
            match self.reserve() {
                Ok(permit) => {
                    permit.send_raw(value);
                    return Ok(());
                }
                Err(SocketError::InternalChannelFull) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(50));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Receive data from client
    pub(crate) fn recv(self: Arc<Self>, packet: PacketData) -> Result<(), Error> {
        match packet {
            PacketData::Event(d, ack) | PacketData::BinaryEvent(d, ack) => self.recv_event(d, ack),
            PacketData::EventAck(d, ack) | PacketData::BinaryAck(d, ack) => self.recv_ack(d, ack),
            PacketData::Disconnect => {
                self.close(DisconnectReason::ClientNSDisconnect);
                Ok(())
            }
            _ => unreachable!(),
        }
    }

    fn recv_event(self: Arc<Self>, data: Value, ack: Option<i64>) -> Result<(), Error> {
        let event = self.parser.read_event(&data).map_err(|_e| {
            #[cfg(feature = "tracing")]
            tracing::debug!(?_e, "failed to read event");
            Error::InvalidEventName
        })?;
        #[cfg(feature = "tracing")]
        tracing::debug!(?event, "reading");
        if let Some(handler) = self.message_handlers.read().unwrap().get(event) {
            handler.call(self.clone(), data, ack);
        } else if let Some(fallback) = self.fallback_message_handler.read().unwrap().as_ref() {
            fallback.call(self.clone(), data, ack);
        }
        Ok(())
    }

    fn recv_ack(self: Arc<Self>, data: Value, ack: i64) -> Result<(), Error> {
        if let Some(tx) = self.ack_message.lock().unwrap().remove(&ack) {
            tx.send(Ok(data)).ok();
        } else {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = ?self.id, "ack not found: {ack}");
        }
        Ok(())
    }
}

impl<A: Adapter> Debug for Socket<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("ns", &self.ns())
            .field("ack_message", &self.ack_message)
            .field("ack_counter", &self.ack_counter)
            .field("sid", &self.id)
            .finish()
    }
}
impl<A: Adapter> PartialEq for Socket<A> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

#[doc(hidden)]
#[cfg(feature = "__test_harness")]
impl Socket<LocalAdapter> {
    /// Creates a dummy socket for testing purposes
    pub fn new_dummy(sid: Sid, ns: Arc<Namespace<LocalAdapter>>) -> Socket<LocalAdapter> {
        use crate::client::Client;
        use crate::io::SocketIoConfig;

        let close_fn = Box::new(move |_, _| ());
        let config = SocketIoConfig::default();
        let io = SocketIo::from(Arc::new(Client::new(
            config,
            (),
            #[cfg(feature = "state")]
            std::default::Default::default(),
        )));
        let s = Socket::new(
            sid,
            ns,
            engineioxide::Socket::new_dummy(sid, close_fn),
            Parser::default(),
            None,
        );
        s.esocket.data.io.set(io).unwrap();
        s.set_connected(true);
        s
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[tokio::test]
    async fn send_with_ack_error() {
        let sid = Sid::new();
        let ns = Namespace::<LocalAdapter>::new_dummy([sid]);
        let socket: Arc<Socket> = Socket::new_dummy(sid, ns).into();
        let parser = Parser::default();
        // Saturate the channel
        for _ in 0..1024 {
            socket
                .send(Packet::event(
                    "test",
                    parser.encode_value(&(), Some("test")).unwrap(),
                ))
                .unwrap();
        }

        let ack = socket.emit_with_ack::<_, ()>("test", &());
        assert!(matches!(
            ack,
            Err(SendError::Socket(SocketError::InternalChannelFull))
        ));
    }

    fn ack_socket() -> Arc<Socket> {
        let sid = Sid::new();
        let ns = Namespace::<LocalAdapter>::new_dummy([sid]);
        Socket::new_dummy(sid, ns).into()
    }

    fn ack_packet() -> Packet {
        let value = Parser::default().encode_value(&(), Some("test")).unwrap();
        Packet::event("test", value)
    }

    /// Send a packet expecting an ack, and let the task of the dummy socket read it.
    async fn send_with_ack(socket: &Socket) -> Receiver<AckResult<Value>> {
        let rx = socket.send_with_ack(ack_packet());
        tokio::task::yield_now().await;
        rx
    }

    /// An ack stream dropped before the answer of the client has nothing to notify anymore.
    #[tokio::test]
    async fn abandoned_acks_do_not_accumulate() {
        let socket = ack_socket();
        for _ in 0..2000 {
            drop(send_with_ack(&socket).await);
        }
        let len = socket.ack_message.lock().unwrap().len();
        assert!(len <= ACK_SWEEP_MIN, "{len} abandoned acks");
    }

    #[tokio::test]
    async fn timed_out_acks_do_not_accumulate() {
        let socket = ack_socket();
        for _ in 0..(ACK_SWEEP_MIN * 3) {
            let rx = send_with_ack(&socket).await;
            let timeout = std::time::Duration::from_micros(1);
            tokio::time::timeout(timeout, rx).await.unwrap_err();
        }
        let len = socket.ack_message.lock().unwrap().len();
        assert!(len <= ACK_SWEEP_MIN, "{len} timed out acks");
    }

    /// The acks still waited for must survive the removal of the abandoned ones.
    #[tokio::test]
    async fn pending_acks_are_kept() {
        let socket = ack_socket();
        let mut pending = Vec::new();
        for _ in 0..(ACK_SWEEP_MIN * 2) {
            pending.push(send_with_ack(&socket).await);
            for _ in 0..10 {
                drop(send_with_ack(&socket).await);
            }
        }

        // The ack ids are the 1-based position of the packets: a pending one every 11 packets.
        for (i, rx) in pending.into_iter().enumerate() {
            let id = (i * 11 + 1) as i64;
            socket
                .clone()
                .recv_ack(Value::Str("ok".into(), None), id)
                .unwrap();
            let value = rx.await.expect("the ack should be kept").unwrap();
            assert!(matches!(value, Value::Str(s, None) if s == "ok"));
        }
    }

    /// The cost of the removal must stay proportional to the number of sent packets.
    #[tokio::test]
    async fn many_pending_acks_do_not_trigger_a_sweep_per_packet() {
        let socket = ack_socket();
        let mut pending = Vec::new();
        for _ in 0..(ACK_SWEEP_MIN * 8) {
            pending.push(send_with_ack(&socket).await);
        }
        let threshold = socket.ack_sweep_at.load(Ordering::Relaxed);
        assert!(threshold >= pending.len(), "threshold: {threshold}");
    }
}
