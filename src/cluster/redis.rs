//! Redis connections for cluster mode: a subscriber for the Socket.IO adapter that
//! re-subscribes by itself after Redis comes back, and a plain client for health checks.

use std::time::Duration;

use anyhow::Context;
use fred::interfaces::{EventInterface, PubsubInterface};
use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
use fred::types::RespVersion;
use fred::types::config::UnresponsiveConfig;
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};

use super::link::RedisLink;

/// Retry forever, from 100 ms up to 5 s between attempts: a node outlives Redis outages.
fn policy() -> ReconnectPolicy {
    ReconnectPolicy::new_exponential(0, 100, 5_000, 2)
}

/// Every command, script and (un)subscription of every client made here has `deadline`
/// (`redis_timeout_ms`): past it the caller gets a timeout error instead of waiting for
/// an outage to end. fred marks a command that timed out before it was written so it is
/// never sent later; one already written (a blackholed link) may still reach Redis once
/// the link heals, and its caller has been told it failed: see `redis_history` for what
/// that means for a publish.
fn builder(url: &str, deadline: Duration) -> anyhow::Result<Builder> {
    let mut config = Config::from_url(url).context("SWITCHYARD_REDIS_URL is not a Redis URL")?;
    // The adapter's fred driver speaks RESP3 (Redis 7 and later).
    config.version = RespVersion::RESP3;
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(policy())
        .with_connection_config(|c| c.connection_timeout = Duration::from_secs(5))
        .with_performance_config(|c| c.default_command_timeout = deadline);
    Ok(builder)
}

/// Messages a subscriber holds for its reader. fred's default of 32 is far too few for a
/// burst (a node restart brings every client back at once, each joining rooms and
/// announcing presence): past it, messages are dropped.
const SUBSCRIBER_BACKLOG: usize = 1 << 16;

/// A subscriber connection that was sent a command (its heartbeat's PING) and has heard
/// nothing back for this long is dropped and reconnected by fred's unresponsive check,
/// and its node's sockets told to resync. Five deadlines: longer than any call's, so
/// whatever fred would retry on the new connection has timed out for its caller already
/// (fred retries none of those), and long enough that a Redis merely stalling (a fork, a
/// slow command) has failed every call and the probe meanwhile, so the resync it brings
/// would come anyway.
fn unresponsive_after(deadline: Duration) -> Duration {
    deadline * 5
}

/// How often a subscriber pings: each ping restarts the unresponsive wait, so it must be
/// longer than that wait and a check.
fn heartbeat_every(deadline: Duration) -> Duration {
    unresponsive_after(deadline) * 2
}

fn subscriber_builder(url: &str, deadline: Duration) -> anyhow::Result<Builder> {
    let mut builder = builder(url, deadline)?;
    builder
        .with_performance_config(|c| c.broadcast_channel_capacity = SUBSCRIBER_BACKLOG)
        .with_connection_config(|c| {
            c.unresponsive = UnresponsiveConfig {
                max_timeout: Some(unresponsive_after(deadline)),
                interval: unresponsive_after(deadline) / 4,
            }
        });
    Ok(builder)
}

/// A subscriber only listens: a connection lost without a reset (a half-open TCP
/// connection, a NAT or a load balancer that forgot it) left the node deaf to its
/// channels until TCP gave up, many minutes later, while every call on other connections
/// succeeded and nothing looked wrong. Its PINGs give the unresponsive check a reply to
/// miss; the reconnect that follows tells the node's sockets to resync
/// (`RedisLink::watch_reconnects`).
fn spawn_heartbeat(client: fred::clients::SubscriberClient, deadline: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(heartbeat_every(deadline));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // A failed ping says nothing the unresponsive check and the probe do not.
            let _: Result<(), _> = client.ping(None).await;
        }
    });
}

