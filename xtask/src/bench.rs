//! `cargo xtask bench [--quick]`: measures the client against baselines run on the same
//! machine in the same run, and prints a report that opens with the Targets table (also
//! written to `target/bench/report.md`). What each figure means, and the latest figures, are
//! in `docs/benchmarks.md`.
//!
//! Processes (`adu-bench` and `adu`, built in release; see `crates/adu-bench`):
//! - `adu-bench serve`: the emulator over https, with a stdin channel for seeding the
//!   scale operations, reading its counters and issuing a token;
//! - `adu-bench load`: A (the client) and B (a bare hyper-util client), one burst per
//!   command, A and B taking turns, and the decode comparison;
//! - `xtask/interop/python-sdk/bench_peer.py`: C, Microsoft's Python client, when its
//!   virtual environment can be set up (optional: "not measured" otherwise);
//! - `adu-bench scale`: a fresh process waiting for many operations at once;
//! - `adu operation show` and `curl`, run in turns as whole processes.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{cargo, ensure_python_venv, project_root, run as run_cmd};

/// How much of everything one run does.
struct Settings {
    quick: bool,
    /// Rounds of bursts; each round runs A, B (and C) at concurrency 1 and 64.
    rounds: usize,
    burst_ms: u64,
    decode_ms: u64,
    /// Operations waited for at once.
    waits: u64,
    /// Pairs of `adu operation show` and `curl` runs.
    cli_pairs: usize,
    /// Operations listed, in pages of [`LIST_PAGE_SIZE`].
    list_ops: u32,
    /// Rounds of listings; each round lists them all by A and by B.
    list_rounds: usize,
}

const FULL: Settings = Settings {
    quick: false,
    rounds: 5,
    burst_ms: 2000,
    decode_ms: 3000,
    waits: 10_000,
    cli_pairs: 30,
    list_ops: 10_000,
    list_rounds: 11,
};

const QUICK: Settings = Settings {
    quick: true,
    rounds: 1,
    burst_ms: 300,
    decode_ms: 300,
    waits: 1_000,
    cli_pairs: 5,
    list_ops: 1_000,
    list_rounds: 3,
};

/// The scale operations run this long and answer `Retry-After: 1` until then, so a wait
/// that starts at once polls exactly three times.
const SCALE_RUNNING_MS: u64 = 2000;
const SCALE_MIN_POLLS: f64 = 3.0;
/// `HyperTransport`'s default cap on requests in flight.
const IN_FLIGHT_CAP: f64 = 64.0;
/// The list emulator's page size.
const LIST_PAGE_SIZE: u32 = 100;
/// How far apart the peak RSS of listing all the operations and of listing a tenth of them
/// may be.
const LIST_RSS_SLACK_MIB: f64 = 4.0;

