//! `cargo xtask ci`: every check, in order, failing on the first failure.

use std::process::Command;

use crate::util::{cargo, project_root, run as sh};

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments, got `{extra}`"));
    }
    step("generated code is fresh", || {
        crate::codegen::run(&["--check".to_owned()])
    })?;
    step("formatting", || {
        sh(cargo().args(["fmt", "--all", "--check"]))
    })?;
    step("clippy", || {
        sh(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("adu-model stays sans-IO", model_is_sans_io)?;
    step("tests (unit, integration, property, fuzz smoke)", || {
        sh(cargo().args(["test", "--workspace", "--all-targets"]))
    })?;
    step(
        "HTTP/2 negotiation (adu-transport's `http2` feature)",
        || {
            sh(cargo().args([
                "test",
                "-p",
                "adu-transport",
                "--features",
                "http2",
                "--test",
                "http2",
            ]))
        },
    )?;
    step("doc tests", || {
        sh(cargo().args(["test", "--workspace", "--doc"]))
    })?;
    step("docs build without warnings", || {
        sh(cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"))
    })?;
    step(
        "library crates package and build from their tarballs",
        || {
            sh(cargo().args([
                "package",
                "--locked",
                "-p",
                "adu-model",
                "-p",
                "adu-auth",
                "-p",
                "adu-transport",
                "-p",
                "adu-emulator",
            ]))
        },
    )?;
    step(
        "interop with independent peers",
        || crate::interop::run(&[]),
    )?;
    step("dependency policy (licenses, sources, duplicates)", || {
        crate::deps::run(&[])
    })?;
    eprintln!("xtask ci: all steps passed");
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    eprintln!("\n==> xtask ci: {name}");
    f().map_err(|e| format!("step `{name}` failed: {e}"))
}

/// Architecture invariant: `adu-model`'s normal dependencies contain no
/// runtime, no HTTP stack and no OAuth2 client.
fn model_is_sans_io() -> Result<(), String> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args([
            "tree",
            "-p",
            "adu-model",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(project_root())
        .output()
        .map_err(|e| format!("could not run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let forbidden = ["tokio", "hyper", "oauth2", "reqwest", "mio", "rustls"];
    let found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| forbidden.iter().any(|f| name.starts_with(f)))
        .collect();
    if found.is_empty() {
        eprintln!("adu-model's normal dependencies: {}", tree.lines().count());
        Ok(())
    } else {
        Err(format!(
            "adu-model must stay sans-IO, but its normal dependencies include: {}",
            found.join(", ")
        ))
    }
}
