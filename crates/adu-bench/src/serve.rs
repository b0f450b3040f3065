//! `adu-bench serve`: the emulator in its own process, with commands on stdin.

use std::io::{BufRead, Write};
use std::time::Duration;

use adu_emulator::{Config, OperationSpec, Timings};
use serde_json::json;

use crate::common::{cpu_secs, flag, runtime, INSTANCE};

/// The operation the load test reads: running for a day, so every answer is alike.
pub const LOAD_OPERATION: &str = "bench-op";

/// Prefix of the scale test's operations: `scale-0`, `scale-1`, ...
pub const SCALE_PREFIX: &str = "scale-";

/// Prefix of the operations of the scale test's bare variant: `bare-scale-0`, ...
pub const BARE_SCALE_PREFIX: &str = "bare-scale-";

/// Runs until stdin closes.
pub fn run(args: &[String]) -> Result<(), String> {
    let tls_cert = flag(args, "--tls-cert").map(str::to_owned);
    let rt = runtime()?;
    rt.block_on(async move {
        // Auth on, no rate limit, no faults, no latency: the defaults, spelled out.
        let mut config = Config::default()
            .with_tls(tls_cert.is_some())
            .with_require_auth(true)
            .with_instances([INSTANCE])
            .with_operation(
                OperationSpec::succeeding()
                    .with_id(LOAD_OPERATION)
                    .with_timings(Timings::new(Duration::ZERO, Duration::from_secs(86_400))),
            );
        config.rate_limit = None;
        config.faults.clear();
        let emulator = adu_emulator::start(config)
            .await
            .map_err(|e| format!("emulator: {e}"))?;
        if let Some(path) = &tls_cert {
            emulator
                .write_certificate(std::path::Path::new(path))
                .map_err(|e| format!("certificate: {e}"))?;
        }
        println!("adu-bench serve listening on {}", emulator.base_url());

        // Commands come from a blocking reader thread.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let words: Vec<&str> = line.split_whitespace().collect();
            let answer = match words.as_slice() {
                ["add-scale", count, running_ms, rest @ ..] if rest.len() <= 1 => {
                    let prefix = rest.first().copied().unwrap_or(SCALE_PREFIX);
                    let count: u64 = count.parse().map_err(|_| "add-scale: bad count")?;
                    let running: u64 = running_ms.parse().map_err(|_| "add-scale: bad ms")?;
                    let timings = Timings::new(Duration::ZERO, Duration::from_millis(running))
                        .with_retry_after(Duration::from_secs(1));
                    let created = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    for i in 0..count {
                        emulator.add_operation(
                            OperationSpec::succeeding()
                                .with_id(format!("{prefix}{i}"))
                                .with_timings(timings),
                        );
                    }
                    json!({ "ok": true, "created_unix_ms": created.as_millis() as u64 })
                }
                ["stats", rest @ ..] if rest.len() <= 1 => {
                    let prefix = rest.first().copied().unwrap_or(SCALE_PREFIX);
                    let s = emulator.stats();
                    let scale: Vec<u64> = s
                        .polls
                        .iter()
                        .filter(|(id, _)| id.starts_with(prefix))
                        .map(|(_, n)| *n)
                        .collect();
                    json!({
                        "requests": s.requests,
                        "status_requests": s.status_requests,
                        "token_requests": s.token_requests,
                        "connections": s.connections,
                        "tokens_issued": s.tokens_issued,
                        "unauthorized": s.unauthorized,
                        "rate_limited": s.rate_limited,
                        "scale_ops_polled": scale.len(),
                        "scale_polls_total": scale.iter().sum::<u64>(),
                        "scale_polls_min": scale.iter().min().copied().unwrap_or(0),
                        "scale_polls_max": scale.iter().max().copied().unwrap_or(0),
                        "cpu_secs": cpu_secs(),
                    })
                }
                _ => json!({ "error": format!("unknown command {line:?}") }),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{answer}");
            let _ = out.flush();
        }
        emulator.shutdown().await;
        Ok(())
    })
}
