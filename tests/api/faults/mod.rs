//! Fault injection (issue 19): a node's Redis or PostgreSQL behind a [`FaultProxy`], and
//! every request answered within its deadline while the path is broken.
//!
//! [`FaultProxy`]: crate::support::fault_proxy::FaultProxy

use std::time::{Duration, Instant};

mod degraded;
pub(crate) mod postgres;
mod proxy;
mod recovery;
mod redis;
mod resync;
mod slow_redis;

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
