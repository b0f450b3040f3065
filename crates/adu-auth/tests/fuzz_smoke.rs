//! The fuzz smoke: every seed of `fuzz/corpus/<target>/` plus a few thousand
//! deterministic mutations and random inputs go through the very functions
//! the cargo-fuzz targets call (`fuzz/src/lib.rs`). It runs in plain
//! `cargo test` on stable; the real coverage-guided fuzzer is
//! `cargo xtask fuzz` (see `fuzz/README.md`).

#[path = "../fuzz/src/lib.rs"]
mod targets;

#[macro_use]
#[path = "../../../xtask/fuzz-smoke/harness.rs"]
mod harness;

use harness::Target;

const TARGETS: [(&str, Target); 7] = [
    ("token_response", targets::token_response),
    ("token_error", targets::token_error),
    ("implicit_redirect", targets::implicit_redirect),
    ("code_redirect", targets::code_redirect),
    ("authority", targets::authority),
    (
        "managed_identity_response",
        targets::managed_identity_response,
    ),
    ("azure_cli_output", targets::azure_cli_output),
];

smoke_tests!(TARGETS, 1500, None);

#[test]
fn huge_token_answers_pass_the_token_targets() {
    // A megabyte: beyond what a corpus file holds.
    let filler = "x".repeat(1 << 20);
    let mut error = vec![0u8, 0x01, 0xf7]; // 503, client credentials, JSON
    error.extend_from_slice(
        format!(
            r#"{{"error":"server_error","error_description":"AADSTS{filler} {}","trace_id":"{}"}}"#,
            targets::CLIENT_SECRET,
            targets::CLIENT_SECRET
        )
        .as_bytes(),
    );
    targets::token_error(&error);
    let mut html = vec![6u8, 0x01, 0xf6]; // 502, text/html
    html.extend_from_slice(format!("<html>{filler}{}</html>", targets::CLIENT_SECRET).as_bytes());
    targets::token_error(&html);
    let mut ok = vec![0u8];
    ok.extend_from_slice(
        format!(r#"{{"access_token":"{filler}","token_type":"Bearer","expires_in":"3599"}}"#)
            .as_bytes(),
    );
    targets::token_response(&ok);
    let mut deep = vec![0u8];
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    targets::token_response(&deep);
}

#[test]
fn huge_redirects_pass_the_redirect_targets() {
    let long = format!(
        "http://localhost:8400/#access_token={}&token_type=Bearer&state={}",
        "t".repeat(1 << 20),
        targets::STATE_PLACEHOLDER
    );
    targets::implicit_redirect(long.as_bytes());
    let many: String = (0..20_000).map(|i| format!("p{i}=v&")).collect();
    targets::code_redirect(
        format!("?{many}code=c&state={}", targets::STATE_PLACEHOLDER).as_bytes(),
    );
}
