//! OAuth2 access tokens for FCM: the service account's JWT-bearer grant through
//! `gcp_auth`, cached here so that refresh timing and concurrency are ours.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use gcp_auth::{CustomServiceAccount, Token, TokenProvider};
use tokio::sync::Mutex;

pub(super) const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// A token this close to its expiry is replaced rather than sent: a push can sit in
/// FCM's queue and be retried, and clocks drift.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

pub(super) struct AccessTokens {
    /// The service-account key as JSON, token URI override already applied.
    account_json: String,
    timeout: Duration,
    /// Held across a refresh, so concurrent senders wait for one token request
    /// instead of each starting their own.
    cached: Mutex<Option<Arc<Token>>>,
}

impl AccessTokens {
    /// Checks the key now, so that a bad key fails at startup rather than at the first push.
    pub(super) fn new(account_json: String, timeout: Duration) -> anyhow::Result<Self> {
        CustomServiceAccount::from_json(&account_json)
            .context("the service-account key is not usable")?;
        Ok(Self {
            account_json,
            timeout,
            cached: Mutex::new(None),
        })
    }

    /// A bearer token valid for at least `REFRESH_MARGIN`.
    pub(super) async fn get(&self) -> anyhow::Result<String> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|token| fresh(token)) {
            return Ok(token.as_str().to_owned());
        }
        let token = self.fetch().await?;
        let bearer = token.as_str().to_owned();
        *cached = Some(token);
        Ok(bearer)
    }

    /// Forgets the cached token, after FCM refused it (revoked key, rotated account).
    pub(super) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> anyhow::Result<Arc<Token>> {
        // A fresh `CustomServiceAccount` per refresh: its own cache would hand back the
        // old token until 20 s before expiry, and we want a new one at 60 s. This runs
        // about once an hour.
        let account = CustomServiceAccount::from_json(&self.account_json)
            .context("the service-account key is not usable")?;
        tokio::time::timeout(self.timeout, account.token(&[SCOPE]))
            .await
            .context("the OAuth2 token request timed out")?
            .context("the OAuth2 token request failed")
    }
}

fn fresh(token: &Token) -> bool {
    SystemTime::from(token.expires_at())
        .duration_since(SystemTime::now())
        .is_ok_and(|left| left > REFRESH_MARGIN)
}
