//! The namespaces' metric names (sockets, events, emits, deliveries, rate limits), following
//! Prometheus conventions (units in names, `_total` counters, bounded label values: never
//! a user id or channel name). What the gateway runs on (database, Redis, FCM, tokens,
//! Engine.IO sessions) is named in `src/telemetry/metrics.rs`. `src/telemetry` installs
//! the recorder that `GET /metrics` renders, gives the histograms their buckets and calls
//! [`describe`].
//!
//! The Socket.IO namespace is the label `ns`, never `namespace`: Prometheus adds
//! `namespace` (the Kubernetes one) when it scrapes a pod.

use std::time::Duration;

use socketioxide::socket::DisconnectReason;

/// Gauge: open Socket.IO sockets on this node, by `ns`.
pub const CONNECTIONS: &str = "switchyard_connections";
/// Sockets accepted, by `ns`.
pub const CONNECTS_TOTAL: &str = "switchyard_connects_total";
/// Sockets closed, by `ns` and `reason` (see [`disconnect_reason`]).
pub const DISCONNECTS_TOTAL: &str = "switchyard_disconnects_total";
/// Sockets closed because their connection's outgoing queue stayed full (the client
/// stopped reading), by `ns`.
pub const SLOW_CONSUMERS_TOTAL: &str = "switchyard_slow_consumers_total";
/// Client events answered, by `ns` and `event` (a handled event name, or `unknown`).
pub const EVENTS_RECEIVED_TOTAL: &str = "switchyard_events_received_total";
/// Client events answered with an error, by `ns`, `event` and the contract's `code`.
pub const EVENT_ERRORS_TOTAL: &str = "switchyard_event_errors_total";
/// Histogram: from an event's arrival to its ack, by `ns` and `event`.
pub const ACK_DURATION_SECONDS: &str = "switchyard_ack_duration_seconds";
/// Histogram: time in a handler's logic (after parsing), by `ns` and `event`.
pub const HANDLER_DURATION_SECONDS: &str = "switchyard_handler_duration_seconds";
/// Emits to rooms (one per emit, however many sockets it reaches), by `ns` and `event`.
pub const BROADCASTS_TOTAL: &str = "switchyard_broadcasts_total";
/// Room emits sent without an offset because the packet log could not take them while
/// connection-state recovery is on, by `ns`: a socket that misses one cannot resume past it.
pub const PACKETS_UNLOGGED_TOTAL: &str = "switchyard_packets_unlogged_total";
/// Histogram: sockets on this node one channel publication reached.
pub const PUBLICATION_FANOUT_SOCKETS: &str = "switchyard_publication_fanout_sockets";
/// Histogram: from being stored to the first client ack, by `kind` = `message` |
/// `notification`.
pub const DELIVERY_LATENCY_SECONDS: &str = "switchyard_delivery_latency_seconds";
/// Pending notifications pushed out of a user's queue by newer ones.
pub const NOTIFICATIONS_DROPPED_TOTAL: &str = "switchyard_notifications_dropped_total";
/// `subscribe` with `since`, per channel, by `recovered` = `true` | `false`.
pub const RECOVERIES_TOTAL: &str = "switchyard_recoveries_total";
/// Events and handshakes refused `rate_limited`, by `class` (`all`, `message`, `typing`,
/// `presence`, `draft`, `handshake`).
pub const RATE_LIMITED_TOTAL: &str = "switchyard_rate_limited_total";
/// Classes of [`RATE_LIMITED_TOTAL`].
pub const RATE_LIMIT_CLASSES: &[&str] = &[
    "all",
    "message",
    "typing",
    "presence",
    "draft",
    "rpc",
    "handshake",
];

/// Latencies of one request: a millisecond to ten seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Store-to-ack delays: a live delivery takes milliseconds, a pending one waits for the
/// user to come back, up to a day.
pub const DELIVERY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    3600.0, 21600.0, 86400.0,
];
/// Sockets per publication.
pub const FANOUT_BUCKETS: &[f64] = &[
    0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// Every histogram with its buckets, so the exporter renders histograms, not summaries.
pub const HISTOGRAMS: &[(&str, &[f64])] = &[
    (ACK_DURATION_SECONDS, LATENCY_BUCKETS),
    (HANDLER_DURATION_SECONDS, LATENCY_BUCKETS),
    (DELIVERY_LATENCY_SECONDS, DELIVERY_BUCKETS),
    (PUBLICATION_FANOUT_SOCKETS, FANOUT_BUCKETS),
];

/// Help texts; call once the recorder is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS, "Open Socket.IO sockets on this node, by ns");
    describe_counter!(CONNECTS_TOTAL, "Sockets accepted, by ns");
    describe_counter!(DISCONNECTS_TOTAL, "Sockets closed, by ns and reason");
    describe_counter!(
        SLOW_CONSUMERS_TOTAL,
        "Sockets closed because their outgoing queue stayed full, by ns"
    );
    describe_counter!(
        EVENTS_RECEIVED_TOTAL,
        "Client events answered, by ns and event"
    );
    describe_counter!(
        EVENT_ERRORS_TOTAL,
        "Client events answered with an error, by ns, event and code"
    );
    describe_histogram!(
        ACK_DURATION_SECONDS,
        Unit::Seconds,
        "From an event's arrival to its ack"
    );
    describe_histogram!(
        HANDLER_DURATION_SECONDS,
        Unit::Seconds,
        "Time in a handler's logic, after parsing"
    );
    describe_counter!(BROADCASTS_TOTAL, "Emits to rooms, by ns and event");
    describe_counter!(
        PACKETS_UNLOGGED_TOTAL,
        "Room emits sent without a recovery offset (the packet log could not take them), by ns"
    );
    describe_histogram!(
        PUBLICATION_FANOUT_SOCKETS,
        Unit::Count,
        "Sockets on this node one publication reached"
    );
    describe_histogram!(
        DELIVERY_LATENCY_SECONDS,
        Unit::Seconds,
        "From stored to the first client ack, by kind"
    );
    describe_counter!(
        NOTIFICATIONS_DROPPED_TOTAL,
        "Pending notifications dropped for newer ones"
    );
    describe_counter!(
        RECOVERIES_TOTAL,
        "Channel recoveries by subscribe with since, by recovered"
    );
    describe_counter!(
        RATE_LIMITED_TOTAL,
        "Events and handshakes refused rate_limited, by class"
    );
}

