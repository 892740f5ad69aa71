//! Idle connections: opens them, holds them, and reports the server's memory per
//! connection (RSS delta over connections, when its pid is given).

use std::time::Duration;

use serde_json::{Value, json};

use crate::setup::Setup;
use crate::stats::{open_fds, rss_bytes};

pub async fn run(
    setup: &Setup,
    connections: usize,
    hold: Duration,
    server_pid: Option<u32>,
) -> Value {
    let before = server_pid.and_then(rss_bytes);
    let started = std::time::Instant::now();
    let (clients, failures) = setup.connect_many("idle", connections, false).await;
    let connect_secs = started.elapsed().as_secs_f64();
    // Let the server settle (buffers grow and shrink around the handshakes).
    tokio::time::sleep(hold).await;
    let after = server_pid.and_then(rss_bytes);
    let still_open = clients.iter().filter(|c| c.client.is_open()).count();
    let per_connection = match (before, after) {
        (Some(b), Some(a)) if still_open > 0 => Some(a.saturating_sub(b) / still_open as u64),
        _ => None,
    };
    json!({
        "mode": "idle",
        "connections": connections,
        "connected": clients.len(),
        "failed": failures,
        "open_after_hold": still_open,
        "connect_seconds": connect_secs,
        "server_rss_before": before,
        "server_rss_after": after,
        "server_fds": server_pid.and_then(open_fds),
        "bytes_per_connection": per_connection,
    })
}
