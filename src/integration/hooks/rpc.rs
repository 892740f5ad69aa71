//! RPC: a client's `rpc {method, data}` POSTed as `{"method", "data", "user": {"id",
//! "roles"}, "ns"}`. The answer `{"data": X}` becomes the ack `{ok: true, data: X}`;
//! `{"error": {"code", "message"?, "retryAfterMs"?}}` with a contract code becomes that
//! error. Anything else (another code, neither key, a non-2xx, an answer over
//! `max_payload_bytes`, the deadline) is `unavailable`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_namespaces::ports::RpcCall;
use switchyard_namespaces::{ErrorCode, Identity, NsError};

use super::call::CallError;
use super::metrics::{self, Hook};
use super::{Hooks, User};

#[derive(Serialize)]
struct Request<'a> {
    method: &'a str,
    data: &'a Value,
    user: User<'a>,
    ns: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackendError {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// The contract's error codes (PROTOCOL.md §2), the only ones a backend may answer with.
const CODES: &[ErrorCode] = &[
    ErrorCode::InvalidPayload,
    ErrorCode::Forbidden,
    ErrorCode::NotFound,
    ErrorCode::Conflict,
    ErrorCode::RateLimited,
    ErrorCode::PayloadTooLarge,
    ErrorCode::Unavailable,
    ErrorCode::Internal,
];

pub(super) async fn call(
    hooks: &Hooks,
    url: &str,
    who: &Identity,
    call: RpcCall<'_>,
) -> Result<Value, NsError> {
    let request = Request {
        method: call.method,
        data: call.data,
        user: User::of(who),
        ns: call.ns,
    };
    let limit = hooks.max_payload_bytes;
    let answer = hooks
        .caller
        .post::<Value>(Hook::Rpc, url, &request, limit)
        .await
        .and_then(read_answer);
    match answer {
        Ok(Ok(data)) => {
            metrics::counted(Hook::Rpc, metrics::ALLOWED);
            Ok(data)
        }
        Ok(Err(refused)) => {
            metrics::counted(Hook::Rpc, metrics::DENIED);
            Err(refused)
        }
        Err(err) => {
            metrics::counted(Hook::Rpc, err.outcome());
            tracing::warn!(error = %err, method = call.method, "rpc hook failed");
            Err(unavailable(&err))
        }
    }
}

/// The backend's `data`, or the error it answered with; `Err` when the answer is neither.
fn read_answer(answer: Value) -> Result<Result<Value, NsError>, CallError> {
    let Value::Object(mut answer) = answer else {
        return Err(CallError::BadAnswer("not an object".into()));
    };
    if let Some(error) = answer.remove("error") {
        let error: BackendError = serde_json::from_value(error)
            .map_err(|err| CallError::BadAnswer(format!("error: {err}")))?;
        let code = CODES
            .iter()
            .find(|code| code.as_str() == error.code)
            .ok_or_else(|| CallError::BadAnswer(format!("`{}` is no contract code", error.code)))?;
        let mut refused = NsError::new(*code, error.message.unwrap_or_default());
        refused.retry_after_ms = error.retry_after_ms;
        return Ok(Err(refused));
    }
    match answer.remove("data") {
        Some(data) => Ok(Ok(data)),
        None => Err(CallError::BadAnswer("neither `data` nor `error`".into())),
    }
}

/// What the client is told of a failed call: that the backend could not answer, and
/// broadly why (never its URL or body).
fn unavailable(err: &CallError) -> NsError {
    let why = match err {
        CallError::Timeout(_) => "did not answer in time",
        CallError::Status(_) | CallError::Network(_) => "could not be reached",
        CallError::TooLarge(_) => "answered more than an ack may carry",
        CallError::BadAnswer(_) => "gave an answer the gateway cannot read",
    };
    NsError::new(ErrorCode::Unavailable, format!("the backend {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_and_contract_errors_are_taken_the_rest_is_not() {
        let data = read_answer(json!({"data": {"n": 1}})).expect("usable");
        assert_eq!(data.expect("data"), json!({"n": 1}));
        let null = read_answer(json!({"data": null})).expect("usable");
        assert_eq!(null.expect("data"), Value::Null);
        let refused = read_answer(json!({"error": {"code": "not_found", "message": "no pitch"}}))
            .expect("usable")
            .expect_err("an error");
        assert_eq!(refused.code, ErrorCode::NotFound);
        assert_eq!(refused.message, "no pitch");
        for bad in [
            json!({"error": {"code": "teapot"}}),
            json!({"error": "oops"}),
            json!({"result": 1}),
            json!([1]),
        ] {
            assert!(read_answer(bad.clone()).is_err(), "{bad}");
        }
    }
}
