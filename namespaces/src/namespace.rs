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

use socketioxide::extract::SocketRef;
use socketioxide::socket::DisconnectReason;

use crate::dispatch::{Dispatcher, EventTable, Pipeline};
use crate::presence::Presence;
use crate::resume::Resumption;
use crate::services::Services;
use crate::states::StateSet;

type MiddlewareResult = Result<(), Box<dyn Display + Send>>;
type Prepared<'a> = Pin<Box<dyn Future<Output = MiddlewareResult> + Send + 'a>>;
type PrepareFn<A> = dyn for<'a> Fn(Arc<Socket<A>>, &'a Option<Value>) -> Prepared<'a> + Send + Sync;
type ConnectFn<A> = dyn Fn(Arc<Socket<A>>, Option<Value>) + Send + Sync;
type Restored<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
/// What a namespace does with the rooms a resumed session got back (see
/// [`Namespace::on_restore`]).
pub type RestoreFn<A> = for<'a> fn(&'a Presence, &'a SocketRef<A>, &'a [String]) -> Restored<'a>;

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
    restore: Option<RestoreFn<A>>,
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
            restore: None,
        }
    }

    /// What the namespace restores besides the rooms of a resumed session (presence in
    /// its channels, say), given those rooms, before the connect is answered.
    pub fn on_restore(self, restore: RestoreFn<A>) -> Self {
        Self {
            restore: Some(restore),
            ..self
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
        let lifecycle = Lifecycle {
            ns: self.path,
            presence: pipeline.presence.clone(),
            resumption: pipeline.resumption.clone(),
            restore: self.restore,
        };
        let dispatcher = Dispatcher::new(self.path, table, pipeline);
        let prepare = PrepareSocket {
            prepare: self.prepare,
            dispatcher,
            lifecycle: lifecycle.clone(),
        };
        let on_connect = OnConnect {
            on_connect: self.on_connect,
            lifecycle,
        };
        (on_connect, prepare)
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

/// What every namespace does alike as a socket comes and goes: presence forgets it when
/// it disconnects, and with connection-state recovery its session is saved, restored and
/// replayed.
struct Lifecycle<A: Adapter> {
    ns: &'static str,
    presence: Presence,
    resumption: Option<Resumption>,
    restore: Option<RestoreFn<A>>,
}

impl<A: Adapter> Clone for Lifecycle<A> {
    fn clone(&self) -> Self {
        Self {
            ns: self.ns,
            presence: self.presence.clone(),
            resumption: self.resumption.clone(),
            restore: self.restore,
        }
    }
}

impl<A: Adapter> Lifecycle<A> {
    /// After the namespace's `prepare_socket`: the session (a resumed one's rooms back,
    /// and what the namespace makes of them), and the one disconnect handler.
    async fn prepared(&self, s: &SocketRef<A>) {
        if let Some(resumption) = &self.resumption {
            let rooms = resumption.prepare(s, self.ns).await;
            if let (Some(restore), false) = (self.restore, rooms.is_empty()) {
                restore(&self.presence, s, &rooms).await;
            }
        }
        let this = self.clone();
        s.on_disconnect(
            move |s: SocketRef<A>, reason: DisconnectReason| async move {
                this.presence.untrack_socket(&s, reason).await;
                if let Some(resumption) = &this.resumption {
                    resumption.closed(&s, reason).await;
                }
            },
        );
    }
}

/// A namespace's connect handler, its type erased so every namespace registers alike;
/// a restored socket is given what it missed first.
pub struct OnConnect<A: Adapter> {
    on_connect: Arc<ConnectFn<A>>,
    lifecycle: Lifecycle<A>,
}

impl<A: Adapter> Clone for OnConnect<A> {
    fn clone(&self) -> Self {
        Self {
            on_connect: self.on_connect.clone(),
            lifecycle: self.lifecycle.clone(),
        }
    }
}

/// The marker of [`OnConnect`] and [`PrepareSocket`] as socketioxide handlers.
pub struct Erased;

impl<A: Adapter> ConnectHandler<A, Erased> for OnConnect<A> {
    fn call(&self, s: Arc<Socket<A>>, auth: Option<Value>) {
        let Some(resumption) = self.lifecycle.resumption.clone().filter(|_| s.recovered()) else {
            (self.on_connect)(s, auth);
            return;
        };
        let (on_connect, ns) = (self.on_connect.clone(), self.lifecycle.ns);
        tokio::spawn(async move {
            let fields = auth
                .as_ref()
                .and_then(|a| a.as_str())
                .and_then(|text| serde_json::from_str::<Json>(text).ok());
            resumption
                .replay(&SocketRef::from(s.clone()), ns, fields.as_ref())
                .await;
            on_connect(s, auth);
        });
    }
}

/// A namespace's `prepare_socket`, then its dispatcher serving the socket's events: a
/// socket is handed its events only once it is ready for them.
pub struct PrepareSocket<A: Adapter> {
    prepare: Arc<PrepareFn<A>>,
    dispatcher: Dispatcher<A>,
    lifecycle: Lifecycle<A>,
}

impl<A: Adapter> Clone for PrepareSocket<A> {
    fn clone(&self) -> Self {
        Self {
            prepare: self.prepare.clone(),
            dispatcher: self.dispatcher.clone(),
            lifecycle: self.lifecycle.clone(),
        }
    }
}

impl<A: Adapter> ConnectMiddleware<A, Erased> for PrepareSocket<A> {
    async fn call<'a>(&'a self, s: Arc<Socket<A>>, auth: &'a Option<Value>) -> MiddlewareResult {
        (self.prepare)(s.clone(), auth).await?;
        self.lifecycle.prepared(&SocketRef::from(s.clone())).await;
        self.dispatcher.serve(&s);
        Ok(())
    }
}
