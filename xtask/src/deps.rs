//! `cargo xtask deps`: the dependency policy — licenses, sources and duplicate versions —
//! checked by `cargo-deny` against the committed `deny.toml`, and the workspace's
//! `rust-version` checked against what the locked dependencies declare they need.
//!
//! Installs the pinned `cargo-deny` first when it is missing (or another version is
//! installed), then runs `cargo deny check licenses sources bans`. The advisories check is
//! left out on purpose: it needs to download the advisory database, and CI reaches only the
//! package registries.

use crate::util::{cargo, run as sh, stdout_of};

/// The cargo-deny release this policy is written for.
const CARGO_DENY_VERSION: &str = "0.20.2";

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`deps` takes no arguments, got `{extra}`"));
    }
    // `cargo deny --version` prints "cargo-deny 0.20.2".
    let installed = stdout_of(cargo().args(["deny", "--version"])).unwrap_or_default();
    if installed.split_whitespace().nth(1) != Some(CARGO_DENY_VERSION) {
        let version = format!("={CARGO_DENY_VERSION}");
        sh(cargo().args(["install", "cargo-deny", "--locked", "--version", &version]))?;
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
    let members = metadata["workspace_members"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let (ours, theirs): (Vec<_>, Vec<_>) =
        packages.iter().partition(|p| members.contains(&p["id"]));
    let declared = |p: &serde_json::Value| p["rust_version"].as_str().and_then(parse_version);
    let ours = ours
        .into_iter()
        .filter_map(declared)
        .min()
        .ok_or("no workspace member declares a rust-version")?;
    let mut above: Vec<String> = theirs
        .into_iter()
        .filter(|p| declared(p).is_some_and(|v| v > ours))
        .map(|p| {
            let field = |key: &str| p[key].as_str().unwrap_or("?").to_owned();
            format!(
                "{} {} (rust-version {})",
                field("name"),
                field("version"),
                field("rust_version")
            )
        })
        .collect();
    above.sort();
    let ours = ours.map(|n| n.to_string()).join(".");
    if above.is_empty() {
        println!("rust-version {ours}: no locked dependency needs a newer compiler");
        Ok(())
    } else {
        Err(format!(
            "the workspace's rust-version is {ours}, but these locked dependencies need a newer \
             compiler; raise `rust-version` in Cargo.toml or lock older versions:\n  {}",
            above.join("\n  ")
        ))
    }
}

/// `1.88` or `1.88.0` as `[1, 88, 0]`.
fn parse_version(text: &str) -> Option<[u32; 3]> {
    let mut version = [0; 3];
    for (i, part) in text.trim().split('.').enumerate() {
        *version.get_mut(i)? = part.parse().ok()?;
    }
    Some(version)
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn rust_versions_compare_by_number() {
        assert_eq!(parse_version("1.88"), Some([1, 88, 0]));
        assert_eq!(parse_version("1.88.0"), parse_version("1.88"));
        assert!(parse_version("1.88").unwrap() > parse_version("1.9").unwrap());
        assert_eq!(parse_version("1.x"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
    }
}
