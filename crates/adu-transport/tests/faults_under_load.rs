//! Faults under load: one client, many concurrent waits, an emulator that misbehaves on about
//! one request in five, and token endpoints that fail in the middle of a long wait.
//!
//! Every test here takes the `SERIAL` lock: the load test counts the process's open file
//! descriptors before and after, which only means something when nothing else in this test
//! binary opens sockets at the same time.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adu_auth::{Authority, ClientSecretCredential, TokenCacheOptions};
use adu_emulator::{Config, FaultKind, FaultRule, OperationSpec, Timings};
use adu_transport::{
    BoxFuture, DeviceUpdateClient, Error, HttpTransport, HyperTransport, OperationStatus,
    PollPolicy, RetryPolicy, TransportError, TransportErrorKind, WaitOptions,
};
use support::plain_http_transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WAITS: usize = 1_000;
const OPERATIONS_PATH: &str = "/updates/operations/";
/// Each wait's own deadline.
const WAIT_TIMEOUT: Duration = Duration::from_secs(45);
/// The whole test's bound: if any wait were left hanging, this fires.
const OUTER_TIMEOUT: Duration = Duration::from_secs(120);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// What the client's transport saw, try by try.
#[derive(Default, Debug)]
struct Tally {
    tries: AtomicU64,
    answered_ok: AtomicU64,
    statuses: std::sync::Mutex<BTreeMap<u16, u64>>,
    connection_errors: AtomicU64,
    timeouts: AtomicU64,
    other_errors: AtomicU64,
}

/// The real hyper transport, counting what happens to each try.
struct CountingTransport {
    inner: HyperTransport,
    tally: Arc<Tally>,
}

