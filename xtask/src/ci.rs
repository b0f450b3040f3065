//! `cargo xtask ci`: every check, in order, failing on the first failure.

use crate::util::{cargo, run as sh};

pub fn run_ci() -> Result<(), String> {
    crate::codegen::run(&["--check".to_owned()])?;
    sh(cargo().args(["fmt", "--all", "--check"]))?;
    sh(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    sh(cargo().args(["test", "--workspace", "--all-targets"]))?;
    sh(cargo().args(["test", "--workspace", "--doc"]))?;
    crate::interop::run(&[])?;
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments, got `{extra}`"));
    }
    run_ci()
}
