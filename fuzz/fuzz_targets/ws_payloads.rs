//! Every client → server payload of `/ws`: the first byte picks the event, the rest
//! is its payload as JSON text. See fuzz/src/payloads.rs for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::payloads::{fuzz_namespace, ws};

fuzz_target!(|data: &[u8]| fuzz_namespace(ws::EVENTS, ws::check, data));
