//! `adu-bench load`: A (the client) and B (the practical limit), one burst per command.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use adu_model::{decode_get_operation_response, ApiVersion, GetOperationOutcome};
use adu_transport::{DeviceUpdateClient, GetOptions, USER_AGENT_PRODUCT};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, USER_AGENT};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;
use serde_json::json;

use crate::common::{
    client, cpu_secs, credential, flag, required, runtime, scope, transport, INSTANCE,
};
use crate::serve::LOAD_OPERATION;

const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");

/// What B decodes: only what a minimal client reads.
#[derive(Deserialize)]
struct Minimal {
    #[serde(rename = "operationId")]
    _operation_id: String,
    status: String,
    #[serde(rename = "etag")]
    _etag: Option<String>,
}

/// Every field of the 2022-10-01 answer, each a plain `String` (timestamps and the ETag
/// too): what decoding the whole operation costs with plain `serde_json` and nothing of the
/// client's (typed statuses and timestamps, in-place text, the header scan). Context for the
/// decode figures, not a baseline of a target.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Flat {
    operation_id: String,
    status: String,
    update: Option<FlatUpdate>,
    resource_location: Option<String>,
    trace_id: Option<String>,
    last_action_date_time: String,
    created_date_time: String,
    etag: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct FlatUpdate {
    update_id: FlatUpdateId,
    description: Option<String>,
    friendly_name: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FlatUpdateId {
    provider: String,
    name: String,
    version: String,
}

/// B: hyper-util's pooled client with the same connector settings as `HyperTransport`
/// (rustls with ring, TCP_NODELAY), the same headers as A, and plain `serde_json`.
pub(crate) struct Bare {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    endpoint: String,
    uri: http::Uri,
    authorization: HeaderValue,
    user_agent: HeaderValue,
}

impl Bare {
    pub(crate) fn new(endpoint: &str, cert: Option<&str>, token: &str) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(cert) = cert {
            for c in CertificateDer::pem_file_iter(cert).map_err(|e| format!("pem: {e}"))? {
                roots
                    .add(c.map_err(|e| format!("pem: {e}"))?)
                    .map_err(|e| format!("root: {e}"))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        let uri = operation_uri(endpoint, LOAD_OPERATION)?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token is not a header value")?;
        authorization.set_sensitive(true);
        Ok(Bare {
            client,
            endpoint: endpoint.to_owned(),
            uri,
            authorization,
            user_agent: HeaderValue::from_static(USER_AGENT_PRODUCT),
        })
    }

    /// The 2022-10-01 status URI of operation `id` at this client's endpoint.
    pub(crate) fn operation_uri(&self, id: &str) -> Result<http::Uri, String> {
        operation_uri(&self.endpoint, id)
    }

    /// One GET with the same headers as A; the body decoded into [`Minimal`].
    async fn get(&self) -> Result<Bytes, String> {
        let response = self.send(self.uri.clone()).await?;
        let body = collect(response).await?;
        let minimal: Minimal =
            serde_json::from_slice(&body).map_err(|e| format!("bare decode: {e}"))?;
        std::hint::black_box(&minimal.status);
        Ok(body)
    }

    /// One poll of `uri` as a minimal waiting loop makes it: the GET of [`Bare::get`], then
    /// whether the operation has finished (from [`Minimal`]) and the `Retry-After` seconds.
    pub(crate) async fn poll(&self, uri: http::Uri) -> Result<BareAnswer, String> {
        let response = self.send(uri).await?;
        let retry_after_secs = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = collect(response).await?;
        let minimal: Minimal =
            serde_json::from_slice(&body).map_err(|e| format!("bare decode: {e}"))?;
        Ok(BareAnswer {
            ended: match minimal.status.as_str() {
                "Succeeded" => Some(true),
                "Failed" => Some(false),
                _ => None,
            },
            retry_after_secs,
        })
    }

    /// Sends a GET of `uri` with the same headers as A; an answer other than 200 is an error.
    async fn send(&self, uri: http::Uri) -> Result<http::Response<hyper::body::Incoming>, String> {
        let mut request = http::Request::new(Empty::<Bytes>::new());
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(USER_AGENT, self.user_agent.clone());
        headers.insert(CLIENT_REQUEST_ID, request_id());
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("bare: {e}"))?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("bare: status {}", response.status()));
        }
        Ok(response)
    }
}

/// The whole body of `response`.
async fn collect(response: http::Response<hyper::body::Incoming>) -> Result<Bytes, String> {
    Ok(response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("bare body: {e}"))?
        .to_bytes())
}