/// The subscriber of the publication feed: a reader that falls further behind than
/// [`SUBSCRIBER_BACKLOG`] loses publications.
pub async fn feed_subscriber(
    url: &str,
    link: &RedisLink,
    deadline: Duration,
) -> anyhow::Result<fred::clients::SubscriberClient> {
    let client = subscriber_builder(url, deadline)?
        .build_subscriber_client()
        .context("building the feed subscriber")?;
    link.watch_reconnects(client.reconnect_rx(), "feed");
    client
        .init()
        .await
        .context("connecting the feed subscriber")?;
    spawn_heartbeat(client.clone(), deadline);
    Ok(client)
}

/// The adapter's subscriber, re-subscribing its channels after every reconnect.
pub async fn subscriber(
    url: &str,
    deadline: Duration,
) -> anyhow::Result<fred::clients::SubscriberClient> {
    let client = subscriber_builder(url, deadline)?
        .build_subscriber_client()
        .context("building the Redis subscriber")?;
    tokio::spawn(resubscribe_on_reconnect(client.clone()));
    spawn_heartbeat(client.clone(), deadline);
    Ok(client)
}

/// The adapter's driver uses sharded pub/sub (`SSUBSCRIBE`). fred's own
/// `manage_subscriptions` also fires on the first connect and then sends subscribe
/// commands with no channel, which Redis refuses, failing a subscription in flight; this
/// one re-subscribes each tracked channel on its own (one hash slot per command, so it
/// works on Redis Cluster too) and skips an empty set.
async fn resubscribe_on_reconnect(client: fred::clients::SubscriberClient) {
    let mut reconnects = client.reconnect_rx();
    while reconnects.recv().await.is_ok() {
        let channels = client.tracked_shard_channels();
        tracing::debug!(channels = channels.len(), "Redis subscriber connected");
        for channel in channels {
            let channel = channel.to_string();
            if !resubscribe("adapter", || client.ssubscribe(channel.clone())).await {
                // The reconnect re-subscribes every channel again.
                reconnect_unsubscribed(&client, "adapter").await;
                break;
            }
        }
    }
}

/// Tries of one re-subscription after a reconnect. Each has the command deadline: one
/// that times out (Redis back but slow, or the link held again) would otherwise leave
/// this node deaf to that channel until the next reconnect, as it never was while a
/// command could wait forever.
const RESUBSCRIBE_TRIES: u32 = 6;

