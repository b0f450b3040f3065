//! `adu-bench scale`: N waits at once through one client.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adu_model::OperationStatus;
use adu_transport::{HyperTransport, WaitOptions};
use serde_json::json;

use crate::common::{
    client, cpu_secs, credential, number, open_fds, peak_rss_kib, required, rss_kib, runtime,
    transport_with,
};
use crate::load::Bare;
use crate::serve::{BARE_SCALE_PREFIX, SCALE_PREFIX};

/// B's cap on requests in flight in the scale test: `HyperTransport`'s default.
const BARE_IN_FLIGHT: usize = 64;

/// Which client waits.
enum Waiter {
    /// `DeviceUpdateClient::wait_for_operation`.
    Adu(adu_transport::DeviceUpdateClient),
    /// B's bare hyper-util client in a minimal loop: GET, and while the operation runs,
    /// sleep for its `Retry-After` (at least a second, like A's poll floor) and GET again;
    /// a semaphore keeps at most [`BARE_IN_FLIGHT`] requests in flight.
    Bare(Box<Bare>, tokio::sync::Semaphore),
}

/// How one wait ended: succeeded (else failed), or an error's text.
type Ended = Result<bool, String>;

/// Builds the client, prints `ready`, waits for `go` on stdin, then waits for
/// `scale-0` .. `scale-{N-1}` (`bare-scale-0` .. with `--variant bare`, `PREFIX0` .. with
/// `--prefix PREFIX`) at once and prints the figures as one JSON line.
pub fn run(args: &[String]) -> Result<(), String> {
    let bare = match crate::common::flag(args, "--variant") {
        None | Some("adu") => false,
        Some("bare") => true,
        Some(other) => return Err(format!("--variant is adu or bare, not {other:?}")),
    };
    let default_prefix = if bare {
        BARE_SCALE_PREFIX
    } else {
        SCALE_PREFIX
    };
    let prefix: Arc<str> = crate::common::flag(args, "--prefix")
        .unwrap_or(default_prefix)
        .into();
    let endpoint = required(args, "--endpoint")?.to_owned();
    let cert = crate::common::flag(args, "--cert").map(str::to_owned);
    let count = number(args, "--count", 10_000)?;
    // For studying the in-flight cap; without the option the transport keeps its default.
    let mut builder = HyperTransport::builder();
    if let Some(cap) = crate::common::flag(args, "--max-in-flight") {
        let cap: usize = cap
            .parse()
            .map_err(|_| format!("--max-in-flight needs a number, not {cap:?}"))?;
        builder = builder.max_concurrent_requests(Some(cap));
    }
    let rt = runtime()?;
    let (waiter, client, transport) = rt.block_on(async {
        let transport = transport_with(cert.as_deref(), builder)?;
        let credential = credential(&endpoint, &transport)?;
        let client = client(&endpoint, &transport, credential.clone())?;
        if !bare {
            return Ok::<_, String>((Waiter::Adu(client.clone()), client, transport));
        }
        // B asks for its token once, before the start, as a bare client would.
        let token = adu_auth::TokenCredential::get_token(&*credential, &[crate::common::scope()])
            .await
            .map_err(|e| format!("token: {e}"))?;
        let b = Bare::new(&endpoint, cert.as_deref(), token.secret())?;
        let slots = tokio::sync::Semaphore::new(BARE_IN_FLIGHT);
        Ok((Waiter::Bare(Box::new(b), slots), client, transport))
    })?;
    let waiter = Arc::new(waiter);
    let rss_ready_kib = rss_kib();
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
        // Every 100 ms: seconds since the sampler started, CPU seconds used, resident KiB.
        let timeline = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sampler = {
            let peak_fds = peak_fds.clone();
            let timeline = timeline.clone();
            tokio::spawn(async move {
                let from = Instant::now();
                loop {
                    if let Some(n) = open_fds() {
                        peak_fds.fetch_max(n, Ordering::Relaxed);
                    }
                    if let Ok(mut t) = timeline.lock() {
                        t.push(json!([
                            (from.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
                            cpu_secs(),
                            rss_kib()
                        ]));
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
        // The state of one poll in progress (boxed inside a wait while it polls).
        let status_future_bytes = {
            let options = adu_transport::GetOptions::default();
            let probe = client.get_operation_status("size-probe", &options);
            std::mem::size_of_val(&probe)
        };
        // The box `HyperTransport` hands back for each request (timer, in-flight queue entry,
        // request), which a request queued for a slot holds; glibc's malloc serves up to
        // 1,032 bytes from its per-thread cache.
        let transport_future_bytes = http::Request::get(endpoint.as_str())
            .body(Vec::new())
            .ok()
            .map(|request| {
                let call = adu_transport::HttpTransport::call(&transport, request);
                std::mem::size_of_val(&*call)
            });
        let cpu_before = cpu_secs();
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(count as usize);
        for i in 0..count {
            let waiter = waiter.clone();
            let prefix = prefix.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("{prefix}{i}");
                let (outcome, first) = match &*waiter {
                    Waiter::Adu(client) => wait_adu(client, &id, started).await,
                    Waiter::Bare(b, slots) => wait_bare(b, slots, &id, started).await,
                };
                (outcome, started.elapsed(), first)
            }));
        }
        let spawned = started.elapsed();
        let rss_spawned_kib = rss_kib();
        let (mut succeeded, mut failed, mut errors) = (0u64, 0u64, 0u64);
        let mut first_error = None;
        let mut last_done = Duration::ZERO;
        // Waits whose first answer came after the operations had finished could not need
        // three polls: counted so the report can say how many started late.
        let mut first_after_finish = 0u64;
        // When each wait's first answer came (the first wave), and how much longer than the
        // two one-second Retry-After intervals its last two polls took (queueing in the
        // second and third waves, timer lateness).
        let mut first_answers = Vec::with_capacity(count as usize);
        let mut beyond_schedule = Vec::with_capacity(count as usize);
        for task in tasks {
            let joined = task.await;
            if let Ok((_, _, Some((first, _)))) = &joined {
                if *first >= finished_at {
                    first_after_finish += 1;
                }
            }
            match joined {
                Ok((Ok(succeeded_now), at, first)) => {
                    last_done = last_done.max(at);
                    if let Some((_, first)) = first {
                        first_answers.push(first);
                        beyond_schedule.push(
                            at.saturating_sub(first)
                                .saturating_sub(Duration::from_secs(2)),
                        );
                    }
                    if succeeded_now {
                        succeeded += 1;
                    } else {
                        failed += 1;
                    }
                }
                Ok((Err(e), _, _)) => {
                    errors += 1;
                    first_error.get_or_insert(e);
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
        let quantiles = |mut v: Vec<Duration>| {
            v.sort_unstable();
            let at = |q: f64| -> f64 {
                v.get((v.len().saturating_sub(1) as f64 * q) as usize)
                    .map_or(f64::NAN, Duration::as_secs_f64)
            };
            json!({ "min": at(0.0), "p50": at(0.5), "p99": at(0.99), "max": at(1.0) })
        };
        json!({
            "variant": if bare { "bare" } else { "adu" },
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
            "status_future_bytes": status_future_bytes,
            "transport_future_bytes": transport_future_bytes,
            "first_answer_after_finish": first_after_finish,
            "spawn_secs": spawned.as_secs_f64(),
            "first_answer_secs": quantiles(first_answers),
            "beyond_schedule_secs": quantiles(beyond_schedule),
            "rss_ready_kib": rss_ready_kib,
            "rss_spawned_kib": rss_spawned_kib,
            "rss_end_kib": rss_kib(),
            "cpu_secs": cpu_secs().zip(cpu_before).map(|(after, before)| after - before),
            "timeline": timeline.lock().map(|t| t.clone()).unwrap_or_default(),
        })
    });
    println!("{result}");
    Ok(())
}

/// When a wait's first answer came: wall clock, and time since the start.
type First = Option<(SystemTime, Duration)>;

/// Waits for operation `id` with `wait_for_operation`.
async fn wait_adu(
    client: &adu_transport::DeviceUpdateClient,
    id: &str,
    started: Instant,
) -> (Ended, First) {
    // The first status read tells when this wait started polling (wall clock, to compare
    // with the operations' end, and after `started`).
    let first = Arc::new(std::sync::OnceLock::new());
    let seen = first.clone();
    let options = WaitOptions::default()
        .with_timeout(Duration::from_secs(120))
        .on_status_change(move |_| {
            let _ = seen.set((SystemTime::now(), started.elapsed()));
        });
    let outcome = client
        .wait_for_operation(id, options)
        .await
        .map(|done| matches!(done.operation.status(), OperationStatus::Succeeded))
        .map_err(|e| e.to_string());
    (outcome, first.get().copied())
}

/// Waits for operation `id` with B's client: GET, sleep `Retry-After`, GET again.
async fn wait_bare(
    b: &Bare,
    slots: &tokio::sync::Semaphore,
    id: &str,
    started: Instant,
) -> (Ended, First) {
    let uri = match b.operation_uri(id) {
        Ok(uri) => uri,
        Err(e) => return (Err(e), None),
    };
    let mut first = None;
    let deadline = started + Duration::from_secs(120);
    loop {
        let answer = {
            let Ok(_slot) = slots.acquire().await else {
                return (Err("the semaphore closed".to_owned()), first);
            };
            b.poll(uri.clone()).await
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => return (Err(e), first),
        };
        first.get_or_insert_with(|| (SystemTime::now(), started.elapsed()));
        if let Some(succeeded) = answer.ended {
            return (Ok(succeeded), first);
        }
        let pause = Duration::from_secs(answer.retry_after_secs.unwrap_or(1).max(1));
        if Instant::now() + pause > deadline {
            return (Err("timed out".to_owned()), first);
        }
        tokio::time::sleep(pause).await;
    }
}
