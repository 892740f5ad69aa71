//! `/realtime` presence handlers: set, get, watch, unwatch, members, stats.

use std::collections::HashSet;

use serde_json::json;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

use super::channels::channel_room;
use super::payloads::{PresenceMembers, PresenceSet, PresenceUsers};
use super::sink::{room_watched, watch_room};
use super::{PATH, RealtimeState, events};
use crate::Identity;
use crate::ack::{ErrorCode, NsError};
use crate::dispatch::EventTable;
use crate::incoming::Incoming;
use crate::ports::ChosenStatus;
use crate::presence::Status;

pub(super) fn add<A: Adapter>(table: EventTable<A>) -> EventTable<A> {
    table
        .on(events::PRESENCE_SET, on_presence_set::<A>)
        .on(events::PRESENCE_GET, on_presence_get::<A>)
        .on(events::PRESENCE_WATCH, on_presence_watch::<A>)
        .on(events::PRESENCE_UNWATCH, on_presence_unwatch::<A>)
        .on(events::PRESENCE_MEMBERS, on_presence_members::<A>)
        .on(events::PRESENCE_STATS, on_presence_stats::<A>)
}

#[tracing::instrument(skip_all, fields(ns = PATH, event = events::PRESENCE_SET, user = %me.user_id))]
async fn on_presence_set<A: Adapter>(
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(st.inner.max_payload_bytes, async |body: PresenceSet| {
        let message = body.message.map(|m| m.0).filter(|m| !m.is_empty());
        st.presence()
            .set_status(&me.user_id, body.status, message)
            .await;
        Ok(json!({}))
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = PATH, event = events::PRESENCE_GET, user = %me.user_id))]
async fn on_presence_get<A: Adapter>(
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(st.inner.max_payload_bytes, async |body: PresenceUsers| {
        let users = st.presence().views(&body.user_ids.0).await;
        Ok(st.presence().answer(json!({ "users": users })))
    })
    .await;
}

/// Watches the users, up to the socket's cap; the ack tells the watched users as
/// `presence:get` does, and `denied`, only when there are any, those beyond the cap
/// (`invalid_payload` naming it).
#[tracing::instrument(skip_all, fields(ns = PATH, event = events::PRESENCE_WATCH, user = %me.user_id))]
async fn on_presence_watch<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(st.inner.max_payload_bytes, async |body: PresenceUsers| {
        let cap = st.inner.caps.watched_users;
        let mut held: HashSet<String> = s
            .rooms()
            .iter()
            .filter_map(|room| room_watched(room).map(str::to_owned))
            .collect();
        let (mut watched, mut denied) = (Vec::new(), Vec::new());
        for user in body.user_ids.0 {
            if held.contains(&user) || held.len() < cap {
                held.insert(user.clone());
                watched.push(user);
            } else {
                denied.push(json!({
                    "userId": user,
                    "code": ErrorCode::InvalidPayload,
                    "message": format!("a socket watches at most {cap} users (max_watched_users_per_socket)"),
                }));
            }
        }
        s.join(watched.iter().map(|u| watch_room(u)).collect::<Vec<_>>());
        let mut ack = json!({ "users": st.presence().views(&watched).await });
        // Only when the cap refused someone: below it the ack is what it always was.
        if !denied.is_empty() {
            ack["denied"] = json!(denied);
        }
        Ok(st.presence().answer(ack))
    })
    .await;
}

#[tracing::instrument(skip_all, fields(ns = PATH, event = events::PRESENCE_UNWATCH, user = %me.user_id))]
async fn on_presence_unwatch<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(st.inner.max_payload_bytes, async |body: PresenceUsers| {
        s.leave(
            body.user_ids
                .0
                .iter()
                .map(|u| watch_room(u))
                .collect::<Vec<_>>(),
        );
        Ok(json!({}))
    })
    .await;
}

/// Members of a channel the socket is subscribed to; invisible users are left out.
#[tracing::instrument(skip_all, fields(ns = PATH, event = events::PRESENCE_MEMBERS, user = %me.user_id))]
async fn on_presence_members<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(st.inner.max_payload_bytes, async |body: PresenceMembers| {
        let channel = body.channel.as_str();
        ensure_subscribed(&s, channel)?;
        let users = st.presence().registry().members(channel).await;
        let records = st.presence().registry().records(&users).await;
        let members: Vec<_> = st
            .presence()
            .views(&users)
            .await
            .into_iter()
            .filter(|view| {
                let invisible = records
                    .iter()
                    .any(|r| r.user_id == view.user_id && r.chosen == ChosenStatus::Invisible);
                !invisible && view.status != Status::Offline
            })
            .map(|view| json!({ "userId": view.user_id, "status": view.status }))
            .collect();
        Ok(st.presence().answer(json!({ "members": members })))
    })
    .await;
}

/// Users and sockets in a channel the socket is subscribed to, on every node: what a
/// client of a channel too big for `presence:join`/`presence:leave` shows instead.
/// Invisible users count: the numbers name no one.
#[tracing::instrument(skip_all, fields(ns = PATH, event = events::PRESENCE_STATS, user = %me.user_id))]
async fn on_presence_stats<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(st.inner.max_payload_bytes, async |body: PresenceMembers| {
        let channel = body.channel.as_str();
        ensure_subscribed(&s, channel)?;
        let stats = st.presence().registry().stats(channel).await;
        let counts = json!({ "users": stats.users, "sockets": stats.sockets });
        Ok(st.presence().answer(counts))
    })
    .await;
}

/// Who is in a channel is told only to its subscribers.
fn ensure_subscribed<A: Adapter>(s: &SocketRef<A>, channel: &str) -> Result<(), NsError> {
    if s.rooms().iter().any(|room| *room == channel_room(channel)) {
        Ok(())
    } else {
        Err(NsError::forbidden("subscribe to the channel first"))
    }
}
