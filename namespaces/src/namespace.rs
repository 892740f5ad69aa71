//! A namespace's descriptor: its path, how its state is built, its event table (handler,
//! rate class and payload limit of each event), the events it emits, and how a socket
//! joins it (its `prepare_socket` middleware and `on_connect`). The gateway registers every descriptor
//! of [`crate::namespaces`] the same way, and the contract is printed from them.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use socketioxide::adapter::Adapter;
use socketioxide::handler::{ConnectHandler, ConnectMiddleware};
use socketioxide::socket::Socket;
use socketioxide_core::Value;

use crate::dispatch::{Dispatcher, EventTable, Pipeline};
use crate::services::Services;
use crate::states::StateSet;

type MiddlewareResult = Result<(), Box<dyn Display + Send>>;
type Prepared<'a> = Pin<Box<dyn Future<Output = MiddlewareResult> + Send + 'a>>;
type PrepareFn<A> = dyn for<'a> Fn(Arc<Socket<A>>, &'a Option<Value>) -> Prepared<'a> + Send + Sync;
type ConnectFn<A> = dyn Fn(Arc<Socket<A>>, Option<Value>) + Send + Sync;

/// One namespace the gateway serves.
pub struct Namespace<A: Adapter> {
    pub path: &'static str,
    /// Builds the states its handlers read (see [`StateSet`]).
    state: fn(&Services) -> StateSet<A>,
    /// Client → server events.
    pub events: EventTable<A>,
    /// Server → client events, besides [`crate::emit::emits::ALL`].
    pub emits: &'static [&'static str],
    prepare: Arc<PrepareFn<A>>,
    on_connect: Arc<ConnectFn<A>>,
}

impl<A: Adapter> Namespace<A> {
    /// `prepare` runs after authentication, before the connect is acknowledged (rooms,
    /// presence); `on_connect` after the client has seen it.
    pub fn new<P, TP, C, TC>(path: &'static str, prepare: P, on_connect: C) -> Self
    where
        P: ConnectMiddleware<A, TP>,
        TP: Send + Sync + 'static,
        C: ConnectHandler<A, TC>,
        TC: Send + Sync + 'static,
    {
        Self {
            path,
            state: |_| StateSet::default(),
            events: EventTable::default(),
            emits: &[],
            prepare: Arc::new(move |s, auth| {
                let prepare = prepare.clone();
                Box::pin(async move { prepare.call(s, auth).await })
            }),
            on_connect: Arc::new(move |s, auth| on_connect.call(s, auth)),
        }
    }

    pub fn with_state(self, state: fn(&Services) -> StateSet<A>) -> Self {
        Self { state, ..self }
    }

    /// The states this namespace's handlers read, built from `services`.
    pub fn build_state(&self, services: &Services) -> StateSet<A> {
        (self.state)(services)
    }

    pub fn events(self, events: EventTable<A>) -> Self {
        Self { events, ..self }
    }

    pub fn emits(self, emits: &'static [&'static str]) -> Self {
        Self { emits, ..self }
    }

    /// What socketioxide registers under [`Namespace::path`], before the gateway adds its
    /// own middlewares: the connect handler, and the middleware that prepares the socket
    /// and then serves its events (its own and `shared`) through one dispatcher.
    pub fn into_connect(
        self,
        shared: EventTable<A>,
        pipeline: Pipeline,
    ) -> (OnConnect<A>, PrepareSocket<A>) {
        let table = self.events.with(shared);
        let dispatcher = Dispatcher::new(self.path, table, pipeline);
        let prepare = PrepareSocket {
            prepare: self.prepare,
            dispatcher,
        };
        (OnConnect(self.on_connect), prepare)
    }

    /// The namespace in the contract: path, events (with rate class and payload limit,
    /// `default_max_bytes` standing for the default), emits.
    pub fn contract(&self, default_max_bytes: usize) -> Json {
        json!({
            "path": self.path,
            "events": table_contract(&self.events, default_max_bytes),
            "emits": self.emits,
        })
    }
}

/// The events of `table` as the contract lists them.
pub fn table_contract<A: Adapter>(table: &EventTable<A>, default_max_bytes: usize) -> Json {
    let events: Vec<Json> = table
        .entries()
        .into_iter()
        .map(|e| json!({ "name": e.name, "class": e.class, "maxBytes": e.limit.bytes(default_max_bytes) }))
        .collect();
    Json::Array(events)
}

/// A namespace's connect handler, its type erased so every namespace registers alike.
pub struct OnConnect<A: Adapter>(Arc<ConnectFn<A>>);

impl<A: Adapter> Clone for OnConnect<A> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// The marker of [`OnConnect`] and [`PrepareSocket`] as socketioxide handlers.
pub struct Erased;

impl<A: Adapter> ConnectHandler<A, Erased> for OnConnect<A> {
    fn call(&self, s: Arc<Socket<A>>, auth: Option<Value>) {
        (self.0)(s, auth);
    }
}

/// A namespace's `prepare_socket`, then its dispatcher serving the socket's events: a
/// socket is handed its events only once it is ready for them.
pub struct PrepareSocket<A: Adapter> {
    prepare: Arc<PrepareFn<A>>,
    dispatcher: Dispatcher<A>,
}

impl<A: Adapter> Clone for PrepareSocket<A> {
    fn clone(&self) -> Self {
        Self {
            prepare: self.prepare.clone(),
            dispatcher: self.dispatcher.clone(),
        }
    }
}

impl<A: Adapter> ConnectMiddleware<A, Erased> for PrepareSocket<A> {
    async fn call<'a>(&'a self, s: Arc<Socket<A>>, auth: &'a Option<Value>) -> MiddlewareResult {
        (self.prepare)(s.clone(), auth).await?;
        self.dispatcher.serve(&s);
        Ok(())
    }
}
