//! `cargo xtask fuzz [--seconds N] [--target NAME]`: runs every target of every cargo-fuzz
//! project (`crates/*/fuzz/`) with libFuzzer for N seconds (default 60), minimises its
//! working corpus with `cargo fuzz cmin`, and prints libFuzzer's figures per target.
//!
//! The stable toolchain has no sanitizers, so `cargo fuzz run` and `cargo fuzz cmin` run with
//! `-s none` (coverage guidance still works) and with
//! `RUSTFLAGS=-Cllvm-args=-max-loads-per-memcmp=0`, so that short comparisons keep their
//! constants visible to libFuzzer. A target reads its committed seeds
//! (`<project>/corpus/<target>/`, never written here) and its working corpus
//! (`target/fuzz/corpus/<target>/`), where libFuzzer writes what it finds; cmin then keeps the
//! inputs that reach every feature found, for the next run to start from. A crash fails the
//! task: cargo-fuzz saves it under `<project>/artifacts/<target>/`, and the target's log says
//! how to reproduce and shrink it. A run of every target writes the table of figures into
//! `docs/reliability.md`, between the `fuzz-table` markers.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::Path;
use std::process::Command;

use crate::util::{cargo, project_root, run as sh, stdout_of, target_dir, write_block};

/// Restores the constants of short comparisons that LLVM would otherwise inline out of
/// libFuzzer's sight.
const RUSTFLAGS: &str = "-Cllvm-args=-max-loads-per-memcmp=0";

