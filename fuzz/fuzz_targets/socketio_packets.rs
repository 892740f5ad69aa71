//! A polling request body: Engine.IO v4 packets, the Socket.IO packets in them, and the
//! event payloads they carry. See fuzz/src/socketio.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_fuzz::socketio::fuzz(data));
