//! `adu-bench load`: A (the client) and B (a bare hyper-util client), one burst per command.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use adu_model::models::UpdateOperation;
use adu_model::{decode_get_operation_response, ApiVersion, GetOperationOutcome, OperationKind};
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
use serde_json::json;

use crate::common::{
    client, credential, required, runtime, serve_stdin, transport, INSTANCE, LOAD_OPERATION,
};

/// B: hyper-util's pooled client over rustls (aws-lc-rs, TCP_NODELAY, HTTP/1.1), sending
/// the headers A sends and decoding with `serde_json` into the same model type.
struct Bare {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    uri: http::Uri,
    authorization: HeaderValue,
}

impl Bare {
    fn new(endpoint: &str, cert: &str, token: &str) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(cert).map_err(|e| format!("pem: {e}"))? {
            roots
                .add(c.map_err(|e| format!("pem: {e}"))?)
                .map_err(|e| format!("root: {e}"))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        let uri = format!(
            "{endpoint}/deviceUpdate/{INSTANCE}/updates/operations/{LOAD_OPERATION}?api-version=2022-10-01"
        )
        .parse()
        .map_err(|e| format!("uri: {e}"))?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token is not a header value")?;
        authorization.set_sensitive(true);
        Ok(Bare {
            client,
            uri,
            authorization,
        })
    }

    /// One GET with A's headers; the body decoded into the model type.
    async fn get(&self) -> Result<Bytes, String> {
        let mut request = http::Request::new(Empty::<Bytes>::new());
        *request.uri_mut() = self.uri.clone();
        let request_id = uuid::Uuid::new_v4();
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_PRODUCT));
        headers.insert(
            HeaderName::from_static("x-ms-client-request-id"),
            HeaderValue::from_str(request_id.hyphenated().encode_lower(&mut [0; 36]))
                .map_err(|e| format!("request id: {e}"))?,
        );
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("bare: {e}"))?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("bare: status {}", response.status()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("bare body: {e}"))?
            .to_bytes();
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
        let token =
            adu_auth::TokenCredential::get_token(&*credential, &[adu_auth::scopes::CURRENT])
                .await
                .map_err(|e| format!("token: {e}"))?;
        let bench = Arc::new(Bench {
            a: client(endpoint, &transport, credential)?,
            b: Bare::new(endpoint, cert, token.secret())?,
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
