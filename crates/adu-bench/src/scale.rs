//! `adu-bench scale`: N waits at once through one client, in a process of their own so the
//! peak RSS is theirs.

use std::time::{Duration, Instant};

use adu_model::models::OperationStatus;
use adu_transport::WaitOptions;
use serde_json::json;

use crate::common::{client, credential, peak_rss_kib, required, runtime, transport};

/// Builds the client, prints `ready`, waits for `go` on stdin, then waits for `PREFIX0` ..
/// `PREFIX{N-1}` at once and prints the figures as one JSON line.
pub fn run(args: &[String]) -> Result<(), String> {
    let endpoint = required(args, "--endpoint")?;
    let cert = required(args, "--cert")?;
    let prefix = required(args, "--prefix")?;
    let count: u64 = required(args, "--count")?
        .parse()
        .map_err(|_| "--count needs a number")?;
    let rt = runtime()?;
    let client = rt.block_on(async {
        let transport = transport(cert)?;
        client(endpoint, &transport, credential(endpoint, &transport)?)
    })?;
    println!("ready");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("stdin: {e}"))?;
    if line.trim() != "go" {
        return Err(format!("expected `go`, got {line:?}"));
    }
    let (mut succeeded, mut errors, mut first_error) = (0u64, 0u64, None);
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..count)
            .map(|i| {
                let client = client.clone();
                let id = format!("{prefix}{i}");
                tokio::spawn(async move {
                    let options = WaitOptions::default().with_timeout(Duration::from_secs(120));
                    match client.wait_for_operation(&id, options).await {
                        Ok(done)
                            if matches!(done.operation.status(), OperationStatus::Succeeded) =>
                        {
                            Ok(())
                        }
                        Ok(done) => Err(format!("{id} ended {:?}", done.operation.status())),
                        Err(e) => Err(e.to_string()),
                    }
                })
            })
            .collect();
        for task in tasks {
            match task.await.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(()) => succeeded += 1,
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    let wall = started.elapsed();
    println!(
        "{}",
        json!({
            "count": count,
            "succeeded": succeeded,
            "errors": errors,
            "first_error": first_error,
            "wall_secs": wall.as_secs_f64(),
            "peak_rss_kib": peak_rss_kib(),
        })
    );
    Ok(())
}
