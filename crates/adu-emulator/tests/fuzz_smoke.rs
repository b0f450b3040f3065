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

const TARGETS: [(&str, Target); 4] = [
    ("form_pairs", targets::form_pairs),
    ("token_form", targets::token_form),
    ("scenario", targets::scenario),
    ("client_assertion", targets::client_assertion),
];

smoke_tests!(TARGETS, 1500, Some(4096));

#[test]
fn huge_forms_pass_the_form_targets() {
    // Far over what a corpus file holds: many pairs, long escapes.
    let many: String = (0..20_000)
        .map(|i| format!("p{i}=v%2{}+&", i % 10))
        .collect();
    targets::form_pairs(many.as_bytes());
    let mut form = vec![0u8];
    form.extend_from_slice(
        format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope={}%2F.default&{many}",
            targets::CLIENT_ID,
            targets::CLIENT_SECRET,
            "x".repeat(1 << 16)
        )
        .as_bytes(),
    );
    targets::token_form(&form);
    let deep = "[".repeat(100_000);
    targets::scenario(deep.as_bytes());
}

#[test]
fn good_assertions_are_accepted_and_altered_ones_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/client_assertion");
    let status = |name: &str| {
        let data = std::fs::read(dir.join(name)).unwrap();
        targets::client_assertion_status(&data).unwrap()
    };
    // The checks are not vacuous: the harness's good assertions get tokens.
    for name in [
        "signed_certificate_assertion",
        "signed_certificate_audience_array",
        "signed_federated_github",
        "raw_signed_certificate_assertion",
    ] {
        assert_eq!(status(name), 200, "{name}");
    }
    for name in [
        "tampered_certificate_assertion",
        "own_signature_garbage",
        "signed_certificate_expired",
        "signed_certificate_alg_none",
        "raw_signed_assertion_for_workload",
        "raw_signed_assertion_trailing_dot",
    ] {
        assert_eq!(status(name), 401, "{name}");
    }
    // Past the size bound, even a good signature is refused as malformed.
    let mut big = vec![1u8];
    big.extend_from_slice(
        format!(
            "{{\"alg\":\"RS256\",\"x5t\":\"{{x5t}}\"}}\n.\n{{\"iss\":\"fuzz-app\",\"pad\":\"{}\"}}",
            "x".repeat(20_000)
        )
        .as_bytes(),
    );
    assert_eq!(targets::client_assertion_status(&big), Some(401));
}
