//! Decoding a 200 answer of each API version with
//! `decode_get_operation_response`, next to a baseline that reads the same
//! bytes with bare `serde_json` into a three-field struct (the baseline of
//! the decode target) and, for context, into the same model types; all sit
//! in one group per version so one run shows their ratios. Also: building
//! the request for each version, whole and from a URI resolved once (as a
//! wait's later polls do).
//!
//! Run: `cargo bench -p adu-model --bench decode`.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use adu_model::http;
use adu_model::*;
use criterion::{criterion_main, Criterion, Throughput};
use serde::Deserialize;

/// The baseline: only what a minimal client would read.
#[derive(Deserialize)]
struct Minimal {
    #[serde(rename = "operationId")]
    _operation_id: String,
    #[serde(rename = "status")]
    _status: String,
    #[serde(rename = "etag")]
    _etag: String,
}

/// The response of a fixture file, with the headers a real 200 carries.
fn response(fixture: &str) -> http::Response<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_str(fixture).unwrap();
    let body = serde_json::to_vec(&v["response"]["body"]).unwrap();
    let etag = v["response"]["body"]["etag"].as_str().unwrap().to_owned();
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json; charset=utf-8")
        .header("etag", etag)
        .header("retry-after", "5")
        .header(
            "traceparent",
            "00-2b881ef9deaf5d45b0a716ca5b4145ec-b7ad6b7169203331-01",
        )
        .header("x-ms-request-id", "9f3c2b1a-0e4d-4c5b-8a7f-6e5d4c3b2a19")
        .body(body)
        .unwrap()
}

fn decode(c: &mut Criterion) {
    let now = UNIX_EPOCH + Duration::from_secs(1_678_812_000);
    let cases = [
        (
            "2022-10-01",
            ApiVersion::V2022_10_01,
            response(include_str!(
                "../tests/fixtures/get_operation_2022-10-01.json"
            )),
        ),
        (
            "v2",
            ApiVersion::V2,
            response(include_str!("../tests/fixtures/get_operation_v2.json")),
        ),
    ];
    for (name, version, response) in &cases {
        let mut group = c.benchmark_group(format!("decode_200/{name}"));
        group.throughput(Throughput::Bytes(response.body().len() as u64));
        group.bench_function("decode_get_operation_response", |b| {
            b.iter(|| {
                let outcome =
                    decode_get_operation_response(*version, black_box(response), black_box(now));
                black_box(outcome.unwrap())
            })
        });
        group.bench_function("serde_json_minimal_baseline", |b| {
            b.iter(|| {
                let minimal: Minimal = serde_json::from_slice(black_box(response.body())).unwrap();
                black_box(minimal)
            })
        });
        // For context: plain serde_json into the same model types (the same work as ours).
        group.bench_function("serde_json_full_model", |b| {
            b.iter(|| match version {
                ApiVersion::V2 => {
                    let op: models::Operation =
                        serde_json::from_slice(black_box(response.body())).unwrap();
                    black_box(op.status.is_terminal())
                }
                _ => {
                    let op: models::UpdateOperation =
                        serde_json::from_slice(black_box(response.body())).unwrap();
                    black_box(op.status.is_terminal())
                }
            })
        });
        group.finish();
    }
}

fn build(c: &mut Criterion) {
    let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
    let instance = InstanceId::new("blue").unwrap();
    let operation = OperationId::new("e4491c54-916f-443d-9094-bcca546ace2f").unwrap();
    let mut group = c.benchmark_group("build_request");
    for version in [ApiVersion::V2022_10_01, ApiVersion::V2] {
        group.bench_function(version.as_str(), |b| {
            b.iter(|| {
                black_box(
                    build_get_operation_request(
                        black_box(&endpoint),
                        black_box(&instance),
                        black_box(&operation),
                        version,
                        Some("\"a0f7b6f2-3f6c-4eb6-8a59-2f5411c23888\""),
                    )
                    .unwrap(),
                )
            })
        });
        // A wait's later polls: the URI resolved once, a clone per request.
        let uri = operation_uri(&endpoint, &instance, &operation, version).unwrap();
        group.bench_function(format!("{} from a resolved uri", version.as_str()), |b| {
            b.iter(|| {
                black_box(
                    build_get_request(
                        black_box(&uri).clone(),
                        Some("\"a0f7b6f2-3f6c-4eb6-8a59-2f5411c23888\""),
                    )
                    .unwrap(),
                )
            })
        });
    }
    group.finish();
}

// `criterion_group!` defines an undocumented public function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::decode, super::build);
}
use group::benches;

criterion_main!(benches);
