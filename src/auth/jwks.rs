//! Public keys from a JWKS (`file://`, `https://`, or `http://` on loopback), cached and
//! re-read when a token names a `kid` the cache does not know (key rotation).
//!
//! Anyone can send a token with a made-up `kid`, so a miss must not become a fetch each:
//! one fetch runs at a time and concurrent misses wait for its outcome; attempts are
//! spaced (more widely after each failure); every fetch has a deadline and a size cap;
//! and a `kid` still unknown after a look is remembered as a miss for a while.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

/// How often the JWKS may be read, and how long a read may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// After a successful read, unknown `kid`s wait this long for the next one.
    pub min_interval: Duration,
    /// After failures the wait doubles from `min_interval` up to this.
    pub max_backoff: Duration,
    /// A `kid` not found is answered from memory for this long.
    pub miss_ttl: Duration,
    /// A read (connect, headers and body) that takes longer fails; waiting tokens with
    /// it, so a connect is answered within a few seconds whatever the provider does.
    pub deadline: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            miss_ttl: Duration::from_secs(5),
            deadline: Duration::from_secs(3),
        }
    }
}

/// A key set larger than this is refused: real ones are a few KB.
pub(crate) const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Longer `kid`s are not looked up (nor remembered): no provider writes them.
const MAX_KID_LEN: usize = 256;

pub struct Jwks {
    url: url::Url,
    http: reqwest::Client,
    timing: Timing,
    keys: RwLock<JwkSet>,
    /// Held while a read runs: the single flight. Guards when the next read may start.
    attempts: Mutex<Attempts>,
    misses: moka::future::Cache<String, ()>,
}

#[derive(Default)]
struct Attempts {
    /// No read before this instant (unset: read at once).
    not_before: Option<Instant>,
    failures: u32,
}

impl Jwks {
    /// `http://` is accepted only for a loopback host unless `allow_plain_http`
    /// (development): over the network it would let anyone on the path swap the keys.
    pub fn new(url: &str, allow_plain_http: bool) -> anyhow::Result<Self> {
        Self::with_timing(url, allow_plain_http, Timing::default())
    }

    pub(crate) fn with_timing(
        url: &str,
        allow_plain_http: bool,
        timing: Timing,
    ) -> anyhow::Result<Self> {
        let url = url::Url::parse(url).context("SWITCHYARD_JWKS_URL is not a URL")?;
        match url.scheme() {
            "file" | "https" => {}
            "http" => anyhow::ensure!(
                allow_plain_http || is_loopback(&url),
                "SWITCHYARD_JWKS_URL may be http:// only for a loopback host outside \
                 development; use https://"
            ),
            _ => anyhow::bail!("SWITCHYARD_JWKS_URL must be file://, https:// or http://"),
        }
        crate::tls::install_crypto_provider();
        Ok(Self {
            url,
            http: reqwest::Client::builder()
                .timeout(timing.deadline)
                .build()?,
            timing,
            keys: RwLock::new(JwkSet { keys: Vec::new() }),
            attempts: Mutex::default(),
            misses: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(timing.miss_ttl)
                .build(),
        })
    }

    /// The key for a token signed with `alg` and naming `kid`.
    pub async fn key(&self, alg: Algorithm, kid: Option<&str>) -> Option<DecodingKey> {
        if let Some(key) = self.cached_key(alg, kid) {
            return Some(key);
        }
        let miss = kid.unwrap_or_default();
        if miss.len() > MAX_KID_LEN || self.misses.contains_key(miss) {
            return None;
        }
        let current = self.refresh_if_due().await;
        let key = self.cached_key(alg, kid);
        // Only a key set the provider just gave proves a kid unknown; while it fails, the
        // backoff alone spaces the reads, so the kid is found as soon as one succeeds.
        if key.is_none() && current {
            self.misses.insert(miss.to_owned(), ()).await;
        }
        key
    }

    fn cached_key(&self, alg: Algorithm, kid: Option<&str>) -> Option<DecodingKey> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let jwk = match kid {
            Some(kid) => keys.find(kid).filter(|jwk| fits(jwk, alg)),
            None => keys.keys.iter().find(|jwk| fits(jwk, alg)),
        }?;
        DecodingKey::from_jwk(jwk).ok()
    }

    /// Reads the key set unless a read is not due yet. Callers that arrive while a read
    /// runs wait for it and then find the next one not due: one read serves them all.
    /// Whether the last read succeeded.
    async fn refresh_if_due(&self) -> bool {
        let mut attempts = self.attempts.lock().await;
        if attempts.not_before.is_some_and(|at| Instant::now() < at) {
            return attempts.failures == 0;
        }
        if let Err(err) = self.read_and_record(&mut attempts).await {
            tracing::warn!(
                error = format!("{err:#}"),
                failures = attempts.failures,
                "JWKS refresh failed; keeping the cached keys"
            );
        }
        attempts.failures == 0
    }

    /// Reads the key set now (at start, so a bad URL or file fails fast).
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let mut attempts = self.attempts.lock().await;
        self.read_and_record(&mut attempts).await
    }

    async fn read_and_record(&self, attempts: &mut Attempts) -> anyhow::Result<()> {
        let read = tokio::time::timeout(self.timing.deadline, self.read()).await;
        let result = read
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within the deadline")))
            .and_then(|bytes| {
                serde_json::from_slice::<JwkSet>(&bytes).context("JWKS is not a valid key set")
            });
        // The wait is counted from the attempt's end, so a slow provider is not asked
        // again the moment it answers.
        let (wait, outcome) = match result {
            Ok(keys) => {
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
                attempts.failures = 0;
                // Keys were added: a kid remembered as missing may be there now.
                self.misses.invalidate_all();
                (self.timing.min_interval, Ok(()))
            }
            Err(err) => {
                attempts.failures = attempts.failures.saturating_add(1);
                (backoff(self.timing, attempts.failures), Err(err))
            }
        };
        attempts.not_before = Some(Instant::now() + wait);
        outcome
    }

    /// The document's bytes, refused past [`MAX_JWKS_BYTES`] without reading further.
    async fn read(&self) -> anyhow::Result<Vec<u8>> {
        if self.url.scheme() == "file" {
            let path = self
                .url
                .to_file_path()
                .map_err(|()| anyhow::anyhow!("bad file URL"))?;
            let bytes = tokio::fs::read(&path)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
            anyhow::ensure!(bytes.len() <= MAX_JWKS_BYTES, "JWKS file is too large");
            return Ok(bytes);
        }
        let mut response = self
            .http
            .get(self.url.clone())
            .send()
            .await?
            .error_for_status()?;
        anyhow::ensure!(
            response
                .content_length()
                .is_none_or(|len| len <= MAX_JWKS_BYTES as u64),
            "JWKS response is too large"
        );
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            anyhow::ensure!(
                body.len() + chunk.len() <= MAX_JWKS_BYTES,
                "JWKS response is too large"
            );
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The wait after `failures` failed reads in a row: doubling, capped.
fn backoff(timing: Timing, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    timing
        .min_interval
        .saturating_mul(1 << doublings)
        .min(timing.max_backoff)
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A key signs only with the algorithm it declares, when it declares one.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    match jwk.common.key_algorithm {
        Some(declared) => declared.to_string() == format!("{alg:?}"),
        None => true,
    }
}

#[cfg(test)]
mod tests;
