//! The fuzz smoke: every seed of `fuzz/corpus/cli_args/` plus a few thousand
//! deterministic mutations and random inputs go through the very function
//! the cargo-fuzz target calls (`fuzz/src/lib.rs`). It runs in plain
//! `cargo test` on stable; the real coverage-guided fuzzer is
//! `cargo xtask fuzz` (see `fuzz/README.md`).

#[path = "../fuzz/src/lib.rs"]
mod targets;

#[macro_use]
#[path = "../../../xtask/fuzz-smoke/harness.rs"]
mod harness;

use harness::Target;

const TARGETS: [(&str, Target); 1] = [("cli_args", targets::cli_args)];

smoke_tests!(TARGETS, 2000, Some(4096));
