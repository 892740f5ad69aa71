//! User blocks shared by the nodes: one Redis key per blocked user that expires with the
//! block, so a user blocked on one node is refused on all of them.

use std::time::Duration;

use super::link::RedisLink;
use async_trait::async_trait;
use fred::prelude::{Client, Expiration, KeysInterface};
use switchyard_namespaces::ports::UserBlocks;

pub struct RedisBlocks {
    client: Client,
    prefix: String,
    link: RedisLink,
}

impl RedisBlocks {
    pub fn new(client: Client, prefix: &str, link: RedisLink) -> Self {
        Self {
            client,
            link,
            prefix: format!("{prefix}:block"),
        }
    }

    fn key(&self, user_id: &str) -> String {
        format!("{}:{user_id}", self.prefix)
    }
}

#[async_trait]
impl UserBlocks for RedisBlocks {
    async fn block(&self, user_id: &str, duration: Duration) {
        let ms = duration.as_millis().max(1) as i64;
        let set: Result<(), _> = self
            .client
            .set(
                self.key(user_id),
                "1",
                Some(Expiration::PX(ms)),
                None,
                false,
            )
            .await;
        if let Err(err) = set {
            self.link.degraded::<()>("blocks", "blocking a user", err);
        }
    }

    async fn blocked_for(&self, user_id: &str) -> Option<Duration> {
        match self.client.pttl::<i64, _>(self.key(user_id)).await {
            Ok(ms) if ms > 0 => Some(Duration::from_millis(ms as u64)),
            Ok(_) => None,
            // Unknown while Redis is down: let the user in rather than lock everyone out.
            Err(err) => self.link.degraded("blocks", "reading a block", err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::memory::MemoryBlocks;

    async fn redis_blocks() -> RedisBlocks {
        let (client, prefix) = crate::cluster::test_redis().await;
        RedisBlocks::new(client, &prefix, RedisLink::default())
    }

    async fn blocks_expire(blocks: &dyn UserBlocks) {
        assert_eq!(blocks.blocked_for("u").await, None);
        blocks.block("u", Duration::from_millis(300)).await;
        let left = blocks.blocked_for("u").await.expect("blocked");
        assert!(left <= Duration::from_millis(300));
        assert_eq!(blocks.blocked_for("v").await, None, "only that user");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(blocks.blocked_for("u").await, None, "expired");
    }

    #[tokio::test]
    async fn a_block_keeps_one_user_out_until_it_expires_in_redis() {
        blocks_expire(&redis_blocks().await).await;
    }

    #[tokio::test]
    async fn a_block_keeps_one_user_out_until_it_expires_in_memory() {
        blocks_expire(&MemoryBlocks::default()).await;
    }
}
