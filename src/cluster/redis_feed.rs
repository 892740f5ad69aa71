//! The publication feed of a cluster: one Redis pub/sub channel that every node reads in
//! order. Channel history puts each publication on it from the same Lua script that
//! numbers it, so the feed carries each channel's publications in offset order whichever
//! node published them. A `subscribe` with `since` puts a marker on the feed carrying the
//! channel's last offset; when this node's reader reaches the marker, every publication
//! up to that offset has been handed to the node's sockets and none after, and that is
//! where the socket joins the room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context;
use fred::clients::SubscriberClient;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use serde::Deserialize;
use switchyard_namespaces::ports::{
    Logged, LoggedPacket, PacketSink, Publication, PublicationSink,
};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::oneshot;

use super::link::RedisLink;
use super::publication_entry::Entry;
use super::redis::feed_subscriber;
use super::resync::{Reason, ResyncRequests};

/// How long a marker is waited for: a `subscribe` with `since`, a resume's replay, a
/// check of the feed's own subscription.
const MARKER_WAIT: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
struct FeedPublication {
    channel: String,
    epoch: String,
    offset: u64,
    entry: Entry,
    /// Its offset in `/realtime`'s packet log, with connection-state recovery.
    ro: Option<String>,
}

/// A room emit with its recovery offset (`cluster::redis_recovery`).
#[derive(Deserialize)]
struct FeedPacket {
    ns: String,
    offset: String,
    packet: LoggedPacket,
}

/// One message of the feed: a publication, a room emit, a marker with the channel's last
/// offset, or a node asking the others to resync (`cluster::resync`).
#[derive(Deserialize)]
struct FeedMessage {
    p: Option<FeedPublication>,
    k: Option<FeedPacket>,
    m: Option<String>,
    r: Option<String>,
}

type Join = Box<dyn FnOnce() + Send>;

/// Why a marker did not come back ([`Feed::round_trip`]).
pub enum MarkerMissed<E> {
    /// Putting it on the feed failed.
    NotPut(E),
    /// This node's reader did not reach it within [`MARKER_WAIT`].
    Late,
}

