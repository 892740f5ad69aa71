//! `/realtime`: channels with recovery, presence, drafts, latency (PROTOCOL.md §3).

mod access;
pub mod channels;
mod handlers;
mod order;
pub mod outgoing;
pub use outgoing::emits;
pub mod payloads;
mod presence_handlers;
mod publish;
mod rpc;
mod sink;

use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

pub use crate::channel_rules::{Allow, ChannelRule, RulePattern, default_rules};
pub use publish::{PublishAck, publish};
pub use sink::RealtimeSink;

use crate::broadcast::Broadcaster;
use crate::dispatch::EventTable;
use crate::limits::EventClass;
use crate::namespace::Namespace;
use crate::ports::{BackendHooks, ChannelHistory, Clock, DraftStore, LiveFeed};
use crate::presence::Presence;
use crate::rooms::user_room;
use crate::services::Services;
pub use crate::services::SocketCaps;
use crate::states::StateSet;
use crate::{ErrorCode, Identity, NsError};
use channels::{channel_room, own_channel};

pub const PATH: &str = "/realtime";

/// Client → server events.
pub mod events {
    pub const SUBSCRIBE: &str = "subscribe";
    pub const UNSUBSCRIBE: &str = "unsubscribe";
    pub const PRESENCE_SET: &str = "presence:set";
    pub const PRESENCE_GET: &str = "presence:get";
    pub const PRESENCE_WATCH: &str = "presence:watch";
    pub const PRESENCE_UNWATCH: &str = "presence:unwatch";
    pub const PRESENCE_MEMBERS: &str = "presence:members";
    pub const PRESENCE_STATS: &str = "presence:stats";
    pub const ACTIVITY: &str = "activity";
    pub const DRAFT_GET: &str = "draft:get";
    pub const DRAFT_SYNC: &str = "draft:sync";
    pub const LATENCY_PING: &str = "latency:ping";
    pub const RPC: &str = "rpc";
}

/// `/realtime`: each event with its rate class and handler, and what it emits.
pub fn namespace<A: Adapter>() -> Namespace<A> {
    use EventClass::{All, Draft, Presence, Rpc};
    use handlers::*;
    use presence_handlers::*;
    let events = EventTable::default()
        .on(events::SUBSCRIBE, All, on_subscribe::<A>)
        .on(events::UNSUBSCRIBE, All, on_unsubscribe::<A>)
        .on(events::PRESENCE_SET, Presence, on_presence_set::<A>)
        .on(events::PRESENCE_GET, Presence, on_presence_get::<A>)
        .on(events::PRESENCE_WATCH, Presence, on_presence_watch::<A>)
        .on(events::PRESENCE_UNWATCH, Presence, on_presence_unwatch::<A>)
        .on(events::PRESENCE_MEMBERS, Presence, on_presence_members::<A>)
        .on(events::PRESENCE_STATS, Presence, on_presence_stats::<A>)
        .on(events::ACTIVITY, All, on_activity::<A>)
        .on(events::DRAFT_GET, All, on_draft_get::<A>)
        .on(events::DRAFT_SYNC, Draft, on_draft_sync::<A>)
        .on(events::LATENCY_PING, All, on_latency_ping::<A>)
        .on(events::RPC, Rpc, rpc::on_rpc::<A>);
    Namespace::new(PATH, prepare_socket::<A>, on_connect::<A>)
        .with_state(state::<A>)
        .on_restore(|presence, s, rooms| Box::pin(rejoin_channels(presence, s, rooms)))
        .events(events)
        .emits(emits::ALL)
}

/// A resumed socket is back in its channels' rooms: those its identity no longer allows
/// (the token, the connect hook's grants or the subscribe hook may have changed since) are
/// left again, to be told once it is connected ([`on_connect`]); presence counts it in the
/// others again (its old socket's disconnect had it leave them).
async fn rejoin_channels<A: Adapter>(presence: &Presence, s: &SocketRef<A>, rooms: &[String]) {
    let Some(me) = s.extensions.get::<Identity>() else {
        return;
    };
    let mut lost = Vec::new();
    if let Some(state) = s.extensions.remove::<RealtimeState>() {
        lost = access::lost_channels(s, &state, &me).await;
        if !lost.is_empty() {
            s.leave(access::rooms_of(&lost));
            crate::resume::rooms_changed(s).await;
            s.extensions.insert(LeftOnResume(lost.clone()));
        }
    }
    let sid = s.id.to_string();
    let own_channel = own_channel(&me.user_id);
    for channel in rooms.iter().filter_map(|room| channels::room_channel(room)) {
        if channel != own_channel && !lost.iter().any(|ch| ch == channel) {
            presence.join(channel, &me.user_id, &sid).await;
        }
    }
}

