//! Rate limits (PROTOCOL.md §2): token buckets per socket and per event class. An event
//! over a limit is answered `rate_limited` with `retryAfterMs` and not handled; a socket
//! that keeps going over (5 times in a minute by default) is disconnected and its user
//! kept out for a while, on every node.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use serde::{Deserialize, Serialize};

use crate::ack::{ErrorCode, NsError};
use crate::metrics::RATE_LIMITED_TOTAL;
use crate::ports::UserBlocks;

/// The rate classes: every event counts in `All`, and in its table entry's class when that
/// is another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventClass {
    All,
    Message,
    Typing,
    Presence,
    Draft,
    /// Device tokens: each registration can add a push target, so few are needed.
    Device,
    /// `rpc`: each one is an HTTP call to the app's backend.
    Rpc,
}

const CLASSES: usize = 7;

impl EventClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Message => "message",
            Self::Typing => "typing",
            Self::Presence => "presence",
            Self::Draft => "draft",
            Self::Device => "device",
            Self::Rpc => "rpc",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One class's allowance: `per_minute` events, at most `burst` at once (by default a
/// whole minute's worth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassQuota {
    pub class: EventClass,
    pub per_minute: u32,
    #[serde(default)]
    pub burst: Option<u32>,
}

/// The contract's defaults.
pub fn default_quotas() -> Vec<ClassQuota> {
    let quota = |class, per_minute, burst| ClassQuota {
        class,
        per_minute,
        burst,
    };
    vec![
        quota(EventClass::All, 120, None),
        quota(EventClass::Message, 30, Some(5)),
        quota(EventClass::Typing, 10, None),
        quota(EventClass::Presence, 5, None),
        quota(EventClass::Draft, 10, Some(3)),
        // An app registers its token at start and when FCM rotates it: a handful a minute.
        quota(EventClass::Device, 10, Some(5)),
        // Each call waits on the app's backend: a steady minute's worth, short bursts.
        quota(EventClass::Rpc, 60, Some(10)),
    ]
}

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// One entry per class; a class without one is not limited on its own.
    pub quotas: Vec<ClassQuota>,
    /// Violations within [`VIOLATION_WINDOW`] that disconnect and block.
    pub violations_to_block: u32,
    pub block_for: Duration,
}

/// The window in which violations add up.
pub const VIOLATION_WINDOW: Duration = Duration::from_secs(60);

/// What every socket's limiter shares: the configuration and the block list.
pub struct Limits {
    config: LimitsConfig,
    quotas: [Option<Quota>; CLASSES],
    blocks: Arc<dyn UserBlocks>,
}

impl Limits {
    pub fn new(config: LimitsConfig, blocks: Arc<dyn UserBlocks>) -> Arc<Self> {
        let mut quotas = [None; CLASSES];
        for q in &config.quotas {
            quotas[q.class.index()] = governor_quota(q);
        }
        Arc::new(Self {
            config,
            quotas,
            blocks,
        })
    }

    pub fn blocks(&self) -> &dyn UserBlocks {
        self.blocks.as_ref()
    }

    /// A limiter for one socket of `user_id`.
    pub fn for_socket(self: &Arc<Self>, user_id: &str) -> Arc<SocketLimiter> {
        Arc::new(SocketLimiter {
            limits: self.clone(),
            user_id: user_id.to_owned(),
            buckets: Default::default(),
            violations: Mutex::default(),
        })
    }
}

fn governor_quota(q: &ClassQuota) -> Option<Quota> {
    let per_minute = NonZeroU32::new(q.per_minute)?;
    let burst = q.burst.and_then(NonZeroU32::new).unwrap_or(per_minute);
    Some(Quota::per_minute(per_minute).allow_burst(burst))
}

/// What to do about an event over its limit.
#[derive(Debug)]
pub struct Limited {
    pub error: NsError,
    /// The socket must be disconnected and its user blocked.
    pub offender: bool,
}

/// The buckets of one socket, made on first use: a socket pays only for the classes its
/// namespace's events use.
pub struct SocketLimiter {
    limits: Arc<Limits>,
    user_id: String,
    buckets: [OnceLock<DefaultDirectRateLimiter>; CLASSES],
    violations: Mutex<VecDeque<Instant>>,
}

