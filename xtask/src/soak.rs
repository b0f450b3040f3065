//! `cargo xtask soak [--requests N] [--concurrency C] [--no-docs]`: a long run of status
//! requests through one client, with its memory sampled.
//!
//! Builds (release) the `adu-emulator` binary and the `soak` example of `adu-transport`,
//! starts the emulator as a separate process (so the client's resident memory is measured
//! alone) with one finished operation, and runs the example against it. The example sends N
//! requests (default 100,000) with C in flight (default 16) and samples its VmRSS every N/50
//! requests. The run fails on any error, or when the RSS at the end has grown by 5% or more
//! over the RSS after the warm-up (the first 10% of the requests). The figures and the RSS
//! curve go into `docs/reliability.md`, between the `soak` markers.

use std::fmt::Write as _;
use std::process::{Command, Stdio};

use crate::util::{cargo, project_root, run as sh, target_dir, Server};

const MAX_GROWTH_PCT: f64 = 5.0;

pub fn run(args: &[String]) -> Result<(), String> {
    let (mut requests, mut concurrency, mut write_docs) = (100_000_u64, 16_u64, true);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut number = || -> Result<u64, String> {
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            value
                .replace('_', "")
                .parse()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--requests" => requests = number()?,
            "--concurrency" => concurrency = number()?,
            "--no-docs" => write_docs = false,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (expected --requests N, --concurrency C, --no-docs)"
                ))
            }
        }
    }

    let build =
        "build --release -p adu-emulator --bin adu-emulator -p adu-transport --example soak";
    sh(cargo().args(build.split(' ')))?;
    let release = target_dir().join("release");
    let work = target_dir().join("soak");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let scenario = work.join("scenario.json");
    std::fs::write(
        &scenario,
        r#"{"operations": [{"id": "soak-op", "timings": {"notStartedMs": 0, "runningMs": 0}}]}"#,
    )
    .map_err(|e| format!("cannot write {}: {e}", scenario.display()))?;

    let emulator = Server::start(
        Command::new(release.join("adu-emulator"))
            .args(["--port", "0", "--scenario"])
            .arg(&scenario),
        "adu-emulator listening on ",
    )?;
    let emulator_rss_before = rss_of(emulator.child.id());
    let output = Command::new(release.join("examples").join("soak"))
        .args(["--endpoint", &emulator.url, "--operation", "soak-op"])
        .args(["--requests", &requests.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start the soak example: {e}"))?;
    let emulator_rss_after = rss_of(emulator.child.id());
    drop(emulator);

    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines().filter(|l| !l.starts_with("SOAK-RESULT ")) {
        println!("{line}");
    }
    if !output.status.success() {
        return Err(format!("the soak example failed with {}", output.status));
    }
    let result: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SOAK-RESULT "))
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or("the soak example printed no readable result")?;

    let num = |key: &str| result[key].as_f64().unwrap_or(f64::NAN);
    let errors = num("errors") + num("unexpected");
    let growth = num("growth_pct");
    let passed = errors == 0.0 && growth < MAX_GROWTH_PCT;
    if write_docs {
        let section = render(&result, [emulator_rss_before, emulator_rss_after], passed);
        crate::util::write_block(
            &project_root().join("docs/reliability.md"),
            "<!-- soak:begin (written by `cargo xtask soak`) -->",
            "<!-- soak:end -->",
            &section,
        )?;
        eprintln!("xtask soak: figures written to docs/reliability.md");
    }
    if errors != 0.0 {
        return Err(format!(
            "{errors} requests failed against a fault-free emulator"
        ));
    }
    if !passed {
        return Err(format!(
            "resident memory grew {growth:.2}% after warm-up (limit {MAX_GROWTH_PCT}%)"
        ));
    }
    eprintln!("xtask soak: passed ({growth:+.2}% RSS after warm-up, no errors)");
    Ok(())
}

/// A process's VmRSS in KiB, from `/proc/<pid>/status`.
fn rss_of(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn render(result: &serde_json::Value, emulator: [Option<u64>; 2], passed: bool) -> String {
    // Whole numbers print without a fraction.
    let f = |key: &str| result[key].as_f64().unwrap_or(f64::NAN);
    let kib = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v} KiB"));
    let mut out = format!(
        "Last run: `cargo xtask soak --requests {requests}` (concurrency {concurrency}), release \
         build, emulator in a separate process, on this project's 2-core machine.\n\n\
         | figure | value |\n| --- | --- |\n\
         | requests | {requests} |\n\
         | answered Succeeded / errors / unexpected | {ok} / {errors} / {unexpected} |\n\
         | wall time | {elapsed:.1} s ({rate:.0} requests/s) |\n\
         | client RSS after warm-up (first {warm_up} requests) | {baseline} KiB |\n\
         | client RSS at the end | {last} KiB ({growth:+.2}%, limit +{MAX_GROWTH_PCT}%) |\n\
         | client RSS peak after warm-up | {peak} KiB ({peak_growth:+.2}%) |\n\
         | emulator RSS before / after | {emulator_before} / {emulator_after} |\n\
         | verdict | {verdict} |\n\n\
         RSS curve (client process, sampled every N/50 requests):\n\n\
         | requests done | VmRSS (KiB) |\n| ---: | ---: |\n",
        requests = f("requests"),
        concurrency = f("concurrency"),
        ok = f("ok"),
        errors = f("errors"),
        unexpected = f("unexpected"),
        elapsed = f("elapsed_secs"),
        rate = f("requests_per_sec"),
        warm_up = f("warm_up_requests"),
        baseline = f("baseline_kib"),
        last = f("final_kib"),
        growth = f("growth_pct"),
        peak = f("peak_kib"),
        peak_growth = f("peak_growth_pct"),
        emulator_before = kib(emulator[0]),
        emulator_after = kib(emulator[1]),
        verdict = if passed { "passed" } else { "FAILED" },
    );
    for sample in result["samples"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "| {} | {} |", sample[0], sample[1]);
    }
    out
}
