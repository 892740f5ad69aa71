//! `TokenVerifier::verify` on raw tokens and on fuzzed claims and headers signed with the
//! test keys. See fuzz/src/token.rs for the modes and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_fuzz::token::fuzz(data));
