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

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::util::{cargo, project_root, run as sh};

const MAX_GROWTH_PCT: f64 = 5.0;
const BEGIN: &str = "<!-- soak:begin (written by `cargo xtask soak`) -->";
const END: &str = "<!-- soak:end -->";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut requests: u64 = 100_000;
    let mut concurrency: u64 = 16;
    let mut write_docs = true;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--requests" => {
                requests = it
                    .next()
                    .ok_or("--requests needs a value")?
                    .replace('_', "")
                    .parse()
                    .map_err(|e| format!("--requests: {e}"))?
            }
            "--concurrency" => {
                concurrency = it
                    .next()
                    .ok_or("--concurrency needs a value")?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--no-docs" => write_docs = false,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (expected --requests N, --concurrency C, --no-docs)"
                ))
            }
        }
    }

    sh(cargo().args([
        "build",
        "--release",
        "-p",
        "adu-emulator",
        "--bin",
        "adu-emulator",
        "-p",
        "adu-transport",
        "--example",
        "soak",
    ]))?;
    let release = target_dir().join("release");
    let work = target_dir().join("soak");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let scenario = work.join("scenario.json");
    std::fs::write(
        &scenario,
        r#"{"operations": [{"id": "soak-op", "timings": {"notStartedMs": 0, "runningMs": 0}}]}"#,
    )
    .map_err(|e| format!("cannot write {}: {e}", scenario.display()))?;

    let mut emulator = Emulator::start(&release.join("adu-emulator"), &scenario)?;
    let emulator_rss_before = rss_of(emulator.child.id());
    eprintln!(
        "$ soak --endpoint {} --requests {requests} --concurrency {concurrency}",
        emulator.url
    );
    let output = Command::new(release.join("examples").join("soak"))
        .args(["--endpoint", &emulator.url, "--operation", "soak-op"])
        .args(["--requests", &requests.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start the soak example: {e}"))?;
    let emulator_rss_after = rss_of(emulator.child.id());
    emulator.stop();

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
        .ok_or("the soak example printed no result")
        .and_then(|json| serde_json::from_str(json).map_err(|_| "unreadable soak result"))?;

    let num = |key: &str| result.get(key).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let errors = num("errors") + num("unexpected");
    let growth = num("growth_pct");
    let passed = errors == 0.0 && growth < MAX_GROWTH_PCT;
    if write_docs {
        let section = render(&result, emulator_rss_before, emulator_rss_after, passed);
        write_section(&section)?;
        eprintln!("xtask soak: figures written to docs/reliability.md");
    }
    if errors != 0.0 {
        return Err(format!(
            "{errors} requests failed against a fault-free emulator"
        ));
    }
    if growth.is_nan() || growth >= MAX_GROWTH_PCT {
        return Err(format!(
            "resident memory grew {growth:.2}% after warm-up (limit {MAX_GROWTH_PCT}%)"
        ));
    }
    eprintln!("xtask soak: passed ({growth:+.2}% RSS after warm-up, no errors)");
    Ok(())
}

fn target_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"));
    if target.is_absolute() {
        target
    } else {
        project_root().join(target)
    }
}

/// The emulator process; killed (it is ours) when stopped or dropped.
struct Emulator {
    child: Child,
    url: String,
}

impl Emulator {
    fn start(binary: &std::path::Path, scenario: &std::path::Path) -> Result<Self, String> {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--scenario"])
            .arg(scenario)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout from the emulator")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.next().and_then(Result::ok).unwrap_or_default();
        let Some(url) = ready.strip_prefix("adu-emulator listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the emulator did not start: {ready:?}"));
        };
        let url = url.trim().to_owned();
        // Keep draining its stdout so that it never writes into a closed pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Ok(Emulator { child, url })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn rss_of(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn render(
    result: &serde_json::Value,
    emu_before: Option<u64>,
    emu_after: Option<u64>,
    passed: bool,
) -> String {
    let int = |key: &str| result.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    let float = |key: &str| result.get(key).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let kib = |v: Option<u64>| {
        v.map(|v| format!("{v} KiB"))
            .unwrap_or_else(|| "n/a".to_owned())
    };
    let mut out = String::new();
    out.push_str(&format!(
        "Last run: `cargo xtask soak --requests {}` (concurrency {}), release build, emulator in a separate process, on this project's 2-core machine.\n\n",
        int("requests"),
        int("concurrency")
    ));
    out.push_str("| figure | value |\n| --- | --- |\n");
    out.push_str(&format!("| requests | {} |\n", int("requests")));
    out.push_str(&format!(
        "| answered Succeeded / errors / unexpected | {} / {} / {} |\n",
        int("ok"),
        int("errors"),
        int("unexpected")
    ));
    out.push_str(&format!(
        "| wall time | {:.1} s ({:.0} requests/s) |\n",
        float("elapsed_secs"),
        float("requests_per_sec")
    ));
    out.push_str(&format!(
        "| client RSS after warm-up (first {} requests) | {} KiB |\n",
        int("warm_up_requests"),
        int("baseline_kib")
    ));
    out.push_str(&format!(
        "| client RSS at the end | {} KiB ({:+.2}%, limit +{MAX_GROWTH_PCT}%) |\n",
        int("final_kib"),
        float("growth_pct")
    ));
    out.push_str(&format!(
        "| client RSS peak after warm-up | {} KiB ({:+.2}%) |\n",
        int("peak_kib"),
        float("peak_growth_pct")
    ));
    out.push_str(&format!(
        "| emulator RSS before / after | {} / {} |\n",
        kib(emu_before),
        kib(emu_after)
    ));
    out.push_str(&format!(
        "| verdict | {} |\n\n",
        if passed { "passed" } else { "FAILED" }
    ));
    out.push_str("RSS curve (client process, sampled every N/50 requests):\n\n");
    out.push_str("| requests done | VmRSS (KiB) |\n| ---: | ---: |\n");
    if let Some(samples) = result.get("samples").and_then(|v| v.as_array()) {
        for sample in samples {
            let done = sample.get(0).and_then(|v| v.as_u64()).unwrap_or(0);
            let rss = sample.get(1).and_then(|v| v.as_u64()).unwrap_or(0);
            out.push_str(&format!("| {done} | {rss} |\n"));
        }
    }
    out
}

/// Replaces the text between the soak markers in `docs/reliability.md` (appending the markers
/// if they are missing).
fn write_section(section: &str) -> Result<(), String> {
    let path = project_root().join("docs").join("reliability.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let block = format!("{BEGIN}\n{section}{END}");
    let updated = match (text.find(BEGIN), text.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{block}{}", &text[..start], &text[end + END.len()..])
        }
        _ => format!("{text}\n## Soak\n\n{block}\n"),
    };
    std::fs::write(&path, updated).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
