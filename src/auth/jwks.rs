//! Public keys from a JWKS (`file://`, `https://`, or `http://` for local tests), cached
//! and re-read when a token names a `kid` the cache does not know (key rotation).

use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::RwLock;

/// Unknown `kid`s may come from forged tokens: re-read at most this often.
pub(super) const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(2);

pub struct Jwks {
    url: url::Url,
    http: reqwest::Client,
    cache: RwLock<Cached>,
}

struct Cached {
    keys: JwkSet,
    fetched_at: Option<Instant>,
}

impl Jwks {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(url).context("SWITCHYARD_JWKS_URL is not a URL")?;
        anyhow::ensure!(
            matches!(url.scheme(), "file" | "https" | "http"),
            "SWITCHYARD_JWKS_URL must be file://, https:// or http://"
        );
        crate::tls::install_crypto_provider();
        Ok(Self {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            cache: RwLock::new(Cached {
                keys: JwkSet { keys: Vec::new() },
                fetched_at: None,
            }),
        })
    }

    /// The key for a token signed with `alg` and naming `kid`.
    pub async fn key(&self, alg: Algorithm, kid: Option<&str>) -> Option<DecodingKey> {
        if let Some(key) = self.cached_key(alg, kid).await {
            return Some(key);
        }
        let due = self
            .cache
            .read()
            .await
            .fetched_at
            .is_none_or(|at| at.elapsed() >= MIN_REFRESH_INTERVAL);
        if due && let Err(err) = self.refresh().await {
            tracing::warn!(error = %err, "JWKS refresh failed; keeping the cached keys");
        }
        self.cached_key(alg, kid).await
    }

    async fn cached_key(&self, alg: Algorithm, kid: Option<&str>) -> Option<DecodingKey> {
        let cache = self.cache.read().await;
        let jwk = match kid {
            Some(kid) => cache.keys.find(kid).filter(|jwk| fits(jwk, alg)),
            None => cache.keys.keys.iter().find(|jwk| fits(jwk, alg)),
        }?;
        DecodingKey::from_jwk(jwk).ok()
    }

    pub async fn refresh(&self) -> anyhow::Result<()> {
        let text = match self.url.scheme() {
            "file" => {
                let path = self
                    .url
                    .to_file_path()
                    .map_err(|()| anyhow::anyhow!("bad file URL"))?;
                tokio::fs::read_to_string(&path)
                    .await
                    .with_context(|| format!("reading {}", path.display()))?
            }
            _ => {
                self.http
                    .get(self.url.clone())
                    .send()
                    .await?
                    .error_for_status()?
                    .text()
                    .await?
            }
        };
        let keys: JwkSet = serde_json::from_str(&text).context("JWKS is not a valid key set")?;
        let mut cache = self.cache.write().await;
        *cache = Cached {
            keys,
            fetched_at: Some(Instant::now()),
        };
        Ok(())
    }
}

/// A key signs only with the algorithm it declares, when it declares one.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    match jwk.common.key_algorithm {
        Some(declared) => declared.to_string() == format!("{alg:?}"),
        None => true,
    }
}
