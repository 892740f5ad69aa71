//! The webhook sender, one per node: it claims due deliveries from the outbox (a lease
//! keeps other nodes off them), POSTs each signed with its endpoint's secret, and records
//! what happened. Deliveries of one (endpoint, ordering key) go one after another, a
//! failed one holding back those behind it until it is delivered or dead-lettered.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use futures_util::StreamExt;
use switchyard_namespaces::ports::{Clock, PresenceTransitions};
use tokio::sync::mpsc;

use super::config::{SenderConfig, millis, retry_delay};
use super::event::{WebhookEvent, types};
use super::presence::{PresenceWebhooks, write_transitions};
use crate::config::IntegrationSettings;
use crate::integration::signing::SigningSecret;
use crate::store::{Claim, WebhookDelivery, WebhookOutbox, WebhookOutcome};
use crate::telemetry::metrics::{
    WEBHOOK_DEAD_LETTERS_TOTAL, WEBHOOK_LAG_SECONDS, WEBHOOK_RETRIES_TOTAL, WEBHOOK_SENT_TOTAL,
};

/// No redirects (a receiver that moved says so with a non-2xx, retried and seen in the
/// metrics), and the deadline on the whole request, connect included.
fn http_client(config: &SenderConfig) -> anyhow::Result<reqwest::Client> {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchyard-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the webhook HTTP client")
}

type PresenceQueue = (
    Option<Arc<PresenceWebhooks>>,
    Option<mpsc::Receiver<WebhookEvent>>,
);

/// The presence port and its queue, when an endpoint wants `user.online` or `user.offline`.
fn presence_queue(settings: &IntegrationSettings) -> PresenceQueue {
    let wanted = settings
        .webhooks
        .iter()
        .any(|e| e.wants(types::USER_ONLINE) || e.wants(types::USER_OFFLINE));
    if !wanted {
        return (None, None);
    }
    let (port, rx) = PresenceWebhooks::new();
    (Some(Arc::new(port)), Some(rx))
}

pub struct WebhookSender {
    outbox: Arc<dyn WebhookOutbox>,
    http: reqwest::Client,
    secrets: HashMap<String, SigningSecret>,
    clock: Arc<dyn Clock>,
    config: SenderConfig,
    /// `user.online`/`user.offline` waiting to be written, when an endpoint wants them.
    transitions: Option<mpsc::Receiver<WebhookEvent>>,
    presence_port: Option<Arc<PresenceWebhooks>>,
}

