//! Metric names of what the gateway runs on (database, Redis, FCM, tokens, Engine.IO
//! sessions), with their help texts, buckets and known series. The namespaces never record
//! these; their own names are in `switchyard_namespaces::metrics`, and `prometheus.rs`
//! installs both. The Redis link and resync metrics are named in `cluster/link.rs` and
//! `cluster/resync.rs`: they exist only in cluster mode, created where it starts.

/// Engine.IO sessions open on this node, each holding a place under the connection caps
/// from its handshake on, whether or not it connected a namespace.
pub const ENGINE_SESSIONS: &str = "switchyard_engine_sessions";
/// Gauge: undelivered, unexpired notifications in the database (cluster-wide, sampled).
pub const NOTIFICATIONS_PENDING: &str = "switchyard_notifications_pending";
/// Push attempts to FCM, labelled `outcome` = `sent` | `invalid_token` | `retry` | `failed`.
pub const PUSH_ATTEMPTS_TOTAL: &str = "switchyard_push_attempts_total";
/// Webhook deliveries an endpoint accepted (2xx), by event `type`.
pub const WEBHOOK_SENT_TOTAL: &str = "switchyard_webhook_sent_total";
/// Webhook attempts not accepted (non-2xx, no answer, past `webhook_timeout_ms`) and
/// scheduled again, by event `type`.
pub const WEBHOOK_RETRIES_TOTAL: &str = "switchyard_webhook_retries_total";
/// Webhook deliveries given up on after `webhook_retry_for_secs` (kept, marked `dead`), by
/// event `type`. Alert on any increase.
pub const WEBHOOK_DEAD_LETTERS_TOTAL: &str = "switchyard_webhook_dead_letters_total";
/// Gauge: age of the oldest undelivered webhook event, cluster-wide (sampled every 5 s).
pub const WEBHOOK_LAG_SECONDS: &str = "switchyard_webhook_lag_seconds";
/// Refused tokens, by `code` (`missing_token` | `invalid_token` | `token_expired`) and
/// `transport` (`socket` | `http`).
pub const AUTH_FAILURES_TOTAL: &str = "switchyard_auth_failures_total";
/// Redis calls that failed, by `area`.
pub const REDIS_ERRORS_TOTAL: &str = "switchyard_redis_errors_total";
/// Publications the cluster feed skipped because this node read it too slowly.
pub const FEED_LAGGED_TOTAL: &str = "switchyard_feed_lagged_total";
/// CONNECTs that named a recovery session (`pid`), by `outcome`: `resumed`, or why not
/// (see [`RESUME_OUTCOMES`]).
pub const RESUMES_TOTAL: &str = "switchyard_resumes_total";
/// `unknown` (no such session on this namespace, or expired), `foreign` (no valid token
/// of the session's user), `gone` (the log no longer holds what it missed, or it missed
/// too much), `unavailable` (the store could not answer in time).
pub const RESUME_OUTCOMES: &[&str] = &["resumed", "unknown", "foreign", "gone", "unavailable"];
/// Database calls that failed (nothing was stored or read).
pub const DB_ERRORS_TOTAL: &str = "switchyard_db_errors_total";
/// Histogram: how long a store call waited for a pooled database connection, by `call`
/// (see [`DB_CALLS`]). Grows when every connection is busy.
pub const DB_ACQUIRE_SECONDS: &str = "switchyard_db_acquire_seconds";
/// Histogram: from sending a store call's statements to the database's answer, commit
/// included (PostgreSQL answers after the commit's WAL flush), by `call`. Grows when the
/// database or its disk is slow.
pub const DB_STATEMENT_SECONDS: &str = "switchyard_db_statement_seconds";
/// Store calls timed by [`DB_ACQUIRE_SECONDS`] and [`DB_STATEMENT_SECONDS`]: the one on
/// every chat message's path between its arrival and its delivery.
pub const DB_CALLS: &[&str] = &["insert_message"];

/// Areas of [`REDIS_ERRORS_TOTAL`].
pub const REDIS_AREAS: &[&str] = &[
    "presence", "typing", "history", "feed", "adapter", "recovery",
];
/// Outcomes of [`PUSH_ATTEMPTS_TOTAL`].
pub const PUSH_OUTCOMES: &[&str] = &["sent", "invalid_token", "retry", "failed"];
/// Codes of [`AUTH_FAILURES_TOTAL`].
pub const AUTH_CODES: &[&str] = &[
    "missing_token",
    "invalid_token",
    "token_expired",
    "rate_limited",
    "too_many_connections",
    // The connect hook's refusals (`integration/hooks/connect.rs`).
    "forbidden",
    "unavailable",
];

