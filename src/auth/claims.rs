//! The claims Switchyard reads from a token, and minting tokens with the HS256 secret.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use switchyard_namespaces::Identity;

use super::AuthError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The longest user id accepted from a token, in characters (PROTOCOL.md §1); ids become
/// room names and database keys.
const MAX_SUB_CHARS: usize = 128;

/// Whether `sub` is a user id the contract accepts: 1..=128 characters, none of them `*`,
/// `{`, `}`, whitespace or control characters. Those would read as glob or placeholder
/// syntax wherever an id meets a channel pattern, or hide in logs.
pub fn valid_sub(sub: &str) -> bool {
    let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '*' | '{' | '}');
    !sub.is_empty() && sub.chars().count() <= MAX_SUB_CHARS && !sub.chars().any(bad)
}

impl Claims {
    pub fn into_identity(self) -> Result<Identity, AuthError> {
        if !valid_sub(&self.sub) {
            return Err(AuthError::Invalid);
        }
        Ok(Identity {
            user_id: self.sub,
            roles: self.roles,
            channels: self.channels,
            name: self.name,
            expires_at: self.exp,
        })
    }
}

/// Signs an HS256 token for `sub` valid for `ttl`; refuses a `sub` the gateway would refuse.
pub fn issue_token(
    secret: &str,
    sub: &str,
    roles: &[String],
    ttl: Duration,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        valid_sub(sub),
        "a sub is 1..={MAX_SUB_CHARS} characters without `*`, `{{`, `}}`, whitespace or control characters"
    );
    let exp = jsonwebtoken::get_current_timestamp() + ttl.as_secs();
    let claims = Claims {
        sub: sub.to_owned(),
        exp: i64::try_from(exp)?,
        nbf: None,
        aud: None,
        iss: None,
        roles: roles.to_vec(),
        channels: Vec::new(),
        name: None,
    };
    let key = EncodingKey::from_secret(secret.as_bytes());
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &key,
    )?)
}
