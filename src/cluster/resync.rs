//! Nothing lost silently when Redis returns. While a node could not reach Redis (or one
//! of its subscriptions was reconnecting, or the feed fell behind) its sockets missed what
//! other nodes sent them, and other nodes' sockets missed what it sent. Their connections
//! stayed up, so clients have no reason to recover by themselves: once Redis is back and
//! things have settled, this node puts its presence back in Redis, tells every one of its
//! sockets `server:draining {reconnectInMs}` (after which clients reconnect and recover
//! with connection-state recovery, `since` or `message:sync`), and asks the other nodes
//! through the feed to do the same for theirs.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{Client, PubsubInterface};
use switchyard_namespaces::ports::PresenceRegistry;
use tokio::sync::mpsc;

use super::fallback::FallbackPresence;
use super::link::RedisLink;
use crate::gateway::Gateway;

/// Resyncs, by reason: `redis_returned` (this node), `peer` (another node asked).
pub const RESYNCS_TOTAL: &str = "switchyard_resyncs_total";
/// Sockets told to resync.
pub const RESYNC_SOCKETS_TOTAL: &str = "switchyard_resync_sockets_total";

/// Triggers closer together than this are one resync (an outage ends with the probe, the
/// shared connection and both subscribers each reporting it, the subscribers only once
/// they have subscribed again).
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    RedisReturned,
    Peer,
}

impl Reason {
    fn label(self) -> &'static str {
        match self {
            Self::RedisReturned => "redis_returned",
            Self::Peer => "peer",
        }
    }
}

/// Asks for a resync; cheap, and safe to call from the feed's reader.
#[derive(Clone)]
pub struct ResyncRequests(mpsc::UnboundedSender<Reason>);

impl ResyncRequests {
    pub fn request(&self, reason: Reason) {
        let _ = self.0.send(reason);
    }
}

pub struct Resync {
    pub gateway: Arc<dyn Gateway>,
    pub link: RedisLink,
    pub presence: Arc<FallbackPresence>,
    /// Where peers are asked: the publication feed's channel, through the shared client.
    pub client: Client,
    pub feed_channel: String,
    pub node_id: String,
    /// Clients reconnect at a random moment within this, as after a drain.
    pub spread: Duration,
}

impl Resync {
    /// Runs until aborted; returns where peers' and the feed's requests go.
    pub fn spawn(self) -> (ResyncRequests, tokio::task::JoinHandle<()>) {
        describe();
        let (tx, rx) = mpsc::unbounded_channel();
        let requests = ResyncRequests(tx);
        let mut returns = self.link.returns();
        let forward = requests.clone();
        let task = tokio::spawn(async move {
            let listen = async move {
                while returns.changed().await.is_ok() {
                    forward.request(Reason::RedisReturned);
                }
            };
            tokio::join!(listen, self.serve(rx));
        });
        (requests, task)
    }

    async fn serve(self, mut rx: mpsc::UnboundedReceiver<Reason>) {
        while let Some(first) = rx.recv().await {
            let mut own = first == Reason::RedisReturned;
            if own && self.link.is_up() {
                // Presence answers from this node's view until rebuilt: do it now, not
                // after the settle time.
                self.presence.rebuild().await;
            }
            loop {
                match tokio::time::timeout(SETTLE, rx.recv()).await {
                    Ok(Some(reason)) => own |= reason == Reason::RedisReturned,
                    Ok(None) => return,
                    Err(_) if self.link.is_up() => break,
                    Err(_) => {}
                }
            }
            let reason = if own {
                Reason::RedisReturned
            } else {
                Reason::Peer
            };
            self.resync(reason).await;
        }
    }

    async fn resync(&self, reason: Reason) {
        if reason == Reason::RedisReturned {
            // Rebuilt when the first trigger came, unless Redis returned again since.
            if self.presence.degraded() {
                self.presence.rebuild().await;
            }
            self.ask_peers().await;
        }
        let told = self.gateway.tell_draining(self.spread);
        metrics::counter!(RESYNCS_TOTAL, "reason" => reason.label()).increment(1);
        metrics::counter!(RESYNC_SOCKETS_TOTAL).increment(told as u64);
        tracing::warn!(
            reason = reason.label(),
            sockets = told,
            "cross-node events may have been missed: sockets told to resync"
        );
    }

    async fn ask_peers(&self) {
        let notice = serde_json::json!({ "r": self.node_id }).to_string();
        let sent: Result<i64, _> = self.client.publish(&self.feed_channel, notice).await;
        if let Err(err) = sent {
            self.link.failed("feed", &err);
            tracing::warn!(error = %err, "could not ask other nodes to resync");
        }
    }
}

fn describe() {
    metrics::describe_counter!(
        RESYNCS_TOTAL,
        "Times this node told its sockets to resync, by reason"
    );
    metrics::describe_counter!(RESYNC_SOCKETS_TOTAL, "Sockets told to resync");
    for reason in [Reason::RedisReturned, Reason::Peer] {
        metrics::counter!(RESYNCS_TOTAL, "reason" => reason.label()).increment(0);
    }
    metrics::counter!(RESYNC_SOCKETS_TOTAL).increment(0);
}
