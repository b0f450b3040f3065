//! Decoding a 200 answer of each API version with `decode_get_operation_response`, beside
//! `serde_json::from_slice` of the same body into the same generated model: the one speed
//! guard of the decoder is to be no slower than that. Both sit in one group per version,
//! so one run prints them side by side.
//!
//! Run: `cargo bench -p adu-model --bench decode`.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use adu_model::http;
use adu_model::models::{Operation, UpdateOperation};
use adu_model::{decode_get_operation_response, ApiVersion, OperationKind};
use criterion::{criterion_main, Criterion, Throughput};
use serde::de::DeserializeOwned;

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
        .header("x-ms-request-id", "9f3c2b1a-0e4d-4c5b-8a7f-6e5d4c3b2a19")
        .body(body)
        .unwrap()
}

/// One group for one API version: our decoder, then serde_json into `Model`.
fn compare<Model: DeserializeOwned>(c: &mut Criterion, version: ApiVersion, fixture: &str) {
    let now = UNIX_EPOCH + Duration::from_secs(1_678_812_000);
    let response = response(fixture);
    let mut group = c.benchmark_group(format!("decode_200/{version}"));
    group.throughput(Throughput::Bytes(response.body().len() as u64));
    group.bench_function("decode_get_operation_response", |b| {
        b.iter(|| {
            decode_get_operation_response(version, OperationKind::Update, black_box(&response), now)
                .unwrap()
        })
    });
    group.bench_function("serde_json::from_slice into the same model", |b| {
        b.iter(|| serde_json::from_slice::<Model>(black_box(response.body())).unwrap())
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    compare::<UpdateOperation>(
        c,
        ApiVersion::V2022_10_01,
        include_str!("../tests/fixtures/get_operation_2022-10-01.json"),
    );
    compare::<Operation>(
        c,
        ApiVersion::V2,
        include_str!("../tests/fixtures/get_operation_v2.json"),
    );
}

// `criterion_group!` defines an undocumented public function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::decode);
}
use group::benches;

criterion_main!(benches);
