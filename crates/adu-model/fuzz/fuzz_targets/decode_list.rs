//! libFuzzer entry point for `adu_model_fuzz::decode_list`; the logic lives in `src/lib.rs`
//! so that `tests/fuzz_smoke.rs` runs the same checks in `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adu_model_fuzz::decode_list(data));