pub fn run(args: &[String]) -> Result<(), String> {
    let (seconds, only) = parse_args(args)?;
    if stdout_of(cargo().args(["fuzz", "--version"])).is_err() {
        eprintln!("cargo-fuzz is not installed; installing it (about a minute)");
        sh(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let root = project_root();
    let work = target_dir().join("fuzz");
    let mut table = String::from(
        "| target | crate | seconds | executions | exec/s | coverage (cov) | features (ft) | working corpus after cmin |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let (mut ran, mut failures) = (0, Vec::new());
    // The cargo-fuzz projects: `crates/<crate>/fuzz/`.
    let entries =
        fs::read_dir(root.join("crates")).map_err(|e| format!("cannot list crates/: {e}"))?;
    let mut crates: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("fuzz/Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    for krate in crates {
        let dir = root.join("crates").join(&krate).join("fuzz");
        let targets = stdout_of(cargo().args(["fuzz", "list"]).current_dir(&dir))?;
        for target in targets
            .split_whitespace()
            .filter(|t| only.as_deref().is_none_or(|o| o == *t))
        {
            ran += 1;
            match fuzz_one(&dir, &work, target, seconds) {
                Ok((figures, kept)) => {
                    let [executions, cov, ft, rate] = figures;
                    let _ = writeln!(
                        table,
                        "| `{target}` | {krate} | {seconds} | {executions} | {rate} | {cov} | {ft} | {kept} files |"
                    );
                }
                Err(e) => failures.push(e),
            }
        }
    }
    if ran == 0 {
        return Err(format!(
            "no fuzz target `{}`; `cargo fuzz list` in a fuzz project names them",
            only.unwrap_or_default()
        ));
    }
    println!("\n{table}");
    if only.is_none() && failures.is_empty() {
        let block = format!("Measured by `cargo xtask fuzz --seconds {seconds}`.\n\n{table}");
        let (begin, end) = ("<!-- fuzz-table:start -->", "<!-- fuzz-table:end -->");
        write_block(&root.join("docs/reliability.md"), begin, end, &block)?;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn parse_args(args: &[String]) -> Result<(u64, Option<String>), String> {
    let (mut seconds, mut only) = (60, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--seconds", Some(n)) => {
                seconds = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("--seconds {n}: expected a positive number"))?;
            }
            ("--target", Some(name)) => only = Some(name.clone()),
            _ => {
                return Err(format!(
                    "unexpected `{arg}`; usage: cargo xtask fuzz [--seconds N] [--target NAME]"
                ))
            }
        }
    }
    Ok((seconds, only))
}

/// Runs one target of the project in `dir` for `seconds`, then minimises its working corpus.
/// Returns libFuzzer's final executions, coverage, features and executions per second, and
/// the number of inputs cmin kept.
fn fuzz_one(
    dir: &Path,
    work: &Path,
    target: &str,
    seconds: u64,
) -> Result<([u64; 4], usize), String> {
    let corpus = work.join("corpus").join(target);
    let logs = work.join("logs");
    for d in [&corpus, &logs] {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let cargo_fuzz = |action: &str, log: &Path| -> Result<Command, String> {
        let log_file =
            File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut cmd = cargo();
        cmd.args(["fuzz", action, "-s", "none", target])
            .arg(&corpus);
        cmd.current_dir(dir)
            .env("CARGO_TARGET_DIR", work)
            .env("RUSTFLAGS", RUSTFLAGS);
        cmd.stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file);
        Ok(cmd)
    };
    let log = logs.join(format!("{target}.log"));
    eprintln!(
        "fuzzing `{target}` for {seconds} s (log: {})",
        log.display()
    );
    let status = cargo_fuzz("run", &log)?
        .arg(dir.join("corpus").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-timeout=30", "-print_final_stats=1"])
        .arg(format!("-dict={}", dir.join("adu.dict").display()))
        .status()
        .map_err(|e| format!("could not run cargo fuzz: {e}"))?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    let figures = match text.lines().rev().find_map(parse_done_line) {
        Some(figures) if status.success() => figures,
        _ => return Err(format!(
            "`{target}` failed ({status}); cargo-fuzz says why in {} (a crash: the input, how to reproduce and shrink it)",
            log.display()
        )),
    };
    let cmin_log = logs.join(format!("{target}.cmin.log"));
    let status = cargo_fuzz("cmin", &cmin_log)?
        .status()
        .map_err(|e| format!("could not run cargo fuzz cmin: {e}"))?;
    let kept = fs::read_dir(&corpus).map_or(0, |d| d.count());
    if !status.success() {
        return Err(format!(
            "`{target}`: cargo fuzz cmin failed ({status}); see {}",
            cmin_log.display()
        ));
    }
    Ok((figures, kept))
}

/// Reads libFuzzer's final `#1234 DONE   cov: 56 ft: 78 ... exec/s: 11 rss: 12Mb` line as
/// executions, coverage, features and executions per second.
fn parse_done_line(line: &str) -> Option<[u64; 4]> {
    let mut words = line.trim().strip_prefix('#')?.split_whitespace();
    let executions = words.next()?.parse().ok()?;
    if words.next()? != "DONE" {
        return None;
    }
    let words: Vec<&str> = words.collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1)?.parse().ok())
    };
    Some([executions, after("cov:")?, after("ft:")?, after("exec/s:")?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libfuzzers_final_line() {
        let line =
            "#5412345\tDONE   cov: 812 ft: 2931 corp: 154/9876b lim: 4096 exec/s: 270617 rss: 61Mb";
        assert_eq!(parse_done_line(line), Some([5_412_345, 812, 2931, 270_617]));
        assert_eq!(
            parse_done_line("#65536\tpulse  cov: 812 ft: 2931 corp: 154/9876b"),
            None
        );
        assert_eq!(parse_done_line("Done 5412345 runs in 21 second(s)"), None);
        assert_eq!(parse_done_line("#x DONE cov: 1"), None);
    }

    #[test]
    fn arguments_are_checked() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse_args(&args(&["--seconds", "600", "--target", "x"])),
            Ok((600, Some("x".to_owned())))
        );
        assert_eq!(parse_args(&args(&[])), Ok((60, None)));
        assert!(parse_args(&args(&["--seconds", "0"])).is_err());
        assert!(parse_args(&args(&["--target"])).is_err());
        assert!(parse_args(&args(&["--bogus", "1"])).is_err());
    }
}
