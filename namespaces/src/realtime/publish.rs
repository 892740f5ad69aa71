//! Publishing to a channel: number it, keep it for recovery, deliver it.

use std::sync::LazyLock;
use std::time::Duration;

use moka::sync::Cache;
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::operators::BroadcastOperators;

use super::channels::channel_room;
use super::payloads::Publish;
use super::{PATH, RealtimeState};
use crate::NsError;
use crate::audience::Audience;

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
        let room = channel_room(&publication.channel);
        sample_fanout(&publication.channel, &ns.clone().to(room.clone()));
        let subscribers = Audience::room(room);
        state
            .broadcaster()
            .emit_in(ns, PATH, subscribers, &publication)
            .await;
    }
    Ok(PublishAck {
        offset: publication.offset,
        epoch: publication.epoch,
    })
}

/// Records how many sockets on this node a publication to `channel` goes to, for one
/// publication per channel a second at most: counting looks up every subscriber, which
/// costs as much again as handing each one the publication, and a large channel may
/// publish many times a second.
pub(super) fn sample_fanout<A: Adapter>(channel: &str, subscribers: &BroadcastOperators<A>) {
    static SAMPLED: LazyLock<Cache<String, ()>> = LazyLock::new(|| {
        Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(1))
            .build()
    });
    if !SAMPLED.entry_by_ref(channel).or_insert(()).is_fresh() {
        return;
    }
    let sockets = subscribers.clone().sockets().len();
    metrics::histogram!(crate::metrics::PUBLICATION_FANOUT_SOCKETS).record(sockets as f64);
}
