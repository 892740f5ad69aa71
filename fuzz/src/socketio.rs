//! What the server reads off a polling request or a WebSocket: Engine.IO v4 packets
//! (engineioxide-core's payload decoder, which also parses each packet as a WebSocket
//! frame would be), Socket.IO packets in them (socketioxide's common parser, with the
//! binary attachments that follow), then each event's payload as `Incoming` takes it and
//! the handler of that namespace and event decodes it.

use futures_util::StreamExt;
use serde_json::Value as Json;
use socketioxide_core::Value;
use socketioxide_core::packet::{Packet, PacketData};
use socketioxide_core::parser::{Parse, ParseConfig, ParseError, ParserState};
use socketioxide_parser_common::CommonParser;

use crate::runtime;

/// engineioxide's default `max_payload` for a polling request.
const MAX_PAYLOAD: u64 = 100_000;

pub fn fuzz(data: &[u8]) {
    let body = axum::body::Body::from(data.to_vec());
    runtime().block_on(async {
        let packets = engineioxide_core::payload::decoder(
            body,
            None,
            engineioxide_core::ProtocolVersion::V4,
            MAX_PAYLOAD,
        );
        let mut packets = std::pin::pin!(packets);
        let (config, state) = (ParseConfig::default(), ParserState::default());
        while let Some(packet) = packets.next().await {
            // A bad Engine.IO packet closes the session.
            let Ok(packet) = packet else { break };
            let decoded = match packet {
                engineioxide_core::Packet::Message(text) => {
                    CommonParser.decode_str(&config, &state, text)
                }
                engineioxide_core::Packet::Binary(bin) => {
                    CommonParser.decode_bin(&config, &state, bin)
                }
                _ => continue,
            };
            match decoded {
                Ok(packet) => dispatch(packet, &config, data.len()),
                Err(ParseError::NeedsMoreBinaryData) => {}
                // Any other parse error closes the session too.
                Err(_) => break,
            }
        }
    });
}

/// An event goes where socketioxide sends it: its name read first (for the rate limiter),
/// its payload taken as `TryData<serde_json::Value>` (an event with no argument reads as
/// none), then decoded by the namespace's handler for that event.
fn dispatch(packet: Packet, config: &ParseConfig, input_len: usize) {
    let Packet { inner, ns } = packet;
    match inner {
        PacketData::Event(mut value, _) | PacketData::BinaryEvent(mut value, _) => {
            if let Value::Str(_, Some(bins)) = &value {
                assert!(bins.len() <= config.max_incoming_binaries);
                let size: usize = bins.iter().map(|b| b.len()).sum();
                assert!(size <= config.max_incoming_binary_buf_size.min(input_len));
            }
            let Ok(event) = CommonParser.read_event(&value).map(str::to_owned) else {
                return;
            };
            let payload = match CommonParser.decode_value::<Json>(&mut value, true) {
                Ok(payload) => payload,
                Err(_) if carries_no_argument(&value) => Json::Null,
                // The handler answers `invalid_payload` ("unreadable payload").
                Err(_) => return,
            };
            crate::payloads::by_event(&ns, &event, payload, input_len);
        }
        // The connect payload carries the token (`auth: {token}`).
        PacketData::Connect(value) => {
            let _ = CommonParser.decode_default::<Option<Json>>(value.as_ref());
        }
        _ => {}
    }
}

/// As `incoming::carries_no_argument`: a packet that is only `["name"]`.
fn carries_no_argument(v: &Value) -> bool {
    match v {
        Value::Str(text, _) => serde_json::from_str::<Vec<serde::de::IgnoredAny>>(text)
            .is_ok_and(|args| args.len() == 1),
        Value::Bytes(_) => false,
    }
}
