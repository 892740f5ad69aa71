//! The publish script's deadline, against the machine's Redis: a script that reaches
//! Redis after its caller was answered publishes nothing.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::KeysInterface;
use serde_json::json;
use switchyard_namespaces::ports::{ChannelHistory, StoreError, SystemClock};

use super::RedisHistory;
use crate::cluster::redis_feed::Feed;

async fn history() -> RedisHistory {
    let (redis, prefix) = crate::cluster::test_redis_health().await;
    let feed = Arc::new(Feed::new(&prefix));
    let clock = Arc::new(SystemClock::new());
    let ttl = Duration::from_secs(60);
    RedisHistory::new(&redis, &prefix, 10, ttl, clock, feed)
}

#[tokio::test]
async fn a_publish_script_past_its_deadline_publishes_nothing() {
    let history = history().await;
    // As if Redis had answered at the epoch a request sent now: every script is late.
    history
        .redis_clock
        .observed(0, crate::cluster::redis_clock::local_ms());
    let late = history
        .append("public:late", "tick", json!(1), 0, None)
        .await;
    assert!(matches!(late, Err(StoreError::Unavailable(_))), "{late:?}");
    let keys = history.keys("public:late");
    let stored: i64 = history.client.exists(keys).await.expect("exists");
    assert_eq!(stored, 0, "nothing numbered, kept or published");
    // The late reply carried Redis's time: the next publish is on time.
    let (publication, _) = history
        .append("public:late", "tick", json!(2), 0, None)
        .await
        .expect("published");
    assert_eq!(publication.offset, 1);
}
