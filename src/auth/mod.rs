//! Authentication (PROTOCOL.md §1): JWTs signed with the HS256 secret or a JWKS key
//! become an [`Identity`]; the socket middleware and the HTTP extractor both use the same
//! [`TokenVerifier`].

mod claims;
mod expiry;
mod http;
pub(crate) mod jwks;
mod resume;
mod session;
mod socket;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use switchyard_namespaces::Identity;

use crate::config::Settings;
use crate::telemetry::metrics::AUTH_FAILURES_TOTAL;
pub use claims::{Claims, issue_token};
pub use expiry::ExpiryClock;
pub use http::Caller;
use jwks::Jwks;
pub use resume::ResumeGate;
pub use session::{emits as shared_emits, shared_events};
pub use socket::{RateLimiting, authenticate, main_namespace, refuse_namespace};

/// Why a token was refused. The `Display` text is the wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing_token")]
    Missing,
    #[error("invalid_token")]
    Invalid,
    #[error("token_expired")]
    Expired,
    /// The user broke the rate limits repeatedly and is kept out for a while.
    #[error("rate_limited")]
    RateLimited,
    /// The client's IP, or the node, has as many connections as allowed.
    #[error("too_many_connections")]
    TooManyConnections,
    /// The backend's connect hook refused the connection.
    #[error("forbidden")]
    Forbidden,
    /// The backend's connect hook could not be asked (fail closed; the client retries).
    #[error("unavailable")]
    Unavailable,
}

impl AuthError {
    /// Counts the refusal by its wire code; `transport` is `socket` or `http`.
    pub fn count(&self, transport: &'static str) {
        let code = match self {
            Self::Missing => "missing_token",
            Self::Invalid => "invalid_token",
            Self::Expired => "token_expired",
            Self::RateLimited => "rate_limited",
            Self::TooManyConnections => "too_many_connections",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "unavailable",
        };
        metrics::counter!(AUTH_FAILURES_TOTAL, "code" => code, "transport" => transport)
            .increment(1);
    }
}

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// Checks tokens against the configured keys and claims.
pub struct TokenVerifier {
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
    audience: Option<String>,
    issuer: Option<String>,
}

impl TokenVerifier {
    /// `secret` is the HS256 secret in force (configured or generated for development).
    pub fn new(settings: &Settings, secret: Option<&str>) -> anyhow::Result<Arc<Self>> {
        let jwks = settings
            .auth
            .jwks_url
            .as_deref()
            .map(|url| Jwks::new(url, settings.is_development()))
            .transpose()?;
        Ok(Arc::new(Self {
            secret: secret.map(|s| DecodingKey::from_secret(s.as_bytes())),
            jwks,
            audience: settings.auth.jwt_audience.clone(),
            issuer: settings.auth.jwt_issuer.clone(),
        }))
    }

    /// Loads the JWKS once at start so a bad URL or file fails fast.
    pub async fn preload(&self) -> anyhow::Result<()> {
        match &self.jwks {
            Some(jwks) => jwks.refresh().await,
            None => Ok(()),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        // `alg: none` and unknown algorithms fail here: they have no `Algorithm` variant.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let key = self.key_for(header.alg, header.kid.as_deref()).await?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation(header.alg))
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        claims.into_identity()
    }

    /// The key for `alg`: the secret for HS256 only, the JWKS only for asymmetric
    /// algorithms, so a token cannot pick which kind of key verifies it.
    async fn key_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        match alg {
            Algorithm::HS256 => self.secret.clone().ok_or(AuthError::Invalid),
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA => match &self.jwks {
                Some(jwks) => jwks.key(alg, kid).await.ok_or(AuthError::Invalid),
                None => Err(AuthError::Invalid),
            },
            _ => Err(AuthError::Invalid),
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        // A configured audience or issuer must also be present, not only match when sent.
        let mut required = vec!["exp", "sub"];
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        v
    }
}

#[cfg(test)]
mod tests;
