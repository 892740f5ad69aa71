//! State shared by the sockets of a gateway: channel history and presence. One node keeps
//! it in memory; in cluster mode it lives in Redis behind the same ports.

pub mod fallback;
pub mod link;
pub mod memory;
mod publication_entry;
pub mod redis;
pub mod redis_blocks;
pub mod redis_clock;
pub mod redis_feed;
pub mod redis_history;
pub mod redis_presence;
pub mod redis_recovery;
pub mod redis_typing;
pub mod resync;

#[cfg(test)]
pub mod presence_contract;
#[cfg(test)]
pub mod sessions_contract;
#[cfg(test)]
pub mod typing_contract;

/// `SWITCHYARD_TEST_REDIS_URL`, by default the machine's Redis on 127.0.0.1:6379.
#[cfg(test)]
pub fn test_redis_url() -> String {
    std::env::var("SWITCHYARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The machine's Redis (`SWITCHYARD_TEST_REDIS_URL`, default 127.0.0.1:6379) and a key
/// prefix of the test's own, so tests running at once never share keys.
#[cfg(test)]
pub async fn test_redis() -> (fred::prelude::Client, String) {
    let (redis, prefix) = test_redis_health().await;
    (redis.client(), prefix)
}

/// As [`test_redis`], the connection with its link.
#[cfg(test)]
pub async fn test_redis_health() -> (redis::RedisHealth, String) {
    let redis = redis::RedisHealth::connect(&test_redis_url(), std::time::Duration::from_secs(1))
        .await
        .expect("Redis on 127.0.0.1:6379 (scripts/services starts it)");
    let prefix = format!("sy-test-{}", uuid::Uuid::new_v4().simple());
    (redis, prefix)
}

/// Counts a failed Redis call; `area` is one of `telemetry::metrics::REDIS_AREAS`.
fn redis_error(area: &'static str) {
    metrics::counter!(crate::telemetry::metrics::REDIS_ERRORS_TOTAL, "area" => area).increment(1);
}
