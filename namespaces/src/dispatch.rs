//! One table of event handlers per namespace, shared by every socket of it, and the one
//! path every client event takes before its handler.
//!
//! socketioxide keeps a map of handlers in every socket (`SocketRef::on`): about 0.7 KB of
//! each idle `/realtime` connection for its thirteen events (BENCHMARKS.md, idle memory).
//! Here a socket registers a single [`Dispatcher`] as its fallback handler, and the
//! dispatcher finds the event's entry in the namespace's one table.
//!
//! On the way in, in this order: the name is read once; the event counts as the user's
//! activity; it takes a token from its rate class's bucket; its size is checked against
//! its entry's limit; only then does the handler run, in a span naming namespace, event
//! and user. An event without an entry is answered `invalid_payload` (after the rate
//! limit, so unknown names cannot be used to flood).

use std::collections::HashMap;
use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide::extract::Event;
use socketioxide::handler::{FromMessageParts, MessageHandler};
use socketioxide::socket::Socket;
use socketioxide_core::Value;
use tracing::Span;

use crate::ack::{ErrorCode, NsError};
use crate::handler::EventHandler;
use crate::incoming::Incoming;
use crate::limits::{EventClass, SocketLimiter};
use crate::presence::{Presence, SocketActivity};

/// The `event` label and span field of an event without an entry: client-chosen names
/// must not become label values.
pub const UNKNOWN: &str = "unknown";

type Handler<A> = Box<dyn Fn(Arc<Socket<A>>, Value, Option<i64>, Incoming<A>, Span) + Send + Sync>;

/// The largest payload an entry takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadLimit {
    /// The gateway's `max_payload_bytes`.
    Default,
    Bytes(usize),
}

impl PayloadLimit {
    /// The limit in bytes, `default` standing for [`PayloadLimit::Default`].
    pub fn bytes(self, default: usize) -> usize {
        match self {
            Self::Default => default,
            Self::Bytes(max) => max,
        }
    }
}

/// One event of a namespace: its name, rate class, payload limit and handler.
pub struct Entry<A: Adapter> {
    pub name: &'static str,
    /// Its bucket besides `All` (`All` alone: no bucket of its own).
    pub class: EventClass,
    pub limit: PayloadLimit,
    handler: Handler<A>,
}

/// A namespace's events, by name.
pub struct EventTable<A: Adapter> {
    entries: HashMap<&'static str, Entry<A>>,
}

