//! Redis connections for cluster mode: a subscriber for the Socket.IO adapter that
//! re-subscribes by itself after Redis comes back, and a plain client for health checks.

use std::time::Duration;

use anyhow::Context;
use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
use fred::types::RespVersion;

/// Retry forever, from 100 ms up to 5 s between attempts: a node outlives Redis outages.
fn policy() -> ReconnectPolicy {
    ReconnectPolicy::new_exponential(0, 100, 5_000, 2)
}

fn builder(url: &str) -> anyhow::Result<Builder> {
    let mut config = Config::from_url(url).context("SWITCHYARD_REDIS_URL is not a Redis URL")?;
    // The adapter's fred driver speaks RESP3 (Redis 7 and later).
    config.version = RespVersion::RESP3;
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(policy())
        .with_connection_config(|c| c.connection_timeout = Duration::from_secs(5));
    Ok(builder)
}

/// The adapter's subscriber; `manage_subscriptions` restores its channels on reconnect.
pub async fn subscriber(url: &str) -> anyhow::Result<fred::clients::SubscriberClient> {
    let client = builder(url)?
        .build_subscriber_client()
        .context("building the Redis subscriber")?;
    client.manage_subscriptions();
    Ok(client)
}

/// A connection used only to answer "is Redis reachable" for readiness.
#[derive(Clone)]
pub struct RedisHealth {
    client: fred::clients::Client,
}

impl RedisHealth {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = builder(url)?.build().context("building the Redis client")?;
        client.init().await.context("connecting to Redis")?;
        Ok(Self { client })
    }

    /// The connection, for other shared state (channel history).
    pub fn client(&self) -> fred::clients::Client {
        self.client.clone()
    }

    pub async fn ping(&self) -> Result<(), String> {
        let ping = self.client.ping::<String>(None);
        match tokio::time::timeout(Duration::from_secs(2), ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }
}