/// Runs the benchmarks and prints the report.
pub fn run(args: &[String]) -> Result<(), String> {
    let s = match args {
        [] => FULL,
        [quick] if quick == "--quick" => QUICK,
        _ => return Err(format!("unknown arguments {args:?} (only --quick)")),
    };
    run_cmd(cargo().args(["build", "--release", "-p", "adu-bench", "-p", "adu-cli"]))?;
    let release = target_dir().join("release");
    let bench = release.join("adu-bench");
    let work = target_dir().join("bench");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let cert = work.join("emulator-cert.pem");

    let mut serve = Peer::spawn(
        "the emulator",
        Command::new(&bench)
            .arg("serve")
            .arg("--tls-cert")
            .arg(&cert),
    )?;
    let ready = serve.line(Duration::from_secs(60))?;
    let base_url = ready
        .strip_prefix("adu-bench serve listening on ")
        .ok_or_else(|| format!("unexpected first line {ready:?}"))?
        .to_owned();
    let with_endpoint = |cmd: &mut Command| {
        cmd.args(["--endpoint", &base_url, "--cert"]).arg(&cert);
    };

    let mut load_cmd = Command::new(&bench);
    load_cmd.arg("load");
    with_endpoint(&mut load_cmd);
    let mut load = Peer::spawn("adu-bench load", &mut load_cmd)?;
    load.expect_ready(Duration::from_secs(60))?;
    let mut python = python_peer(&base_url, &cert);
    if let Err(why) = &python {
        eprintln!("C is not measured: {why}");
    }

    let mut bursts = Vec::new();
    let timeout = Duration::from_millis(s.burst_ms * 2 + 30_000);
    for round in 0..s.rounds {
        for concurrency in [1, 64] {
            let ab = if round % 2 == 0 {
                ["a", "b"]
            } else {
                ["b", "a"]
            };
            for variant in ab {
                let command = format!("run {variant} {concurrency} {}", s.burst_ms);
                bursts.push(checked_burst(load.ask(&command, timeout)?)?);
            }
            if let Ok(peer) = &mut python {
                let command = format!("run {concurrency} {}", s.burst_ms);
                match peer.ask(&command, timeout).and_then(checked_burst) {
                    Ok(burst) => bursts.push(burst),
                    Err(why) => python = Err(why),
                }
            }
        }
        eprintln!("round {} of {} done", round + 1, s.rounds);
    }
    let decode = load.ask(
        &format!("decode {}", s.decode_ms),
        Duration::from_millis(s.decode_ms + 30_000),
    )?;
    drop(load);
    // Taking the reason out drops the Python peer, if it is still running.
    let python_note = python.err();

    // The waits: a fresh process, the emulator's counters read before and after.
    let prefix = "scale-";
    let before = serve.ask(&format!("stats {prefix}"), Duration::from_secs(30))?;
    let mut scale_cmd = Command::new(&bench);
    scale_cmd.args(["scale", "--count", &s.waits.to_string(), "--prefix", prefix]);
    with_endpoint(&mut scale_cmd);
    let mut scale = Peer::spawn("adu-bench scale", &mut scale_cmd)?;
    scale.expect_ready(Duration::from_secs(60))?;
    let add = format!("add-scale {} {SCALE_RUNNING_MS} {prefix}", s.waits);
    serve.ask(&add, Duration::from_secs(60))?;
    let waits = scale.ask("go", Duration::from_secs(300))?;
    let after = serve.ask(&format!("stats {prefix}"), Duration::from_secs(30))?;
    let delta = |key: &str| num(&after[key]) - num(&before[key]);
    let scale = Scale {
        waits,
        token_requests: delta("token_requests"),
        connections: delta("connections"),
        ops_polled: num(&after["ops_polled"]),
        polls_min: num(&after["polls_min"]),
        polls_max: num(&after["polls_max"]),
    };

    let token = serve.ask("token", Duration::from_secs(30))?;
    let token = token["token"]
        .as_str()
        .ok_or("no token from the emulator")?;
    let cli = cli_beside_curl(&release.join("adu"), &base_url, &cert, token, s.cli_pairs)?;
    drop(serve);
    let list = list_bench(&bench, &work, &s)?;

    let report = render(
        &s,
        &bursts,
        &decode,
        &scale,
        cli,
        &list,
        python_note.as_deref(),
    );
    let path = work.join("report.md");
    std::fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{report}");
    eprintln!("written to {}", path.display());
    Ok(())
}

/// The list benchmark's answers: each listing's, with the requests the emulator counted
/// for it, and the peak RSS of a fresh process listing a tenth and all of the operations.
struct Lists {
    runs: Vec<Value>,
    probes: [Value; 2],
}

/// What the list benchmark's answers come to; NaN where there is no figure (a listing
/// with a problem has no throughput, and a probe with one no meaningful peak).
struct ListFigures {
    /// Medians of A's and of B's operations per second.
    a_rate: f64,
    b_rate: f64,
    /// The median of the rounds' ratios of A's operations per second to B's.
    ratio: f64,
    /// The fewest operations a listing by A yielded.
    a_items: f64,
    /// The most requests a listing by A, and by B, made.
    a_requests: f64,
    b_requests: f64,
    /// Every listing by A's requests, as the emulator counted them.
    a_requests_all: Vec<f64>,
    /// Peak RSS (MiB) of the fresh processes listing a tenth and all.
    rss_mib: [f64; 2],
    /// The first problem a listing or probe reported.
    problem: Option<String>,
}

