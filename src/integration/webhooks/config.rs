//! How the webhook sender paces itself: its batch sizes, the deadline and retry period
//! from the settings, the leases it takes, and the backoff between attempts.

use std::time::Duration;

use rand::Rng;

use crate::config::IntegrationSettings;

#[derive(Debug, Clone, Copy)]
pub struct SenderConfig {
    /// How often the outbox is read.
    pub poll: Duration,
    /// Deliveries claimed per round.
    pub batch: i64,
    /// Deliveries of one (endpoint, key) sent one after another in a round.
    pub run: i64,
    /// Runs in flight at once.
    pub concurrency: usize,
    /// `webhook_timeout_ms`: what one POST may take.
    pub timeout: Duration,
    /// `webhook_retry_for_secs`: from the event on, then dead-lettered.
    pub retry_for: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Delivered rows are deleted this long after delivery.
    pub keep_delivered: Duration,
    /// How often the lag gauge is sampled and delivered rows pruned.
    pub housekeeping: Duration,
}

impl SenderConfig {
    pub fn from_settings(settings: &IntegrationSettings) -> Self {
        Self {
            poll: Duration::from_millis(200),
            batch: 200,
            run: 20,
            concurrency: 16,
            timeout: settings.webhook_timeout,
            retry_for: settings.webhook_retry_for,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3600),
            keep_delivered: Duration::from_secs(24 * 3600),
            housekeeping: Duration::from_secs(5),
        }
    }

    /// The lease of each delivery of a run, per position: its turn's POST may take the
    /// whole timeout, plus a margin for recording it.
    pub fn lease_ms(&self) -> i64 {
        millis(self.timeout) + 2_000
    }
}

pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Exponential backoff with jitter: half to all of `base · 2^attempts`, capped.
pub fn retry_delay(config: &SenderConfig, attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let ceiling = config
        .base_backoff
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(config.max_backoff);
    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SenderConfig {
        SenderConfig {
            poll: Duration::from_millis(200),
            batch: 10,
            run: 5,
            concurrency: 1,
            timeout: Duration::from_secs(1),
            retry_for: Duration::from_secs(60),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            keep_delivered: Duration::from_secs(60),
            housekeeping: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let config = config();
        for attempts in 0..3 {
            let d = retry_delay(&config, attempts);
            let ceiling = Duration::from_secs(1 << attempts);
            assert!(d >= ceiling / 2 && d <= ceiling, "{attempts}: {d:?}");
        }
        assert!(retry_delay(&config, 40) <= Duration::from_secs(10));
    }
}