/// What B reads from an answer to decide its next poll.
pub(crate) struct BareAnswer {
    /// `Some(true)` when the operation succeeded, `Some(false)` when it failed, `None`
    /// while it runs.
    pub(crate) ended: Option<bool>,
    /// The `Retry-After` header in seconds, when it holds a number.
    pub(crate) retry_after_secs: Option<u64>,
}

/// The 2022-10-01 status URI of operation `id` at `endpoint`, written with `format!`.
fn operation_uri(endpoint: &str, id: &str) -> Result<http::Uri, String> {
    format!("{endpoint}/deviceUpdate/{INSTANCE}/updates/operations/{id}?api-version=2022-10-01")
        .parse()
        .map_err(|e| format!("uri: {e}"))
}

/// A random version-4 UUID as a header value, written into a stack buffer.
fn request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = [0u8; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[at] = b'-';
            at += 1;
        }
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0x0f)];
        at += 2;
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

struct Bench {
    a: DeviceUpdateClient,
    b: Bare,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    A,
    B,
}

impl Bench {
    async fn one(&self, variant: Variant) -> Result<(), String> {
        match variant {
            Variant::A => match self
                .a
                .get_operation_status(LOAD_OPERATION, &GetOptions::default())
                .await
            {
                Ok(GetOperationOutcome::Operation(r)) => {
                    std::hint::black_box(r.operation.status());
                    Ok(())
                }
                Ok(_) => Err("adu: unexpected not-modified".to_owned()),
                Err(e) => Err(format!("adu: {e}")),
            },
            Variant::B => self.b.get().await.map(drop),
        }
    }
}