impl<A: Adapter> Default for EventTable<A> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<A: Adapter> EventTable<A> {
    /// Handles `name` with `handler`, rate-limited as `class`, payloads up to the default.
    pub fn on<H, T>(self, name: &'static str, class: EventClass, handler: H) -> Self
    where
        H: EventHandler<A, T>,
        T: Send + Sync + 'static,
    {
        self.on_at_most(name, class, PayloadLimit::Default, handler)
    }

    /// As [`EventTable::on`], with a payload limit of its own.
    pub fn on_at_most<H, T>(
        mut self,
        name: &'static str,
        class: EventClass,
        limit: PayloadLimit,
        handler: H,
    ) -> Self
    where
        H: EventHandler<A, T>,
        T: Send + Sync + 'static,
    {
        let handler: Handler<A> =
            Box::new(move |s, v, ack_id, req, span| handler.call(s, v, ack_id, req, span));
        let entry = Entry {
            name,
            class,
            limit,
            handler,
        };
        self.entries.insert(name, entry);
        self
    }

    /// This table with `other`'s entries added (the events every namespace answers).
    pub fn with(mut self, other: EventTable<A>) -> Self {
        self.entries.extend(other.entries);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Entry<A>> {
        self.entries.get(name)
    }

    /// The entries, by name.
    pub fn entries(&self) -> Vec<&Entry<A>> {
        let mut entries: Vec<_> = self.entries.values().collect();
        entries.sort_by_key(|e| e.name);
        entries
    }
}

/// What every namespace's events go through, the same on each.
#[derive(Clone)]
pub struct Pipeline {
    /// Any event is activity for presence.
    pub presence: Presence,
    /// The limit of [`PayloadLimit::Default`] entries: `max_payload_bytes`.
    pub max_payload_bytes: usize,
    /// Connection-state recovery, when on.
    pub resumption: Option<crate::resume::Resumption>,
}

/// The one handler a socket registers (as its fallback): it takes each event through the
/// pipeline to its namespace's table. Cloning shares the table.
pub struct Dispatcher<A: Adapter>(Arc<Dispatch<A>>);

struct Dispatch<A: Adapter> {
    ns: &'static str,
    table: EventTable<A>,
    pipeline: Pipeline,
}

impl<A: Adapter> Clone for Dispatcher<A> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<A: Adapter> Dispatcher<A> {
    pub fn new(ns: &'static str, table: EventTable<A>, pipeline: Pipeline) -> Self {
        Self(Arc::new(Dispatch {
            ns,
            table,
            pipeline,
        }))
    }

    /// Hands the events of socket `s` to this table from now on.
    pub fn serve(&self, s: &Socket<A>) {
        s.on_fallback(self.clone());
    }
}

/// The [`MessageHandler`] marker of [`Dispatcher`]: no extractors, the raw message.
pub struct Raw;

impl<A: Adapter> MessageHandler<A, Raw> for Dispatcher<A> {
    fn call(&self, s: Arc<Socket<A>>, mut v: Value, ack_id: Option<i64>) {
        let Ok(Event(name)) = Event::from_message_parts(&s, &mut v, &ack_id) else {
            // Unanswerable (socketioxide's own extractors drop it too), but it still costs
            // a token from the `all` bucket, so a flood of nameless packets makes an
            // offender like any other.
            let _ = rate_limit(&s, EventClass::All);
            tracing::debug!(ns = self.0.ns, "event without a readable name dropped");
            return;
        };
        let Dispatch {
            ns,
            table,
            pipeline,
        } = self.0.as_ref();
        let entry = table.get(&name);
        let label = entry.map_or(UNKNOWN, |e| e.name);
        let activity = s.extensions.get::<SocketActivity>();
        let span = event_span(ns, label, activity.as_ref());
        let req = Incoming::new(&s, &mut v, &ack_id, ns, label);
        if let Some(activity) = &activity {
            pipeline.presence.touch_socket(activity);
        }
        let class = entry.map_or(EventClass::All, |e| e.class);
        let refusal = rate_limit(&s, class).or_else(|| {
            entry.and_then(|e| too_large(req.size(), e.limit.bytes(pipeline.max_payload_bytes)))
        });
        match (entry, refusal) {
            (_, Some(err)) => span.in_scope(|| req.reply::<()>(Err(err))),
            (None, None) => span.in_scope(|| req.reply::<()>(Err(unknown_event(&name)))),
            (Some(entry), None) => {
                let req = req.read_payload(&s, &mut v, &ack_id);
                (entry.handler)(s, v, ack_id, req, span);
            }
        }
    }
}

/// The span an event is handled in (`otel.name` is what trace views list it by).
fn event_span(ns: &'static str, event: &'static str, activity: Option<&SocketActivity>) -> Span {
    // Displayed, as the handlers' own spans had it.
    let user = activity.map(|a| tracing::field::display(a.user_id()));
    tracing::info_span!(
        "event",
        otel.name = %format_args!("{ns} {event}"),
        ns,
        event,
        user,
    )
}

/// The answer to an event no entry handles.
pub fn unknown_event(name: &str) -> NsError {
    NsError::invalid(format!("unknown event `{name}`"))
}

fn too_large(size: usize, max_bytes: usize) -> Option<NsError> {
    (size > max_bytes).then(|| {
        NsError::new(
            ErrorCode::PayloadTooLarge,
            format!("payload is {size} bytes, the limit is {max_bytes}"),
        )
    })
}

/// How long a repeat offender keeps its connection after the answer that ends it.
const OFFENDER_CLOSE_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// Takes a token from the socket's buckets for `class` (sockets without limits have no
/// limiter). A repeat offender is disconnected (after this event's answer) and its user
/// blocked.
fn rate_limit<A: Adapter>(s: &Arc<Socket<A>>, class: EventClass) -> Option<NsError> {
    let limiter = s.extensions.get::<Arc<SocketLimiter>>()?;
    let limited = limiter.check(class).err()?;
    if limited.offender {
        let socket = s.clone();
        tokio::spawn(async move {
            limiter.block_user().await;
            // The refusal is queued before the close; a long-polling client collects it
            // only with its next poll, which a close at once would cut off.
            tokio::time::sleep(OFFENDER_CLOSE_DELAY).await;
            if let Err(err) = socket.disconnect() {
                tracing::debug!(error = %err, "offender already gone");
            }
        });
    }
    Some(limited.error)
}
