//! Connection state recovery primitives (Switchyard's patch).
//!
//! socket.io-client 4.6+ recovers a session after a short disconnection: when the CONNECT
//! answer carries a private session id (`pid`), the client remembers it and the offset of the
//! last event it received (the last argument of each event, when it is a string), and sends
//! both in the `auth` of its next CONNECT: `{"pid": "...", "offset": "...", ...auth}`. The
//! server then restores the session (same socket id, same rooms), sends the events the client
//! missed, and answers with the same `pid`: the client sees `socket.recovered === true`.
//!
//! This module gives an application what it needs to do that, and nothing more: where the
//! sessions and the missed events live (memory, Redis, ...) is the application's choice.
//! * [`SocketIoBuilder::with_connection_state_recovery`](crate::SocketIoBuilder::with_connection_state_recovery)
//!   turns it on with a [`ConnectionStateRecovery`] hook. Each protocol 5 socket then gets a
//!   random [`pid`](crate::socket::Socket::pid), sent in its CONNECT answer. The hook is
//!   asked, for each protocol 5 CONNECT and before the namespace's middlewares, whether the
//!   CONNECT restores a session: it returns a [`Restore`] with the socket id and `pid` to
//!   keep, or `None` for a new socket.
//! * A restored socket is [`recovered`](crate::socket::Socket::recovered) and starts *held*:
//!   the events sent to it are queued until the application calls
//!   [`Socket::release`](crate::socket::Socket::release) with the events to replay.
//!
//! Without the hook nothing changes: no `pid`, the same CONNECT answers, no hold.
use std::{
    collections::VecDeque,
    fmt,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use bytes::Bytes;
use engineioxide::Str;
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{DeserializeOwned, SeqAccess, Visitor},
    ser::SerializeTuple,
};
use socketioxide_core::{
    Sid, Value,
    packet::{Packet, PacketData},
    parser::{Parse, ParseConfig, ParserState},
};

use crate::parser::{ParseError, Parser, ParserError};

/// A session to restore, as returned by a [`ConnectionStateRecovery`] hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// The id of the socket to restore. The new socket takes it instead of a new one.
    pub sid: Sid,
    /// The private session id of that socket, sent again in the CONNECT answer: the client
    /// compares it with the one it sent to tell whether it recovered.
    pub pid: Str,
}

/// What a [`ConnectionStateRecovery`] hook is given for a CONNECT packet.
pub struct RecoveryRequest<'a> {
    ns: &'a str,
    auth: Option<&'a Value>,
    req_parts: &'a http::request::Parts,
    parser: Parser,
}

impl<'a> RecoveryRequest<'a> {
    pub(crate) fn new(
        ns: &'a str,
        auth: Option<&'a Value>,
        req_parts: &'a http::request::Parts,
        parser: Parser,
    ) -> Self {
        Self {
            ns,
            auth,
            req_parts,
            parser,
        }
    }

    /// The path of the namespace the client connects to.
    pub fn ns(&self) -> &'a str {
        self.ns
    }

    /// The `auth` payload of the CONNECT packet, as the parser read it. socket.io-client puts
    /// its `pid` and `offset` in it when it tries to recover.
    pub fn auth(&self) -> Option<&'a Value> {
        self.auth
    }

    /// The `auth` payload decoded with the server's parser (an absent payload reads as `{}`).
    pub fn auth_as<T: DeserializeOwned>(&self) -> Result<T, ParserError> {
        self.parser.decode_default(self.auth)
    }

    /// The HTTP request that opened the connection.
    pub fn req_parts(&self) -> &'a http::request::Parts {
        self.req_parts
    }
}

impl fmt::Debug for RecoveryRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryRequest")
            .field("ns", &self.ns)
            .field("auth", &self.auth)
            .finish()
    }
}

/// The future returned by a [`ConnectionStateRecovery`] hook.
pub type RestoreFuture<'a> = Pin<Box<dyn Future<Output = Option<Restore>> + Send + 'a>>;

/// Decides whether a CONNECT restores a session (Switchyard's patch).
///
/// It is called for each protocol 5 CONNECT packet, before the socket is created and before
/// the namespace's middlewares; the connection waits for it. It must do every check itself
/// (the session exists, has not expired, belongs to whoever the request authenticates):
/// a [`Restore`] is trusted as is.
///
/// It is implemented for closures `Fn(&RecoveryRequest<'_>) -> impl Future<Output =
/// Option<Restore>> + Send + 'static`: read what you need from the request, then return an
/// `async move` block.
pub trait ConnectionStateRecovery: Send + Sync + 'static {
    /// Returns the session this CONNECT restores, or `None` for a new socket.
    fn restore<'a>(&'a self, req: &'a RecoveryRequest<'a>) -> RestoreFuture<'a>;
}

impl<F, Fut> ConnectionStateRecovery for F
where
    F: Fn(&RecoveryRequest<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Restore>> + Send + 'static,
{
    fn restore<'a>(&'a self, req: &'a RecoveryRequest<'a>) -> RestoreFuture<'a> {
        Box::pin(self(req))
    }
}

