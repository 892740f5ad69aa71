//! One signed POST to the backend and its JSON answer, within the deadline and a size
//! bound. Every way it can fail is a [`CallError`], which the hooks turn into
//! `unavailable` (fail closed).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::metrics::{self, Hook};
use crate::integration::signing::SigningSecret;

/// Why a call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("request failed: {0}")]
    Network(#[source] reqwest::Error),
    #[error("answer over {0} bytes")]
    TooLarge(usize),
    #[error("answer is not the expected JSON: {0}")]
    BadAnswer(String),
}

impl CallError {
    /// The outcome label it is counted under.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Timeout(_) => metrics::TIMEOUT,
            _ => metrics::ERROR,
        }
    }
}

/// The HTTP client, the signing secret and the deadline every hook call shares.
pub struct Caller {
    http: reqwest::Client,
    secret: SigningSecret,
    timeout: Duration,
}

impl Caller {
    pub fn new(secret: SigningSecret, timeout: Duration) -> anyhow::Result<Self> {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect would carry the signed body elsewhere; a 3xx is just not a 2xx.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            secret,
            timeout,
        })
    }

    /// POSTs `body` signed to `url` and reads a JSON answer of at most `limit` bytes,
    /// all within the deadline; times the call under `hook`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        hook: Hook,
        url: &str,
        body: &impl Serialize,
        limit: usize,
    ) -> Result<T, CallError> {
        let started = Instant::now();
        let answer = tokio::time::timeout(self.timeout, self.exchange(url, body, limit)).await;
        metrics::timed(hook, started.elapsed());
        let bytes = answer.map_err(|_| CallError::Timeout(self.timeout))??;
        serde_json::from_slice(&bytes).map_err(|err| CallError::BadAnswer(err.to_string()))
    }

    async fn exchange(
        &self,
        url: &str,
        body: &impl Serialize,
        limit: usize,
    ) -> Result<Vec<u8>, CallError> {
        let body = serde_json::to_vec(body).map_err(|err| CallError::BadAnswer(err.to_string()))?;
        // Unique per request, as the spec asks: a receiver may drop a repeated id.
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in self.secret.headers(&id, unix_now(), &body) {
            request = request.header(name, value);
        }
        let network = |err: reqwest::Error| self.network(err);
        let mut response = request.body(body).send().await.map_err(network)?;
        if !response.status().is_success() {
            return Err(CallError::Status(response.status().as_u16()));
        }
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(CallError::TooLarge(limit));
        }
        let mut read = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if read.len() + chunk.len() > limit {
                return Err(CallError::TooLarge(limit));
            }
            read.extend_from_slice(&chunk);
        }
        Ok(read)
    }

    fn network(&self, err: reqwest::Error) -> CallError {
        if err.is_timeout() {
            // reqwest's own deadline (the same one) ran out first.
            CallError::Timeout(self.timeout)
        } else {
            CallError::Network(err.without_url())
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