/// One burst: `concurrency` tasks loop for `warmup + measure`; requests started during the
/// warm-up are not recorded.
async fn burst(
    bench: &Arc<Bench>,
    variant: Variant,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> serde_json::Value {
    let start = Instant::now();
    let cpu_start = cpu_secs();
    let measured_from = start + warmup;
    let end = measured_from + measure;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let bench = bench.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(65_536);
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let result = bench.one(variant).await;
                let took = t0.elapsed();
                if t0 >= measured_from {
                    match result {
                        Ok(()) => latencies.push(took.as_micros().min(u128::from(u32::MAX)) as u32),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        if let Ok((l, e, f)) = task.await {
            all.extend(l);
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        }
    }
    // The last requests may end after `end`: divide by the time until the last one ended.
    let elapsed = Instant::now().saturating_duration_since(measured_from);
    all.sort_unstable();
    let pct = |p: f64| -> u32 {
        if all.is_empty() {
            return 0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all[i.min(all.len() - 1)]
    };
    json!({
        "variant": if variant == Variant::A { "a" } else { "b" },
        "concurrency": concurrency,
        "requests": all.len(),
        "errors": errors,
        "first_error": first_error,
        "secs": elapsed.as_secs_f64(),
        "rps": all.len() as f64 / elapsed.as_secs_f64(),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        // CPU time of this process over the whole burst, warm-up included.
        "cpu_secs": cpu_secs().zip(cpu_start).map(|(end, start)| end - start),
    })
}

/// Decode of the same 200 answer, the client's `decode_get_operation_response` against plain
/// `serde_json` into [`Minimal`] (the baseline of the target) and into the same model types
/// (for context), interleaved in slices of 1000 for `millis` in all.
fn decode_compare(body: Bytes, millis: u64) -> serde_json::Value {
    let response = http::Response::builder()
        .status(200)
        .header("etag", "\"x\"")
        .header("retry-after", "1")
        .body(body.to_vec())
        .unwrap_or_default();
    let now = SystemTime::now();
    const SLICE: u32 = 1000;
    // Time of one slice of `SLICE` runs of `decode`, added to `total`.
    fn slice(total: &mut u128, decode: impl Fn() -> bool) {
        let t = Instant::now();
        for _ in 0..SLICE {
            std::hint::black_box(decode());
        }
        *total += t.elapsed().as_nanos();
    }
    let body_of = || std::hint::black_box(response.body());
    // Nanoseconds in all slices, per decoder: the client's, the three-field struct (the
    // target's baseline) and, for context, plain serde_json into the same model types and
    // every field into plain `String`s.
    let (mut adu, mut bare, mut model, mut flat) = (0u128, 0u128, 0u128, 0u128);
    let mut slices = 0u32;
    let end = Instant::now() + Duration::from_millis(millis);
    while Instant::now() < end {
        slice(&mut adu, || {
            decode_get_operation_response(
                ApiVersion::V2022_10_01,
                std::hint::black_box(&response),
                now,
            )
            .is_ok()
        });
        slice(&mut bare, || {
            serde_json::from_slice::<Minimal>(body_of()).is_ok()
        });
        slice(&mut model, || {
            serde_json::from_slice::<adu_model::models::UpdateOperation>(body_of()).is_ok()
        });
        slice(&mut flat, || {
            serde_json::from_slice::<Flat>(body_of()).is_ok()
        });
        slices += 1;
    }
    let per_decode = |total: u128| total as f64 / (f64::from(slices) * f64::from(SLICE));
    json!({
        "adu_ns": per_decode(adu),
        "bare_ns": per_decode(bare),
        "model_ns": per_decode(model),
        "flat_ns": per_decode(flat),
        "body_bytes": body.len(),
    })
}

/// `n` decodes of `body` as a 200 answer by `which` (`adu` or `bare`); how many succeeded.
fn decode_count(which: &str, body: Bytes, n: u64) -> Result<u64, String> {
    let response = http::Response::builder()
        .status(200)
        .header("etag", "\"x\"")
        .header("retry-after", "1")
        .body(body.to_vec())
        .map_err(|e| format!("response: {e}"))?;
    let now = SystemTime::now();
    let mut ok = 0;
    for _ in 0..n {
        let decoded = match which {
            "adu" => decode_get_operation_response(
                ApiVersion::V2022_10_01,
                std::hint::black_box(&response),
                now,
            )
            .is_ok(),
            "bare" => {
                serde_json::from_slice::<Minimal>(std::hint::black_box(response.body())).is_ok()
            }
            other => return Err(format!("unknown decoder {other:?} (adu or bare)")),
        };
        ok += u64::from(decoded);
    }
    Ok(ok)
}

/// Serves `run a|b CONCURRENCY MILLIS`, `count a|b N`, `decode MILLIS` and
/// `decode-count adu|bare N` commands until stdin closes.
pub fn run(args: &[String]) -> Result<(), String> {
    let endpoint = required(args, "--endpoint")?.to_owned();
    let cert = flag(args, "--cert").map(str::to_owned);
    let rt = runtime()?;
    let bench = rt.block_on(async {
        let transport = transport(cert.as_deref())?;
        let credential = credential(&endpoint, &transport)?;
        let token = adu_auth::TokenCredential::get_token(&*credential, &[scope()])
            .await
            .map_err(|e| format!("token: {e}"))?;
        let a = client(&endpoint, &transport, credential)?;
        let b = Bare::new(&endpoint, cert.as_deref(), token.secret())?;
        let bench = Arc::new(Bench { a, b });
        // Both must work before anything is measured.
        bench.one(Variant::A).await?;
        bench.one(Variant::B).await?;
        Ok::<_, String>(bench)
    })?;
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["run", variant, concurrency, millis] => {
                let variant = match *variant {
                    "a" => Variant::A,
                    "b" => Variant::B,
                    other => return Err(format!("unknown variant {other:?}")),
                };
                let concurrency: usize = concurrency.parse().map_err(|_| "bad concurrency")?;
                let millis: u64 = millis.parse().map_err(|_| "bad millis")?;
                let measure = Duration::from_millis(millis);
                // A tenth of the burst (at least 100 ms) warms the pool up unrecorded.
                let warmup = (measure / 10).max(Duration::from_millis(100));
                rt.block_on(burst(&bench, variant, concurrency, warmup, measure))
            }
            // For profiling (`valgrind --tool=callgrind`): N requests one after another;
            // the difference between two counts divided by their difference in N is the
            // cost of one request.
            ["count", variant, n] => {
                let variant = match *variant {
                    "a" => Variant::A,
                    "b" => Variant::B,
                    other => return Err(format!("unknown variant {other:?}")),
                };
                let n: u64 = n.parse().map_err(|_| "bad count")?;
                let errors = rt.block_on(async {
                    let mut errors = 0u64;
                    for _ in 0..n {
                        if bench.one(variant).await.is_err() {
                            errors += 1;
                        }
                    }
                    errors
                });
                json!({ "count": n, "errors": errors })
            }
            // For profiling, like `count`: N decodes of the operation's 200 answer, by the
            // client's decoder (`adu`) or plain `serde_json` into [`Minimal`] (`bare`).
            ["decode-count", which, n] => {
                let n: u64 = n.parse().map_err(|_| "bad count")?;
                let body = rt.block_on(bench.b.get())?;
                match decode_count(which, body, n) {
                    Ok(ok) => json!({ "count": n, "ok": ok }),
                    Err(e) => json!({ "error": e }),
                }
            }
            ["decode", millis] => {
                let millis: u64 = millis.parse().map_err(|_| "bad millis")?;
                let body = rt.block_on(bench.b.get())?;
                decode_compare(body, millis)
            }
            _ => json!({ "error": format!("unknown command {line:?}") }),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{answer}");
        let _ = out.flush();
    }
    Ok(())
}
