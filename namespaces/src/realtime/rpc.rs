//! `rpc {method, data}` (PROTOCOL.md §3, §9): an app-specific request forwarded to the
//! backend's RPC endpoint with the socket's identity; the backend's answer is the ack.
//! The port's implementation has the deadline, so the ack always comes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, State};

use super::{PATH, RealtimeState};
use crate::Identity;
use crate::incoming::Incoming;
use crate::ports::RpcCall;

/// The longest method name, in characters.
pub const MAX_METHOD_CHARS: usize = 64;

/// A method name: 1..=64 characters of `A-Z a-z 0-9 _ . : -`, safe in logs and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Method(String);

impl TryFrom<String> for Method {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
        if value.is_empty() || value.len() > MAX_METHOD_CHARS || !value.chars().all(allowed) {
            return Err(format!(
                "method is 1..={MAX_METHOD_CHARS} characters of A-Z a-z 0-9 _ . : -"
            ));
        }
        Ok(Self(value))
    }
}

/// `rpc`: the method and its argument, any JSON (`null` when absent); its size is bounded
/// by `max_payload_bytes` like every event's. Other fields are ignored, as in every
/// payload: only these two reach the backend, with the socket's own identity.
#[derive(Debug, Deserialize)]
pub struct Rpc {
    pub method: Method,
    #[serde(default)]
    pub data: Value,
}

/// The ack's `data`: what the backend answered.
#[derive(Serialize)]
struct RpcReply {
    data: Value,
}

pub(super) async fn on_rpc<A: Adapter>(
    State(st): State<RealtimeState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: Rpc| {
        let call = RpcCall {
            ns: PATH,
            method: &body.method.0,
            data: &body.data,
        };
        let data = st.inner.hooks.rpc(&me, call).await?;
        Ok(RpcReply { data })
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn methods_are_short_and_plain() {
        for ok in ["pitch.viewed", "follow", "upload:progress", "a-b_c"] {
            assert!(Method::try_from(ok.to_owned()).is_ok(), "{ok}");
        }
        let long = "m".repeat(MAX_METHOD_CHARS + 1);
        for bad in ["", "with space", "slash/y", "é", long.as_str()] {
            assert!(Method::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn data_is_optional_and_method_is_not() {
        let call: Rpc = serde_json::from_value(json!({"method": "ping"})).expect("valid");
        assert_eq!(call.data, Value::Null);
        let call: Rpc =
            serde_json::from_value(json!({"method": "m", "data": [1, {"a": 2}]})).expect("valid");
        assert_eq!(call.data, json!([1, {"a": 2}]));
        assert!(serde_json::from_value::<Rpc>(json!({"data": 1})).is_err());
        assert!(serde_json::from_value::<Rpc>(json!({"method": 7})).is_err());
    }
}