/// The configured hook, in [`SocketIoConfig`](crate::SocketIoConfig).
#[derive(Clone)]
pub(crate) struct RecoveryHook(pub(crate) Arc<dyn ConnectionStateRecovery>);

impl fmt::Debug for RecoveryHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryHook")
    }
}

/// How a socket was created with recovery on.
pub(crate) struct Recovery {
    pub pid: Str,
    pub recovered: bool,
}

/// A new private session id: two engine.io ids (96 random bits each, from the thread-local
/// CSPRNG) side by side, 32 URL-safe base64 characters.
pub(crate) fn new_pid() -> Str {
    Str::from(format!("{}{}", Sid::new(), Sid::new()))
}

/// The CONNECT answer of a socket with a private session id.
#[derive(Serialize)]
pub(crate) struct ConnectPayload<'a> {
    pub sid: Sid,
    pub pid: &'a str,
}

/// All the arguments of an event, as a list (Switchyard's patch).
///
/// socketioxide sends a tuple as several arguments and anything else as one, and reads the
/// first argument unless asked for a tuple. `EventArgs` is a tuple of any length: it is sent
/// as `["event", args...]` and reads every argument.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventArgs<T>(pub Vec<T>);

impl<T: Serialize> Serialize for EventArgs<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for arg in &self.0 {
            tuple.serialize_element(arg)?;
        }
        tuple.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for EventArgs<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ArgsVisitor<T> {
            type Value = EventArgs<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of event arguments")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut args = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(arg) = seq.next_element()? {
                    args.push(arg);
                }
                Ok(EventArgs(args))
            }
        }
        // A tuple, so that the parsers give every argument rather than the first one.
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor(PhantomData))
    }
}

/// An event queued for a held socket, as given to the `keep` filter of
/// [`Socket::release`](crate::socket::Socket::release) (Switchyard's patch).
pub struct HeldEvent<'a> {
    value: &'a Value,
    parser: Parser,
}

impl HeldEvent<'_> {
    /// Reads the packet back. A broadcast reaches the socket already encoded.
    fn decode(&self) -> Result<Packet, ParserError> {
        let config = ParseConfig::default();
        let state = ParserState::default();
        let res = match self.value {
            Value::Bytes(bin) => self.parser.decode_bin(&config, &state, bin.clone()),
            Value::Str(msg, bins) => {
                let mut res = self.parser.decode_str(&config, &state, msg.clone());
                let mut bins = bins.iter().flatten();
                while let Err(ParseError::NeedsMoreBinaryData) = res {
                    let Some(bin) = bins.next() else { break };
                    res = self.parser.decode_bin(&config, &state, Bytes::clone(bin));
                }
                res
            }
        };
        res.map_err(ParserError::new)
    }

    fn data(&self) -> Result<Value, ParserError> {
        match self.decode()?.inner {
            PacketData::Event(data, _) | PacketData::BinaryEvent(data, _) => Ok(data),
            _ => Err(ParserError::new(ParseError::InvalidPacketType)),
        }
    }

    /// The name of the event.
    pub fn event(&self) -> Result<String, ParserError> {
        let data = self.data()?;
        self.parser.read_event(&data).map(str::to_owned)
    }

    /// The arguments of the event, decoded as the [`Data`](crate::extract::Data) extractor
    /// would: the first one, or several as a tuple; [`EventArgs`] gives them all.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, ParserError> {
        let mut data = self.data()?;
        self.parser.decode_value(&mut data, true)
    }

    /// Whether the event asks the client for an acknowledgement.
    pub fn has_ack(&self) -> bool {
        matches!(
            self.decode().map(|p| p.inner),
            Ok(PacketData::Event(_, Some(_)) | PacketData::BinaryEvent(_, Some(_)))
        )
    }
}

impl fmt::Debug for HeldEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldEvent")
            .field("value", self.value)
            .finish()
    }
}

/// An encoded event waiting for its held socket to be released.
pub(crate) struct Held {
    pub value: Value,
    /// Sent by [`Socket::release`](crate::socket::Socket::release) as is, without asking `keep`.
    pub replay: bool,
    /// May be dropped when the connection's queue is full, as volatile events are.
    pub volatile: bool,
}

#[derive(Default)]
pub(crate) struct HoldState {
    pub queue: VecDeque<Held>,
    /// A release is sending the queue.
    pub releasing: bool,
}

/// Whether a socket's events are queued (Switchyard's patch). Sends read `held` first and
/// take the lock only when it is set; it is cleared under the lock, once the queue is empty,
/// so a send that finds it clear comes after every queued event.
#[derive(Default)]
pub(crate) struct Hold {
    held: AtomicBool,
    state: Mutex<HoldState>,
}

impl Hold {
    #[inline]
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    pub fn hold(&self) {
        let _state = self.state.lock().unwrap();
        self.held.store(true, Ordering::Release);
    }

    /// Queues `value` if the socket is held; gives it back otherwise.
    pub fn push(&self, value: Value, volatile: bool) -> Option<Value> {
        if !self.is_held() {
            return Some(value);
        }
        let mut state = self.state.lock().unwrap();
        if !self.held.load(Ordering::Acquire) {
            return Some(value);
        }
        state.queue.push_back(Held {
            value,
            replay: false,
            volatile,
        });
        None
    }