impl WebhookSender {
    /// `None` when no endpoint is configured: nothing is ever written to the outbox.
    pub fn new(
        settings: &IntegrationSettings,
        outbox: Arc<dyn WebhookOutbox>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Option<Self>> {
        if settings.webhooks.is_empty() {
            return Ok(None);
        }
        let mut secrets = HashMap::new();
        for endpoint in &settings.webhooks {
            let secret = SigningSecret::parse(&endpoint.secret).context("webhook secret")?;
            secrets.insert(endpoint.url.clone(), secret);
        }
        let config = SenderConfig::from_settings(settings);
        let http = http_client(&config)?;
        let (presence_port, transitions) = presence_queue(settings);
        Ok(Some(Self {
            outbox,
            http,
            secrets,
            clock,
            config,
            transitions,
            presence_port,
        }))
    }

    /// Where presence tells users coming online and going offline, when an endpoint
    /// wants `user.online` or `user.offline`.
    pub fn presence_port(&self) -> Option<Arc<dyn PresenceTransitions>> {
        let port = self.presence_port.clone()?;
        Some(port)
    }

    /// Runs until the process ends (with the writer of presence transitions, if any); a
    /// failed round (database down) is logged and retried.
    pub async fn run(mut self) {
        let writer = self
            .transitions
            .take()
            .map(|rx| write_transitions(rx, self.outbox.clone()));
        match writer {
            Some(writer) => drop(tokio::join!(writer, self.send())),
            None => self.send().await,
        }
    }

    async fn send(&self) {
        let mut tick = tokio::time::interval(self.config.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_housekeeping = None::<tokio::time::Instant>;
        loop {
            tick.tick().await;
            if last_housekeeping.is_none_or(|at| at.elapsed() >= self.config.housekeeping) {
                last_housekeeping = Some(tokio::time::Instant::now());
                if let Err(err) = self.housekeeping().await {
                    tracing::warn!(error = %err, "webhook housekeeping failed");
                }
            }
            if let Err(err) = self.round().await {
                tracing::warn!(error = %err, "webhook round failed; retrying next round");
            }
        }
    }

    /// The lag gauge (age of the oldest undelivered event) and pruning delivered rows.
    async fn housekeeping(&self) -> Result<(), sqlx::Error> {
        let now = self.clock.now_ms();
        let oldest = self.outbox.oldest_pending().await?;
        let lag = oldest.map_or(0, |at| (now - at).max(0));
        metrics::gauge!(WEBHOOK_LAG_SECONDS).set(lag as f64 / 1000.0);
        let pruned = self
            .outbox
            .prune_delivered(now - millis(self.config.keep_delivered))
            .await?;
        if pruned > 0 {
            tracing::debug!(pruned, "delivered webhooks pruned");
        }
        Ok(())
    }

    async fn round(&self) -> Result<(), sqlx::Error> {
        let claim = Claim {
            limit: self.config.batch,
            run: self.config.run,
            lease_ms: self.config.lease_ms(),
        };
        let runs = self.outbox.claim(self.clock.now_ms(), claim).await?;
        let results: Vec<Result<(), sqlx::Error>> = futures_util::stream::iter(runs)
            .map(|run| self.send_run(run))
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// One (endpoint, key)'s deliveries in order, stopping at the first to be retried:
    /// those behind it are given back, to go after it.
    async fn send_run(&self, run: Vec<WebhookDelivery>) -> Result<(), sqlx::Error> {
        let mut run = run.into_iter();
        while let Some(delivery) = run.next() {
            let Some(outcome) = self.attempt(&delivery).await else {
                // Not this node's endpoint (settings differ between nodes): left pending,
                // for a node that knows it; the lag shows it.
                run.for_each(drop);
                return Ok(());
            };
            let now = self.clock.now_ms();
            if !self.outbox.record(&delivery, outcome, now).await? {
                // Its lease ran out and another node took the run over: it sends the rest.
                tracing::warn!(id = %delivery.event_id, "webhook lease lost; run handed over");
                return Ok(());
            }
            if let WebhookOutcome::RetryAt { .. } = outcome {
                for held in run.by_ref() {
                    self.outbox.release(&held, self.clock.now_ms()).await?;
                }
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(id = %d.event_id, event = %d.event_type, attempt = d.attempts + 1))]
    async fn attempt(&self, d: &WebhookDelivery) -> Option<WebhookOutcome> {
        let secret = self.secrets.get(&d.endpoint)?;
        let status = self.post(d, secret).await;
        let outcome = self.outcome(d, status);
        let kind = d.event_type.clone();
        match outcome {
            WebhookOutcome::Delivered { .. } => {
                metrics::counter!(WEBHOOK_SENT_TOTAL, "type" => kind).increment(1);
            }
            WebhookOutcome::RetryAt { status, .. } => {
                tracing::info!(?status, "webhook not accepted; will retry");
                metrics::counter!(WEBHOOK_RETRIES_TOTAL, "type" => kind).increment(1);
            }
            WebhookOutcome::Dead { status } => {
                tracing::warn!(?status, endpoint = %d.endpoint, "webhook dead-lettered");
                metrics::counter!(WEBHOOK_DEAD_LETTERS_TOTAL, "type" => kind).increment(1);
            }
        }
        Some(outcome)
    }

    /// The answer's status; `None` when none came (refused, reset, past the deadline).
    async fn post(&self, d: &WebhookDelivery, secret: &SigningSecret) -> Option<u16> {
        let timestamp = self.clock.now_ms() / 1000;
        let mut request = self
            .http
            .post(&d.endpoint)
            .header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in secret.headers(&d.event_id, timestamp, d.body.as_bytes()) {
            request = request.header(name, value);
        }
        match request.body(d.body.clone()).send().await {
            Ok(response) => Some(response.status().as_u16()),
            Err(err) => {
                tracing::debug!(error = %err, "webhook POST failed");
                None
            }
        }
    }

    fn outcome(&self, d: &WebhookDelivery, status: Option<u16>) -> WebhookOutcome {
        if let Some(status) = status.filter(|s| (200..300).contains(s)) {
            return WebhookOutcome::Delivered { status };
        }
        let now = self.clock.now_ms();
        let give_up_at = d.created_at.saturating_add(millis(self.config.retry_for));
        if now >= give_up_at {
            return WebhookOutcome::Dead { status };
        }
        let wait = retry_delay(&self.config, d.attempts);
        // The last attempt is made when the retry period ends, not skipped.
        let at = (now + millis(wait)).min(give_up_at);
        WebhookOutcome::RetryAt { at, status }
    }
}
