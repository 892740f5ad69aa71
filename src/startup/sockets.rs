//! The Socket.IO side: the builder with the gateway's states and each namespace's, the
//! namespaces (from their descriptors) and their middlewares, on the in-process adapter (one node) or the Redis adapter (a cluster).
//! The adapter type ends here: the rest of the gateway sees a [`Gateway`].

use std::sync::Arc;

use anyhow::Context;

use axum::Router;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_core::adapter::{DefinedAdapter, Spawnable};
use socketioxide_redis::CustomRedisAdapter;
use switchyard_namespaces::broadcast::{Broadcaster, PacketDelivery};
use switchyard_namespaces::dispatch::Pipeline;
use switchyard_namespaces::ports::{PacketSink, PublicationSink};
use switchyard_namespaces::presence::PresenceSink;
use switchyard_namespaces::realtime::RealtimeSink;
use switchyard_namespaces::ws::{ChatApi, ServerChat};
use switchyard_namespaces::{Namespace, Services, SharedStates, StateSet};

use crate::auth::{self, TokenVerifier};
use crate::backend::{Adapter as BackendAdapter, Backend};
use crate::cluster::redis::ResilientDriver;
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::integration::hooks::ConnectHook;
use crate::shutdown::{Drain, refuse_while_draining};

/// The Engine.IO limit sits well above the event limit so an oversized event is answered
/// `payload_too_large` on a kept connection; only a frame over this closes it.
const MIN_ENGINE_PAYLOAD: usize = 1024 * 1024;

/// What a WebSocket reads from its socket at a time, and the buffer each connection keeps
/// for it (engineioxide's default is 4 KiB, a fifth of an idle connection's heap then).
/// Most events fit; a larger frame costs one more read, once its header has told the
/// reader to make room for all of it.
const WS_READ_BUFFER: usize = 256;

/// The gateway's own states, read by every namespace's middlewares and by `auth:refresh`.
pub struct GatewayStates {
    pub drain: Drain,
    pub limits: auth::RateLimiting,
    pub auth_expiry: auth::ExpiryClock,
    /// The backend's connect hook, asked by every namespace's authentication.
    pub connect_hook: ConnectHook,
}

