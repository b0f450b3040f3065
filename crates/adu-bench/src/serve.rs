//! `adu-bench serve`: the emulator in its own process, with commands on stdin.

use std::path::Path;
use std::time::Duration;

use adu_emulator::{Config, OperationSpec, Timings};
use serde_json::json;

use crate::common::{required, runtime, serve_stdin, INSTANCE, LIST_PREFIX, LOAD_OPERATION};

/// Runs until stdin closes.
pub fn run(args: &[String]) -> Result<(), String> {
    let cert = required(args, "--tls-cert")?;
    let rt = runtime()?;
    let emulator = rt.block_on(async {
        let mut config = Config::default().with_tls(true);
        config.instances = Some(vec![INSTANCE.to_owned()]);
        if let Ok(size) = required(args, "--page-size") {
            config.page_size = size.parse().map_err(|_| "--page-size needs a number")?;
        }
        if !args.iter().any(|a| a == "--without-load-operation") {
            config.operations.push(
                OperationSpec::succeeding()
                    .with_id(LOAD_OPERATION)
                    .with_timings(Timings::new(Duration::ZERO, Duration::from_secs(86_400))),
            );
        }
        config.rate_limit = None;
        config.faults.clear();
        adu_emulator::start(config)
            .await
            .map_err(|e| format!("emulator: {e}"))
    })?;
    emulator
        .write_certificate(Path::new(cert))
        .map_err(|e| format!("certificate: {e}"))?;
    println!("adu-bench serve listening on {}", emulator.base_url());

    serve_stdin(|words| match words {
        ["add-scale", count, running_ms, prefix] => {
            let count: u64 = count.parse().map_err(|_| "add-scale: bad count")?;
            let running: u64 = running_ms.parse().map_err(|_| "add-scale: bad ms")?;
            let timings = Timings::new(Duration::ZERO, Duration::from_millis(running))
                .with_retry_after(Duration::from_secs(1));
            for i in 0..count {
                emulator.add_operation(
                    OperationSpec::succeeding()
                        .with_id(format!("{prefix}{i}"))
                        .with_timings(timings),
                );
            }
            Ok(json!({ "added": count }))
        }
        ["seed-list", count] => {
            let count: u64 = count.parse().map_err(|_| "seed-list: bad count")?;
            for i in 0..count {
                emulator.add_operation(
                    OperationSpec::succeeding()
                        .with_id(format!("{LIST_PREFIX}{i}"))
                        .with_timings(Timings::immediate()),
                );
            }
            Ok(json!({ "added": count }))
        }
        ["stats", prefix] => {
            let s = emulator.stats();
            let polls: Vec<u64> = s
                .polls
                .iter()
                .filter(|(id, _)| id.starts_with(prefix))
                .map(|(_, n)| *n)
                .collect();
            Ok(json!({
                "token_requests": s.token_requests,
                "connections": s.connections,
                "list_requests": s.list_requests,
                "ops_polled": polls.len(),
                "polls_min": polls.iter().min(),
                "polls_max": polls.iter().max(),
            }))
        }
        ["token"] => Ok(json!({ "token": emulator.issue_token() })),
        _ => Err(format!("unknown command {:?}", words.join(" "))),
    })?;
    rt.block_on(emulator.shutdown());
    Ok(())
}
