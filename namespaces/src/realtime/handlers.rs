//! `/realtime` socket handlers: channels, activity, latency and drafts.

use std::collections::{BTreeMap, HashSet};

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

use super::channels::{channel_room, room_channel};
use super::outgoing::{Denied, DraftSaved, DraftUpdated, LatencyPong, Subscribed, stale_draft};
use super::payloads::{
    Activity, DraftGet, DraftSync, LatencyPing, Position, Subscribe, Unsubscribe,
};
use super::{PATH, RealtimeState};
use crate::Identity;
use crate::ack::NsError;
use crate::audience::Audience;
use crate::incoming::Incoming;
use crate::ports::{DraftWrite, Publication, Recovery};
use crate::rooms::user_room;

/// The channels the socket is subscribed to now: its channel rooms.
fn held_channels<A: Adapter>(s: &SocketRef<A>) -> HashSet<String> {
    s.rooms()
        .iter()
        .filter_map(|room| room_channel(room).map(str::to_owned))
        .collect()
}

pub(super) async fn on_subscribe<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: Subscribe| {
        let (mut subscribed, mut denied) = (Vec::new(), Vec::new());
        let (mut recovered, mut missed) = (BTreeMap::new(), BTreeMap::new());
        let (sid, cap) = (s.id.to_string(), st.inner.caps.subscriptions);
        let mut held = held_channels(&s);
        for checked in super::access::check_channels(&st, &me, body.channels.0).await {
            let channel = match checked {
                Ok(channel) => channel,
                Err(refused) => {
                    denied.push(refused);
                    continue;
                }
            };
            let channel = channel.as_str();
            if !held.contains(channel) && held.len() >= cap {
                denied.push(Denied::over_cap(channel, cap));
                continue;
            }
            match body.since.get(channel) {
                Some(position) => {
                    let replay = join_and_recover(&s, &st, channel, position).await?;
                    recovered.insert(channel.to_owned(), replay.is_some());
                    missed.insert(channel.to_owned(), replay.unwrap_or_default());
                }
                None => s.join(channel_room(channel)),
            }
            st.presence().join(channel, &me.user_id, &sid).await;
            held.insert(channel.to_owned());
            subscribed.push(channel.to_owned());
        }
        if !subscribed.is_empty() {
            crate::resume::rooms_changed(&s).await;
        }
        Ok(Subscribed {
            subscribed,
            denied,
            recovered,
            missed,
        })
    })
    .await;
}

/// Joins the channel's room at a point where every publication is either replayed or
/// delivered live, never both or neither; returns the replay, or `None` when history
/// cannot tell every publication after `at`.
async fn join_and_recover<A: Adapter>(
    s: &SocketRef<A>,
    st: &RealtimeState,
    channel: &str,
    at: &Position,
) -> Result<Option<Vec<Publication>>, NsError> {
    let room = channel_room(channel);
    let replay_until = match &st.inner.feed {
        // Cluster: join where the feed stands, replay what came before.
        Some(feed) => {
            let socket = s.clone();
            let join = Box::new(move || socket.join(room));
            Some(feed.join_at_barrier(channel, join).await?)
        }
        // One node: publishing holds the same lock, so history read now is exactly what
        // came before the join.
        None => {
            let _ordered = st.inner.order.lock(channel).await;
            s.join(room);
            return recover(st, channel, at, None).await;
        }
    };
    recover(st, channel, at, replay_until).await
}

/// The publications after `at` (up to `until`), or `None` when history cannot tell them.
async fn recover(
    st: &RealtimeState,
    channel: &str,
    at: &Position,
    until: Option<u64>,
) -> Result<Option<Vec<Publication>>, NsError> {
    let replay = match st.history().since(channel, &at.epoch.0, at.offset).await? {
        Recovery::Recovered(publications) => Some(
            publications
                .into_iter()
                .filter(|p| until.is_none_or(|last| p.offset <= last))
                .collect(),
        ),
        Recovery::Lost => None,
    };
    let label = if replay.is_some() { "true" } else { "false" };
    metrics::counter!(crate::metrics::RECOVERIES_TOTAL, "recovered" => label).increment(1);
    Ok(replay)
}

pub(super) async fn on_unsubscribe<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: Unsubscribe| {
        let sid = s.id.to_string();
        for channel in body.channels.0 {
            s.leave(channel_room(&channel));
            st.presence().leave(&channel, &me.user_id, &sid).await;
        }
        crate::resume::rooms_changed(&s).await;
        Ok(())
    })
    .await;
}

pub(super) async fn on_activity<A: Adapter>(req: Incoming<A>) {
    // The dispatcher already counted it as activity; only the payload is checked.
    req.respond(async |_: Activity| Ok(())).await;
}

pub(super) async fn on_latency_ping<A: Adapter>(State(st): State<RealtimeState>, req: Incoming<A>) {
    req.respond(async |body: LatencyPing| {
        Ok(LatencyPong {
            t: body.t,
            server_time: st.now(),
        })
    })
    .await;
}

pub(super) async fn on_draft_get<A: Adapter>(
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: DraftGet| {
        match st
            .inner
            .drafts
            .draft(&me.user_id, body.draft_id.as_str())
            .await?
        {
            Some(draft) => Ok(draft),
            None => Err(NsError::not_found("no such draft")),
        }
    })
    .await;
}

pub(super) async fn on_draft_sync<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: DraftSync| {
        let draft_id = body.draft_id.as_str();
        let write = st
            .inner
            .drafts
            .save_draft(
                &me.user_id,
                draft_id,
                i64::from(body.base_version),
                &body.content.0,
                st.now(),
            )
            .await?;
        match write {
            DraftWrite::Saved(draft) => {
                let event = DraftUpdated {
                    draft_id,
                    version: draft.version,
                    content: &draft.content,
                };
                let others = Audience::others(&s, [user_room(&me.user_id)]);
                st.broadcaster().emit_from(&s, PATH, others, &event).await;
                Ok(DraftSaved {
                    version: draft.version,
                })
            }
            DraftWrite::Stale(current) => Err(stale_draft(current)),
        }
    })
    .await;
}
