//! libFuzzer entry point for `adu_auth_fuzz::managed_identity_response`; the logic lives in `src/lib.rs`
//! so that `tests/fuzz_smoke.rs` runs the same checks in `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adu_auth_fuzz::managed_identity_response(data));
