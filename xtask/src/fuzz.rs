//! `cargo xtask fuzz [--seconds N] [--target NAME]`: runs the real
//! coverage-guided fuzzer on adu-model's targets.
//!
//! The stable toolchain has no sanitizer support, so each target runs with
//! `cargo fuzz run -s none` (see `crates/adu-model/fuzz/README.md`), reading
//! the committed seeds in `corpus/<target>/` and writing what it finds to a
//! working corpus under the target directory (`target/fuzz-corpus/<target>/`),
//! which `cargo fuzz cmin` then minimises and later runs start from. The
//! committed corpus is left as it is: libFuzzer's minimisation still keeps
//! hundreds to thousands of files after a minute, far too many to commit; a
//! new input worth keeping is copied there by hand, under a telling name.
//! At the end, one line per target gives libFuzzer's execution count and
//! coverage.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::util::{cargo, project_root, run as sh};

/// Restores the constants of short comparisons that LLVM would otherwise
/// inline out of libFuzzer's sight (see the toolchain notes).
const RUSTFLAGS: &str = "-Cllvm-args=-max-loads-per-memcmp=0";

/// libFuzzer's figures from a run's final `#N DONE cov: X ft: Y ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Figures {
    executions: u64,
    coverage: u64,
    features: u64,
    exec_per_second: Option<u64>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 60;
    let mut only: Option<String> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("`--seconds` needs a number")?;
                seconds =
                    value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("`--seconds {value}`: expected a positive number")
                    })?;
            }
            "--target" => {
                only = Some(args.next().ok_or("`--target` needs a name")?.clone());
            }
            other => return Err(unknown_argument(other)),
        }
    }

    let fuzz_dir = project_root().join("crates/adu-model/fuzz");
    ensure_cargo_fuzz()?;
    let all = list_targets(&fuzz_dir)?;
    let targets: Vec<String> = match only {
        Some(name) if all.contains(&name) => vec![name],
        Some(name) => {
            return Err(format!(
                "no fuzz target `{name}`; the targets are: {}",
                all.join(", ")
            ))
        }
        None => all,
    };

    let mut results = Vec::new();
    for target in &targets {
        let work = working_corpus(target)?;
        let figures = fuzz_target(&fuzz_dir, target, &work, seconds)?;
        minimise_corpus(&fuzz_dir, target, &work)?;
        results.push((target.clone(), figures));
    }

    println!("fuzzing finished ({seconds} s per target):");
    for (target, figures) in &results {
        let rate = figures
            .exec_per_second
            .map(|r| format!(", {r} exec/s"))
            .unwrap_or_default();
        println!(
            "  {target}: {} executions, coverage {} (features {}){rate}",
            figures.executions, figures.coverage, figures.features
        );
    }
    Ok(())
}

fn unknown_argument(arg: &str) -> String {
    format!("unknown argument `{arg}`; usage: cargo xtask fuzz [--seconds N] [--target NAME]")
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(());
    }
    eprintln!("cargo-fuzz is not installed; installing it (about a minute)");
    sh(cargo().args(["install", "cargo-fuzz", "--locked"]))
}

fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let output = cargo()
        .args(["fuzz", "list"])
        .current_dir(fuzz_dir)
        .output()
        .map_err(|e| format!("could not run `cargo fuzz list`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo fuzz list` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let targets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        return Err("`cargo fuzz list` found no targets".to_owned());
    }
    Ok(targets)
}

/// Runs one target for `seconds`, echoing libFuzzer's output, and returns
/// the figures of its final line.
fn fuzz_target(
    fuzz_dir: &Path,
    target: &str,
    work: &Path,
    seconds: u64,
) -> Result<Figures, String> {
    let corpus = format!("corpus/{target}");
    let mut cmd = cargo();
    // libFuzzer writes new inputs to the first corpus directory only.
    cmd.args(["fuzz", "run", "-s", "none", target])
        .arg(work)
        .args([corpus.as_str(), "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg("-dict=adu.dict")
        .arg("-print_final_stats=1")
        .current_dir(fuzz_dir)
        .env("RUSTFLAGS", RUSTFLAGS)
        .stderr(Stdio::piped());
    eprintln!(
        "$ (in crates/adu-model/fuzz) RUSTFLAGS={RUSTFLAGS} cargo fuzz run -s none {target} {} {corpus} -- -max_total_time={seconds} -dict=adu.dict -print_final_stats=1",
        work.display()
    );
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start `cargo fuzz run`: {e}"))?;
    let mut last_done = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line.map_err(|e| format!("reading the fuzzer's output: {e}"))?;
            eprintln!("{line}");
            if let Some(figures) = parse_done_line(&line) {
                last_done = Some(figures);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `cargo fuzz run`: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`cargo fuzz run {target}` failed with {status}; a crashing input is saved under crates/adu-model/fuzz/artifacts/{target}/ (reproduce with `cargo fuzz run -s none {target} <file>`, shrink with `cargo fuzz tmin -s none {target} <file>`)"
        ));
    }
    last_done.ok_or_else(|| format!("`cargo fuzz run {target}` printed no final `DONE` line"))
}

fn minimise_corpus(fuzz_dir: &Path, target: &str, work: &Path) -> Result<(), String> {
    sh(cargo()
        .args(["fuzz", "cmin", "-s", "none", target])
        .arg(work)
        .current_dir(fuzz_dir)
        .env("RUSTFLAGS", RUSTFLAGS))
}

/// `<target dir>/fuzz-corpus/<target>/`, created if missing.
fn working_corpus(target: &str) -> Result<PathBuf, String> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"));
    let target_dir = if target_dir.is_absolute() {
        target_dir
    } else {
        project_root().join(target_dir)
    };
    let dir = target_dir.join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Parses libFuzzer's `#1234 DONE   cov: 56 ft: 78 corp: 9/10b ... exec/s: 11 rss: 12Mb`.
fn parse_done_line(line: &str) -> Option<Figures> {
    let rest = line.trim().strip_prefix('#')?;
    let mut words = rest.split_whitespace();
    let executions = words.next()?.parse().ok()?;
    if words.next()? != "DONE" {
        return None;
    }
    let words: Vec<&str> = words.collect();
    let after = |key: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1)?.parse().ok()
    };
    Some(Figures {
        executions,
        coverage: after("cov:")?,
        features: after("ft:").unwrap_or(0),
        exec_per_second: after("exec/s:"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libfuzzers_final_line() {
        let line =
            "#5412345\tDONE   cov: 812 ft: 2931 corp: 154/9876b lim: 4096 exec/s: 270617 rss: 61Mb";
        assert_eq!(
            parse_done_line(line),
            Some(Figures {
                executions: 5_412_345,
                coverage: 812,
                features: 2931,
                exec_per_second: Some(270_617),
            })
        );
        assert_eq!(
            parse_done_line("#65536\tpulse  cov: 812 ft: 2931 corp: 154/9876b"),
            None
        );
        assert_eq!(parse_done_line("Done 5412345 runs in 21 second(s)"), None);
        assert_eq!(parse_done_line("#x DONE cov: 1"), None);
    }
}
