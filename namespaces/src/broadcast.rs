//! Emits to rooms, counted and traced alike wherever they happen.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::IgnoredAny;
use socketioxide::SocketIo;
use socketioxide::ack::AckStream;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use tracing::Instrument;

use crate::audience::Audience;
use crate::emit::Emit;
use crate::ports::{Logged, PacketFeed, PacketSink};

/// Room emits without an ack request. With connection-state recovery on, each goes
/// through the packet feed: logged, then sent with its offset as the last argument (as
/// socket.io does) by every node in log order. Without it, or when the feed cannot take
/// it, it is sent at once without an offset.
#[derive(Clone, Default)]
pub struct Broadcaster {
    feed: Option<Arc<dyn PacketFeed>>,
}

impl Broadcaster {
    pub fn new(feed: Option<Arc<dyn PacketFeed>>) -> Self {
        Self { feed }
    }

    /// Whether room emits go through the packet log (connection-state recovery is on).
    pub fn logs(&self) -> bool {
        self.feed.is_some()
    }

    /// Emits `payload` on `ns` from `sender`'s handler to `audience`.
    pub async fn emit_from<A: Adapter, E: Emit>(
        &self,
        sender: &SocketRef<A>,
        ns: &'static str,
        audience: Audience,
        payload: &E,
    ) {
        if !self.through_feed(ns, &audience, payload).await {
            let base = sender.within(Vec::<String>::new());
            emit_to(audience.select(base), ns, payload).await;
        }
    }

    /// Emits `payload` on the namespace `namespace` (`io.of(ns)`) to `audience`.
    pub async fn emit_in<A: Adapter, E: Emit>(
        &self,
        namespace: BroadcastOperators<A>,
        ns: &'static str,
        audience: Audience,
        payload: &E,
    ) {
        if !self.through_feed(ns, &audience, payload).await {
            emit_to(audience.select(namespace), ns, payload).await;
        }
    }

    /// Whether the feed took the packet.
    async fn through_feed<E: Emit>(
        &self,
        ns: &'static str,
        audience: &Audience,
        payload: &E,
    ) -> bool {
        let Some(feed) = &self.feed else { return false };
        let data = match serde_json::to_value(payload) {
            Ok(data) => data,
            Err(err) => {
                tracing::warn!(ns, event = E::EVENT, error = %err, "payload not logged");
                return false;
            }
        };
        let sent = feed.send(ns, audience.logged(E::EVENT, data));
        match sent
            .instrument(tracing::info_span!("broadcast", ns, event = E::EVENT))
            .await
        {
            Ok(()) => {
                crate::metrics::broadcast(ns, E::EVENT);
                true
            }
            Err(err) => {
                // Sent now without an offset: a socket that misses it cannot resume past it.
                tracing::warn!(ns, event = E::EVENT, error = %err, "packet not logged");
                crate::metrics::unlogged(ns);
                false
            }
        }
    }
}

/// Hands the feed's packets to this node's sockets, each with its offset last.
pub struct PacketDelivery<A: Adapter> {
    io: SocketIo<A>,
}

impl<A: Adapter> PacketDelivery<A> {
    pub fn new(io: SocketIo<A>) -> Self {
        Self { io }
    }
}

#[async_trait::async_trait]
impl<A: Adapter> PacketSink for PacketDelivery<A> {
    async fn deliver(&self, ns: &str, logged: Logged) {
        let Some(namespace) = self.io.of(ns) else {
            return;
        };
        let audience = Audience::of_logged(&logged.packet);
        let to = audience.select_local(namespace);
        let event = logged.packet.event.clone();
        let args = (logged.packet.data, logged.offset);
        if let Err(err) = to.emit(event.clone(), &args).await {
            tracing::warn!(ns, event, error = %err, "broadcast failed");
        }
    }
}

static IN_BACKGROUND: AtomicU64 = AtomicU64::new(0);

/// Emits `payload` to the sockets `to` selects on `ns`, counted and traced. A failure
/// means the adapter could not reach its peers and the event is lost for them, which the
/// log must show.
pub async fn emit_to<A: Adapter, E: Emit>(
    to: BroadcastOperators<A>,
    ns: &'static str,
    payload: &E,
) {
    if let Err(err) = broadcast(ns, E::EVENT, to.emit(E::EVENT, payload)).await {
        tracing::warn!(ns, event = E::EVENT, error = %err, "broadcast failed");
    }
}

/// [`emit_to`], with the packet's offset in the packet log as its last argument (a
/// packet the log took elsewhere, such as a channel publication logged with its history).
pub async fn emit_logged_to<A: Adapter, E: Emit>(
    to: BroadcastOperators<A>,
    ns: &'static str,
    payload: &E,
    offset: &str,
) {
    if let Err(err) = broadcast(ns, E::EVENT, to.emit(E::EVENT, &(payload, offset))).await {
        tracing::warn!(ns, event = E::EVENT, error = %err, "broadcast failed");
    }
}

/// [`emit_to`], asking every socket for an ack: the acks as they come, or `None` when the
/// emit failed (logged). Any answer counts as an ack, so its content is not decoded.
pub async fn emit_with_ack_to<A: Adapter, E: Emit>(
    to: BroadcastOperators<A>,
    ns: &'static str,
    payload: &E,
) -> Option<AckStream<IgnoredAny, A>> {
    let emit = to.emit_with_ack::<_, IgnoredAny>(E::EVENT, payload);
    match broadcast(ns, E::EVENT, emit).await {
        Ok(acks) => Some(acks),
        Err(err) => {
            tracing::warn!(ns, event = E::EVENT, error = %err, "broadcast failed");
            None
        }
    }
}

/// Runs `emit` (an emit to rooms of `ns`) in a `broadcast` span and counts it.
async fn broadcast<F: Future>(ns: &'static str, event: &'static str, emit: F) -> F::Output {
    crate::metrics::broadcast(ns, event);
    emit.instrument(tracing::info_span!("broadcast", ns, event))
        .await
}

/// Broadcasts running in tasks of their own that have not finished: a draining node waits
/// for zero before it closes the namespaces they go out through.
pub fn background_broadcasts() -> u64 {
    IN_BACKGROUND.load(Ordering::SeqCst)
}

/// Counts one background broadcast for as long as it lives; moved into its task.
pub(crate) struct InBackground;

impl InBackground {
    pub(crate) fn start() -> Self {
        IN_BACKGROUND.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for InBackground {
    fn drop(&mut self) {
        IN_BACKGROUND.fetch_sub(1, Ordering::SeqCst);
    }
}
