//! The connect hook: after the token is verified, each namespace's connect asks the
//! backend `{"user": {"id", "roles"}, "ns", "transport", "data"?}` (`data`: the handshake
//! `auth` without `token`, `pid` and `offset`, when anything is left). It answers
//! `{"allow": true, "roles"?, "channels"?}`, whose roles and channel patterns this
//! connection gets besides its token's, or `{"allow": false, "code"?}`, a refusal with
//! that `connect_error` code (`forbidden` when absent or not a connect code). Answers are
//! cached per user and namespace; any failure refuses with `unavailable`.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_namespaces::Identity;

use super::metrics::{self, Hook};
use super::{Hooks, User, answer_cache};
use crate::auth::AuthError;

/// Roles and channel patterns a connect answer may grant at most, and their lengths.
const MAX_GRANTS: usize = 100;
const MAX_GRANT_CHARS: usize = 200;

/// What the backend granted one connection beyond its token: roles, and channel patterns
/// read as the token's `channels` claim is (plain globs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub roles: Vec<String>,
    pub channels: Vec<String>,
}

impl Grants {
    /// `who` with these grants added (each once).
    pub fn apply(&self, who: &mut Identity) {
        for role in &self.roles {
            if !who.roles.contains(role) {
                who.roles.push(role.clone());
            }
        }
        for pattern in &self.channels {
            if !who.channels.contains(pattern) {
                who.channels.push(pattern.clone());
            }
        }
    }
}

/// An answer as cached: allowed with grants, or refused with a code.
type Answer = Result<Grants, AuthError>;

pub(super) struct Endpoint {
    url: String,
    cache: Option<moka::future::Cache<(String, String), Answer>>,
}

impl Endpoint {
    pub(super) fn new(url: String, cache_for: Duration) -> Self {
        Self {
            url,
            cache: answer_cache(cache_for),
        }
    }
}

#[derive(Serialize)]
struct Request<'a> {
    user: User<'a>,
    ns: &'a str,
    transport: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct Reply {
    allow: bool,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    code: Option<String>,
}

/// The connect hook as the socket middleware holds it: `None` when no `connect_url`.
#[derive(Clone, Default)]
pub struct ConnectHook(pub Option<Arc<Hooks>>);

/// One connect as the hook is asked about it.
pub struct Connecting<'a> {
    pub ns: &'a str,
    /// `websocket` or `polling`.
    pub transport: &'a str,
    /// The handshake `auth`, as the client sent it.
    pub auth: Option<&'a Value>,
}

impl ConnectHook {
    /// The backend's grants for this connection (`None` without a connect hook), or the
    /// refusal to answer the connect with.
    pub async fn authorize(
        &self,
        who: &Identity,
        connecting: Connecting<'_>,
    ) -> Result<Option<Grants>, AuthError> {
        let Some(hooks) = &self.0 else {
            return Ok(None);
        };
        let Some(endpoint) = &hooks.connect else {
            return Ok(None);
        };
        let key = (who.user_id.clone(), connecting.ns.to_owned());
        if let Some(answer) = match &endpoint.cache {
            Some(cache) => cache.get(&key).await,
            None => None,
        } {
            metrics::cache_hit(Hook::Connect);
            return answer.map(Some);
        }
        let answer = ask(hooks, endpoint, who, connecting).await?;
        if let Some(cache) = &endpoint.cache {
            cache.insert(key, answer.clone()).await;
        }
        answer.map(Some)
    }
}

