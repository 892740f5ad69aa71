//! Presence changes told through `/realtime` rooms: watchers of a user and the channels
//! the user is in.

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::PATH;
use super::channels::{channel_room, own_channel};
use super::outgoing::{PresenceJoin, PresenceLeave};
use crate::audience::Audience;
use crate::broadcast::{Broadcaster, InBackground, emit_logged_to, emit_to};
use crate::emit::Emit;
use crate::ports::{Publication, PublicationSink};
use crate::presence::{PresenceEvent, PresenceSink};
use crate::rooms::user_room;

const WATCH_ROOM_PREFIX: &str = "watch:";

/// The room of a user's watchers.
pub fn watch_room(user_id: &str) -> String {
    format!("{WATCH_ROOM_PREFIX}{user_id}")
}

/// The user whose watchers `room` holds, if it is a watch room.
pub fn room_watched(room: &str) -> Option<&str> {
    room.strip_prefix(WATCH_ROOM_PREFIX)
}

pub struct RealtimeSink<A: Adapter> {
    io: SocketIo<A>,
    broadcaster: Broadcaster,
}

impl<A: Adapter> RealtimeSink<A> {
    pub fn new(io: SocketIo<A>, broadcaster: Broadcaster) -> Self {
        Self { io, broadcaster }
    }

    /// Emits on `/realtime` in the background: presence is told from synchronous paths
    /// (disconnects, timers) that must not wait on sockets.
    fn emit<E: Emit + Send + Sync + 'static>(&self, rooms: Vec<String>, except: String, event: E) {
        let Some(ns) = self.io.of(PATH) else { return };
        let counted = InBackground::start();
        let broadcaster = self.broadcaster.clone();
        tokio::spawn(async move {
            let _counted = counted;
            let audience = Audience::rooms(rooms).except([except]);
            broadcaster.emit_in(ns, PATH, audience, &event).await;
        });
    }
}

/// The feed's publications go to this node's sockets only: every node has the feed.
#[async_trait::async_trait]
impl<A: Adapter> PublicationSink for RealtimeSink<A> {
    async fn deliver(&self, publication: &Publication, logged: Option<&str>) {
        let Some(ns) = self.io.of(PATH) else { return };
        let subscribers = ns.local().to(channel_room(&publication.channel));
        super::publish::sample_fanout(&publication.channel, &subscribers);
        match logged {
            Some(offset) => emit_logged_to(subscribers, PATH, publication, offset).await,
            None => emit_to(subscribers, PATH, publication).await,
        }
    }
}

/// Whether `channel` can hear of `user_id` at all. Every emit below leaves out the user's
/// own sockets, and they are all the user's own channel holds: telling it reached no one,
/// yet with recovery on each such packet took a place in the namespace's packet log. A
/// client whose TCP is cut put about three there per cut (its leave, offline, its join),
/// which at 2,000 such clients pushed the packets others missed out of the log before they
/// could resume.
fn has_audience(channel: &str, user_id: &str) -> bool {
    channel != own_channel(user_id)
}

impl<A: Adapter> PresenceSink for RealtimeSink<A> {
    fn status_changed(&self, event: PresenceEvent, channels: Vec<String>) {
        let mut rooms: Vec<String> = channels
            .iter()
            .filter(|c| has_audience(c, &event.user_id))
            .map(|c| channel_room(c))
            .collect();
        rooms.push(watch_room(&event.user_id));
        let except = user_room(&event.user_id);
        self.emit(rooms, except, event);
    }

    fn channel_joined(&self, channel: &str, user_id: &str) {
        if !has_audience(channel, user_id) {
            return;
        }
        let event = PresenceJoin {
            channel: channel.to_owned(),
            user_id: user_id.to_owned(),
        };
        self.emit(vec![channel_room(channel)], user_room(user_id), event);
    }

    fn channel_left(&self, channel: &str, user_id: &str) {
        if !has_audience(channel, user_id) {
            return;
        }
        let event = PresenceLeave {
            channel: channel.to_owned(),
            user_id: user_id.to_owned(),
        };
        self.emit(vec![channel_room(channel)], user_room(user_id), event);
    }
}
