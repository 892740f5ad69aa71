//! The HTTP side of authentication: a [`Caller`] extractor for `/api/v1/*` routes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;
use switchyard_namespaces::Identity;

use super::{AuthError, TokenVerifier};
use crate::http::AppError;

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The authenticated caller of an HTTP route.
pub struct Caller(pub Identity);

impl Caller {
    /// `forbidden` unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[&str]) -> Result<(), AppError> {
        if roles.iter().any(|r| self.0.has_role(r)) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "requires role {}",
                roles.join(" or ")
            )))
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<TokenVerifier>: axum::extract::FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let verifier = <Arc<TokenVerifier> as axum::extract::FromRef<S>>::from_ref(state);
        let verified = match bearer(&parts.headers) {
            Some(token) => verifier.verify(token).await,
            None => Err(AuthError::Missing),
        };
        let identity = verified.map_err(|err| {
            err.count("http");
            AppError::Unauthorized(err)
        })?;
        Ok(Caller(identity))
    }
}