impl Lists {
    fn figures(&self) -> ListFigures {
        let runs =
            |variant: &'static str| self.runs.iter().filter(move |r| r["variant"] == variant);
        let ok = |r: &Value, figure: f64| {
            if r["problem"].is_null() {
                figure
            } else {
                f64::NAN
            }
        };
        let rates = |v| {
            runs(v)
                .map(|r| ok(r, num(&r["items"]) / num(&r["secs"])))
                .collect()
        };
        let (a_rates, b_rates): (Vec<f64>, Vec<f64>) = (rates("a"), rates("b"));
        let most = |v| {
            runs(v)
                .map(|r| num(&r["requests"]))
                .fold(f64::NAN, f64::max)
        };
        let mib = |r: &Value| ok(r, num(&r["peak_rss_kib"]) / 1024.0);
        let ratios: Vec<f64> = a_rates.iter().zip(&b_rates).map(|(a, b)| a / b).collect();
        ListFigures {
            // A round without a figure leaves the whole comparison without one.
            ratio: match ratios.iter().any(|r| r.is_nan()) {
                true => f64::NAN,
                false => median(ratios),
            },
            a_rate: median(a_rates),
            b_rate: median(b_rates),
            a_items: runs("a").map(|r| num(&r["items"])).fold(f64::NAN, f64::min),
            a_requests: most("a"),
            b_requests: most("b"),
            a_requests_all: runs("a").map(|r| num(&r["requests"])).collect(),
            rss_mib: [mib(&self.probes[0]), mib(&self.probes[1])],
            problem: (self.runs.iter().chain(&self.probes))
                .find_map(|r| r["problem"].as_str().map(str::to_owned)),
        }
    }
}

/// The Targets rows of listing `n` operations.
fn list_targets(f: &ListFigures, n: u32) -> Vec<Target> {
    let pages = f64::from(n.div_ceil(LIST_PAGE_SIZE));
    let all_pages = !f.a_requests_all.is_empty() && f.a_requests_all.iter().all(|&r| r == pages);
    vec![
        Target::new(
            format!("list of {n}: A yields each once, in order (fewest of a listing shown)"),
            Some(f.a_items),
            0,
            |v| v == f64::from(n) && f.problem.is_none(),
        ),
        Target::new(
            format!("list of {n}: one request per page, {pages} (most of a listing by A shown)"),
            Some(f.a_requests),
            0,
            |_| all_pages,
        ),
        Target::new(
            format!("list of {n}: operations/s of A ≥ 0.8 × B (median of the rounds' ratios)"),
            Some(f.ratio),
            2,
            |v| v >= 0.8,
        ),
        Target::new(
            format!(
                "list: peak RSS listing {n} ≤ listing {} + {LIST_RSS_SLACK_MIB} MiB (MiB apart)",
                n / 10
            ),
            Some(f.rss_mib[1] - f.rss_mib[0]),
            1,
            |v| v <= LIST_RSS_SLACK_MIB,
        ),
    ]
}

/// Lists `s.list_ops` operations from an emulator of their own (page size
/// [`LIST_PAGE_SIZE`]): first in two fresh processes, a tenth and all, for their peak RSS;
/// then by A and B in turns (who goes first alternates), the emulator's count of list
/// requests read around each listing.
fn list_bench(bench: &Path, work: &Path, s: &Settings) -> Result<Lists, String> {
    let cert = work.join("list-emulator-cert.pem");
    let mut serve = Peer::spawn(
        "the list emulator",
        Command::new(bench)
            .args(["serve", "--without-load-operation", "--page-size"])
            .arg(LIST_PAGE_SIZE.to_string())
            .arg("--tls-cert")
            .arg(&cert),
    )?;
    let ready = serve.line(Duration::from_secs(60))?;
    let base_url = ready
        .strip_prefix("adu-bench serve listening on ")
        .ok_or_else(|| format!("unexpected first line {ready:?}"))?
        .to_owned();
    let seed = format!("seed-list {}", s.list_ops);
    serve.ask(&seed, Duration::from_secs(60))?;
    let timeout = Duration::from_secs(120);
    let lister = || {
        let mut cmd = Command::new(bench);
        cmd.args(["list", "--endpoint", &base_url, "--cert"])
            .arg(&cert);
        let peer = Peer::spawn("adu-bench list", &mut cmd)?;
        peer.expect_ready(Duration::from_secs(60))?;
        Ok::<_, String>(peer)
    };
    let probe = |top: u32| lister()?.ask(&format!("run a {top}"), timeout);
    let probes = [probe(s.list_ops / 10)?, probe(s.list_ops)?];
    let mut list = lister()?;
    let mut runs = Vec::new();
    for round in 0..s.list_rounds {
        let ab = if round % 2 == 0 {
            ["a", "b"]
        } else {
            ["b", "a"]
        };
        for variant in ab {
            let before = serve.ask("stats -", timeout)?;
            let mut run = list.ask(&format!("run {variant} {}", s.list_ops), timeout)?;
            let after = serve.ask("stats -", timeout)?;
            run["requests"] = (num(&after["list_requests"]) - num(&before["list_requests"])).into();
            runs.push(run);
        }
    }
    Ok(Lists { runs, probes })
}

