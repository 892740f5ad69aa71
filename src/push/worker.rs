//! The push worker: off the socket path, it turns due notifications into one push per
//! device, sends them through FCM, and records what happened. Everything it works from
//! is in the database, so a restart resumes where the last process stopped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use switchyard_namespaces::ports::{Clock, Priority};

use super::fcm::{FcmClient, PushMessage, SendOutcome};
use crate::store::{AttemptOutcome, PushQueue, QueuedPush};
use crate::telemetry::metrics::PUSH_ATTEMPTS_TOTAL;

#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// How often the queue is read.
    pub poll: Duration,
    /// Notifications scheduled and pushes sent per round.
    pub batch: i64,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Attempts per device before giving up on retryable failures.
    pub max_attempts: i64,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(250),
            batch: 100,
            concurrency: 8,
            max_attempts: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

pub struct PushWorker {
    queue: Arc<dyn PushQueue>,
    fcm: FcmClient,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
}

impl PushWorker {
    pub fn new(
        queue: Arc<dyn PushQueue>,
        fcm: FcmClient,
        clock: Arc<dyn Clock>,
        config: WorkerConfig,
    ) -> Self {
        Self {
            queue,
            fcm,
            clock,
            config,
        }
    }

    /// Runs until the process ends; a failed round (database down) is logged and retried.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.config.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = self.round().await {
                tracing::warn!(error = %err, "push round failed; retrying next round");
            }
        }
    }

    async fn round(&self) -> Result<(), sqlx::Error> {
        let now = self.clock.now_ms();
        let scheduled = self.queue.schedule_due(now, self.config.batch).await?;
        if scheduled > 0 {
            tracing::debug!(scheduled, "notifications due for push");
        }
        let ready = self.queue.ready(now, self.config.batch).await?;
        let results: Vec<Result<(), sqlx::Error>> = futures_util::stream::iter(ready)
            .map(|push| self.attempt(push))
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        results.into_iter().collect()
    }

    #[tracing::instrument(skip_all, fields(notification = %push.notification_id, attempt = push.attempts + 1))]
    async fn attempt(&self, push: QueuedPush) -> Result<(), sqlx::Error> {
        let outcome = self.fcm.send(&message(&push)).await;
        let recorded = self.outcome(&push, outcome);
        tracing::info!(outcome = ?recorded, "push attempt");
        metrics::counter!(PUSH_ATTEMPTS_TOTAL, "outcome" => outcome_label(&recorded)).increment(1);
        self.queue
            .record(&push, &recorded, self.clock.now_ms())
            .await
    }

    fn outcome(&self, push: &QueuedPush, sent: SendOutcome) -> AttemptOutcome {
        match sent {
            SendOutcome::Sent { .. } => AttemptOutcome::Sent,
            SendOutcome::InvalidToken { .. } => AttemptOutcome::InvalidToken,
            SendOutcome::Failed { status, .. } => AttemptOutcome::Failed {
                status: Some(status),
            },
            SendOutcome::Retry { status, .. } if push.attempts + 1 >= self.config.max_attempts => {
                AttemptOutcome::Failed { status }
            }
            SendOutcome::Retry { status, after } => {
                let wait = retry_delay(&self.config, push.attempts, after);
                AttemptOutcome::RetryAt {
                    at: self.clock.now_ms() + wait.as_millis() as i64,
                    status,
                }
            }
        }
    }
}

/// Exponential backoff with jitter (half to all of `base · 2^attempts`, capped), never
/// sooner than FCM's `Retry-After`.
pub fn retry_delay(
    config: &WorkerConfig,
    attempts: i64,
    retry_after: Option<Duration>,
) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let ceiling = config
        .base_backoff
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(config.max_backoff);
    let jittered = ceiling.mul_f64(rand::rng().random_range(0.5..=1.0));
    jittered.max(retry_after.unwrap_or_default())
}

fn outcome_label(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Sent => "sent",
        AttemptOutcome::InvalidToken => "invalid_token",
        AttemptOutcome::RetryAt { .. } => "retry",
        AttemptOutcome::Failed { .. } => "failed",
    }
}

fn message(push: &QueuedPush) -> PushMessage {
    PushMessage {
        token: push.token.clone(),
        notification_id: push.notification_id.clone(),
        kind: push.kind.clone(),
        title: push.title.clone(),
        body: push.body.clone(),
        data: push.data.clone(),
        high_priority: push.priority >= Priority::High,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let config = WorkerConfig {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            ..WorkerConfig::default()
        };
        for attempts in 0..3 {
            let d = retry_delay(&config, attempts, None);
            let ceiling = Duration::from_secs(1 << attempts);
            assert!(d >= ceiling / 2 && d <= ceiling, "{attempts}: {d:?}");
        }
        assert!(retry_delay(&config, 30, None) <= Duration::from_secs(10));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let config = WorkerConfig::default();
        assert!(retry_delay(&config, 0, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
    }
}
