//! `cargo xtask ci`: every check, in order, failing on the first failure.

use crate::util::{cargo, run as sh, stdout_of};

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
            forget_stale_package_extractions()?;
            let mut package = cargo();
            package.args(["package", "--locked"]);
            for name in PACKAGED {
                package.args(["-p", name]);
            }
            sh(&mut package)
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

/// The crates `cargo package` verifies against each other.
const PACKAGED: [&str; 4] = ["adu-model", "adu-auth", "adu-transport", "adu-emulator"];

/// `cargo package` of several workspace crates verifies each tarball against the others
/// through a local registry, extracted under `$CARGO_HOME/registry/src/-<hash>/`. Cargo
/// never extracts a `name-version` there again once it exists, so after a change without a
/// version bump the verification would build against an older copy of a sibling crate and
/// fail (or pass) for the wrong reason. Those extractions of our own crates are removed
/// first; crates from real registries (directories not starting with `-`) are left alone.
fn forget_stale_package_extractions() -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for extracted in crates.flatten() {
            let name = extracted.file_name().to_string_lossy().into_owned();
            if is_our_extraction(&name) {
                std::fs::remove_dir_all(extracted.path()).map_err(|e| {
                    format!(
                        "cannot remove the stale extraction {}: {e}",
                        extracted.path().display()
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// Whether an extracted directory is `name-version` of one of our packaged crates.
fn is_our_extraction(dir_name: &str) -> bool {
    PACKAGED.iter().any(|c| {
        dir_name
            .strip_prefix(c)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|version| version.starts_with(|ch: char| ch.is_ascii_digit()))
    })
}

fn step(name: &str, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    eprintln!("\n==> xtask ci: {name}");
    f().map_err(|e| format!("step `{name}` failed: {e}"))
}

/// Architecture invariant: `adu-model`'s normal dependencies contain no
/// runtime, no HTTP stack and no OAuth2 client.
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
            "serde-1.0.229",
            "adu-transportx-0.1.0",
        ] {
            assert!(!is_our_extraction(other), "{other}");
        }
    }
}
