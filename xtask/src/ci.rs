//! `cargo xtask ci`: every check, in order, failing on the first failure.

use std::path::PathBuf;

use crate::util::{cargo, run as sh, stdout_of};

/// The crates `cargo package` verifies against each other.
const PACKAGED: [&str; 4] = ["adu-model", "adu-auth", "adu-transport", "adu-emulator"];

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments, got `{extra}`"));
    }
    // A cargo command, its arguments separated by spaces.
    let cargo_step = |name: &str, args: &str| step(name, || sh(cargo().args(args.split(' '))));
    step("generated code is fresh", || {
        crate::codegen::run(&["--check".to_owned()])
    })?;
    cargo_step("formatting", "fmt --all --check")?;
    cargo_step("clippy", "clippy --workspace --all-targets -- -D warnings")?;
    step("adu-model stays sans-IO", model_is_sans_io)?;
    cargo_step(
        "tests (unit, integration, property, fuzz smoke)",
        "test --workspace --all-targets",
    )?;
    cargo_step(
        "HTTP/2 negotiation (adu-transport's `http2` feature)",
        "test -p adu-transport --features http2 --test http2",
    )?;
    cargo_step("doc tests", "test --workspace --doc")?;
    step("docs build without warnings", || {
        sh(cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"))
    })?;
    step(
        "library crates package and build from their tarballs",
        || {
            forget_stale_package_extractions()?;
            sh(cargo()
                .args(["package", "--locked"])
                .args(PACKAGED.iter().flat_map(|c| ["-p", c])))
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

/// `cargo package` of several workspace crates verifies each tarball against the others
/// through a local registry, extracted under `$CARGO_HOME/registry/src/-<hash>/`. Cargo never
/// extracts a `name-version` there again once it exists, so after a change without a version
/// bump the verification would build against an older copy of a sibling crate. Those
/// extractions of our own crates are removed first; the directories of real registries (not
/// starting with `-`) are left alone.
fn forget_stale_package_extractions() -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(Ok(registries)) = home.map(|h| std::fs::read_dir(h.join("registry/src"))) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for extracted in std::fs::read_dir(registry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if is_our_extraction(&extracted.file_name().to_string_lossy()) {
                std::fs::remove_dir_all(extracted.path())
                    .map_err(|e| format!("cannot remove {}: {e}", extracted.path().display()))?;
            }
        }
    }
    Ok(())
}

/// Whether an extracted directory is `name-version` of one of our packaged crates.
fn is_our_extraction(dir_name: &str) -> bool {
    PACKAGED.iter().any(|c| {
        let version = dir_name
            .strip_prefix(c)
            .and_then(|rest| rest.strip_prefix('-'));
        version.is_some_and(|v| v.starts_with(|ch: char| ch.is_ascii_digit()))
    })
}

/// Architecture invariant: `adu-model`'s normal dependencies contain no runtime, no HTTP
/// stack and no OAuth2 client.
fn model_is_sans_io() -> Result<(), String> {
    let tree = stdout_of(cargo().args([
        "tree",
        "-p",
        "adu-model",
        "-e",
        "normal",
        "--prefix",
        "none",
    ]))?;
    let forbidden = ["tokio", "hyper", "oauth2", "reqwest", "mio", "rustls"];
    let found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| forbidden.iter().any(|f| name.starts_with(f)))
        .collect();
    if !found.is_empty() {
        return Err(format!(
            "adu-model must stay sans-IO, but its normal dependencies include: {}",
            found.join(", ")
        ));
    }
    eprintln!("adu-model's normal dependencies: {}", tree.lines().count());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_our_extraction;

    #[test]
    fn only_our_crates_name_version_directories_are_stale_extractions() {
        for ours in [
            "adu-model-0.1.0",
            "adu-auth-0.1.0",
            "adu-emulator-12.0.0-rc.1",
        ] {
            assert!(is_our_extraction(ours), "{ours}");
        }
        for other in [
            "adu-model",
            "adu-model-fuzz-0.0.0",
            "adu-cli-0.1.0",
            "adu-transportx-0.1.0",
        ] {
            assert!(!is_our_extraction(other), "{other}");
        }
    }
}
