//! Automation for the workspace, in Rust (the rust-analyzer way).
//!
//! Run `cargo xtask help` for the list of tasks.

mod bench;
mod ci;
mod codegen;
mod deps;
mod fuzz;
mod interop;
mod soak;
mod spec_check;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "codegen" => codegen::run(rest),
        "spec-check" => spec_check::run(rest),
        "ci" => ci::run(rest),
        "interop" => interop::run(rest),
        "bench" => bench::run(rest),
        "soak" => soak::run(rest),
        "fuzz" => fuzz::run(rest),
        "deps" => deps::run(rest),
        "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => Err(format!("unknown task `{other}`; run `cargo xtask help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "cargo xtask <task>

tasks:
  codegen [--check]              regenerate adu-model's generated module (or check it is fresh)
  spec-check (--upstream FILE | --upstream-root DIR) [--self-test]
                                 compare our API descriptions with upstream OpenAPI files
                                 (--self-test: instead, alter upstream in every operation; each must be reported)
  ci                             every check CI runs, in order, stopping at the first failure
  interop                        install the independent peers and run the interop tests
  bench [--quick]                load and scale benchmarks beside bare hyper and the Python SDK (docs/benchmarks.md)
  soak [--requests N] [--concurrency C] [--no-docs]
                                 N status requests through one client, RSS sampled (docs/reliability.md)
  fuzz [--seconds N] [--target T]
                                 run the fuzz targets of crates/*/fuzz with libFuzzer (cargo fuzz -s none),
                                 then minimise each working corpus with cargo fuzz cmin (docs/reliability.md)
  deps                           dependency policy: licenses, sources, duplicate versions (cargo-deny)"
    );
}