/// The Socket.IO server, ready to wrap the HTTP router.
pub struct Mounted {
    /// Wraps the merged router with the Socket.IO layer (after merging, or `/socket.io/`
    /// would answer 404).
    pub apply: Box<dyn FnOnce(Router) -> Router + Send>,
    pub gateway: Arc<dyn Gateway>,
    pub presence_sink: Arc<dyn PresenceSink>,
    pub publication_sink: Arc<dyn PublicationSink>,
    /// The namespaces' states, for the HTTP API to share.
    pub states: SharedStates,
    /// `/ws` for the HTTP API; `None` only if `/ws` is not mounted.
    pub chat: Option<Arc<dyn ChatApi>>,
    /// Where the packet feed hands room emits to this node's sockets.
    pub packet_sink: Arc<dyn PacketSink>,
    /// What runs beside the sockets (the recovery sessions' refresher).
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Mounts on the adapter the backend picks: Redis in cluster mode, in process otherwise.
pub async fn mount(
    settings: &Settings,
    verifier: Arc<TokenVerifier>,
    gateway: GatewayStates,
    services: &Services,
    backend: &Backend,
) -> anyhow::Result<Mounted> {
    let pipeline = Pipeline {
        presence: services.presence.clone(),
        max_payload_bytes: settings.http.max_payload_bytes,
        resumption: services.resumption.clone(),
    };
    let builder = configured(settings, verifier.clone(), gateway);
    let builder = match &services.resumption {
        Some(resumption) => builder
            .with_connection_state_recovery(auth::ResumeGate::new(verifier, resumption.clone())),
        None => builder,
    };
    match backend.connect_adapter().await? {
        BackendAdapter::Redis(adapter) => {
            let builder = builder.with_adapter::<CustomRedisAdapter<_, ResilientDriver>>(adapter);
            let namespaces = switchyard_namespaces::namespaces();
            let (builder, states) = namespace_states(&namespaces, services).install(builder);
            let (layer, io) = builder.build_layer();
            for init in register_namespaces(&io, namespaces, &pipeline) {
                init.await.context("subscribing a namespace in Redis")?;
            }
            refuse_other_namespaces(&io);
            tracing::info!("cluster mode: Socket.IO rooms shared through Redis");
            Ok(finish((layer, io), states, services))
        }
        BackendAdapter::InProcess => {
            let namespaces = switchyard_namespaces::namespaces();
            let (builder, states) = namespace_states(&namespaces, services).install(builder);
            let (layer, io) = builder.build_layer();
            register_namespaces(&io, namespaces, &pipeline)
                .into_iter()
                .for_each(Spawnable::spawn);
            refuse_other_namespaces(&io);
            Ok(finish((layer, io), states, services))
        }
    }
}

/// Every namespace's states, each built by its descriptor.
fn namespace_states<A: Adapter>(namespaces: &[Namespace<A>], services: &Services) -> StateSet<A> {
    namespaces.iter().fold(StateSet::default(), |set, ns| {
        set.merge(ns.build_state(services))
    })
}

fn configured(
    settings: &Settings,
    verifier: Arc<TokenVerifier>,
    states: GatewayStates,
) -> SocketIoBuilder {
    let engine_limit = (settings.http.max_payload_bytes * 4).max(MIN_ENGINE_PAYLOAD);
    let builder = SocketIo::builder()
        .with_state(verifier)
        .with_state(states.drain)
        .with_state(states.limits)
        .with_state(states.auth_expiry)
        .with_state(states.connect_hook)
        .max_payload(engine_limit as u64)
        .ws_max_message_size(engine_limit)
        .ws_max_frame_size(engine_limit)
        .ws_read_buffer_size(WS_READ_BUFFER)
        // A session with no namespace is closed after this, on both protocols and once its
        // last namespace has left (vendor/socketioxide/PATCHES.md); the `/` a protocol 4
        // session is put on serves nothing, so it does not count (item 6 there).
        .connect_timeout(settings.connections.connect_timeout)
        .v4_root_holds_connection(false);
    // A client whose queue stays full is closed (vendor/socketioxide/PATCHES.md, item 4).
    match settings.connections.slow_consumer_grace {
        None => builder,
        Some(grace) => builder.slow_consumer_timeout(grace),
    }
}

fn finish<A: Adapter + DefinedAdapter>(
    (layer, io): (SocketIoLayer<A>, SocketIo<A>),
    states: SharedStates,
    services: &Services,
) -> Mounted {
    let broadcaster = Broadcaster::new(services.packets.clone());
    let refresher = services
        .resumption
        .as_ref()
        .map(|r| r.spawn_refresher(io.clone(), switchyard_namespaces::paths()));
    let chat = ServerChat::new(io.clone(), &states).map(|c| Arc::new(c) as Arc<dyn ChatApi>);
    Mounted {
        chat,
        states,
        tasks: refresher.into_iter().collect(),
        packet_sink: Arc::new(PacketDelivery::new(io.clone())),
        apply: Box::new(move |router| router.layer(layer)),
        gateway: Arc::new(io.clone()),
        presence_sink: Arc::new(RealtimeSink::new(io.clone(), broadcaster.clone())),
        publication_sink: Arc::new(RealtimeSink::new(io, broadcaster)),
    }
}

/// Registers the namespaces; returns what the adapter must do to set each up (nothing in
/// process, subscriptions for Redis). Until a namespace is set up, connections to it would
/// fall to the catch-all and be refused, so [`refuse_other_namespaces`] comes after.
fn register_namespaces<A: Adapter + DefinedAdapter>(
    io: &SocketIo<A>,
    namespaces: Vec<Namespace<A>>,
    pipeline: &Pipeline,
) -> Vec<A::InitRes> {
    let mut inits = Vec::new();
    for namespace in namespaces {
        let path = namespace.path;
        let (on_connect, prepare_socket) =
            namespace.into_connect(auth::shared_events(), pipeline.clone());
        // Middlewares run last-added first: refuse while draining, authenticate, then
        // prepare the socket (and serve its events).
        let handler = on_connect
            .with(prepare_socket)
            .with(auth::authenticate)
            .with(refuse_while_draining);
        inits.push(io.ns(path, handler));
    }
    inits.push(io.ns("/", accept_nothing.with(auth::main_namespace)));
    inits
}

/// What the gateway serves, as `switchyard contract` prints it: per namespace its path,
/// client events (with rate class and payload limit) and emits; and what every namespace
/// shares.
pub fn contract(settings: &Settings) -> serde_json::Value {
    use socketioxide::adapter::LocalAdapter as Local;
    use switchyard_namespaces::namespace::table_contract;
    let max = settings.http.max_payload_bytes;
    let namespaces: Vec<_> = switchyard_namespaces::namespaces::<Local>()
        .iter()
        .map(|ns| ns.contract(max))
        .collect();
    let shared_emits: Vec<&str> = switchyard_namespaces::emit::emits::ALL
        .iter()
        .chain(auth::shared_emits::ALL)
        .copied()
        .collect();
    serde_json::json!({
        "namespaces": namespaces,
        "shared": {
            "events": table_contract(&auth::shared_events::<Local>(), max),
            "emits": shared_emits,
        },
    })
}

/// Every namespace the contract does not name answers `unknown_namespace` (`/` does too,
/// except the one protocol 4 sessions are put on: [`auth::main_namespace`]).
fn refuse_other_namespaces<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) {
    if let Err(err) = io.dyn_ns("/{*rest}", accept_nothing.with(auth::refuse_namespace)) {
        tracing::error!(error = %err, "catch-all namespace not registered");
    }
}

/// Serves nothing: the refusing middlewares stop every connect before it, except that of
/// a protocol 4 session's implicit `/`, whose events are then ignored (no handler).
async fn accept_nothing<A: Adapter>(_: SocketRef<A>) {}