    /// Starts a release: the replay goes before the queue. `false` if the socket is not held
    /// or a release is already running.
    pub fn start_release(&self, replay: Vec<Value>) -> bool {
        let mut state = self.state.lock().unwrap();
        if !self.held.load(Ordering::Acquire) || state.releasing {
            return false;
        }
        state.releasing = true;
        for value in replay.into_iter().rev() {
            state.queue.push_front(Held {
                value,
                replay: true,
                volatile: false,
            });
        }
        true
    }

    /// The next event to send during a release; `None` once the queue is empty, and the
    /// socket is then no longer held.
    pub fn next(&self) -> Option<Held> {
        let mut state = self.state.lock().unwrap();
        let next = state.queue.pop_front();
        if next.is_none() {
            state.releasing = false;
            self.held.store(false, Ordering::Release);
        }
        next
    }

    /// Drops what is queued and ends the hold (the socket is closed).
    pub fn discard(&self) {
        let mut state = self.state.lock().unwrap();
        state.queue = VecDeque::new();
        state.releasing = false;
        self.held.store(false, Ordering::Release);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.state.lock().unwrap().queue.len()
    }
}

/// Ends a running release if it is dropped before its end.
pub(crate) struct ReleaseGuard<'a>(pub &'a Hold);
impl Drop for ReleaseGuard<'_> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().releasing = false;
    }
}

pub(crate) fn held_event(value: &Value, parser: Parser) -> HeldEvent<'_> {
    HeldEvent { value, parser }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<T: Serialize>(parser: Parser, event: &str, data: &T, ack: Option<i64>) -> Value {
        let data = parser.encode_value(data, Some(event)).unwrap();
        let mut packet = Packet::event("/chat", data);
        if let Some(ack) = ack {
            packet.inner.set_ack_id(ack);
        }
        parser.encode(packet)
    }

    #[test]
    fn event_args_are_sent_as_several_arguments() {
        let parser = Parser::default();
        let args = EventArgs(vec!["a".to_owned(), "b".to_owned()]);
        let value = event(parser, "ev", &args, None);
        assert_eq!(value.as_str().unwrap().as_str(), r#"2/chat,["ev","a","b"]"#);
        let value = event(parser, "ev", &EventArgs::<u8>(vec![]), None);
        assert_eq!(value.as_str().unwrap().as_str(), r#"2/chat,["ev"]"#);
    }

    #[test]
    fn a_held_event_reads_back_its_name_and_arguments() {
        let parser = Parser::default();
        let value = event(parser, "ev", &(1, "two", "off-3"), Some(7));
        let held = held_event(&value, parser);
        assert_eq!(held.event().unwrap(), "ev");
        assert!(held.has_ack());
        let EventArgs(args) = held.args::<EventArgs<serde_json::Value>>().unwrap();
        assert_eq!(
            args,
            vec![serde_json::json!(1), "two".into(), "off-3".into()]
        );
        assert_eq!(held.args::<u8>().unwrap(), 1);
    }

    #[test]
    fn a_held_binary_event_reads_back_its_arguments() {
        let parser = Parser::default();
        let bin = Bytes::from_static(&[1, 2, 3]);
        let value = event(parser, "bin", &(bin.clone(), "off-9"), None);
        assert!(matches!(&value, Value::Str(_, Some(bins)) if bins.len() == 1));
        let held = held_event(&value, parser);
        assert!(!held.has_ack());
        let (data, offset) = held.args::<(Bytes, String)>().unwrap();
        assert_eq!((data, offset.as_str()), (bin, "off-9"));
    }

    #[test]
    fn pids_are_long_random_and_url_safe() {
        let (a, b) = (new_pid(), new_pid());
        assert_ne!(a, b);
        // 192 random bits.
        assert_eq!(a.len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn hold_queues_until_the_release_empties_it() {
        let hold = Hold::default();
        let value = || Value::Str("2[\"a\"]".into(), None);
        assert!(hold.push(value(), false).is_some());
        hold.hold();
        assert!(hold.push(value(), false).is_none());
        assert!(hold.start_release(vec![Value::Str("2[\"r\"]".into(), None)]));
        // A second release while the first runs does nothing.
        assert!(!hold.start_release(vec![]));
        let first = hold.next().unwrap();
        assert!(first.replay);
        // Still held during the release: this one goes behind.
        assert!(hold.push(value(), true).is_none());
        assert!(!hold.next().unwrap().replay);
        assert!(hold.next().unwrap().volatile);
        assert!(hold.next().is_none());
        assert!(!hold.is_held());
        assert!(hold.push(value(), false).is_some());
        assert!(!hold.start_release(vec![]));
    }

    #[test]
    fn discard_ends_the_hold() {
        let hold = Hold::default();
        hold.hold();
        assert!(
            hold.push(Value::Str("2[\"a\"]".into(), None), false)
                .is_none()
        );
        hold.discard();
        assert_eq!(hold.len(), 0);
        assert!(!hold.is_held());
    }
}
