//! One table of event handlers per namespace, shared by every socket of it.
//!
//! socketioxide keeps a map of handlers in every socket (`SocketRef::on`): about 0.7 KB of
//! each idle `/realtime` connection for its thirteen events (BENCHMARKS.md, idle memory).
//! Here a socket registers a single [`Dispatcher`] as its fallback handler, and the
//! dispatcher finds the event's handler in the namespace's one table.

use std::collections::HashMap;
use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide::extract::Event;
use socketioxide::handler::{FromMessageParts, MessageHandler, Value};
use socketioxide::socket::Socket;

type Handler<A> = Box<dyn Fn(Arc<Socket<A>>, Value, Option<i64>) + Send + Sync>;

/// A namespace's events and their handlers, with the handler for events it does not know.
pub struct EventTable<A: Adapter> {
    handlers: HashMap<&'static str, Handler<A>>,
    unknown: Handler<A>,
}

fn erased<A: Adapter, T, H>(handler: H) -> Handler<A>
where
    H: MessageHandler<A, T>,
    T: Send + Sync + 'static,
{
    Box::new(move |s, v, ack_id| handler.call(s, v, ack_id))
}

impl<A: Adapter> EventTable<A> {
    /// A table with no events yet; every event goes to `unknown`.
    pub fn new<H, T>(unknown: H) -> Self
    where
        H: MessageHandler<A, T>,
        T: Send + Sync + 'static,
    {
        Self {
            handlers: HashMap::new(),
            unknown: erased(unknown),
        }
    }

    /// Handles `event` with `handler` (any socketioxide message handler).
    pub fn on<H, T>(mut self, event: &'static str, handler: H) -> Self
    where
        H: MessageHandler<A, T>,
        T: Send + Sync + 'static,
    {
        self.handlers.insert(event, erased(handler));
        self
    }

    pub fn handles(&self, event: &str) -> bool {
        self.handlers.contains_key(event)
    }

    pub fn into_dispatcher(self) -> Dispatcher<A> {
        Dispatcher(Arc::new(self))
    }
}

/// The one handler a socket registers (as its fallback): it hands each event to the
/// handler its namespace's table has for it. Cloning shares the table.
pub struct Dispatcher<A: Adapter>(Arc<EventTable<A>>);

impl<A: Adapter> Clone for Dispatcher<A> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<A: Adapter> Dispatcher<A> {
    /// Hands the events of socket `s` to this table from now on.
    pub fn serve(&self, s: &socketioxide::extract::SocketRef<A>) {
        s.on_fallback(self.clone());
    }
}

/// The [`MessageHandler`] marker of [`Dispatcher`]: no extractors, the raw message.
pub struct Dispatch;

impl<A: Adapter> MessageHandler<A, Dispatch> for Dispatcher<A> {
    fn call(&self, s: Arc<Socket<A>>, mut v: Value, ack_id: Option<i64>) {
        let table = &self.0;
        let handler = match Event::from_message_parts(&s, &mut v, &ack_id) {
            Ok(Event(event)) => table.handlers.get(event.as_str()),
            Err(_) => None,
        };
        handler.unwrap_or(&table.unknown)(s, v, ack_id);
    }
}

/// Every namespace's dispatcher for sockets on adapter `A`: a socketioxide state, made
/// once at startup, that each namespace's `prepare_socket` serves its socket with.
pub struct Events<A: Adapter> {
    pub ws: Dispatcher<A>,
    pub realtime: Dispatcher<A>,
    pub notifications: Dispatcher<A>,
}

impl<A: Adapter> Clone for Events<A> {
    fn clone(&self) -> Self {
        Self {
            ws: self.ws.clone(),
            realtime: self.realtime.clone(),
            notifications: self.notifications.clone(),
        }
    }
}

impl<A: Adapter> Events<A> {
    /// `common` adds what every namespace answers besides its own events (the token
    /// refresh, which the gateway's auth owns).
    pub fn new(common: impl Fn(EventTable<A>) -> EventTable<A>) -> Self {
        Self {
            ws: common(crate::ws::event_table()).into_dispatcher(),
            realtime: common(crate::realtime::event_table()).into_dispatcher(),
            notifications: common(crate::notifications::event_table()).into_dispatcher(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketioxide::adapter::LocalAdapter;

    /// What the gateway adds to every namespace (`auth:refresh` in the gateway).
    const COMMON: &str = "common:event";

    #[test]
    fn each_namespace_table_has_its_contract_events_and_the_common_ones() {
        let events = Events::<LocalAdapter>::new(|t| t.on(COMMON, async || {}));
        let tables = [
            (&events.ws, crate::ws::events::MESSAGE_SEND),
            (&events.realtime, crate::realtime::events::SUBSCRIBE),
            (&events.realtime, crate::realtime::events::PRESENCE_SET),
            (&events.notifications, crate::notifications::events::READ),
        ];
        for (dispatcher, event) in tables {
            assert!(dispatcher.0.handles(event), "{event}");
            assert!(dispatcher.0.handles(COMMON));
            assert!(!dispatcher.0.handles("no:such:event"));
        }
    }
}