/// Creates the series whose label values are known in advance, at zero, so they exist
/// (and `rate()` works) before the first occurrence. `namespaces`: the paths of the
/// namespaces served (`crate::paths`).
pub fn register_known_series(namespaces: &[&'static str]) {
    for ns in namespaces {
        metrics::gauge!(CONNECTIONS, "ns" => *ns).increment(0.0);
        metrics::counter!(CONNECTS_TOTAL, "ns" => *ns).increment(0);
        metrics::counter!(SLOW_CONSUMERS_TOTAL, "ns" => *ns).increment(0);
    }
    for class in RATE_LIMIT_CLASSES {
        metrics::counter!(RATE_LIMITED_TOTAL, "class" => *class).increment(0);
    }
    for recovered in ["true", "false"] {
        metrics::counter!(RECOVERIES_TOTAL, "recovered" => recovered).increment(0);
    }
    metrics::counter!(NOTIFICATIONS_DROPPED_TOTAL).increment(0);
    for kind in ["message", "notification"] {
        // A histogram appears once registered, with empty buckets.
        let _ = metrics::histogram!(DELIVERY_LATENCY_SECONDS, "kind" => kind);
    }
    let _ = metrics::histogram!(PUBLICATION_FANOUT_SOCKETS);
}

/// The `reason` label of [`DISCONNECTS_TOTAL`].
pub fn disconnect_reason(reason: DisconnectReason) -> &'static str {
    use DisconnectReason::*;
    match reason {
        TransportClose => "transport_close",
        MultipleHttpPollingError => "multiple_http_polling",
        PacketParsingError => "packet_parsing_error",
        TransportError => "transport_error",
        HeartbeatTimeout => "heartbeat_timeout",
        ClientNSDisconnect => "client_disconnect",
        ServerNSDisconnect => "server_disconnect",
        ClosingServer => "closing_server",
        SlowConsumer => "slow_consumer",
    }
}

/// A socket joined `ns`.
pub fn connection_opened(ns: &'static str) {
    metrics::gauge!(CONNECTIONS, "ns" => ns).increment(1.0);
    metrics::counter!(CONNECTS_TOTAL, "ns" => ns).increment(1);
}

/// A socket of `ns` closed.
pub fn connection_closed(ns: &'static str, reason: DisconnectReason) {
    metrics::gauge!(CONNECTIONS, "ns" => ns).decrement(1.0);
    metrics::counter!(DISCONNECTS_TOTAL, "ns" => ns, "reason" => disconnect_reason(reason))
        .increment(1);
    if reason == DisconnectReason::SlowConsumer {
        metrics::counter!(SLOW_CONSUMERS_TOTAL, "ns" => ns).increment(1);
    }
}

/// One emit to rooms of `ns`.
pub fn broadcast(ns: &'static str, event: &'static str) {
    metrics::counter!(BROADCASTS_TOTAL, "ns" => ns, "event" => event).increment(1);
}

/// A room emit sent without an offset (see [`PACKETS_UNLOGGED_TOTAL`]).
pub fn unlogged(ns: &'static str) {
    metrics::counter!(PACKETS_UNLOGGED_TOTAL, "ns" => ns).increment(1);
}

/// Something stored at `stored_at_ms` was acked by a client at `now_ms`.
pub fn delivered(kind: &'static str, stored_at_ms: i64, now_ms: i64) {
    let delay = Duration::from_millis(now_ms.saturating_sub(stored_at_ms).max(0) as u64);
    metrics::histogram!(DELIVERY_LATENCY_SECONDS, "kind" => kind).record(delay.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded() {
        assert_eq!(
            disconnect_reason(DisconnectReason::HeartbeatTimeout),
            "heartbeat_timeout"
        );
    }

    #[test]
    fn every_histogram_has_sorted_buckets() {
        for (name, buckets) in HISTOGRAMS {
            assert!(name.ends_with("_seconds") || name.ends_with("_sockets"));
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{name}");
        }
    }
}