/// The feed message of marker `id`.
pub fn marker_message(id: &str) -> String {
    format!(r#"{{"m":"{id}"}}"#)
}

pub struct Feed {
    /// The Redis pub/sub channel.
    pub channel: String,
    pending: Mutex<HashMap<String, (Join, oneshot::Sender<()>)>>,
    sink: OnceLock<Arc<dyn PublicationSink>>,
    packets: OnceLock<Arc<dyn PacketSink>>,
    /// This node's id, and where other nodes' resync requests go.
    resync: OnceLock<(String, ResyncRequests)>,
}

impl Feed {
    pub fn new(prefix: &str) -> Self {
        Self {
            channel: format!("{prefix}:feed"),
            pending: Mutex::default(),
            sink: OnceLock::new(),
            packets: OnceLock::new(),
            resync: OnceLock::new(),
        }
    }

    /// Set once the node can resync; `node_id`'s own requests are not its peers'.
    pub fn set_resync(&self, node_id: String, requests: ResyncRequests) {
        if self.resync.set((node_id, requests)).is_err() {
            tracing::warn!("feed resync set twice; keeping the first");
        }
    }

    /// Set once the sockets exist, with connection-state recovery on.
    pub fn set_packet_sink(&self, sink: Arc<dyn PacketSink>) {
        if self.packets.set(sink).is_err() {
            tracing::warn!("feed packet sink set twice; keeping the first");
        }
    }

    /// Set once `/realtime` exists.
    pub fn set_sink(&self, sink: Arc<dyn PublicationSink>) {
        if self.sink.set(sink).is_err() {
            tracing::warn!("feed sink set twice; keeping the first");
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Join, oneshot::Sender<()>)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a marker on the feed and waits up to [`MARKER_WAIT`] for this node's reader to
    /// reach it, running `join` then. `put` publishes it, given the marker's id (see
    /// [`marker_message`]); its value is the answer. A marker not put or not back in time
    /// is forgotten, so `join` never runs.
    pub async fn round_trip<T, E, Fut>(
        &self,
        join: Join,
        put: impl FnOnce(String) -> Fut,
    ) -> Result<T, MarkerMissed<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let marker = uuid::Uuid::new_v4().simple().to_string();
        let (done, reached) = oneshot::channel();
        self.pending().insert(marker.clone(), (join, done));
        let missed = match put(marker.clone()).await {
            Ok(answer) => match tokio::time::timeout(MARKER_WAIT, reached).await {
                Ok(Ok(())) => return Ok(answer),
                _ => MarkerMissed::Late,
            },
            Err(err) => MarkerMissed::NotPut(err),
        };
        self.pending().remove(&marker);
        Err(missed)
    }

    /// Subscribes to the feed and reads it until the process ends.
    /// A reconnect of the subscriber or a reader that fell behind loses publications:
    /// `link` hears of both, so that sockets are told to resync.
    pub async fn start(
        self: &Arc<Self>,
        url: &str,
        link: RedisLink,
        deadline: Duration,
    ) -> anyhow::Result<()> {
        let client = feed_subscriber(url, &link, deadline).await?;
        let messages = client.message_rx();
        tokio::spawn(self.clone().read(client.clone(), messages, link));
        self.subscribe(&client)
            .await
            .context("subscribing to the publication feed")?;
        tokio::spawn(self.clone().resubscribe_on_reconnect(client));
        Ok(())
    }

    /// Subscribes this node to the feed and checks that Redis took it. fred reports a
    /// `SUBSCRIBE` done once written (Redis answers it out of band), even one Redis
    /// refuses (`NOPERM` after an ACL change): the node stayed deaf to the feed, for good.
    /// A marker published after it and read back by this node's reader proves it.
    async fn subscribe(&self, client: &SubscriberClient) -> Result<(), fred::error::Error> {
        client.subscribe(self.channel.clone()).await?;
        let publish = |marker: String| {
            client.publish::<i64, _, _>(self.channel.as_str(), marker_message(&marker))
        };
        match self.round_trip(Box::new(|| {}), publish).await {
            Ok(_) => Ok(()),
            Err(MarkerMissed::NotPut(err)) => Err(err),
            Err(MarkerMissed::Late) => Err(fred::error::Error::new(
                fred::error::ErrorKind::Timeout,
                "the feed did not hand back a marker published after subscribing",
            )),
        }
    }

    /// fred's `manage_subscriptions` also re-sends an empty sharded subscribe, which Redis
    /// refuses; this re-subscribes the feed alone.
    async fn resubscribe_on_reconnect(self: Arc<Self>, client: SubscriberClient) {
        let mut reconnects = client.reconnect_rx();
        while reconnects.recv().await.is_ok() {
            if !super::redis::resubscribe("feed", || self.subscribe(&client)).await {
                super::redis::reconnect_unsubscribed(&client, "feed").await;
            }
        }
        let _ = client.quit().await;
    }

    async fn read(
        self: Arc<Self>,
        _client: SubscriberClient,
        mut messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
        link: RedisLink,
    ) {
        loop {
            match messages.recv().await {
                Ok(message) => {
                    if let Some(text) = message.value.as_str() {
                        self.handle(&text).await;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::error!(missed, "publication feed fell behind; publications lost");
                    metrics::counter!(crate::telemetry::metrics::FEED_LAGGED_TOTAL)
                        .increment(missed);
                    link.came_back();
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn handle(&self, text: &str) {
        let Ok(message) = serde_json::from_str::<FeedMessage>(text) else {
            tracing::warn!("unreadable message on the publication feed");
            return;
        };
        if let Some(node) = message.r {
            match self.resync.get() {
                Some((me, requests)) if *me != node => requests.request(Reason::Peer),
                _ => {}
            }
            return;
        }
        if let Some(id) = message.m {
            // Markers of other nodes are not waited for here.
            if let Some((join, done)) = self.pending().remove(&id) {
                join();
                let _ = done.send(());
            }
            return;
        }
        if let Some(k) = message.k {
            if let Some(sink) = self.packets.get() {
                let logged = Logged {
                    offset: k.offset,
                    packet: k.packet,
                };
                sink.deliver(&k.ns, logged).await;
            }
            return;
        }
        let (Some(p), Some(sink)) = (message.p, self.sink.get()) else {
            return;
        };
        let publication = Publication {
            channel: p.channel,
            event: p.entry.event,
            data: p.entry.data,
            offset: p.offset,
            epoch: p.epoch,
            ts: p.entry.ts,
        };
        sink.deliver(&publication, p.ro.as_deref()).await;
    }
}
