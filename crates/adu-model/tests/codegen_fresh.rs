//! Fails when `src/generated/mod.rs` is not what `cargo xtask codegen` would
//! write from `docs/api/*.json`, so that a plain `cargo test` catches a stale
//! generated module as well as `cargo xtask codegen --check` does.
//!
//! The generator is included from xtask's source rather than depended upon, so
//! this crate keeps no dependency on xtask.

#[allow(dead_code, unreachable_pub)]
mod generator {
    include!("../../../xtask/src/codegen/generator.rs");
}

use std::path::Path;

#[test]
fn generated_module_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |relative: &str| {
        let path = root.join(relative);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    };
    let expected = generator::generate_formatted(
        &read("docs/api/deviceupdate-2020-09-01.json"),
        &read("docs/api/deviceupdate-2022-10-01.json"),
    )
    .unwrap_or_else(|e| panic!("the generator failed: {e}"));
    let committed = read("crates/adu-model/src/generated/mod.rs");
    assert!(
        committed == expected,
        "crates/adu-model/src/generated/mod.rs is stale; run `cargo xtask codegen`"
    );
}

#[test]
fn generated_module_starts_with_the_regenerate_header() {
    let committed = include_str!("../src/generated/mod.rs");
    let first = committed.lines().next().unwrap_or_default();
    assert!(
        first.contains("@generated"),
        "first line lacks `@generated`: {first}"
    );
    assert!(
        first.contains("cargo xtask codegen"),
        "first line lacks the regenerate command: {first}"
    );
}
