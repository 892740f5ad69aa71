//! The integration tables as a file writes them (`[[webhooks]]`, `[hooks]`), on their
//! own so that the flat table (`raw.rs`) and the checks on them (`integration.rs`) both
//! read them without reading each other.

use serde::{Deserialize, Serialize};

/// One `[[webhooks]]` table.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct RawWebhook {
    pub url: String,
    /// `whsec_` + base64 (Standard Webhooks).
    pub secret: String,
    /// Event types sent to this endpoint; absent: all of them.
    pub events: Option<Vec<String>>,
}

/// The `[hooks]` table.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct RawHooks {
    pub connect_url: Option<String>,
    pub subscribe_url: Option<String>,
    pub rpc_url: Option<String>,
    /// `whsec_` + base64: the gateway signs each hook and RPC request with it.
    pub secret: Option<String>,
    /// Milliseconds one call may take (default 1,000); past it the call fails closed.
    pub timeout_ms: Option<u64>,
    /// Milliseconds a connect or subscribe answer is reused (default 5,000; 0: never).
    pub cache_ms: Option<u64>,
}
