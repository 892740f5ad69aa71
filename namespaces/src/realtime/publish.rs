//! Publishing to a channel: number it, keep it for recovery, deliver it.

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::channels::channel_room;
use super::payloads::Publish;
use super::{PATH, RealtimeState, emits};
use crate::NsError;
use crate::broadcast::broadcast;

/// The answer to a publish: where the publication sits in its channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishAck {
    pub offset: u64,
    pub epoch: String,
}

/// Appends to the channel's history and emits `event` to its subscribers (in cluster mode
/// the history's feed does, on every node). A repeated `idempotencyKey` returns the first
/// publication's position and emits nothing.
#[tracing::instrument(skip_all, fields(ns = PATH, channel = %req.channel))]
pub async fn publish<A: Adapter>(
    io: &SocketIo<A>,
    state: &RealtimeState,
    req: Publish,
) -> Result<PublishAck, NsError> {
    // Cluster: the history's feed delivers, in offset order, on every node.
    // One node: held until the sockets have the publication, so offsets reach them in order.
    let _ordered = match state.inner.feed {
        Some(_) => None,
        None => Some(state.inner.order.lock(req.channel.as_str()).await),
    };
    let key = req.idempotency_key.as_ref().map(|k| k.as_str());
    let (publication, is_new) = state
        .history()
        .append(
            req.channel.as_str(),
            &req.event.0,
            req.data,
            state.now(),
            key,
        )
        .await?;
    let delivers_here = is_new && state.inner.feed.is_none();
    if delivers_here && let Some(ns) = io.of(PATH) {
        let subscribers = ns.to(channel_room(&publication.channel));
        fanout(subscribers.clone().sockets().len());
        let emit = subscribers.emit(emits::EVENT, &publication);
        if let Err(err) = broadcast(PATH, emits::EVENT, emit).await {
            tracing::warn!(error = %err, "publication stored but not broadcast");
        }
    }
    Ok(PublishAck {
        offset: publication.offset,
        epoch: publication.epoch,
    })
}

/// Sockets on this node one publication goes to.
pub(super) fn fanout(sockets: usize) {
    metrics::histogram!(crate::metrics::PUBLICATION_FANOUT_SOCKETS).record(sockets as f64);
}
