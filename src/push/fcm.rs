//! FCM HTTP v1 sender: one push to one device token, authenticated as a Google service
//! account, with FCM's answer sorted into [`SendOutcome`].

mod credentials;
mod message;
mod outcome;
mod token;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use message::PushMessage;
pub use outcome::SendOutcome;

use token::AccessTokens;

pub const DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";

/// Every FCM and token request gives up after this long: a stuck push must not hold a
/// delivery worker.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct FcmConfig {
    /// The service-account key file downloaded from the Firebase console.
    pub credentials_file: PathBuf,
    /// FCM's base URL, without a trailing `/v1/...`.
    pub endpoint: String,
    /// Overrides the key file's `token_uri`.
    pub token_url: Option<String>,
}

impl FcmConfig {
    /// The real FCM endpoint and the key file's own token URI.
    pub fn new(credentials_file: impl Into<PathBuf>) -> Self {
        Self {
            credentials_file: credentials_file.into(),
            endpoint: DEFAULT_ENDPOINT.into(),
            token_url: None,
        }
    }
}

/// Cheap to clone: clones share the HTTP connection pool and the access token.
#[derive(Clone)]
pub struct FcmClient {
    inner: Arc<Inner>,
}

struct Inner {
    project_id: String,
    send_url: String,
    http: reqwest::Client,
    tokens: AccessTokens,
}

impl FcmClient {
    /// Reads and checks the key file; makes no request yet.
    pub async fn new(config: FcmConfig) -> anyhow::Result<Self> {
        let creds =
            credentials::load(&config.credentials_file, config.token_url.as_deref()).await?;
        let endpoint = url::Url::parse(&config.endpoint).context("FCM endpoint is not a URL")?;
        let project_id = creds.account.project_id.clone();
        let send_url = format!(
            "{}/v1/projects/{project_id}/messages:send",
            endpoint.as_str().trim_end_matches('/')
        );
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the FCM HTTP client")?;
        let tokens = AccessTokens::new(creds.json, REQUEST_TIMEOUT).with_context(|| {
            format!("FCM credentials file {}", config.credentials_file.display())
        })?;
        tracing::info!(project_id, account = ?creds.account, "FCM sender ready");
        Ok(Self {
            inner: Arc::new(Inner {
                project_id,
                send_url,
                http,
                tokens,
            }),
        })
    }

    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// Sends one push. Never errors: every failure is an outcome the caller acts on.
    #[tracing::instrument(name = "fcm.send", skip_all, fields(notification_id = %push.notification_id))]
    pub async fn send(&self, push: &PushMessage) -> SendOutcome {
        let bearer = match self.inner.tokens.get().await {
            Ok(bearer) => bearer,
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "no FCM access token");
                return no_answer();
            }
        };
        let outcome = match self.post(push, &bearer).await {
            Ok((status, headers, body)) => outcome::classify(status, &headers, &body),
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "FCM request failed");
                no_answer()
            }
        };
        if matches!(outcome, SendOutcome::Failed { status: 401, .. }) {
            // A token FCM refuses (revoked, key rotated) is not worth keeping: the next
            // send asks for a new one.
            self.inner.tokens.invalidate().await;
        }
        tracing::debug!(?outcome, "FCM send");
        outcome
    }

    async fn post(
        &self,
        push: &PushMessage,
        bearer: &str,
    ) -> reqwest::Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
        let response = self
            .inner
            .http
            .post(&self.inner.send_url)
            .bearer_auth(bearer)
            .json(&message::request_body(push))
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok((status, headers, body.to_vec()))
    }
}

fn no_answer() -> SendOutcome {
    SendOutcome::Retry {
        status: None,
        after: None,
    }
}