/// Channels a resumed socket got back but may no longer hold: it is told once connected.
#[derive(Clone)]
struct LeftOnResume(Vec<String>);

fn state<A: Adapter>(services: &Services) -> StateSet<A> {
    StateSet::default().with(RealtimeState::new(services))
}

/// What `/realtime` handlers share. Cheap to clone.
#[derive(Clone)]
pub struct RealtimeState {
    inner: Arc<Inner>,
}

struct Inner {
    history: Arc<dyn ChannelHistory>,
    /// Cluster mode: publications reach sockets through the feed, not from the publisher.
    feed: Option<Arc<dyn LiveFeed>>,
    drafts: Arc<dyn DraftStore>,
    presence: Presence,
    clock: Arc<dyn Clock>,
    rules: Vec<ChannelRule>,
    /// The subscribe hook (for `backend` rules) and RPC.
    hooks: Arc<dyn BackendHooks>,
    caps: SocketCaps,
    order: order::ChannelLocks,
    broadcaster: Broadcaster,
}

impl RealtimeState {
    pub fn new(services: &Services) -> Self {
        let config = services.config.realtime.clone();
        Self {
            inner: Arc::new(Inner {
                history: services.history.clone(),
                feed: services.feed.clone(),
                drafts: services.drafts.clone(),
                presence: services.presence.clone(),
                clock: services.clock.clone(),
                rules: config.rules,
                hooks: services.hooks.clone(),
                caps: config.caps,
                order: order::ChannelLocks::default(),
                broadcaster: Broadcaster::new(services.packets.clone()),
            }),
        }
    }

    /// How room emits go out (through the packet feed with recovery on).
    pub fn broadcaster(&self) -> &Broadcaster {
        &self.inner.broadcaster
    }

    pub fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    pub fn history(&self) -> &dyn ChannelHistory {
        self.inner.history.as_ref()
    }

    pub fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }
}

/// Connect middleware, after authentication: the user's rooms, the auto-subscription
/// to `user:{sub}` and presence, all before the connect is acknowledged (socketioxide
/// runs the connect handler only after that; the events are served once this is done).
pub async fn prepare_socket<A: Adapter>(
    s: SocketRef<A>,
    State(state): State<RealtimeState>,
    Extension(me): Extension<Identity>,
) -> Result<(), NsError> {
    let own_channel = own_channel(&me.user_id);
    s.join([user_room(&me.user_id), channel_room(&own_channel)]);
    if s.recovered() {
        // For `rejoin_channels`, which checks the rooms the session gets back; only a
        // resumed socket carries it, and only until then.
        s.extensions.insert(state.clone());
    }
    let presence = state.presence();
    presence.track_socket(&s, &me, PATH).await;
    presence
        .join(&own_channel, &me.user_id, &s.id.to_string())
        .await;
    Ok(())
}

/// After `auth:refresh` replaced the socket's identity: leaves the channels the new
/// identity no longer allows (rules, grants, and the backend's subscribe hook asked again)
/// and tells the client `unsubscribed {channels, code: "forbidden"}`, so grants and roles
/// of the first token do not outlive it.
pub async fn reauthorize<A: Adapter>(s: &SocketRef<A>, state: &RealtimeState, me: &Identity) {
    let lost = access::lost_channels(s, state, me).await;
    if lost.is_empty() {
        return;
    }
    s.leave(access::rooms_of(&lost));
    // A resumed session must not get back what the new token no longer allows.
    crate::resume::rooms_changed(s).await;
    let sid = s.id.to_string();
    for channel in &lost {
        state.presence().leave(channel, &me.user_id, &sid).await;
    }
    tell_unsubscribed(s, lost);
}

/// `unsubscribed {channels, code: "forbidden"}`: channels the server made the socket leave.
fn tell_unsubscribed<A: Adapter>(s: &SocketRef<A>, channels: Vec<String>) {
    let told = outgoing::Unsubscribed {
        channels,
        code: ErrorCode::Forbidden,
    };
    if let Err(err) = crate::emit::tell(s, &told) {
        tracing::debug!(error = %err, "unsubscribed not sent");
    }
}

pub async fn on_connect<A: Adapter>(s: SocketRef<A>, Extension(me): Extension<Identity>) {
    if let Some(LeftOnResume(channels)) = s.extensions.remove::<LeftOnResume>() {
        tell_unsubscribed(&s, channels);
    }
    // No socket id: it is the Engine.IO session id, which must stay out of logs.
    tracing::debug!(ns = s.ns(), user = %me.user_id, "connected");
}
