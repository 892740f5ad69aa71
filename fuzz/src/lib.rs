//! What the fuzz targets share: each decodes input exactly as the gateway does, then
//! checks that whatever was accepted keeps the limits its type declares, and that
//! whatever was refused is refused with the contract's error, never a panic.

use std::sync::LazyLock;

use serde_json::Value;
use switchyard_namespaces::{ErrorCode, NsError};

pub mod channel_rules;
pub mod http;
pub mod payloads;
pub mod socketio;
pub mod token;

/// One current-thread runtime per fuzz process, made on first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    });
    &RT
}

/// An event payload as the Socket.IO parser hands it to `Incoming`: a JSON value. Input
/// that is not JSON never reaches a payload decoder (the packet parser refuses it; see
/// the `socketio_packets` target).
pub fn json(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// A refused payload is `invalid_payload` with a message, and its ack serializes to the
/// contract's `{ok: false, error: {code, message}}`. Its message may quote the input but
/// never grows far beyond it.
pub fn assert_refusal(err: &NsError, input_len: usize) {
    assert_eq!(
        err.code,
        ErrorCode::InvalidPayload,
        "refused as {:?}",
        err.code
    );
    assert!(!err.message.is_empty(), "refusal without a message");
    assert!(
        err.message.len() <= 8 * input_len + 1024,
        "refusal message of {} bytes for {input_len} bytes of input",
        err.message.len()
    );
    let ack = err.ack_body();
    assert_eq!(ack["ok"], Value::Bool(false));
    assert_eq!(ack["error"]["code"], "invalid_payload");
    assert!(ack["error"]["message"].is_string());
}

/// Characters, as every limit in the payload types counts them.
pub fn chars(s: &str) -> usize {
    s.chars().count()
}
