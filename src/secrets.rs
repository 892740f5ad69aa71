//! Which HS256 secret is in force: the configured one, none when only a JWKS is
//! configured, or, in development only, a random one announced with a demo token.

use std::time::Duration;

use base64::Engine;
use rand::RngCore;

use crate::auth::issue_token;
use crate::config::Settings;

/// The secret to verify HS256 tokens with, and a demo token when it was generated.
pub struct SecretChoice {
    pub secret: Option<String>,
    pub demo_token: Option<String>,
}

const DEMO_USER: &str = "demo";
/// RFC 7518 §3.2: an HS256 key shorter than the hash (32 bytes) is guessable offline
/// from any one token, which would let its finder sign tokens for anyone.
pub const MIN_PRODUCTION_SECRET_BYTES: usize = 32;
const DEMO_TTL: Duration = Duration::from_secs(24 * 3600);

pub fn choose(settings: &Settings) -> anyhow::Result<SecretChoice> {
    if let Some(secret) = &settings.auth.jwt_secret {
        anyhow::ensure!(!secret.is_empty(), "SWITCHYARD_JWT_SECRET is empty");
        anyhow::ensure!(
            !settings.is_production() || secret.len() >= MIN_PRODUCTION_SECRET_BYTES,
            "SWITCHYARD_ENV=production requires a SWITCHYARD_JWT_SECRET of at least \
             {MIN_PRODUCTION_SECRET_BYTES} bytes"
        );
        return Ok(SecretChoice {
            secret: Some(secret.clone()),
            demo_token: None,
        });
    }
    if settings.auth.jwks_url.is_some() {
        return Ok(SecretChoice {
            secret: None,
            demo_token: None,
        });
    }
    anyhow::ensure!(
        !settings.is_production(),
        "SWITCHYARD_ENV=production requires SWITCHYARD_JWT_SECRET or SWITCHYARD_JWKS_URL"
    );
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let demo_token = issue_token(&secret, DEMO_USER, &[], DEMO_TTL)?;
    Ok(SecretChoice {
        secret: Some(secret),
        demo_token: Some(demo_token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    #[test]
    fn production_without_keys_refuses_to_start() {
        let settings = Settings {
            env: Environment::Production,
            ..Settings::default()
        };
        assert!(choose(&settings).is_err());
    }

    #[test]
    fn development_without_keys_generates_a_secret_and_a_demo_token() {
        let choice = choose(&Settings::default()).expect("dev mode");
        assert!(choice.secret.is_some_and(|s| s.len() >= 40));
        assert!(choice.demo_token.is_some());
    }

    #[test]
    fn a_configured_secret_is_used_as_is() {
        let secret = "a-production-secret-of-32-bytes!";
        let mut settings = Settings {
            env: Environment::Production,
            ..Settings::default()
        };
        settings.auth.jwt_secret = Some(secret.into());
        let choice = choose(&settings).expect("configured");
        assert_eq!(choice.secret.as_deref(), Some(secret));
        assert!(choice.demo_token.is_none());
    }

    #[test]
    fn production_refuses_a_short_secret_and_development_takes_it() {
        let short = |env: Environment| {
            let mut settings = Settings {
                env,
                ..Settings::default()
            };
            settings.auth.jwt_secret = Some("s3cret-only-31-bytes-long......".into());
            settings
        };
        let err = choose(&short(Environment::Production))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("32 bytes"), "{err}");
        assert!(choose(&short(Environment::Development)).is_ok());
    }
}
