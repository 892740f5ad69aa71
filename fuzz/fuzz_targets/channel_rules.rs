//! Channel-rule matching with arbitrary patterns, subs and channels: `{sub}` is literal
//! and never reaches another user's channel. See fuzz/src/channel_rules.rs for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_fuzz::channel_rules::fuzz(data));
