//! `adu-bench scale`: N waits at once through one client.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adu_model::OperationStatus;
use adu_transport::WaitOptions;
use serde_json::json;

use crate::common::{
    client, credential, number, open_fds, peak_rss_kib, required, runtime, transport,
};
use crate::serve::SCALE_PREFIX;

/// Builds the client, prints `ready`, waits for `go` on stdin, then waits for
/// `scale-0` .. `scale-{N-1}` at once and prints the figures as one JSON line.
pub fn run(args: &[String]) -> Result<(), String> {
    let endpoint = required(args, "--endpoint")?.to_owned();
    let cert = crate::common::flag(args, "--cert").map(str::to_owned);
    let count = number(args, "--count", 10_000)?;
    let rt = runtime()?;
    let client = rt.block_on(async {
        let transport = transport(cert.as_deref())?;
        let credential = credential(&endpoint, &transport)?;
        client(&endpoint, &transport, credential)
    })?;
    println!("ready");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("stdin: {e}"))?;
    // `go CREATED_UNIX_MS DONE_MS`: when the emulator created the operations (wall clock,
    // shared by both processes on this machine) and how long after that they finish.
    let words: Vec<&str> = line.split_whitespace().collect();
    let (created_ms, done_ms) = match words.as_slice() {
        ["go", created, done] => (
            created.parse::<u64>().map_err(|_| "go: bad time")?,
            done.parse::<u64>().map_err(|_| "go: bad duration")?,
        ),
        _ => return Err(format!("expected `go CREATED_MS DONE_MS`, got {line:?}")),
    };
    let finished_at = UNIX_EPOCH + Duration::from_millis(created_ms + done_ms);
    let result = rt.block_on(async move {
        let peak_fds = Arc::new(AtomicU64::new(0));
        let sampler = {
            let peak_fds = peak_fds.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(n) = open_fds() {
                        peak_fds.fetch_max(n, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        // The memory one wait holds before its first poll: its future, as the task keeps it.
        let wait_future_bytes = {
            let probe = client.wait_for_operation("size-probe", WaitOptions::default());
            std::mem::size_of_val(&probe)
        };
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(count as usize);
        for i in 0..count {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("{SCALE_PREFIX}{i}");
                // The first status read tells when this wait started polling.
                let first = Arc::new(std::sync::OnceLock::new());
                let seen = first.clone();
                let options = WaitOptions::default()
                    .with_timeout(Duration::from_secs(120))
                    .on_status_change(move |_| {
                        let _ = seen.set(SystemTime::now());
                    });
                let outcome = client.wait_for_operation(&id, options).await;
                (outcome, started.elapsed(), first.get().copied())
            }));
        }
        let (mut succeeded, mut failed, mut errors) = (0u64, 0u64, 0u64);
        let mut first_error = None;
        let mut last_done = Duration::ZERO;
        // Waits whose first answer came after the operations had finished could not need
        // three polls: counted so the report can say how many started late.
        let mut first_after_finish = 0u64;
        for task in tasks {
            let joined = task.await;
            if let Ok((_, _, Some(first))) = &joined {
                if *first >= finished_at {
                    first_after_finish += 1;
                }
            }
            match joined {
                Ok((Ok(done), at, _)) => {
                    last_done = last_done.max(at);
                    match done.operation.status() {
                        OperationStatus::Succeeded => succeeded += 1,
                        _ => failed += 1,
                    }
                }
                Ok((Err(e), _, _)) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        let wall = started.elapsed();
        sampler.abort();
        if let Some(n) = open_fds() {
            peak_fds.fetch_max(n, Ordering::Relaxed);
        }
        json!({
            "count": count,
            "succeeded": succeeded,
            "failed": failed,
            "errors": errors,
            "first_error": first_error,
            "wall_secs": wall.as_secs_f64(),
            "last_done_secs": last_done.as_secs_f64(),
            "peak_rss_kib": peak_rss_kib(),
            "peak_fds": peak_fds.load(Ordering::Relaxed),
            "wait_future_bytes": wait_future_bytes,
            "first_answer_after_finish": first_after_finish,
        })
    });
    println!("{result}");
    Ok(())
}
