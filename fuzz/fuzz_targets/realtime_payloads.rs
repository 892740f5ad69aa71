//! Every client → server payload of `/realtime`: the first byte picks the event, the rest
//! is its payload as JSON text. See fuzz/src/payloads.rs for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::payloads::{fuzz_namespace, realtime};

fuzz_target!(|data: &[u8]| fuzz_namespace(realtime::EVENTS, realtime::check, data));