/// Database waits: a pooled connection is usually handed over in microseconds, a
/// statement answered in a millisecond or two.
pub const DB_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// This file's histograms with their buckets, so the exporter renders histograms, not
/// summaries.
pub const HISTOGRAMS: &[(&str, &[f64])] = &[
    (DB_ACQUIRE_SECONDS, DB_BUCKETS),
    (DB_STATEMENT_SECONDS, DB_BUCKETS),
];

/// Help texts; call once the recorder is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        ENGINE_SESSIONS,
        "Engine.IO sessions open on this node (the connections the caps count)"
    );
    describe_gauge!(
        NOTIFICATIONS_PENDING,
        "Undelivered, unexpired notifications in the database (cluster-wide)"
    );
    describe_counter!(PUSH_ATTEMPTS_TOTAL, "FCM push attempts, by outcome");
    describe_counter!(
        WEBHOOK_SENT_TOTAL,
        "Webhook deliveries accepted (2xx), by type"
    );
    describe_counter!(
        WEBHOOK_RETRIES_TOTAL,
        "Webhook attempts not accepted and scheduled again, by type"
    );
    describe_counter!(
        WEBHOOK_DEAD_LETTERS_TOTAL,
        "Webhook deliveries dead-lettered after webhook_retry_for_secs, by type"
    );
    describe_gauge!(
        WEBHOOK_LAG_SECONDS,
        "Age of the oldest undelivered webhook event (cluster-wide)"
    );
    describe_counter!(AUTH_FAILURES_TOTAL, "Refused tokens, by code and transport");
    describe_counter!(REDIS_ERRORS_TOTAL, "Failed Redis calls, by area");
    describe_counter!(
        FEED_LAGGED_TOTAL,
        "Publications the cluster feed skipped on this node"
    );
    describe_counter!(
        RESUMES_TOTAL,
        "CONNECTs naming a recovery session, by outcome (resumed, unknown, foreign, gone, unavailable)"
    );
    describe_counter!(DB_ERRORS_TOTAL, "Failed database calls");
    describe_histogram!(
        DB_ACQUIRE_SECONDS,
        Unit::Seconds,
        "Wait for a pooled database connection, by call"
    );
    describe_histogram!(
        DB_STATEMENT_SECONDS,
        Unit::Seconds,
        "From sending a store call's statements to the answer, commit included, by call"
    );
}

/// Creates the series whose label values are known in advance, at zero, so they exist
/// (and `rate()` works) before the first occurrence.
pub fn register_known_series() {
    metrics::gauge!(ENGINE_SESSIONS).increment(0.0);
    for outcome in PUSH_OUTCOMES {
        metrics::counter!(PUSH_ATTEMPTS_TOTAL, "outcome" => *outcome).increment(0);
    }
    for kind in crate::integration::EVENT_TYPES {
        for name in [
            WEBHOOK_SENT_TOTAL,
            WEBHOOK_RETRIES_TOTAL,
            WEBHOOK_DEAD_LETTERS_TOTAL,
        ] {
            metrics::counter!(name, "type" => *kind).increment(0);
        }
    }
    metrics::gauge!(WEBHOOK_LAG_SECONDS).set(0.0);
    for code in AUTH_CODES {
        for transport in ["socket", "http"] {
            metrics::counter!(AUTH_FAILURES_TOTAL, "code" => *code, "transport" => transport)
                .increment(0);
        }
    }
    for area in REDIS_AREAS {
        metrics::counter!(REDIS_ERRORS_TOTAL, "area" => *area).increment(0);
    }
    metrics::counter!(DB_ERRORS_TOTAL).increment(0);
    metrics::counter!(FEED_LAGGED_TOTAL).increment(0);
    for outcome in RESUME_OUTCOMES {
        metrics::counter!(RESUMES_TOTAL, "outcome" => *outcome).increment(0);
    }
    for call in DB_CALLS {
        // A histogram appears once registered, with empty buckets.
        let _ = metrics::histogram!(DB_ACQUIRE_SECONDS, "call" => *call);
        let _ = metrics::histogram!(DB_STATEMENT_SECONDS, "call" => *call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_histogram_has_sorted_buckets() {
        for (name, buckets) in HISTOGRAMS {
            assert!(name.ends_with("_seconds"), "{name}");
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{name}");
        }
    }
}
