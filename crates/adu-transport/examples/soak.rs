//! Soak: N "get operation status" requests through one `DeviceUpdateClient`, sampling this
//! process's resident memory (VmRSS) as it goes.
//!
//! Normally run by `cargo xtask soak --requests N`, which builds this example in release,
//! starts the `adu-emulator` binary (a separate process, so only the client's memory is
//! measured here), passes its URL, and writes the figures into `docs/reliability.md`.
//!
//! ```text
//! soak --endpoint http://127.0.0.1:PORT --operation soak-op [--requests N] [--concurrency C]
//! ```
//!
//! The client authenticates with client credentials against the emulator's token endpoint
//! (the emulator's default tenant, client and secret). It prints progress lines, then one line
//! `SOAK-RESULT {json}` with the figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adu_auth::{Authority, ClientSecretCredential};
use adu_transport::{
    DeviceUpdateClient, GetOperationOutcome, GetOptions, HyperTransport, OperationStatus,
};

struct Args {
    endpoint: String,
    operation: String,
    requests: u64,
    concurrency: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        endpoint: String::new(),
        operation: "soak-op".to_owned(),
        requests: 100_000,
        concurrency: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoint" => args.endpoint = value()?,
            "--operation" => args.operation = value()?,
            "--requests" => {
                args.requests = value()?
                    .replace('_', "")
                    .parse()
                    .map_err(|e| format!("--requests: {e}"))?
            }
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if args.endpoint.is_empty() {
        return Err("--endpoint is required".to_owned());
    }
    if args.requests == 0 || args.concurrency == 0 {
        return Err("--requests and --concurrency must be positive".to_owned());
    }
    Ok(args)
}

/// This process's resident set size in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Counters {
    done: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    unexpected: AtomicU64,
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("soak: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(soak(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn soak(args: Args) -> Result<(), String> {
    let hyper = HyperTransport::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("transport: {e}"))?;
    let authority = Authority::new(adu_emulator::DEFAULT_TENANT)
        .and_then(|a| a.with_host(&args.endpoint))
        .map_err(|e| format!("authority: {e}"))?;
    let credential = ClientSecretCredential::new(
        authority,
        adu_emulator::DEFAULT_CLIENT_ID,
        adu_emulator::DEFAULT_CLIENT_SECRET,
        Arc::new(hyper.clone()),
    );
    let client = DeviceUpdateClient::builder(&args.endpoint, "blue", Arc::new(credential))
        .transport(Arc::new(hyper))
        .build()
        .map_err(|e| format!("client: {e}"))?;

    let step = (args.requests / 50).max(1);
    let counters = Arc::new(Counters::default());
    let samples = Arc::new(Mutex::new(vec![(0u64, rss_kib())]));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let client = client.clone();
        let counters = counters.clone();
        let samples = samples.clone();
        let first_error = first_error.clone();
        let operation = args.operation.clone();
        let total = args.requests;
        workers.spawn(async move {
            loop {
                let claimed = counters.done.fetch_add(1, Ordering::Relaxed);
                if claimed >= total {
                    counters.done.fetch_sub(1, Ordering::Relaxed);
                    break;
                }
                match client
                    .get_operation_status(&operation, &GetOptions::default())
                    .await
                {
                    Ok(GetOperationOutcome::Operation(r))
                        if r.operation.status() == &OperationStatus::Succeeded =>
                    {
                        counters.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {
                        counters.unexpected.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_error.lock().unwrap();
                        if first.is_none() {
                            *first = Some(format!("{e}: {e:?}"));
                        }
                    }
                }
                let finished = claimed + 1;
                if finished % step == 0 {
                    let rss = rss_kib();
                    samples.lock().unwrap().push((finished, rss));
                    if finished % (step * 10) == 0 {
                        println!(
                            "soak: {finished} requests, rss {rss} KiB, {:.0} req/s",
                            finished as f64 / started.elapsed().as_secs_f64()
                        );
                    }
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.map_err(|e| format!("a worker failed: {e}"))?;
    }
    let elapsed = started.elapsed();

    let mut samples = samples.lock().unwrap().clone();
    samples.sort();
    let warm_up = args.requests / 10;
    let after: Vec<(u64, u64)> = samples
        .iter()
        .copied()
        .filter(|(n, _)| *n >= warm_up && *n > 0)
        .collect();
    let baseline = after.first().map(|s| s.1).unwrap_or(0);
    let last = after.last().map(|s| s.1).unwrap_or(0);
    let max = after.iter().map(|s| s.1).max().unwrap_or(0);
    let pct = |v: u64| {
        if baseline == 0 {
            0.0
        } else {
            (v as f64 - baseline as f64) * 100.0 / baseline as f64
        }
    };
    let ok = counters.ok.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let unexpected = counters.unexpected.load(Ordering::Relaxed);
    println!(
        "soak: {} requests in {:.1?} ({:.0} req/s), {ok} ok, {errors} errors, {unexpected} unexpected",
        args.requests,
        elapsed,
        args.requests as f64 / elapsed.as_secs_f64()
    );
    println!(
        "soak: rss after warm-up {baseline} KiB, at the end {last} KiB ({:+.2}%), peak {max} KiB ({:+.2}%)",
        pct(last),
        pct(max)
    );
    if let Some(e) = first_error.lock().unwrap().as_ref() {
        println!("soak: first error: {e}");
    }
    let result = serde_json::json!({
        "requests": args.requests,
        "concurrency": args.concurrency,
        "ok": ok,
        "errors": errors,
        "unexpected": unexpected,
        "elapsed_secs": elapsed.as_secs_f64(),
        "requests_per_sec": args.requests as f64 / elapsed.as_secs_f64(),
        "warm_up_requests": warm_up,
        "baseline_kib": baseline,
        "final_kib": last,
        "peak_kib": max,
        "growth_pct": pct(last),
        "peak_growth_pct": pct(max),
        "samples": samples,
    });
    println!("SOAK-RESULT {result}");
    Ok(())
}
