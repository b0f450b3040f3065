//! The fuzz smoke: every seed of `fuzz/corpus/cli_args/` plus a few thousand
//! deterministic mutations and random inputs go through the very function
//! the cargo-fuzz target calls (`fuzz/src/lib.rs`). It runs in plain
//! `cargo test` on stable; the real coverage-guided fuzzer is
//! `cargo xtask fuzz` (see `fuzz/README.md`).

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
mod targets;

#[path = "../../../xtask/fuzz-smoke/harness.rs"]
mod harness;

use harness::Target;

const TARGETS: [(&str, Target); 1] = [("cli_args", targets::cli_args)];

/// Generated inputs per target, on top of the corpus.
const GENERATED: usize = 2000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

#[test]
fn every_target_has_a_meaningful_seed_corpus() {
    harness::check_corpus_shape(&fuzz_dir(), &TARGETS, Some(4096));
}

#[test]
fn corpus_files_pass_every_target_check() {
    harness::run_corpus(&fuzz_dir(), &TARGETS);
}

#[test]
fn generated_inputs_pass_every_target_check() {
    harness::run_generated(&fuzz_dir(), &TARGETS, GENERATED);
}
