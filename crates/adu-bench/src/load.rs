//! `adu-bench load`: A (the client) and B (a bare hyper-util client), one burst per command.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use adu_model::models::UpdateOperation;
use adu_model::{decode_get_operation_response, ApiVersion, GetOperationOutcome, OperationKind};
use adu_transport::{DeviceUpdateClient, GetOptions};
use bytes::Bytes;
use serde_json::json;

use crate::common::{
    client, credential, required, runtime, serve_stdin, token, transport, BareClient, INSTANCE,
    LOAD_OPERATION,
};

/// B for a get: the bare client reading the load operation, decoding with `serde_json`
/// into the same model type.
struct Bare {
    client: BareClient,
    uri: http::Uri,
}

impl Bare {
    fn new(endpoint: &str, cert: &str, token: &str) -> Result<Self, String> {
        let uri = format!(
            "{endpoint}/deviceUpdate/{INSTANCE}/updates/operations/{LOAD_OPERATION}?api-version=2022-10-01"
        )
        .parse()
        .map_err(|e| format!("uri: {e}"))?;
        Ok(Bare {
            client: BareClient::new(cert, token)?,
            uri,
        })
    }

    /// One GET with A's headers; the body decoded into the model type.
    async fn get(&self) -> Result<Bytes, String> {
        let body = self.client.get(self.uri.clone()).await?;
        let operation: UpdateOperation =
            serde_json::from_slice(&body).map_err(|e| format!("bare decode: {e}"))?;
        std::hint::black_box(&operation);
        Ok(body)
    }
}

struct Bench {
    a: DeviceUpdateClient,
    b: Bare,
}

impl Bench {
    /// One request by variant `a` or `b`.
    async fn one(&self, variant: &str) -> Result<(), String> {
        if variant == "b" {
            return self.b.get().await.map(drop);
        }
        match self
            .a
            .get_operation_status(LOAD_OPERATION, &GetOptions::default())
            .await
        {
            Ok(GetOperationOutcome::Operation(r)) => {
                std::hint::black_box(&r);
                Ok(())
            }
            Ok(_) => Err("adu: unexpected not-modified".to_owned()),
            Err(e) => Err(format!("adu: {e}")),
        }
    }
}

/// One burst: `concurrency` tasks send requests one after another for a warm-up (a tenth
/// of `measure`, at least 100 ms, not recorded) and then for `measure`.
async fn burst(
    bench: &Arc<Bench>,
    variant: &'static str,
    concurrency: usize,
    measure: Duration,
) -> serde_json::Value {
    let measured_from = Instant::now() + (measure / 10).max(Duration::from_millis(100));
    let end = measured_from + measure;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let bench = bench.clone();
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), Vec::new());
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let result = bench.one(variant).await;
                    if t0 >= measured_from {
                        match result {
                            Ok(()) => latencies.push(t0.elapsed().as_micros() as u64),
                            Err(e) => errors.push(e),
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await {
            Ok((l, e)) => {
                all.extend(l);
                errors.extend(e);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    // The last requests may end after `end`: divide by the time until the last one ended.
    let secs = measured_from.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    json!({
        "variant": variant,
        "concurrency": concurrency,
        "requests": all.len(),
        "errors": errors.len(),
        "first_error": errors.first(),
        "secs": secs,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
    })
}

/// The client's `decode_get_operation_response` beside `serde_json::from_slice` into the
/// same model type, on the same 200 answer, in interleaved slices of 1,000 for `millis`.
fn decode(body: Bytes, millis: u64) -> Result<serde_json::Value, String> {
    let response = http::Response::builder()
        .status(200)
        .header("etag", "\"x\"")
        .header("retry-after", "1")
        .body(body.to_vec())
        .map_err(|e| format!("response: {e}"))?;
    let now = SystemTime::now();
    const SLICE: u32 = 1000;
    let time = |total: &mut Duration, decode: &dyn Fn() -> bool| {
        let t = Instant::now();
        for _ in 0..SLICE {
            assert!(std::hint::black_box(decode()));
        }
        *total += t.elapsed();
    };
    let adu = || {
        decode_get_operation_response(
            ApiVersion::V2022_10_01,
            OperationKind::Update,
            std::hint::black_box(&response),
            now,
        )
        .is_ok()
    };
    let serde =
        || serde_json::from_slice::<UpdateOperation>(std::hint::black_box(response.body())).is_ok();
    let (mut adu_total, mut serde_total, mut slices) = (Duration::ZERO, Duration::ZERO, 0u32);
    let end = Instant::now() + Duration::from_millis(millis);
    while Instant::now() < end {
        time(&mut adu_total, &adu);
        time(&mut serde_total, &serde);
        slices += 1;
    }
    let ns = |total: Duration| total.as_nanos() as f64 / f64::from(slices * SLICE);
    Ok(json!({
        "adu_ns": ns(adu_total),
        "serde_ns": ns(serde_total),
        "body_bytes": body.len(),
    }))
}

/// Prints `ready` once A and B have each made a request, then serves `run a|b CONCURRENCY
/// MILLIS` and `decode MILLIS` until stdin closes.
pub fn run(args: &[String]) -> Result<(), String> {
    let endpoint = required(args, "--endpoint")?;
    let cert = required(args, "--cert")?;
    let rt = runtime()?;
    let bench = rt.block_on(async {
        let transport = transport(cert)?;
        let credential = credential(endpoint, &transport)?;
        let token = token(&credential).await?;
        let bench = Arc::new(Bench {
            a: client(endpoint, &transport, credential)?,
            b: Bare::new(endpoint, cert, &token)?,
        });
        bench.one("a").await?;
        bench.one("b").await?;
        Ok::<_, String>(bench)
    })?;
    println!("ready");
    serve_stdin(|words| match words {
        ["run", variant @ ("a" | "b"), concurrency, millis] => {
            let variant = if *variant == "a" { "a" } else { "b" };
            let concurrency = concurrency.parse().map_err(|_| "bad concurrency")?;
            let millis = millis.parse().map_err(|_| "bad millis")?;
            Ok(rt.block_on(burst(
                &bench,
                variant,
                concurrency,
                Duration::from_millis(millis),
            )))
        }
        ["decode", millis] => {
            let millis = millis.parse().map_err(|_| "bad millis")?;
            decode(rt.block_on(bench.b.get())?, millis)
        }
        _ => Err(format!("unknown command {:?}", words.join(" "))),
    })
}