/// Subscribes with `subscribe`, pausing 200 ms, then twice as long each time (at most
/// 5 s), between failed tries: about 15 s of trying at the default deadline. False when
/// every try failed.
pub(super) async fn resubscribe<F, Fut>(area: &'static str, mut subscribe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), fred::error::Error>>,
{
    let mut pause = Duration::from_millis(200);
    for tried in 1..=RESUBSCRIBE_TRIES {
        let Err(err) = subscribe().await else {
            return true;
        };
        super::redis_error(area);
        if tried == RESUBSCRIBE_TRIES {
            tracing::error!(error = %err, area, "Redis reconnected but re-subscribing failed; reconnecting to try again");
            break;
        }
        tracing::warn!(error = %err, area, tried, "Redis reconnected but re-subscribing failed; trying again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
    false
}

/// Reconnects a subscriber whose re-subscription failed: connected but subscribed to
/// nothing, it would hear nothing, for good, its heartbeat answered all along. The
/// reconnect starts the re-subscription again and tells the node's sockets to resync
/// (`RedisLink::watch_reconnects`).
pub(super) async fn reconnect_unsubscribed(
    client: &fred::clients::SubscriberClient,
    area: &'static str,
) {
    if let Err(err) = client.force_reconnection().await {
        tracing::warn!(error = %err, area, "reconnecting an unsubscribed Redis subscriber failed");
    }
}

/// The shared connection, its deadline, and whether Redis is reachable through it.
#[derive(Clone)]
pub struct RedisHealth {
    client: fred::clients::Client,
    /// The probe's own connection: a ping queued behind a burst of the shared
    /// connection's calls said more about this node's load than about Redis.
    probe: fred::clients::Client,
    deadline: Duration,
    link: RedisLink,
}

impl RedisHealth {
    /// The shared connection (presence, history, typing, blocks, readiness), every
    /// command on it bounded by `deadline`.
    pub async fn connect(url: &str, deadline: Duration) -> anyhow::Result<Self> {
        let client = builder(url, deadline)?
            .build()
            .context("building the Redis client")?;
        let link = RedisLink::default();
        link.watch_reconnects(client.reconnect_rx(), "shared");
        client.init().await.context("connecting to Redis")?;
        let probe = builder(url, deadline)?
            .build()
            .context("building the Redis probe's client")?;
        probe.init().await.context("connecting the Redis probe")?;
        Ok(Self {
            client,
            probe,
            deadline,
            link,
        })
    }

    /// Whether Redis is reachable, as the probe and failed calls tell.
    pub fn link(&self) -> RedisLink {
        self.link.clone()
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Keeps [`Self::link`] current until aborted.
    pub fn spawn_probe(&self) -> tokio::task::JoinHandle<()> {
        self.link.spawn_probe(self.probe.clone(), self.deadline)
    }

    /// The connection, for other shared state (channel history).
    pub fn client(&self) -> fred::clients::Client {
        self.client.clone()
    }
}

/// The fred pub/sub driver, made to never hold up this node's own sockets: socketioxide's
/// Redis adapter publishes to Redis before it delivers locally and gives up on the local
/// delivery when publishing fails, so a publish that fails (at once while Redis is known
/// to be away, else within the Redis deadline) is reported done. Other nodes miss what is
/// sent meanwhile, and are told to resync when Redis returns (`cluster::resync`); this
/// node's sockets miss nothing.
#[derive(Clone)]
pub struct ResilientDriver {
    inner: FredDriver,
    link: RedisLink,
    /// A working but slow Redis is waited for this long (the Redis deadline): giving up
    /// sooner would lose every cross-node ack request and answer on a slow link.
    wait: Duration,
}

impl ResilientDriver {
    /// The adapter's own subscriber connection; `redis` is the shared connection whose
    /// link says whether Redis is reachable.
    pub async fn connect(url: &str, redis: &RedisHealth) -> anyhow::Result<Self> {
        let client = subscriber(url, redis.deadline()).await?;
        // Listening before the first connect, which fred reports too.
        redis
            .link()
            .watch_reconnects(client.reconnect_rx(), "adapter");
        let inner = FredDriver::new(client)
            .await
            .context("connecting the Redis subscriber")?;
        Ok(Self {
            inner,
            link: redis.link(),
            wait: redis.deadline(),
        })
    }
}

impl Driver for ResilientDriver {
    type Error = <FredDriver as Driver>::Error;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        if !self.link.is_up() {
            super::redis_error("adapter");
            return Ok(());
        }
        match tokio::time::timeout(self.wait, self.inner.publish(chan, val)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "Redis publish failed; delivering on this node only");
                super::redis_error("adapter");
                // A publish is refused only for its connection, never for its content.
                // (fred's own deadline is as long as `wait` and starts after it, so a
                // slow publish ends below instead.)
                self.link.mark_down(&err.to_string());
                Ok(())
            }
            Err(_) => {
                tracing::warn!("Redis publish timed out; delivering on this node only");
                super::redis_error("adapter");
                self.link.suspect();
                Ok(())
            }
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        self.inner.subscribe(chan, size).await
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.inner.unsubscribe(chan).await
    }

    /// Unknown while Redis is down: count only this node, so acks and socket lookups wait
    /// for no remote answers.
    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        if !self.link.is_up() {
            return Ok(1);
        }
        match tokio::time::timeout(self.wait, self.inner.num_serv(chan)).await {
            Ok(Ok(count)) => Ok(count),
            _ => Ok(1),
        }
    }
}
