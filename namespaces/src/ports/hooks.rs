//! The port of the app's backend (PROTOCOL.md §9): the subscribe hook, asked about
//! channels whose rule says `allow = "backend"`, and RPC, which forwards a client's `rpc`
//! event. `src/integration/hooks/` implements it over signed HTTP; every call has a
//! deadline and fails closed with `unavailable`.

use async_trait::async_trait;
use serde_json::Value;

use crate::Identity;
use crate::ack::{ErrorCode, NsError};

/// The backend's verdict on one channel: allowed, or the denial's code (`forbidden` when
/// the backend said no, `unavailable` when it could not be asked).
pub type ChannelVerdict = Result<(), ErrorCode>;

/// One `rpc` event, as forwarded.
#[derive(Debug, Clone, Copy)]
pub struct RpcCall<'a> {
    /// The namespace the event came on.
    pub ns: &'a str,
    pub method: &'a str,
    pub data: &'a Value,
}

#[async_trait]
pub trait BackendHooks: Send + Sync + 'static {
    /// May `who` subscribe to each of `channels`? One verdict per channel, in order. Never
    /// fails as a whole: a backend that cannot be asked denies with `unavailable`.
    async fn may_subscribe(&self, who: &Identity, channels: &[String]) -> Vec<ChannelVerdict>;

    /// The backend's answer to `call`: the `data` of the ack, or the error it answers with.
    async fn rpc(&self, who: &Identity, call: RpcCall<'_>) -> Result<Value, NsError>;
}

/// No backend configured: no channel is allowed by it, and RPC is `unavailable`.
pub struct NoBackend;

#[async_trait]
impl BackendHooks for NoBackend {
    async fn may_subscribe(&self, _: &Identity, channels: &[String]) -> Vec<ChannelVerdict> {
        vec![Err(ErrorCode::Unavailable); channels.len()]
    }

    async fn rpc(&self, _: &Identity, _: RpcCall<'_>) -> Result<Value, NsError> {
        Err(NsError::new(
            ErrorCode::Unavailable,
            "no RPC endpoint is configured",
        ))
    }
}
