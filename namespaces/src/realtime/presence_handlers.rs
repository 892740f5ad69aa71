//! `/realtime` presence handlers: set, get, watch, unwatch, members, stats.

use std::collections::HashSet;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

use super::RealtimeState;
use super::channels::channel_room;
use super::outgoing::{Member, Members, NotWatched, UsersPresence};
use super::payloads::{PresenceMembers, PresenceSet, PresenceUsers};
use super::sink::{room_watched, watch_room};
use crate::Identity;
use crate::ack::NsError;
use crate::incoming::Incoming;
use crate::ports::ChosenStatus;
use crate::presence::{Presence, Status};

pub(super) async fn on_presence_set<A: Adapter>(
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: PresenceSet| {
        let message = body.message.map(|m| m.0).filter(|m| !m.is_empty());
        st.presence()
            .set_status(&me.user_id, body.status, message)
            .await;
        Ok(())
    })
    .await;
}

pub(super) async fn on_presence_get<A: Adapter>(State(st): State<RealtimeState>, req: Incoming<A>) {
    req.respond(async |body: PresenceUsers| {
        let users = st.presence().views(&body.user_ids.0).await;
        Ok(st.presence().answer(UsersPresence::of(users)))
    })
    .await;
}

/// Watches the users, up to the socket's cap; the ack tells the watched users as
/// `presence:get` does, and `denied`, only when there are any, those beyond the cap
/// (`invalid_payload` naming it).
pub(super) async fn on_presence_watch<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    req: Incoming<A>,
) {
    req.respond(async |body: PresenceUsers| {
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
                denied.push(NotWatched::over_cap(user, cap));
            }
        }
        s.join(watched.iter().map(|u| watch_room(u)).collect::<Vec<_>>());
        crate::resume::rooms_changed(&s).await;
        let users = st.presence().views(&watched).await;
        Ok(st.presence().answer(UsersPresence { users, denied }))
    })
    .await;
}

pub(super) async fn on_presence_unwatch<A: Adapter>(s: SocketRef<A>, req: Incoming<A>) {
    req.respond(async |body: PresenceUsers| {
        s.leave(
            body.user_ids
                .0
                .iter()
                .map(|u| watch_room(u))
                .collect::<Vec<_>>(),
        );
        crate::resume::rooms_changed(&s).await;
        Ok(())
    })
    .await;
}

/// Members of a channel the socket is subscribed to; invisible users are left out.
pub(super) async fn on_presence_members<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    req: Incoming<A>,
) {
    req.respond(async |body: PresenceMembers| {
        let channel = subscribed_channel(&s, &body)?;
        let members = visible_members(st.presence(), channel).await;
        Ok(st.presence().answer(members))
    })
    .await;
}

/// Users and sockets in a channel the socket is subscribed to, on every node: what a
/// client of a channel too big for `presence:join`/`presence:leave` shows instead.
/// Invisible users count: the numbers name no one.
pub(super) async fn on_presence_stats<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<RealtimeState>,
    req: Incoming<A>,
) {
    req.respond(async |body: PresenceMembers| {
        let channel = subscribed_channel(&s, &body)?;
        let stats = st.presence().registry().stats(channel).await;
        Ok(st.presence().answer(stats))
    })
    .await;
}

/// The channel asked about: who is in a channel is told only to its subscribers.
fn subscribed_channel<'a, A: Adapter>(
    s: &SocketRef<A>,
    body: &'a PresenceMembers,
) -> Result<&'a str, NsError> {
    let channel = body.channel.as_str();
    let room = channel_room(channel);
    if s.rooms().iter().any(|joined| *joined == room) {
        Ok(channel)
    } else {
        Err(NsError::forbidden("subscribe to the channel first"))
    }
}

/// The channel's members as others may see them: invisible and offline users left out.
async fn visible_members(presence: &Presence, channel: &str) -> Members {
    let users = presence.registry().members(channel).await;
    let records = presence.registry().records(&users).await;
    let is_invisible = |user_id: &str| {
        records
            .iter()
            .any(|r| r.user_id == user_id && r.chosen == ChosenStatus::Invisible)
    };
    let members = presence
        .views(&users)
        .await
        .into_iter()
        .filter(|view| !is_invisible(&view.user_id) && view.status != Status::Offline)
        .map(|view| Member {
            user_id: view.user_id,
            status: view.status,
        })
        .collect();
    Members { members }
}
