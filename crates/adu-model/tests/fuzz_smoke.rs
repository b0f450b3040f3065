//! The fuzz smoke: every seed of `fuzz/corpus/<target>/` plus a few thousand
//! deterministic mutations and random inputs go through the very functions
//! the cargo-fuzz targets call. It runs in plain `cargo test` on stable,
//! where the real fuzzer (see `fuzz/README.md`) cannot run by default.

#[path = "../fuzz/src/lib.rs"]
mod targets;

#[macro_use]
#[path = "../../../xtask/fuzz-smoke/harness.rs"]
mod harness;

use harness::Target;

const TARGETS: [(&str, Target); 10] = [
    ("decode_response", targets::decode_response),
    ("decode_error_body", targets::decode_error_body),
    ("retry_after", targets::retry_after),
    ("operation_location", targets::operation_location),
    ("timestamp", targets::timestamp),
    ("ids", targets::ids),
    ("api_version", targets::api_version),
    ("etag", targets::etag),
    ("decode_list", targets::decode_list),
    ("next_link", targets::next_link),
];

smoke_tests!(TARGETS, 2000, Some(4096));

#[test]
fn huge_bodies_pass_the_decode_targets() {
    // Over the kept bound: the one size the corpus cannot hold.
    let mut response = vec![0u8, 0x01, 0xf4];
    response.extend_from_slice(b"\n");
    response.extend_from_slice(br#"{"error":{"code":"Big","message":""#);
    response.extend(std::iter::repeat_n(b'x', 70_000));
    response.extend_from_slice(br#""}}"#);
    targets::decode_response(&response);
    targets::decode_error_body(&response[1..]);
    let mut ok = vec![1u8, 0x00, 0xc8, b'\n'];
    ok.extend(std::iter::repeat_n(b'[', 100_000));
    targets::decode_response(&ok);
}
