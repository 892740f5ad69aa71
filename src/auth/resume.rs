//! Connection-state recovery's gate (PROTOCOL.md §1): a CONNECT whose `auth` names a
//! known session (`pid`) resumes it only for its owner (a valid token whose `sub` is the
//! session's user: recovery never bypasses authentication), on the namespace it was on,
//! and only when the packet log still holds everything it missed within the bounds.
//! Anything else connects as a new socket, as the client expects. The namespace's
//! middlewares (authentication included) still run after this.

use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;
use socketioxide::recovery::{ConnectionStateRecovery, RecoveryRequest, Restore, RestoreFuture};
use socketioxide::socket::Sid;
use switchyard_namespaces::resume::Resumption;

use super::TokenVerifier;
use super::socket::find_token;

/// Counts resume attempts by outcome (`telemetry::metrics::RESUMES_TOTAL`).
fn counted(outcome: &'static str) {
    metrics::counter!(crate::telemetry::metrics::RESUMES_TOTAL, "outcome" => outcome).increment(1);
}

#[derive(Clone)]
pub struct ResumeGate {
    verifier: Arc<TokenVerifier>,
    resumption: Resumption,
}

impl ResumeGate {
    pub fn new(verifier: Arc<TokenVerifier>, resumption: Resumption) -> Self {
        Self {
            verifier,
            resumption,
        }
    }

    async fn restore(
        self,
        ns: String,
        auth: Value,
        parts: http::request::Parts,
    ) -> Option<Restore> {
        let pid = auth.get("pid").and_then(Value::as_str)?;
        let outcome = self.check(&ns, pid, &auth, &parts).await;
        counted(match &outcome {
            Ok(_) => "resumed",
            Err(why) => why,
        });
        outcome.ok()
    }

    async fn check(
        &self,
        ns: &str,
        pid: &str,
        auth: &Value,
        parts: &http::request::Parts,
    ) -> Result<Restore, &'static str> {
        let session = match self.resumption.sessions().get(pid).await {
            Ok(Some(session)) if session.ns == ns => session,
            Ok(_) => return Err("unknown"),
            Err(_) => return Err("unavailable"),
        };
        let token = find_token(Some(auth), parts).ok_or("foreign")?;
        let me = self.verifier.verify(&token).await.map_err(|_| "foreign")?;
        if me.user_id != session.user_id {
            return Err("foreign");
        }
        let offset = auth.get("offset").and_then(Value::as_str);
        match self.resumption.missed(ns, &session, offset).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err("gone"),
            Err(_) => return Err("unavailable"),
        }
        let sid = Sid::from_str(&session.sid).map_err(|_| "unknown")?;
        Ok(Restore {
            sid,
            pid: pid.to_owned().into(),
        })
    }
}

impl ConnectionStateRecovery for ResumeGate {
    fn restore<'a>(&'a self, req: &'a RecoveryRequest<'a>) -> RestoreFuture<'a> {
        let ns = req.ns().to_owned();
        let auth = req.auth_as::<Value>().ok();
        let parts = req.req_parts().clone();
        let this = self.clone();
        Box::pin(async move { this.restore(ns, auth?, parts).await })
    }
}
