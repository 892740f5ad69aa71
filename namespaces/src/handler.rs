//! What a table entry runs once the dispatcher has let an event through: a free `async fn`
//! taking socketioxide extractors and, last, the [`Incoming`] event the dispatcher made.
//!
//! socketioxide's own `MessageHandler` builds its request from the raw message and spawns
//! the handler's future unseen; here the dispatcher has already parsed, counted and checked
//! the event, and the future runs inside the event's span.

use std::future::Future;
use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide_core::Value;
use tracing::{Instrument, Span};

use crate::incoming::Incoming;

/// An event handler: `async fn(extractors…, Incoming<A>)`, with up to six extractors.
pub trait EventHandler<A: Adapter, T>: Send + Sync + 'static {
    /// Extracts the other arguments from the message, then spawns the handler in `span`.
    /// A failed extractor (a missing state or extension: a wiring mistake) drops the event,
    /// as socketioxide does.
    fn call(&self, s: Arc<Socket<A>>, v: Value, ack_id: Option<i64>, req: Incoming<A>, span: Span);
}

/// One extractor's value, or `None` (logged) when it cannot be made.
fn extract<A: Adapter, T: FromMessageParts<A>>(
    s: &Arc<Socket<A>>,
    v: &mut Value,
    ack_id: &Option<i64>,
) -> Option<T> {
    T::from_message_parts(s, v, ack_id)
        .inspect_err(|err| tracing::error!(error = %err, "event handler argument not extracted"))
        .ok()
}

macro_rules! impl_event_handler {
    ($($arg:ident: $ty:ident),+) => {
        impl<A, F, Fut, $($ty,)+> EventHandler<A, ($($ty,)+)> for F
        where
            A: Adapter,
            F: FnOnce($($ty,)+ Incoming<A>) -> Fut + Send + Sync + Clone + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromMessageParts<A> + Send,)+
        {
            fn call(
                &self,
                s: Arc<Socket<A>>,
                mut v: Value,
                ack_id: Option<i64>,
                req: Incoming<A>,
                span: Span,
            ) {
                $(let Some($arg) = extract::<A, $ty>(&s, &mut v, &ack_id) else { return };)+
                let handling = (self.clone())($($arg,)+ req);
                tokio::spawn(handling.instrument(span));
            }
        }
    };
}

/// A handler that needs nothing but the event.
impl<A, F, Fut> EventHandler<A, ()> for F
where
    A: Adapter,
    F: FnOnce(Incoming<A>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, _: Arc<Socket<A>>, _: Value, _: Option<i64>, req: Incoming<A>, span: Span) {
        tokio::spawn((self.clone())(req).instrument(span));
    }
}

impl_event_handler!(a: T1);
impl_event_handler!(a: T1, b: T2);
impl_event_handler!(a: T1, b: T2, c: T3);
impl_event_handler!(a: T1, b: T2, c: T3, d: T4);
impl_event_handler!(a: T1, b: T2, c: T3, d: T4, e: T5);
impl_event_handler!(a: T1, b: T2, c: T3, d: T4, e: T5, f: T6);
