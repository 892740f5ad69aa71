//! The service-account key file: read, checked, and the token URI override applied.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

/// The fields of a Google service-account key that FCM sending needs.
#[derive(Deserialize)]
pub(super) struct ServiceAccount {
    #[serde(rename = "type")]
    kind: String,
    pub project_id: String,
    pub private_key_id: String,
    pub client_email: String,
    pub token_uri: String,
    private_key: String,
}

/// A checked key file, kept as JSON because `gcp_auth` takes the key in that form.
pub(super) struct Credentials {
    pub account: ServiceAccount,
    pub json: String,
}

impl std::fmt::Debug for ServiceAccount {
    // Never print the private key, even in a panic message or a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

/// Reads `path`; `token_url`, when set, replaces the file's `token_uri` (tests and
/// proxies), which also makes it the audience of the signed assertion.
pub(super) async fn load(path: &Path, token_url: Option<&str>) -> anyhow::Result<Credentials> {
    let text = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("reading FCM credentials file {}", path.display()))?;
    parse(&text, token_url)
        .with_context(|| format!("FCM credentials file {} is not usable", path.display()))
}

fn parse(text: &str, token_url: Option<&str>) -> anyhow::Result<Credentials> {
    let mut json: Value = serde_json::from_str(text).context("not JSON")?;
    if let Some(url) = token_url {
        let object = json.as_object_mut().context("not a JSON object")?;
        object.insert("token_uri".into(), Value::String(url.into()));
    }
    let account: ServiceAccount =
        serde_json::from_value(json.clone()).context("not a service-account key")?;
    anyhow::ensure!(
        account.kind == "service_account",
        "`type` is {:?}, expected \"service_account\"",
        account.kind
    );
    anyhow::ensure!(!account.project_id.is_empty(), "`project_id` is empty");
    anyhow::ensure!(
        account.private_key.contains("PRIVATE KEY"),
        "`private_key` is not a PEM private key"
    );
    url::Url::parse(&account.token_uri).context("`token_uri` is not a URL")?;
    Ok(Credentials {
        account,
        json: json.to_string(),
    })
}