impl HttpTransport for CountingTransport {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        Box::pin(async move {
            self.tally.tries.fetch_add(1, Ordering::Relaxed);
            let result = self.inner.call(request).await;
            match &result {
                Ok(response) if response.status().is_success() || response.status() == 304 => {
                    self.tally.answered_ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(response) => {
                    *self
                        .tally
                        .statuses
                        .lock()
                        .unwrap()
                        .entry(response.status().as_u16())
                        .or_default() += 1;
                }
                Err(e) if e.kind() == TransportErrorKind::TimedOut => {
                    self.tally.timeouts.fetch_add(1, Ordering::Relaxed);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        TransportErrorKind::Connection | TransportErrorKind::Connect
                    ) =>
                {
                    self.tally.connection_errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.tally.other_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            result
        })
    }
}

/// About 20% of operation requests are hit: 429, 500 and 503 answers, connection resets,
/// truncated bodies and stalled bodies, plus some added latency. Seeded.
fn faulty_emulator_config() -> Config {
    let rule = |kind, p| {
        let mut rule = FaultRule::new(kind).on_path(OPERATIONS_PATH);
        rule.probability = p;
        rule
    };
    let mut config = Config::default()
        .with_fault(rule(FaultKind::Latency(Duration::from_millis(25)), 0.05))
        .with_fault(rule(FaultKind::Status(429), 0.045))
        .with_fault(rule(FaultKind::Status(500), 0.045))
        .with_fault(rule(FaultKind::Status(503), 0.045))
        .with_fault(rule(FaultKind::Reset, 0.03))
        .with_fault(rule(FaultKind::Truncate, 0.03))
        .with_fault(rule(FaultKind::Stall(Duration::from_secs(5)), 0.02));
    config.seed = Some(0x5eed_f417);
    config
}

fn expected_status(i: usize) -> OperationStatus {
    if i.is_multiple_of(4) {
        OperationStatus::Failed
    } else {
        OperationStatus::Succeeded
    }
}

#[derive(Debug)]
enum Outcome {
    Correct,
    Wrong(String),
    TypedError(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_waits_survive_injected_faults_without_leaks() {
    let _serial = SERIAL.lock().await;
    let fds_before = open_fds();
    let started = Instant::now();

    let emulator = adu_emulator::start(faulty_emulator_config()).await.unwrap();
    let ids: Vec<String> = (0..WAITS)
        .map(|i| {
            let timings = Timings::new(
                Duration::from_millis(100 * (i as u64 % 5)),
                Duration::from_millis(1_000 + 300 * (i as u64 % 7)),
            );
            let spec = if expected_status(i) == OperationStatus::Failed {
                OperationSpec::failing()
            } else {
                OperationSpec::succeeding()
            };
            emulator.add_operation(spec.with_id(format!("load-{i:04}")).with_timings(timings))
        })
        .collect();

    let tally = Arc::new(Tally::default());
    // The transport's own timeout (2 s) is below the client's per-try timeout, so every
    // timed-out try is seen (and counted) by the transport; stalls last 5 s.
    let hyper = plain_http_transport()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let credential = support::emulator_credential(&emulator, hyper.clone());
    let client = DeviceUpdateClient::builder(emulator.base_url(), "blue", Arc::new(credential))
        .transport(Arc::new(CountingTransport {
            inner: hyper,
            tally: tally.clone(),
        }))
        .per_try_timeout(Duration::from_millis(2_500))
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(10)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(200))
                .with_max_elapsed(Duration::from_secs(30)),
        )
        .poll_policy(
            PollPolicy::default()
                .with_default_interval(Duration::from_millis(200))
                .with_min_interval(Duration::from_millis(50))
                .with_max_interval(Duration::from_millis(200)),
        )
        .build()
        .unwrap();

    let mut waits = JoinSet::new();
    for (i, id) in ids.iter().cloned().enumerate() {
        let client = client.clone();
        waits.spawn(async move {
            let begun = Instant::now();
            let result = client
                .wait_for_operation(&id, WaitOptions::default().with_timeout(WAIT_TIMEOUT))
                .await;
            let outcome = match result {
                Ok(done) if done.operation.operation_id() != id => Outcome::Wrong(format!(
                    "asked for {id}, got {}",
                    done.operation.operation_id()
                )),
                Ok(done) if *done.operation.status() == expected_status(i) => Outcome::Correct,
                Ok(done) => Outcome::Wrong(format!(
                    "{id}: expected {:?}, got {:?}",
                    expected_status(i),
                    done.operation.status()
                )),
                Err(
                    e @ (Error::Service(_) | Error::Transport(_) | Error::DeadlineExceeded { .. }),
                ) => Outcome::TypedError(format!("{e}")),
                Err(other) => Outcome::Wrong(format!("{id}: unexpected error {other:?}")),
            };
            (i, begun.elapsed(), outcome)
        });
    }

    let mut results: Vec<Option<(Duration, Outcome)>> = (0..WAITS).map(|_| None).collect();
    let mut duplicates = 0usize;
    let drained = tokio::time::timeout(OUTER_TIMEOUT, async {
        while let Some(joined) = waits.join_next().await {
            let (i, elapsed, outcome) = joined.expect("a wait task panicked");
            if results[i].is_some() {
                duplicates += 1;
            }
            results[i] = Some((elapsed, outcome));
        }
    })
    .await;
    let hanging = waits.len();
    waits.abort_all();
    assert!(
        drained.is_ok(),
        "{hanging} waits were still running after {OUTER_TIMEOUT:?}"
    );
    let load_time = started.elapsed();

    let stats = emulator.stats();
    drop(client);
    emulator.shutdown().await;

    // Let closed sockets and finished connection tasks go; wait on the count, not a clock.
    let slack = 8;
    let settle_until = Instant::now() + Duration::from_secs(10);
    let mut fds_after = open_fds();
    while fds_after > fds_before + slack && Instant::now() < settle_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fds_after = open_fds();
    }

    let lost = results.iter().filter(|r| r.is_none()).count();
    let mut correct = 0usize;
    let mut wrong = Vec::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for (elapsed, outcome) in results.iter().flatten() {
        slowest = slowest.max(*elapsed);
        match outcome {
            Outcome::Correct => correct += 1,
            Outcome::Wrong(why) => wrong.push(why.clone()),
            Outcome::TypedError(e) => *errors.entry(e.clone()).or_default() += 1,
        }
    }
    let typed_errors: usize = errors.values().sum();
    let statuses = tally.statuses.lock().unwrap().clone();
    let tries = tally.tries.load(Ordering::Relaxed);
    let answered = tally.answered_ok.load(Ordering::Relaxed);
    println!("faults under load: {WAITS} concurrent waits in {load_time:.2?} (slowest wait {slowest:.2?})");
    println!(
        "  emulator: {} requests, {} status requests, {} faults injected, {} token requests",
        stats.requests, stats.status_requests, stats.faults_injected, stats.token_requests
    );
    println!(
        "  client tries: {tries} ({answered} answered 200/304, error statuses {statuses:?}, {} connection errors, {} timeouts, {} other); retries {}",
        tally.connection_errors.load(Ordering::Relaxed),
        tally.timeouts.load(Ordering::Relaxed),
        tally.other_errors.load(Ordering::Relaxed),
        tries.saturating_sub(answered),
    );
    println!(
        "  outcomes: {correct} correct final status, {typed_errors} typed errors {errors:?}, {} wrong, {lost} lost, {duplicates} duplicated, {hanging} hanging",
        wrong.len()
    );
    println!("  open fds: {fds_before} before, {fds_after} after");

    assert!(wrong.is_empty(), "wrong outcomes: {wrong:?}");
    assert_eq!(lost, 0);
    assert_eq!(duplicates, 0);
    assert_eq!(correct + typed_errors, WAITS);
    // Ten tries per request against a 20% fault rate: errors should be all but impossible.
    assert!(typed_errors <= WAITS / 100, "too many errors: {errors:?}");
    // The faults really happened, in every kind, and were survived.
    assert!(
        stats.faults_injected as f64 >= 0.1 * stats.status_requests as f64,
        "{stats:?}"
    );
    for status in [429, 500, 503] {
        assert!(
            statuses.get(&status).copied().unwrap_or(0) > 0,
            "no {status} seen"
        );
    }
    assert!(
        tally.connection_errors.load(Ordering::Relaxed) > 0,
        "no reset or truncation seen"
    );
    assert!(tally.timeouts.load(Ordering::Relaxed) > 0, "no stall seen");
    assert_eq!(
        stats.token_requests, 1,
        "1,000 concurrent waits share one token request"
    );
    assert!(
        fds_after <= fds_before + slack,
        "file descriptors leaked: {fds_before} before, {fds_after} after"
    );
}

// ---------------------------------------------------------------------------------------------
// Token endpoint failures during a long wait.

fn token_json(token: &str, expires_in: u64) -> String {
    serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
        .to_string()
}

fn credential_for(
    token_server: &str,
    hyper: HyperTransport,
    refresh_errors: Arc<AtomicUsize>,
) -> ClientSecretCredential {
    ClientSecretCredential::new(
        Authority::new("contoso")
            .unwrap()
            .with_host(token_server)
            .unwrap(),
        "client",
        "client-secret",
        Arc::new(hyper),
    )
    .with_cache_options(TokenCacheOptions::default().on_refresh_error(move |_| {
        refresh_errors.fetch_add(1, Ordering::SeqCst);
    }))
}

fn fast_polls() -> PollPolicy {
    PollPolicy::default()
        .with_default_interval(Duration::from_millis(100))
        .with_min_interval(Duration::from_millis(50))
        .with_max_interval(Duration::from_millis(100))
}

#[tokio::test]
async fn a_failed_refresh_while_the_token_is_valid_keeps_the_wait_going() {
    let _serial = SERIAL.lock().await;
    // Tokens live 6 s, so the cache refreshes from 3 s on (half the lifetime); the operation
    // finishes at 4.5 s, while the first token is still valid.
    let emulator =
        adu_emulator::start(Config::default().with_token_lifetime(Duration::from_secs(6)))
            .await
            .unwrap();
    let token = emulator.issue_token();
    let id = emulator.add_operation(
        OperationSpec::succeeding()
            .with_timings(Timings::new(Duration::ZERO, Duration::from_millis(4_500))),
    );
    // Our token endpoint: the first request gets the emulator's token, later ones a 500.
    let token_server = support::Server::start(vec![
        support::Reply::json(200, &token_json(&token, 6)),
        support::Reply::json(
            500,
            r#"{"error":"temporarily_unavailable","error_description":"AADSTS50000: try later"}"#,
        ),
    ])
    .await;
    let refresh_errors = Arc::new(AtomicUsize::new(0));
    let hyper = plain_http_transport()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let credential = credential_for(&token_server.url(), hyper.clone(), refresh_errors.clone());
    let client = DeviceUpdateClient::builder(emulator.base_url(), "blue", Arc::new(credential))
        .transport(Arc::new(hyper))
        .poll_policy(fast_polls())
        .build()
        .unwrap();

    let done = client
        .wait_for_operation(
            &id,
            WaitOptions::default().with_timeout(Duration::from_secs(30)),
        )
        .await
        .expect("the wait goes on with the still-valid token");
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    assert!(token_server.requests() >= 2, "a refresh was attempted");
    assert!(
        refresh_errors.load(Ordering::SeqCst) >= 1,
        "the failed refresh was reported"
    );
    assert_eq!(emulator.stats().unauthorized, 0);
    emulator.shutdown().await;
}

/// Reads one request (head and `Content-Length` body).
async fn read_request(stream: &mut TcpStream) {
    let head = support::read_head(stream).await;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = stream.read_exact(&mut body).await;
}

#[tokio::test]
async fn an_expired_token_with_a_failing_token_endpoint_ends_in_an_auth_error() {
    let _serial = SERIAL.lock().await;
    for endpoint_failure in ["500", "stall"] {
        let emulator =
            adu_emulator::start(Config::default().with_token_lifetime(Duration::from_secs(2)))
                .await
                .unwrap();
        let token = emulator.issue_token();
        // The operation would run for a minute; the token dies after 2 s.
        let id = emulator.add_operation(
            OperationSpec::succeeding()
                .with_timings(Timings::new(Duration::ZERO, Duration::from_secs(60))),
        );
        let first_reply = token_json(&token, 2);
        let stall = endpoint_failure == "stall";
        let served = Arc::new(AtomicUsize::new(0));
        let (addr, _) = support::raw_server(move |mut stream: TcpStream| {
            let first_reply = first_reply.clone();
            let served = served.clone();
            async move {
                read_request(&mut stream).await;
                let (status, body) = if served.fetch_add(1, Ordering::SeqCst) == 0 {
                    ("200 OK", first_reply)
                } else if stall {
                    // Never answer: hold the connection until the client goes away.
                    let mut rest = [0u8; 64];
                    while let Ok(n) = stream.read(&mut rest).await {
                        if n == 0 {
                            break;
                        }
                    }
                    return;
                } else {
                    (
                        "500 Internal Server Error",
                        r#"{"error":"temporarily_unavailable"}"#.to_owned(),
                    )
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        })
        .await;
        let refresh_errors = Arc::new(AtomicUsize::new(0));
        let hyper = plain_http_transport()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let credential = credential_for(
            &format!("http://{addr}"),
            hyper.clone(),
            refresh_errors.clone(),
        );
        let client = DeviceUpdateClient::builder(emulator.base_url(), "blue", Arc::new(credential))
            .transport(Arc::new(hyper))
            .poll_policy(fast_polls())
            .build()
            .unwrap();

        let deadline = Duration::from_secs(20);
        let error = client
            .wait_for_operation(&id, WaitOptions::default().with_timeout(deadline))
            .await
            .expect_err("the wait cannot go on without a token");
        // The failure itself, not `DeadlineExceeded`: it is reported, not waited out.
        assert!(
            matches!(error, Error::Auth(_)),
            "{endpoint_failure}: expected an authentication error, got {error:?}"
        );
        emulator.shutdown().await;
    }
}
