//! Presence changes told through `/realtime` rooms: watchers of a user and the channels
//! the user is in.

use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

use super::channels::channel_room;
use super::{PATH, emits};
use crate::broadcast::{InBackground, broadcast};
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
}

impl<A: Adapter> RealtimeSink<A> {
    pub fn new(io: SocketIo<A>) -> Self {
        Self { io }
    }

    /// Emits on `/realtime` in the background: presence is told from synchronous paths
    /// (disconnects, timers) that must not wait on sockets.
    fn emit(
        &self,
        rooms: Vec<String>,
        except: String,
        event: &'static str,
        data: serde_json::Value,
    ) {
        let Some(ns) = self.io.of(PATH) else { return };
        let counted = InBackground::start();
        tokio::spawn(async move {
            let _counted = counted;
            let emit = ns.to(rooms).except(except);
            if let Err(err) = broadcast(PATH, event, emit.emit(event, &data)).await {
                tracing::warn!(event, error = %err, "presence broadcast failed");
            }
        });
    }
}

/// The feed's publications go to this node's sockets only: every node has the feed.
#[async_trait::async_trait]
impl<A: Adapter> PublicationSink for RealtimeSink<A> {
    async fn deliver(&self, publication: &Publication) {
        let Some(ns) = self.io.of(PATH) else { return };
        let subscribers = ns.local().to(channel_room(&publication.channel));
        super::publish::sample_fanout(&publication.channel, &subscribers);
        let emit = subscribers.emit(emits::EVENT, publication);
        if let Err(err) = broadcast(PATH, emits::EVENT, emit).await {
            tracing::warn!(error = %err, "publication not delivered to this node's sockets");
        }
    }
}

impl<A: Adapter> PresenceSink for RealtimeSink<A> {
    fn status_changed(&self, event: PresenceEvent, channels: Vec<String>) {
        let mut rooms: Vec<String> = channels.iter().map(|c| channel_room(c)).collect();
        rooms.push(watch_room(&event.user_id));
        let except = user_room(&event.user_id);
        match serde_json::to_value(&event) {
            Ok(data) => self.emit(rooms, except, emits::PRESENCE, data),
            Err(err) => tracing::error!(error = %err, "presence event unserializable"),
        }
    }

    fn channel_joined(&self, channel: &str, user_id: &str) {
        let data = json!({ "channel": channel, "userId": user_id });
        self.emit(
            vec![channel_room(channel)],
            user_room(user_id),
            emits::PRESENCE_JOIN,
            data,
        );
    }

    fn channel_left(&self, channel: &str, user_id: &str) {
        let data = json!({ "channel": channel, "userId": user_id });
        self.emit(
            vec![channel_room(channel)],
            user_room(user_id),
            emits::PRESENCE_LEAVE,
            data,
        );
    }
}
