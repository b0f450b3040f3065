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

const TARGETS: [(&str, Target); 3] = [
    ("form_pairs", targets::form_pairs),
    ("token_form", targets::token_form),
    ("scenario", targets::scenario),
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