/// Asks the backend; `Err` when it gave no usable answer (not cached), `Ok` with its
/// answer otherwise.
async fn ask(
    hooks: &Hooks,
    endpoint: &Endpoint,
    who: &Identity,
    connecting: Connecting<'_>,
) -> Result<Answer, AuthError> {
    let request = Request {
        user: User::of(who),
        ns: connecting.ns,
        transport: connecting.transport,
        data: handshake_data(connecting.auth),
    };
    let limit = hooks.answer_limit();
    let reply = hooks
        .caller
        .post::<Reply>(Hook::Connect, &endpoint.url, &request, limit)
        .await
        .and_then(checked);
    match reply {
        Ok(reply) if reply.allow => {
            metrics::counted(Hook::Connect, metrics::ALLOWED);
            Ok(Ok(Grants {
                roles: reply.roles,
                channels: reply.channels,
            }))
        }
        Ok(reply) => {
            metrics::counted(Hook::Connect, metrics::DENIED);
            Ok(Err(refusal(reply.code.as_deref())))
        }
        Err(err) => {
            metrics::counted(Hook::Connect, err.outcome());
            tracing::warn!(error = %err, ns = connecting.ns, "connect hook failed; refusing the connect");
            Err(AuthError::Unavailable)
        }
    }
}

/// Grants within bounds, or the answer is not taken.
fn checked(reply: Reply) -> Result<Reply, super::call::CallError> {
    let fits = |list: &[String]| {
        list.len() <= MAX_GRANTS
            && list
                .iter()
                .all(|s| !s.is_empty() && s.chars().count() <= MAX_GRANT_CHARS)
    };
    if fits(&reply.roles) && fits(&reply.channels) {
        Ok(reply)
    } else {
        Err(super::call::CallError::BadAnswer(format!(
            "roles and channels are at most {MAX_GRANTS} strings of 1..={MAX_GRANT_CHARS} characters"
        )))
    }
}

/// The handshake `auth` without what the gateway itself reads from it (the token, and
/// recovery's `pid` and `offset`); `None` when nothing else is left.
fn handshake_data(auth: Option<&Value>) -> Option<Value> {
    let mut data = auth?.as_object()?.clone();
    for own in ["token", "pid", "offset"] {
        data.remove(own);
    }
    (!data.is_empty()).then_some(Value::Object(data))
}

/// The `connect_error` code of a refusal: one of the connect codes the backend may give,
/// else `forbidden` (it said no, whatever it named it).
fn refusal(code: Option<&str>) -> AuthError {
    match code {
        Some("unavailable") => AuthError::Unavailable,
        Some("rate_limited") => AuthError::RateLimited,
        Some("too_many_connections") => AuthError::TooManyConnections,
        Some("invalid_token") => AuthError::Invalid,
        Some("token_expired") => AuthError::Expired,
        _ => AuthError::Forbidden,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_handshake_data_leaves_out_what_the_gateway_reads() {
        let auth = json!({"token": "t", "pid": "p", "offset": "1", "device": "ios"});
        assert_eq!(handshake_data(Some(&auth)), Some(json!({"device": "ios"})));
        assert_eq!(handshake_data(Some(&json!({"token": "t"}))), None);
        assert_eq!(handshake_data(Some(&json!("text"))), None);
        assert_eq!(handshake_data(None), None);
    }

    #[test]
    fn a_refusal_names_a_connect_code_or_is_forbidden() {
        assert_eq!(refusal(None), AuthError::Forbidden);
        assert_eq!(refusal(Some("banned")), AuthError::Forbidden);
        assert_eq!(refusal(Some("rate_limited")), AuthError::RateLimited);
        assert_eq!(refusal(Some("unavailable")), AuthError::Unavailable);
    }

    #[test]
    fn grants_add_to_the_identity_once() {
        let mut who = Identity {
            user_id: "u".into(),
            roles: vec!["a".into()],
            channels: vec![],
            name: None,
            expires_at: 0,
        };
        let grants = Grants {
            roles: vec!["a".into(), "b".into()],
            channels: vec!["doc:*".into()],
        };
        grants.apply(&mut who);
        grants.apply(&mut who);
        assert_eq!(who.roles, vec!["a", "b"]);
        assert_eq!(who.channels, vec!["doc:*"]);
    }
}
