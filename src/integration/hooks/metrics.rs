//! The hooks' metrics: calls by hook and outcome, their durations, and the answers taken
//! from the cache instead of a call. `telemetry/prometheus.rs` installs them.

use std::time::Duration;

/// Calls to the backend, by `hook` (`connect` | `subscribe` | `rpc`) and `outcome`:
/// `allowed` (connect or every channel allowed; an RPC answered with `data`), `denied`
/// (a refusal, a channel denied, an RPC answered with an `error`), `error` (non-2xx,
/// network, an answer too large or not as the interface says), `timeout`.
pub const HOOK_CALLS_TOTAL: &str = "switchyard_hook_calls_total";
/// Histogram: how long a call took, by `hook`, failed ones included.
pub const HOOK_DURATION_SECONDS: &str = "switchyard_hook_duration_seconds";
/// Connect and subscribe answers reused from the cache (no call made), by `hook`.
pub const HOOK_CACHE_HITS_TOTAL: &str = "switchyard_hook_cache_hits_total";

pub const ALLOWED: &str = "allowed";
pub const DENIED: &str = "denied";
pub const ERROR: &str = "error";
pub const TIMEOUT: &str = "timeout";
const OUTCOMES: &[&str] = &[ALLOWED, DENIED, ERROR, TIMEOUT];

/// Which hook a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Connect,
    Subscribe,
    Rpc,
}

impl Hook {
    const ALL: [Hook; 3] = [Hook::Connect, Hook::Subscribe, Hook::Rpc];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Subscribe => "subscribe",
            Self::Rpc => "rpc",
        }
    }
}

/// A call a third of the default deadline takes is slow already; the deadline is 1 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub const HISTOGRAMS: &[(&str, &[f64])] = &[(HOOK_DURATION_SECONDS, BUCKETS)];

pub fn counted(hook: Hook, outcome: &'static str) {
    metrics::counter!(HOOK_CALLS_TOTAL, "hook" => hook.as_str(), "outcome" => outcome).increment(1);
}

pub fn timed(hook: Hook, took: Duration) {
    metrics::histogram!(HOOK_DURATION_SECONDS, "hook" => hook.as_str()).record(took.as_secs_f64());
}

pub fn cache_hit(hook: Hook) {
    metrics::counter!(HOOK_CACHE_HITS_TOTAL, "hook" => hook.as_str()).increment(1);
}

/// Help texts; call once the recorder is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        HOOK_CALLS_TOTAL,
        "Calls to the backend's connect, subscribe and RPC hooks, by hook and outcome"
    );
    describe_histogram!(
        HOOK_DURATION_SECONDS,
        Unit::Seconds,
        "How long a hook call took, by hook"
    );
    describe_counter!(
        HOOK_CACHE_HITS_TOTAL,
        "Hook answers reused from the cache, by hook"
    );
}

/// The series with known labels, at zero.
pub fn register_known_series() {
    for hook in Hook::ALL {
        for outcome in OUTCOMES {
            metrics::counter!(HOOK_CALLS_TOTAL, "hook" => hook.as_str(), "outcome" => *outcome)
                .increment(0);
        }
        let _ = metrics::histogram!(HOOK_DURATION_SECONDS, "hook" => hook.as_str());
    }
    for hook in [Hook::Connect, Hook::Subscribe] {
        metrics::counter!(HOOK_CACHE_HITS_TOTAL, "hook" => hook.as_str()).increment(0);
    }
}
