//! The hooks the app's backend answers (PROTOCOL.md §9): connect (allow, extra roles and
//! channel grants for one connection), subscribe (for channels whose rule says
//! `allow = "backend"`) and RPC (the `rpc` event). Each is a POST signed as the Standard
//! Webhooks spec says, with the `[hooks]` deadline; anything but a well-formed answer in
//! time fails closed with `unavailable`. Connect and subscribe answers are cached for
//! `cache_ms` (moka), failures never.

mod call;
mod connect;
pub mod metrics;
mod rpc;
mod subscribe;

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use switchyard_namespaces::channel_rules::any_backend_rule;
use switchyard_namespaces::ports::{BackendHooks, ChannelVerdict, NoBackend, RpcCall};
use switchyard_namespaces::{Identity, NsError};

use crate::config::Settings;
use crate::integration::signing::SigningSecret;
use call::Caller;
pub use connect::{ConnectHook, Connecting, Grants};

/// Entries each cache keeps at most (a user and a namespace, or a user and a channel).
const CACHE_ENTRIES: u64 = 100_000;

/// The user as every hook request names them: `{"id", "roles"}` (roles with the connect
/// hook's grants, where it gave some).
#[derive(Serialize)]
struct User<'a> {
    id: &'a str,
    roles: &'a [String],
}

impl<'a> User<'a> {
    fn of(who: &'a Identity) -> Self {
        Self {
            id: &who.user_id,
            roles: &who.roles,
        }
    }
}

/// The configured hooks; built only when at least one URL is set.
pub struct Hooks {
    caller: Caller,
    connect: Option<connect::Endpoint>,
    subscribe: Option<subscribe::Endpoint>,
    rpc_url: Option<String>,
    /// The largest RPC answer taken (an ack carries it), and the event limit.
    max_payload_bytes: usize,
}

impl Hooks {
    /// The hooks of `[hooks]`, or `None` when no URL is set. Refuses to start with a
    /// channel rule saying `backend` and no `subscribe_url`: such channels could never be
    /// subscribed, which is a mistake better told at once.
    pub fn build(settings: &Settings) -> anyhow::Result<Option<Arc<Self>>> {
        let config = &settings.integration.hooks;
        anyhow::ensure!(
            config.subscribe_url.is_some() || !any_backend_rule(&settings.channels.rules),
            "a channel rule says allow = \"backend\" but hooks.subscribe_url \
             (SWITCHYARD_HOOKS_SUBSCRIBE_URL) is not set: nothing could ever allow it"
        );
        let urls = [&config.connect_url, &config.subscribe_url, &config.rpc_url];
        if urls.iter().all(|url| url.is_none()) {
            return Ok(None);
        }
        let secret = config
            .secret
            .as_deref()
            .context("a hook URL is set: hooks.secret (SWITCHYARD_HOOKS_SECRET) must be too")?;
        let secret = SigningSecret::parse(secret).context("hooks.secret")?;
        let cache_for = config.cache_for;
        Ok(Some(Arc::new(Self {
            caller: Caller::new(secret, config.timeout)?,
            connect: config
                .connect_url
                .clone()
                .map(|url| connect::Endpoint::new(url, cache_for)),
            subscribe: config
                .subscribe_url
                .clone()
                .map(|url| subscribe::Endpoint::new(url, cache_for)),
            rpc_url: config.rpc_url.clone(),
            max_payload_bytes: settings.http.max_payload_bytes,
        })))
    }

    /// What the namespaces ask the backend through: these hooks, or nobody.
    pub fn port(hooks: Option<&Arc<Self>>) -> Arc<dyn BackendHooks> {
        match hooks {
            Some(hooks) => hooks.clone(),
            None => Arc::new(NoBackend),
        }
    }

    /// A connect and subscribe answer may be larger than one event (a batch, grants).
    fn answer_limit(&self) -> usize {
        self.max_payload_bytes.saturating_mul(2).max(64 * 1024)
    }
}

#[async_trait]
impl BackendHooks for Hooks {
    async fn may_subscribe(&self, who: &Identity, channels: &[String]) -> Vec<ChannelVerdict> {
        match &self.subscribe {
            Some(endpoint) => endpoint.ask(self, who, channels).await,
            None => NoBackend.may_subscribe(who, channels).await,
        }
    }

    async fn rpc(&self, who: &Identity, call: RpcCall<'_>) -> Result<Value, NsError> {
        match &self.rpc_url {
            Some(url) => rpc::call(self, url, who, call).await,
            None => NoBackend.rpc(who, call).await,
        }
    }
}

/// A cache of answers for `cache_for`; `None` when it is zero (every time asked).
fn answer_cache<K, V>(cache_for: Duration) -> Option<moka::future::Cache<K, V>>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    (!cache_for.is_zero()).then(|| {
        moka::future::Cache::builder()
            .max_capacity(CACHE_ENTRIES)
            .time_to_live(cache_for)
            .build()
    })
}