/// A burst's answer, refused if any request in it failed.
fn checked_burst(burst: Value) -> Result<Value, String> {
    match burst["errors"].as_u64() {
        Some(0) => Ok(burst),
        _ => Err(format!("a burst had errors: {burst}")),
    }
}

/// C: Microsoft's Python client, ready to take bursts; `Err` says why it is not measured.
fn python_peer(base_url: &str, cert: &Path) -> Result<Peer, String> {
    let sdk = project_root().join("xtask/interop/python-sdk");
    let python = ensure_python_venv("python-sdk-venv", &sdk.join("requirements.txt"))?;
    let mut cmd = Command::new(python);
    cmd.arg(sdk.join("bench_peer.py"))
        .args(["--endpoint", base_url.trim_start_matches("https://")])
        .args(["--operation", "bench-op", "--cert"])
        .arg(cert);
    let peer = Peer::spawn("the Python peer", &mut cmd)?;
    peer.expect_ready(Duration::from_secs(120))?;
    Ok(peer)
}

/// Wall milliseconds of `adu operation show` and of `curl` fetching the same URL, each a
/// whole process with a clean environment, run in turns (who goes first alternates), after
/// one unrecorded pair.
fn cli_beside_curl(
    adu: &Path,
    base_url: &str,
    cert: &Path,
    token: &str,
    pairs: usize,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let url =
        format!("{base_url}/deviceUpdate/blue/updates/operations/bench-op?api-version=2022-10-01");
    let mut show = Command::new(adu);
    show.env_clear()
        .env("ADU_ACCESS_TOKEN", token)
        .args([
            "operation",
            "show",
            "bench-op",
            "--instance",
            "blue",
            "--endpoint",
            base_url,
        ])
        .arg("--ca-file")
        .arg(cert);
    let mut curl = Command::new("curl");
    curl.env_clear()
        .args([
            "--silent",
            "--show-error",
            "--fail",
            "--output",
            "/dev/null",
            "--cacert",
        ])
        .arg(cert)
        .args(["--header", &format!("Authorization: Bearer {token}"), &url]);
    let (mut adu_ms, mut curl_ms) = (Vec::new(), Vec::new());
    for pair in 0..=pairs {
        let (a, c) = if pair % 2 == 0 {
            let a = timed(&mut show)?;
            (a, timed(&mut curl)?)
        } else {
            let c = timed(&mut curl)?;
            (timed(&mut show)?, c)
        };
        if pair > 0 {
            adu_ms.push(a);
            curl_ms.push(c);
        }
    }
    Ok((adu_ms, curl_ms))
}

/// Runs `cmd` to the end; its wall time in milliseconds, or why it failed.
fn timed(cmd: &mut Command) -> Result<f64, String> {
    let start = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{:?} failed with {}: {stderr}",
            cmd.get_program(),
            out.status
        ));
    }
    Ok(ms)
}

/// The waits' figures: the scale process's answer and the emulator's counters.
struct Scale {
    waits: Value,
    token_requests: f64,
    connections: f64,
    ops_polled: f64,
    polls_min: f64,
    polls_max: f64,
}

