//! `cargo xtask deps`: the dependency policy — licenses, sources and duplicate versions —
//! checked by `cargo-deny` against the committed `deny.toml`.
//!
//! Installs the pinned `cargo-deny` first when it is missing (or another version is
//! installed), then runs `cargo deny check licenses sources bans`. The advisories check is
//! left out on purpose: it needs to download the advisory database, and CI reaches only the
//! package registries.

use std::process::Command;

use crate::util::{cargo, run as sh};

/// The cargo-deny release this policy is written for.
const CARGO_DENY_VERSION: &str = "0.20.2";

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`deps` takes no arguments, got `{extra}`"));
    }
    if installed_version().as_deref() != Some(CARGO_DENY_VERSION) {
        sh(cargo().args([
            "install",
            "cargo-deny",
            "--locked",
            "--version",
            &format!("={CARGO_DENY_VERSION}"),
        ]))?;
    }
    sh(cargo().args(["deny", "check", "licenses", "sources", "bans"]))
}

/// The version of the `cargo deny` subcommand on the path, if any.
fn installed_version() -> Option<String> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["deny", "--version"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    // "cargo-deny 0.20.2"
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
}
