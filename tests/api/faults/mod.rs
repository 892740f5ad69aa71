//! Fault injection (issue 19): a node's Redis or PostgreSQL behind a [`FaultProxy`], and
//! every request answered within its deadline while the path is broken.
//!
//! [`FaultProxy`]: crate::support::fault_proxy::FaultProxy

use std::time::{Duration, Instant};

use crate::support::fault_proxy::FaultProxy;

mod degraded;
pub(crate) mod postgres;
mod proxy;
mod recovery;
mod redis;
mod resync;
mod slow_redis;

/// Loses the connection on which a node of key prefix `prefix` reads its feed, as a
/// half-open TCP connection would be lost: the bytes it sent and is sent are held, while
/// Redis and the node's other connections (and any new one) still answer.
fn lose_the_feed_connection(proxy: &FaultProxy, prefix: &str) {
    let feed = format!("{prefix}:feed");
    // The feed subscriber's SUBSCRIBE, as RESP puts it on the wire.
    let subscribe = format!("SUBSCRIBE\r\n${}\r\n{feed}\r\n", feed.len());
    proxy.only_connections_that_sent(subscribe.as_bytes());
    proxy.blackhole();
}

/// `request`'s answer, failing the test when it takes longer than `bound`: a request
/// that outlives its deadline by that much is a hang.
async fn answered_within<T>(bound: Duration, what: &str, request: impl Future<Output = T>) -> T {
    let started = Instant::now();
    match tokio::time::timeout(bound, request).await {
        Ok(answer) => {
            eprintln!("{what}: {:?}", started.elapsed());
            answer
        }
        Err(_) => panic!(
            "{what} not answered within {bound:?} (gave up after {:?})",
            started.elapsed()
        ),
    }
}

/// Polls `works` (every 100 ms, within `limit`) until it says the node works again.
async fn recovers_within(limit: Duration, mut works: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if tokio::time::timeout(limit, works()).await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not working again within {limit:?} of the fault ending");
}
