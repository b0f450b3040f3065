//! `cargo xtask deps`: the dependency policy — licenses, sources and duplicate versions —
//! checked by `cargo-deny` against the committed `deny.toml`, and the workspace's
//! `rust-version` checked against what the locked dependencies declare they need.
//!
//! Installs the pinned `cargo-deny` first when it is missing (or another version is
//! installed), then runs `cargo deny check licenses sources bans`. The advisories check is
//! left out on purpose: it needs to download the advisory database, and CI reaches only the
//! package registries.

use std::process::Command;

use crate::util::{cargo, run as sh, stdout_of};

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
    sh(cargo().args(["deny", "check", "licenses", "sources", "bans"]))?;
    check_rust_version()
}

/// Fails when a locked dependency declares a `rust-version` above the workspace's: the
/// workspace's would then promise builds on compilers that cannot build it. (Uses of the
/// standard library newer than the workspace's `rust-version` are clippy's
/// `incompatible_msrv`, which `cargo xtask ci` runs with warnings denied.)
fn check_rust_version() -> Result<(), String> {
    let output = stdout_of(cargo().args(["metadata", "--format-version", "1", "--locked"]))?;
    let metadata: serde_json::Value = serde_json::from_str(&output)
        .map_err(|e| format!("cannot read cargo metadata's output: {e}"))?;
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .map(|m| m.iter().filter_map(|id| id.as_str()).collect())
        .unwrap_or_default();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let declared = |p: &serde_json::Value| p["rust_version"].as_str().and_then(parse_version);
    let ours = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .filter_map(declared)
        .min()
        .ok_or("no workspace member declares a rust-version")?;
    let mut above: Vec<String> = packages
        .iter()
        .filter(|p| !p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .filter(|p| declared(p).is_some_and(|v| v > ours))
        .map(|p| {
            format!(
                "{} {} (rust-version {})",
                p["name"].as_str().unwrap_or("?"),
                p["version"].as_str().unwrap_or("?"),
                p["rust_version"].as_str().unwrap_or("?")
            )
        })
        .collect();
    above.sort();
    if above.is_empty() {
        println!(
            "rust-version {}.{}.{}: no locked dependency needs a newer compiler",
            ours.0, ours.1, ours.2
        );
        Ok(())
    } else {
        Err(format!(
            "the workspace's rust-version is {}.{}.{}, but these locked dependencies need a \
             newer compiler; raise `rust-version` in Cargo.toml or lock older versions:\n  {}",
            ours.0,
            ours.1,
            ours.2,
            above.join("\n  ")
        ))
    }
}

/// `1.88` or `1.88.0` as (1, 88, 0).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
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

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn rust_versions_compare_by_number() {
        assert_eq!(parse_version("1.88"), Some((1, 88, 0)));
        assert_eq!(parse_version("1.88.0"), Some((1, 88, 0)));
        assert!(parse_version("1.88").unwrap() > parse_version("1.9").unwrap());
        assert_eq!(parse_version("1.x"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
    }
}
