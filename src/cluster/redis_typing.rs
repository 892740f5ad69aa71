//! Typing state in Redis: one key per (conversation, user) holding the generation of the
//! latest `typing:start`, so every node agrees who is typing. The key also expires by
//! itself shortly after the typing timeout, should the node that set it die.

use super::link::RedisLink;
use async_trait::async_trait;
use fred::prelude::{Client, Expiration, KeysInterface, LuaInterface, SetOptions};
use fred::types::Value;
use switchyard_namespaces::ports::{Started, TYPING_TIMEOUT, TypingState};

/// Deletes the key if it still holds this generation.
const EXPIRE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

pub struct RedisTyping {
    client: Client,
    prefix: String,
    link: RedisLink,
}

impl RedisTyping {
    pub fn new(client: Client, prefix: &str, link: RedisLink) -> Self {
        Self {
            client,
            link,
            prefix: format!("{prefix}:typing"),
        }
    }

    fn key(&self, conversation_id: &str, user_id: &str) -> String {
        format!("{}:{{{conversation_id}}}:{user_id}", self.prefix)
    }

    fn degraded<T: Default>(&self, what: &str, err: fred::error::Error) -> T {
        self.link.degraded("typing", what, err)
    }
}

#[async_trait]
impl TypingState for RedisTyping {
    #[tracing::instrument(skip_all, name = "redis.typing.start")]
    async fn start(&self, conversation_id: &str, user_id: &str) -> Started {
        let generation = uuid::Uuid::new_v4().as_u64_pair().0 >> 1;
        let lifetime = (TYPING_TIMEOUT.as_millis() + 1_000) as i64;
        let previous: Result<Option<String>, _> = self
            .client
            .set(
                self.key(conversation_id, user_id),
                generation.to_string(),
                Some(Expiration::PX(lifetime)),
                None::<SetOptions>,
                true,
            )
            .await;
        match previous {
            Ok(previous) => Started {
                is_new: previous.is_none(),
                generation,
            },
            // Unknown: tell others, as one node would; the timer still ends it.
            Err(err) => {
                self.degraded::<()>("starting", err);
                Started {
                    is_new: true,
                    generation,
                }
            }
        }
    }

    #[tracing::instrument(skip_all, name = "redis.typing.stop")]
    async fn stop(&self, conversation_id: &str, user_id: &str) -> bool {
        match self
            .client
            .del::<i64, _>(self.key(conversation_id, user_id))
            .await
        {
            Ok(deleted) => deleted == 1,
            Err(err) => self.degraded("stopping", err),
        }
    }

    #[tracing::instrument(skip_all, name = "redis.typing.expire")]
    async fn expire(&self, conversation_id: &str, user_id: &str, generation: u64) -> bool {
        let key = vec![self.key(conversation_id, user_id)];
        match self
            .client
            .eval::<Value, _, _, _>(EXPIRE, key, vec![generation.to_string()])
            .await
        {
            Ok(deleted) => deleted.as_i64() == Some(1),
            Err(err) => self.degraded("expiring", err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fresh() -> RedisTyping {
        let (client, prefix) = crate::cluster::test_redis().await;
        RedisTyping::new(client, &prefix, RedisLink::default())
    }

    crate::typing_contract!(fresh);

    #[tokio::test]
    async fn two_nodes_share_one_typist() {
        let a = fresh().await;
        let b = RedisTyping::new(
            a.client.clone(),
            a.prefix.trim_end_matches(":typing"),
            RedisLink::default(),
        );
        assert!(a.start("c", "u").await.is_new);
        assert!(!b.start("c", "u").await.is_new, "typing on a second device");
        assert!(b.stop("c", "u").await);
        assert!(!a.stop("c", "u").await);
    }
}
