//! State shared by the sockets of a gateway: channel history and presence. One node keeps
//! it in memory; in cluster mode it lives in Redis behind the same ports.

pub mod memory;
pub mod redis;
pub mod redis_blocks;
pub mod redis_feed;
pub mod redis_history;
pub mod redis_presence;
pub mod redis_typing;

#[cfg(test)]
pub mod presence_contract;
#[cfg(test)]
pub mod typing_contract;

/// Advisory state (presence, typing) answers as if empty while Redis is unreachable:
/// the failure is logged and counted, and the caller goes on.
fn degraded<T: Default>(area: &'static str, what: &str, err: fred::error::Error) -> T {
    tracing::warn!(error = %err, "{area} in Redis: {what} failed");
    metrics::counter!("switchyard_redis_errors_total", "area" => area).increment(1);
    T::default()
}
