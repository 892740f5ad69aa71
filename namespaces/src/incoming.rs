//! One client event as a handler receives it: its payload (not yet typed), its size, and
//! the way to answer it, by ack when the client asked for one, else by an `error` event.
//! The dispatcher makes it, once the event has passed the pipeline (`dispatch.rs`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide_core::Value as RawValue;

use crate::ack::{ErrorObject, NsError, ok_body};
use crate::emit::tell;
use crate::metrics as names;

static EVENTS_RECEIVED: AtomicU64 = AtomicU64::new(0);
static EVENTS_IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

/// Events whose handler has not answered yet; a draining node waits for zero.
pub fn events_in_flight() -> u64 {
    EVENTS_IN_FLIGHT.load(Ordering::SeqCst)
}

/// Counts one event as in flight for as long as its [`Incoming`] lives.
struct InFlight;

impl InFlight {
    fn new() -> Self {
        EVENTS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        EVENTS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Client events received by this process since it started, on every namespace.
pub fn events_received() -> u64 {
    EVENTS_RECEIVED.load(Ordering::Relaxed)
}

/// The last argument of every event handler. Unlike `Data<T>`, reading it never fails, so a
/// malformed payload reaches the handler and is answered `invalid_payload` instead of
/// being dropped.
pub struct Incoming<A: Adapter> {
    socket: Arc<Socket<A>>,
    ack: AckSender<A>,
    wants_ack: bool,
    size: usize,
    payload: Result<Value, String>,
    labels: Labels,
    _in_flight: InFlight,
}

/// What the event's metrics are labelled with, and when it arrived.
struct Labels {
    ns: &'static str,
    /// The entry's name, or `unknown`: never a name a client chose.
    event: &'static str,
    received: Instant,
}

/// True for an event packet that is only `["name"]`.
fn carries_no_argument(v: &RawValue) -> bool {
    match v {
        RawValue::Str(text, _) => serde_json::from_str::<Vec<serde::de::IgnoredAny>>(text)
            .is_ok_and(|args| args.len() == 1),
        RawValue::Bytes(_) => false,
    }
}

/// Bytes of the event as it came off the wire, binary attachments included.
fn raw_size(v: &RawValue) -> usize {
    match v {
        RawValue::Str(text, bins) => {
            text.len() + bins.iter().flatten().map(|b| b.len()).sum::<usize>()
        }
        RawValue::Bytes(bytes) => bytes.len(),
    }
}

impl<A: Adapter> Incoming<A> {
    /// An event as it arrived, counted and sized; its payload is read by
    /// [`Incoming::read_payload`] once the pipeline lets it through.
    pub(crate) fn new(
        s: &Arc<Socket<A>>,
        v: &mut RawValue,
        ack_id: &Option<i64>,
        ns: &'static str,
        event: &'static str,
    ) -> Self {
        EVENTS_RECEIVED.fetch_add(1, Ordering::Relaxed);
        let Ok(ack) = AckSender::from_message_parts(s, v, ack_id);
        Self {
            socket: s.clone(),
            ack,
            wants_ack: ack_id.is_some(),
            size: raw_size(v),
            payload: Ok(Value::Null),
            labels: Labels {
                ns,
                event,
                received: Instant::now(),
            },
            _in_flight: InFlight::new(),
        }
    }

    /// Reads the (untyped) payload off the message.
    pub(crate) fn read_payload(
        mut self,
        s: &Arc<Socket<A>>,
        v: &mut RawValue,
        ack_id: &Option<i64>,
    ) -> Self {
        let Ok(TryData(payload)) = TryData::<Value>::from_message_parts(s, v, ack_id);
        // `emit("conversation:list", cb)` sends the event name alone: read it as no payload.
        let payload = match payload {
            Err(_) if carries_no_argument(v) => Ok(Value::Null),
            other => other,
        };
        self.payload = payload.map_err(|e| e.to_string());
        self
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Deserializes the payload into its typed request (its size was checked on the way
    /// in). Limits inside the payload are checked by the request type's own
    /// deserializers. The payload is taken out, not copied: a second call sees an empty
    /// object.
    pub fn parse<T: DeserializeOwned>(&mut self) -> Result<T, NsError> {
        match std::mem::replace(&mut self.payload, Ok(Value::Null)) {
            Ok(value) => decode(value),
            Err(err) => Err(NsError::invalid(format!("unreadable payload: {err}"))),
        }
    }

    /// Parses the payload, runs `handle` on it and answers with its result.
    pub async fn respond<T, R, F, Fut>(mut self, handle: F)
    where
        T: DeserializeOwned,
        R: Serialize,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<R, NsError>>,
    {
        let result = match self.parse::<T>() {
            Ok(request) => {
                let started = Instant::now();
                let result = handle(request).await;
                self.labels.record(names::HANDLER_DURATION_SECONDS, started);
                result
            }
            Err(err) => Err(err),
        };
        self.reply(result);
    }

    /// Answers the event: an ack when one was requested; otherwise only a failure is
    /// worth telling, as an `error` event, so a fire-and-forget emit never fails silently.
    pub fn reply<R: Serialize>(self, result: Result<R, NsError>) {
        let Self {
            socket,
            ack,
            wants_ack,
            labels,
            ..
        } = self;
        labels.count(result.as_ref().err());
        let sent = match (&result, wants_ack) {
            (Ok(data), true) => ack.send(&ok_body(data)),
            (Err(err), true) => ack.send(&err.ack_body()),
            (Err(err), false) => emit_error_event(socket, err.error_object()),
            (Ok(_), false) => Ok(()),
        };
        if let Err(err) = sent {
            // The socket is gone or its buffer is full; nothing more can reach it.
            tracing::debug!(error = %err, "reply not sent");
        } else if wants_ack {
            labels.record(names::ACK_DURATION_SECONDS, labels.received);
        }
    }
}

/// How long an `error` event waits for its socket to be marked connected.
const CONNECTED_WAIT: Duration = Duration::from_millis(500);

/// Sends the `error` event that answers an event without an ack. socketioxide sends the
/// CONNECT packet before it marks the socket connected, and `emit` refuses a socket not
/// marked yet (`Closed`), so a client that emits the moment it is connected can have that
/// event answered inside the window, and the answer was lost: seen in the Node suite's
/// errors tests about once in ten runs of the file, with "reply not sent ... Closed" in the
/// server's log for a live socket. Such an answer waits off the handler's task until the
/// mark; a socket that closed instead is given up on after [`CONNECTED_WAIT`]. Acks and
/// room emits do not check the mark and need none of this.
fn emit_error_event<A: Adapter>(
    socket: Arc<Socket<A>>,
    body: ErrorObject,
) -> Result<(), socketioxide::SendError> {
    if socket.connected() {
        return tell(&socket, &body);
    }
    tokio::spawn(async move {
        let give_up = tokio::time::Instant::now() + CONNECTED_WAIT;
        while !socket.connected() && tokio::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if let Err(err) = tell(&socket, &body) {
            tracing::debug!(error = %err, "error event not sent");
        }
    });
    Ok(())
}

impl Labels {
    /// The event as answered, and its error code when it failed.
    fn count(&self, failure: Option<&NsError>) {
        let (ns, event) = (self.ns, self.event);
        metrics::counter!(names::EVENTS_RECEIVED_TOTAL, "ns" => ns, "event" => event).increment(1);
        if let Some(err) = failure {
            let code = err.code.as_str();
            metrics::counter!(names::EVENT_ERRORS_TOTAL, "ns" => ns, "event" => event, "code" => code)
                .increment(1);
        }
    }

    fn record(&self, histogram: &'static str, since: Instant) {
        let (ns, event) = (self.ns, self.event);
        metrics::histogram!(histogram, "ns" => ns, "event" => event)
            .record(since.elapsed().as_secs_f64());
    }
}

/// The typed request in an event's payload, as [`Incoming::parse`] reads it: no payload
/// reads as an empty object. Public for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub fn decode<T: DeserializeOwned>(payload: Value) -> Result<T, NsError> {
    let value = match payload {
        Value::Null => Value::Object(Default::default()),
        value => value,
    };
    serde_json::from_value(value).map_err(|err| NsError::invalid(err.to_string()))
}
