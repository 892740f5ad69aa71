//! Every client → server payload of `/notifications`: the first byte picks the event, the rest
//! is its payload as JSON text. See fuzz/src/payloads.rs for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::payloads::{fuzz_namespace, notifications};

fuzz_target!(|data: &[u8]| fuzz_namespace(notifications::EVENTS, notifications::check, data));
