//! Metric names, in one place, following Prometheus conventions (`_total` counters, bounded
//! label values: never a user id or channel name). `src/telemetry.rs` installs the
//! recorder that `GET /metrics` renders.

/// Pending notifications pushed out of a user's queue by newer ones.
pub const NOTIFICATIONS_DROPPED_TOTAL: &str = "switchyard_notifications_dropped_total";
/// Push attempts to FCM, labelled `outcome` = `sent` | `invalid_token` | `retry` | `failed`.
pub const PUSH_ATTEMPTS_TOTAL: &str = "switchyard_push_attempts_total";
/// Events refused `rate_limited`, by event class.
pub const RATE_LIMITED: &str = "switchyard_rate_limited_total";
