//! Recovery sessions in Redis: each as JSON under its `pid`, with a TTL.

use async_trait::async_trait;
use fred::prelude::{Client, Expiration, KeysInterface, SetOptions};
use switchyard_namespaces::ports::{Session, SessionStore, StoreError, StoreResult};

use super::unavailable;
use crate::cluster::link::RedisLink;
use crate::cluster::redis::RedisHealth;

/// Sessions as JSON under `{prefix}:recovery:session:{pid}`, with a TTL.
pub struct RedisSessions {
    client: Client,
    prefix: String,
    link: RedisLink,
}

impl RedisSessions {
    pub fn new(redis: &RedisHealth, prefix: &str) -> Self {
        Self {
            client: redis.client(),
            link: redis.link(),
            prefix: format!("{prefix}:recovery:session"),
        }
    }

    fn key(&self, pid: &str) -> String {
        format!("{}:{pid}", self.prefix)
    }

    fn reachable(&self) -> StoreResult<()> {
        self.link.reachable()
    }

    fn failed(&self, err: fred::error::Error) -> StoreError {
        self.link.store_error("recovery", err)
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    #[tracing::instrument(skip_all, name = "redis.recovery.save")]
    async fn save(&self, pid: &str, session: &Session, ttl_ms: u64) -> StoreResult<()> {
        self.reachable()?;
        let json = serde_json::to_string(session).map_err(unavailable)?;
        let ttl = Expiration::PX(ttl_ms.max(1) as i64);
        self.client
            .set::<(), _, _>(self.key(pid), json, Some(ttl), None::<SetOptions>, false)
            .await
            .map_err(|e| self.failed(e))
    }

    #[tracing::instrument(skip_all, name = "redis.recovery.get")]
    async fn get(&self, pid: &str) -> StoreResult<Option<Session>> {
        self.reachable()?;
        let json: Option<String> = self
            .client
            .get(self.key(pid))
            .await
            .map_err(|e| self.failed(e))?;
        json.map(|j| serde_json::from_str(&j).map_err(unavailable))
            .transpose()
    }

    #[tracing::instrument(skip_all, name = "redis.recovery.delete")]
    async fn delete(&self, pid: &str) -> StoreResult<()> {
        self.reachable()?;
        self.client
            .del::<(), _>(self.key(pid))
            .await
            .map_err(|e| self.failed(e))
    }
}