/// One row of the Targets table.
struct Target {
    name: String,
    figure: String,
    /// `None` when the run has no figure for it.
    met: Option<bool>,
}

impl Target {
    /// A target on `value`; not measured when `value` is `None` or not a number.
    fn new(
        name: impl Into<String>,
        value: Option<f64>,
        digits: usize,
        ok: impl Fn(f64) -> bool,
    ) -> Self {
        let value = value.filter(|v| v.is_finite());
        Target {
            name: name.into(),
            figure: value.map_or("n/a".to_owned(), |v| format!("{v:.digits$}")),
            met: value.map(ok),
        }
    }
}

/// The Targets table, and a line counting what was met, missed and not measured.
fn targets_table(targets: &[Target]) -> String {
    let mut w = String::from("| target | this run | met? |\n| --- | ---: | --- |\n");
    for t in targets {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(w, "| {} | {} | {met} |", t.name, t.figure);
    }
    let count = |m: Option<bool>| targets.iter().filter(|t| t.met == m).count();
    let _ = writeln!(
        w,
        "\n{} met, {} missed, {} not measured.",
        count(Some(true)),
        count(Some(false)),
        count(None)
    );
    w
}

fn render(
    s: &Settings,
    bursts: &[Value],
    decode: &Value,
    scale: &Scale,
    (adu_ms, curl_ms): (Vec<f64>, Vec<f64>),
    lists: &Lists,
    python_note: Option<&str>,
) -> String {
    // Throughput summed over the rounds, p50 and p99 the median of the rounds' values.
    let summary = |variant: &str, c: u64| -> Option<[f64; 3]> {
        let mine: Vec<&Value> = bursts
            .iter()
            .filter(|b| b["variant"] == variant && b["concurrency"] == c)
            .collect();
        let total = |key: &str| mine.iter().map(|b| num(&b[key])).sum::<f64>();
        let median_of = |key: &str| median(mine.iter().map(|b| num(&b[key])).collect());
        (!mine.is_empty()).then(|| {
            [
                total("requests") / total("secs"),
                median_of("p50_us"),
                median_of("p99_us"),
            ]
        })
    };
    let rps = |variant: &str, c: u64| summary(variant, c).map(|v| v[0]);
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let decode_ratio = num(&decode["serde_ns"]) / num(&decode["adu_ns"]);
    let waits = &scale.waits;
    let n = s.waits;
    let rss_mib = num(&waits["peak_rss_kib"]) / 1024.0;
    let (adu_median, curl_median) = (median(adu_ms.clone()), median(curl_ms.clone()));

    let mut targets = Vec::new();
    for c in [1, 64] {
        let name = format!("throughput of A ≥ 0.8 × B, c={c}");
        targets.push(Target::new(name, ratio(rps("a", c), rps("b", c)), 2, |v| {
            v >= 0.8
        }));
    }
    for c in [1, 64] {
        let name = format!("throughput of A ≥ C (Python), c={c}");
        targets.push(Target::new(name, ratio(rps("a", c), rps("c", c)), 2, |v| {
            v >= 1.0
        }));
    }
    targets.push(Target::new(
        "decode ≥ 1.0 × `serde_json` into the same model",
        Some(decode_ratio),
        3,
        |v| v >= 1.0,
    ));
    let all = format!("{n} waits: all succeed");
    targets.push(Target::new(all, waits["succeeded"].as_f64(), 0, |v| {
        v == n as f64
    }));
    let tokens = format!("{n} waits: exactly 1 token request");
    targets.push(Target::new(tokens, Some(scale.token_requests), 0, |v| {
        v == 1.0
    }));
    targets.push(Target::new(
        format!("{n} waits: every operation polled exactly 3 times (most polls shown)"),
        Some(scale.polls_max),
        0,
        |v| {
            v == SCALE_MIN_POLLS
                && scale.polls_min == SCALE_MIN_POLLS
                && scale.ops_polled == n as f64
        },
    ));
    let rss = format!("{n} waits: peak RSS ≤ 64 MiB");
    targets.push(Target::new(rss, Some(rss_mib), 1, |v| v <= 64.0));
    let connections = format!("{n} waits: connections ≤ 4 × the in-flight cap (256)");
    targets.push(Target::new(connections, Some(scale.connections), 0, |v| {
        v <= 4.0 * IN_FLIGHT_CAP
    }));
    targets.push(Target::new(
        "`adu operation show` ≤ 1.2 × `curl` (median wall)",
        Some(adu_median / curl_median),
        2,
        |v| v <= 1.2,
    ));

    let list_n = s.list_ops;
    let list = lists.figures();
    targets.extend(list_targets(&list, list_n));

    let mut w = String::new();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let _ = writeln!(
        w,
        "# cargo xtask bench{}\n\n{} CPUs, load average at the end {}\n\n## Targets\n\n{}",
        if s.quick { " --quick" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        targets_table(&targets)
    );
    let _ = writeln!(
        w,
        "## Throughput\n\n{} round(s) of {} ms bursts per client and concurrency.\n",
        s.rounds, s.burst_ms
    );
    if let Some(why) = python_note {
        let _ = writeln!(w, "C (Python) not measured: {why}\n");
    }
    let _ = writeln!(w, "| client | concurrency | requests/s | p50 (µs) | p99 (µs) |\n| --- | ---: | ---: | ---: | ---: |");
    for (variant, name) in [
        ("a", "A adu"),
        ("b", "B bare hyper-util"),
        ("c", "C Python"),
    ] {
        for c in [1, 64] {
            if let Some([rps, p50, p99]) = summary(variant, c) {
                let _ = writeln!(w, "| {name} | {c} | {rps:.0} | {p50:.0} | {p99:.0} |");
            }
        }
    }
    let _ = writeln!(
        w,
        "\n## Decode\n\nThe emulator's 200 answer ({} bytes): `decode_get_operation_response` {:.0} ns, `serde_json::from_slice` into `UpdateOperation` {:.0} ns.\n",
        decode["body_bytes"],
        num(&decode["adu_ns"]),
        num(&decode["serde_ns"])
    );
    let _ = writeln!(
        w,
        "## {n} waits at once\n\n| figure | value |\n| --- | ---: |\n| succeeded / errors | {} / {} |\n| wall time | {:.2} s |\n| token requests | {} |\n| polls per operation (min, max) | {}, {} |\n| peak RSS | {rss_mib:.1} MiB |\n| connections | {} |\n",
        waits["succeeded"],
        waits["errors"],
        num(&waits["wall_secs"]),
        scale.token_requests,
        scale.polls_min,
        scale.polls_max,
        scale.connections
    );
    if let Some(error) = waits["first_error"].as_str() {
        let _ = writeln!(w, "First error: {error}\n");
    }
    let _ = writeln!(
        w,
        "## `adu operation show` beside `curl`\n\n{} pairs, medians: adu {adu_median:.1} ms, curl {curl_median:.1} ms.",
        adu_ms.len()
    );
    let _ = writeln!(
        w,
        "\n## Listing {list_n} operations, pages of {LIST_PAGE_SIZE}\n\n{} round(s), A and B in turns.\n\n| client | operations/s (median) | requests per listing (most) |\n| --- | ---: | ---: |\n| A adu list stream | {:.0} | {} |\n| B bare hyper-util loop | {:.0} | {} |\n\nPeak RSS of a fresh process listing through A: {} operations {:.1} MiB, {list_n} operations {:.1} MiB.",
        s.list_rounds,
        list.a_rate,
        list.a_requests,
        list.b_rate,
        list.b_requests,
        list_n / 10,
        list.rss_mib[0],
        list.rss_mib[1],
    );
    if let Some(problem) = &list.problem {
        let _ = writeln!(w, "\nFirst problem: {problem}");
    }
    w
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The cargo target directory (`CARGO_TARGET_DIR` or `target/`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        Some(p) => project_root().join(p),
        None => project_root().join("target"),
    }
}

/// A child process spoken to in lines; killed when dropped.
struct Peer {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn spawn(name: &'static str, cmd: &mut Command) -> Result<Self, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let (Some(stdin), Some(stdout)) = (stdin, stdout) else {
            return Err(format!("{name}: no pipes"));
        };
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Peer {
            name,
            child,
            stdin,
            lines,
        })
    }

    fn line(&self, timeout: Duration) -> Result<String, String> {
        self.lines
            .recv_timeout(timeout)
            .map_err(|_| format!("{} did not answer within {timeout:?}", self.name))
    }

    fn expect_ready(&self, timeout: Duration) -> Result<(), String> {
        match self.line(timeout)? {
            line if line == "ready" => Ok(()),
            line => Err(format!("{} printed {line:?} instead of `ready`", self.name)),
        }
    }

    /// Sends `command` and reads the JSON line that answers it.
    fn ask(&mut self, command: &str, timeout: Duration) -> Result<Value, String> {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("{}: {e}", self.name))?;
        let line = self.line(timeout)?;
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{} answered {line:?}: {e}", self.name))?;
        match value.get("error") {
            Some(error) => Err(format!("{}: {error}", self.name)),
            None => Ok(value),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_without_a_figure_is_not_measured_and_not_met() {
        let targets = [
            Target::new("met", Some(0.95), 2, |v| v >= 0.8),
            Target::new("missed", Some(0.5), 2, |v| v >= 0.8),
            Target::new("absent", None, 2, |_| true),
            Target::new("not a number", Some(f64::NAN), 2, |_| true),
        ];
        let table = targets_table(&targets);
        assert!(table.contains("| met | 0.95 | yes |"), "{table}");
        assert!(table.contains("| missed | 0.50 | **no** |"), "{table}");
        assert!(table.contains("| absent | n/a | not measured |"), "{table}");
        assert!(
            table.contains("| not a number | n/a | not measured |"),
            "{table}"
        );
        assert!(
            table.contains("1 met, 1 missed, 2 not measured."),
            "{table}"
        );
    }

    #[test]
    fn list_figures_compare_a_and_b_round_by_round_and_a_problem_leaves_no_figure() {
        let run = |variant: &str, secs: f64, requests: u32| {
            let items = 1000;
            serde_json::json!({ "variant": variant, "items": items, "secs": secs, "requests": requests, "problem": null })
        };
        let probe = |kib: u32| serde_json::json!({ "peak_rss_kib": kib, "problem": null });
        let mut lists = Lists {
            runs: vec![
                run("a", 1.0, 10),
                run("b", 0.9, 10),
                run("b", 2.0, 10),
                run("a", 2.0, 10),
                run("a", 0.5, 10),
                run("b", 0.5, 10),
            ],
            probes: [probe(10 * 1024), probe(12 * 1024)],
        };
        let f = lists.figures();
        // Paired by round: 0.9, 1.0, 1.0; the medians alone would give 0.9.
        assert_eq!(f.ratio, 1.0);
        assert_eq!((f.a_rate, f.a_items, f.a_requests), (1000.0, 1000.0, 10.0));
        let table = targets_table(&list_targets(&f, 1000));
        assert!(
            table.contains("one request per page, 10 (most of a listing by A shown) | 10 | yes |"),
            "{table}"
        );
        assert!(
            table.contains("(median of the rounds' ratios) | 1.00 | yes |"),
            "{table}"
        );
        assert!(
            table.contains("listing 100 + 4 MiB (MiB apart) | 2.0 | yes |"),
            "{table}"
        );
        assert!(
            table.contains("4 met, 0 missed, 0 not measured."),
            "{table}"
        );

        lists.runs[3]["requests"] = 11.into();
        lists.runs[3]["items"] = 999.into();
        lists.runs[3]["problem"] = "list-999 came where list-998 should".into();
        lists.probes[1]["problem"] = "A: no list".into();
        let table = targets_table(&list_targets(&lists.figures(), 1000));
        assert!(
            table.contains("in order (fewest of a listing shown) | 999 | **no** |"),
            "{table}"
        );
        assert!(table.contains("by A shown) | 11 | **no** |"), "{table}");
        assert!(
            table.contains("0 met, 2 missed, 2 not measured."),
            "{table}"
        );
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
