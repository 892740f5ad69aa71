//! The `/api/v1` request bodies: the first byte picks the route and the content type, the
//! rest is the body. See fuzz/src/http.rs for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_fuzz::http::fuzz(data));