impl SocketLimiter {
    /// Takes a token for an event of `class` from that class's bucket and from `All`'s.
    pub fn check(&self, class: EventClass) -> Result<(), Limited> {
        let own = (class != EventClass::All).then_some(class);
        let classes = own.into_iter().chain(std::iter::once(EventClass::All));
        for class in classes {
            if let Err(wait) = self.take(class) {
                metrics::counter!(RATE_LIMITED_TOTAL, "class" => class.as_str()).increment(1);
                return Err(self.violation(class, wait));
            }
        }
        Ok(())
    }

    fn take(&self, class: EventClass) -> Result<(), Duration> {
        let Some(quota) = self.limits.quotas[class.index()] else {
            return Ok(());
        };
        let bucket =
            self.buckets[class.index()].get_or_init(|| governor::RateLimiter::direct(quota));
        bucket
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn violation(&self, class: EventClass, wait: Duration) -> Limited {
        let now = Instant::now();
        let mut recent = self.violations.lock().unwrap_or_else(|p| p.into_inner());
        recent.push_back(now);
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > VIOLATION_WINDOW)
        {
            recent.pop_front();
        }
        let offender = recent.len() as u32 >= self.limits.config.violations_to_block;
        let mut error = NsError::new(
            ErrorCode::RateLimited,
            format!("too many {} events; slow down", class.as_str()),
        );
        error.retry_after_ms = Some(wait.as_millis().max(1) as u64);
        Limited { error, offender }
    }

    /// Blocks the socket's user for the configured time.
    pub async fn block_user(&self) {
        let block_for = self.limits.config.block_for;
        tracing::warn!(user = %self.user_id, ?block_for, "rate limits broken repeatedly; user blocked");
        self.limits.blocks.block(&self.user_id, block_for).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    #[derive(Default)]
    struct Blocked(Mutex<Vec<String>>);

    #[async_trait]
    impl UserBlocks for Blocked {
        async fn block(&self, user_id: &str, _: Duration) {
            self.0.lock().expect("lock").push(user_id.to_owned());
        }
        async fn blocked_for(&self, _: &str) -> Option<Duration> {
            None
        }
    }

    fn limiter(quotas: Vec<ClassQuota>, violations: u32) -> Arc<SocketLimiter> {
        let config = LimitsConfig {
            quotas,
            violations_to_block: violations,
            block_for: Duration::from_secs(60),
        };
        Limits::new(config, Arc::new(Blocked::default())).for_socket("u")
    }

    #[test]
    fn message_send_allows_a_burst_of_five_then_says_when_to_retry() {
        let l = limiter(default_quotas(), 5);
        for _ in 0..5 {
            assert!(l.check(EventClass::Message).is_ok());
        }
        let limited = l.check(EventClass::Message).expect_err("sixth in a burst");
        assert_eq!(limited.error.code, ErrorCode::RateLimited);
        let retry = limited.error.retry_after_ms.expect("retryAfterMs");
        assert!(
            (1_000..=2_000).contains(&retry),
            "one token per 2 s: {retry}"
        );
        assert!(!limited.offender);
        assert!(l.check(EventClass::All).is_ok(), "other classes unaffected");
    }

    #[test]
    fn device_events_share_a_burst_of_five() {
        let l = limiter(default_quotas(), 1_000);
        for _ in 0..5 {
            assert!(l.check(EventClass::Device).is_ok());
        }
        let limited = l.check(EventClass::Device).expect_err("sixth in a burst");
        assert_eq!(limited.error.code, ErrorCode::RateLimited);
        assert!(l.check(EventClass::All).is_ok(), "other events unaffected");
    }

    #[test]
    fn every_event_counts_toward_all() {
        let l = limiter(default_quotas(), 1_000);
        let allowed = (0..200)
            .filter(|_| l.check(EventClass::All).is_ok())
            .count();
        assert_eq!(allowed, 120);
    }

    #[test]
    fn the_fifth_violation_in_a_minute_makes_an_offender() {
        let l = limiter(default_quotas(), 5);
        for _ in 0..10 {
            let _ = l.check(EventClass::Typing);
        }
        let verdicts: Vec<bool> = (0..5)
            .map(|_| l.check(EventClass::Typing).expect_err("limited").offender)
            .collect();
        assert_eq!(verdicts, vec![false, false, false, false, true]);
    }

    #[test]
    fn a_class_with_no_quota_is_not_limited_alone() {
        let l = limiter(Vec::new(), 5);
        assert!((0..1_000).all(|_| l.check(EventClass::Message).is_ok()));
    }
}
