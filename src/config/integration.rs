//! The integration settings as written (`[[webhooks]]`, `[hooks]` and the environment's
//! flat names for them), folded together and checked before they become
//! [`super::IntegrationSettings`].

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use super::raw::RawSettings;
use super::raw_tables::RawWebhook;
use super::redact;

/// The app's backend (PROTOCOL.md §9): webhooks out, hooks in.
#[derive(Clone, PartialEq, Serialize)]
pub struct IntegrationSettings {
    /// `[[webhooks]]` (the first also from `webhook_url`, `webhook_secret`).
    pub webhooks: Vec<WebhookEndpoint>,
    /// `webhook_timeout_ms`: what one POST may take.
    #[serde(serialize_with = "redact::duration")]
    pub webhook_timeout: Duration,
    /// `webhook_retry_for_secs`: retried this long, then dead-lettered.
    #[serde(serialize_with = "redact::duration")]
    pub webhook_retry_for: Duration,
    pub hooks: HookSettings,
}

/// One webhook endpoint.
#[derive(Clone, PartialEq, Serialize)]
pub struct WebhookEndpoint {
    pub url: String,
    /// `whsec_` + base64, checked at load.
    pub secret: String,
    /// Event types sent here; `None`: all.
    pub events: Option<Vec<String>>,
}

impl WebhookEndpoint {
    /// Whether this endpoint is sent events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|events| events.iter().any(|e| e == event_type))
    }
}

/// `[hooks]`: the calls the gateway makes to the backend and waits for.
#[derive(Clone, PartialEq, Serialize)]
pub struct HookSettings {
    pub connect_url: Option<String>,
    pub subscribe_url: Option<String>,
    pub rpc_url: Option<String>,
    /// `whsec_` + base64; set (and checked) whenever a URL is.
    pub secret: Option<String>,
    /// `timeout_ms` (1,000): past it a call fails closed with `unavailable`.
    #[serde(serialize_with = "redact::duration")]
    pub timeout: Duration,
    /// `cache_ms` (5,000): how long a connect or subscribe answer is reused; zero: never.
    #[serde(serialize_with = "redact::duration")]
    pub cache_for: Duration,
}

/// An absolute `http://` or `https://` URL with a host.
fn check_http_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some(),
        "`{url}` is not an http(s) URL"
    );
    Ok(())
}

impl RawSettings {
    /// The environment's flat names for the first webhook and the hooks, folded into the
    /// tables a file writes (the variable wins).
    pub(super) fn fold_environment_integration(&mut self) {
        if self.webhook_url.is_some() || self.webhook_secret.is_some() {
            if self.webhooks.is_empty() {
                self.webhooks.push(RawWebhook::default());
            }
            let first = &mut self.webhooks[0];
            if let Some(url) = self.webhook_url.take() {
                first.url = url;
            }
            if let Some(secret) = self.webhook_secret.take() {
                first.secret = secret;
            }
        }
        let hooks = &mut self.hooks;
        for (flat, field) in [
            (&mut self.hooks_connect_url, &mut hooks.connect_url),
            (&mut self.hooks_subscribe_url, &mut hooks.subscribe_url),
            (&mut self.hooks_rpc_url, &mut hooks.rpc_url),
            (&mut self.hooks_secret, &mut hooks.secret),
        ] {
            if flat.is_some() {
                *field = flat.take();
            }
        }
        hooks.timeout_ms = self.hooks_timeout_ms.take().or(hooks.timeout_ms);
        hooks.cache_ms = self.hooks_cache_ms.take().or(hooks.cache_ms);
    }

    /// Webhook endpoints and hooks: URLs that parse as http(s), secrets that are
    /// Standard Webhooks secrets, event names that exist, deadlines above 0.
    pub(super) fn check_integration(&self) -> anyhow::Result<()> {
        use crate::integration::{EVENT_TYPES, signing::SigningSecret};
        for (i, hook) in self.webhooks.iter().enumerate() {
            check_http_url(&hook.url).with_context(|| format!("webhooks[{i}].url"))?;
            // The outbox keys a delivery by (event, endpoint URL).
            if let Some(first) = self.webhooks[..i].iter().position(|h| h.url == hook.url) {
                anyhow::bail!(
                    "webhooks[{i}].url: `{}` is already webhooks[{first}]",
                    hook.url
                );
            }
            SigningSecret::parse(&hook.secret).with_context(|| format!("webhooks[{i}].secret"))?;
            for event in hook.events.iter().flatten() {
                anyhow::ensure!(
                    EVENT_TYPES.contains(&event.as_str()),
                    "webhooks[{i}].events: unknown event type `{event}` (known: {})",
                    EVENT_TYPES.join(", ")
                );
            }
        }
        anyhow::ensure!(
            self.webhook_timeout_ms > 0 && self.webhook_retry_for_secs > 0,
            "webhook_timeout_ms and webhook_retry_for_secs must be above 0"
        );
        let hooks = &self.hooks;
        let urls = [
            ("hooks.connect_url", &hooks.connect_url),
            ("hooks.subscribe_url", &hooks.subscribe_url),
            ("hooks.rpc_url", &hooks.rpc_url),
        ];
        for (name, url) in urls {
            if let Some(url) = url {
                check_http_url(url).context(name)?;
                let secret = hooks.secret.as_deref().with_context(|| {
                    format!("{name} is set: hooks.secret (SWITCHYARD_HOOKS_SECRET) must be too, the backend verifies every call")
                })?;
                SigningSecret::parse(secret).context("hooks.secret")?;
            }
        }
        anyhow::ensure!(
            hooks.timeout_ms != Some(0),
            "hooks.timeout_ms must be above 0: every call has a deadline"
        );
        Ok(())
    }
}
