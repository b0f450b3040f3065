//! Lists of operations over real connections: paging with `nextLink` on every API version,
//! `filter`, `top`, refusals, and every endpoint's `api-version` check.

use std::time::Duration;

use adu_emulator::{Config, OperationSpec, RunningEmulator, Timings};
use adu_model::ApiVersion;
use serde_json::Value;

use crate::common::*;

/// The first page's path of the update list in `version`.
fn list_path(version: ApiVersion) -> String {
    match version.has_api_version_query() {
        true => format!("/deviceUpdate/blue/updates/operations?api-version={version}"),
        false => "/deviceupdate/blue/v2/updates/operations".to_owned(),
    }
}

/// An emulator with `page_size`, over https when `tls`.
async fn emulator(page_size: usize, tls: bool) -> RunningEmulator {
    let mut config = Config::default().with_tls(tls);
    config.page_size = page_size;
    adu_emulator::start(config).await.unwrap()
}

/// GETs `path` on the emulator (over https when it serves it).
async fn fetch(emu: &RunningEmulator, path: &str, token: &str) -> Answer {
    let auth = format!("Bearer {token}");
    let req = request("GET", path, &[("authorization", &auth)], b"");
    match emu.certificate_pem() {
        Some(pem) => send_tls(emu.addr(), pem, req).await.unwrap(),
        None => send_req(emu.addr(), req).await.unwrap(),
    }
}

/// Follows `nextLink` from `first` to the end; the pages' bodies. Every `nextLink` is on the
/// emulator's origin and keeps the first page's `api-version`.
async fn walk(emu: &RunningEmulator, first: &str, token: &str) -> Vec<Value> {
    let version = first.split_once("api-version=");
    let version = version.map(|(_, v)| v.split('&').next().unwrap_or(v).to_owned());
    let mut pages = Vec::new();
    let mut path = first.to_owned();
    loop {
        let a = fetch(emu, &path, token).await;
        assert_eq!(a.status, 200, "{path}: {:?}", a.body);
        let body = a.json();
        let next = body
            .get("nextLink")
            .and_then(Value::as_str)
            .map(str::to_owned);
        pages.push(body);
        let Some(next) = next else { return pages };
        let rest = next.strip_prefix(&emu.base_url()).unwrap_or_else(|| {
            panic!("{next} is not on {}", emu.base_url());
        });
        let version_kept = match &version {
            Some(v) => rest.contains(&format!("api-version={v}&")),
            None => !rest.contains("api-version"),
        };
        assert!(version_kept, "{next}");
        path = rest.to_owned();
        assert!(pages.len() < 100, "the links loop");
    }
}

fn ids(pages: &[Value]) -> Vec<String> {
    let items = pages.iter().flat_map(|p| p["value"].as_array().unwrap());
    items
        .map(|op| op["operationId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_version_pages_through_every_operation_in_creation_order() {
    for page_size in [1, 3, 10, 100] {
        let emu = emulator(page_size, false).await;
        let token = emu.issue_token();
        let created: Vec<String> = (0..10)
            .map(|n| {
                let spec = OperationSpec::succeeding().with_timings(Timings::immediate());
                emu.add_operation(spec.with_id(format!("op-{n:02}")))
            })
            .collect();
        for version in ApiVersion::ALL {
            let pages = walk(&emu, &list_path(*version), &token).await;
            assert_eq!(ids(&pages), created, "{version}, page size {page_size}");
            assert_eq!(pages.len(), 10usize.div_ceil(page_size), "{version}");
            let first = &pages[0]["value"][0];
            let shape = match version.has_api_version_query() {
                true => ("update", "/deviceUpdate/blue/updates/providers/"),
                false => ("updateId", "/v2/updates/providers/"),
            };
            assert!(first.get(shape.0).is_some(), "{version}: {first}");
            let location = first["resourceLocation"].as_str().unwrap();
            assert!(location.starts_with(shape.1), "{version}: {location}");
        }
        assert_eq!(
            emu.stats().list_requests,
            (ApiVersion::ALL.len() * 10usize.div_ceil(page_size)) as u64
        );
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn next_link_is_absolute_on_the_https_origin() {
    let emu = emulator(2, true).await;
    let token = emu.issue_token();
    for _ in 0..5 {
        emu.add_operation(OperationSpec::succeeding());
    }
    let pages = walk(&emu, &list_path(ApiVersion::default()), &token).await;
    assert_eq!(pages.len(), 3);
    let next = pages[0]["nextLink"].as_str().unwrap();
    let origin = format!("https://localhost:{}/", emu.addr().port());
    assert!(next.starts_with(&origin), "{next}");
    assert!(pages[2].get("nextLink").is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn filter_and_top_over_pages() {
    let emu = emulator(2, false).await;
    let token = emu.issue_token();
    let hour = Duration::from_secs(3600);
    let mut wanted = Vec::new();
    for n in 0..9 {
        let spec = match n % 3 {
            0 => OperationSpec::succeeding().with_timings(Timings::new(hour, hour)),
            1 => OperationSpec::succeeding().with_timings(Timings::new(Duration::ZERO, hour)),
            _ => OperationSpec::failing().with_timings(Timings::immediate()),
        };
        let id = emu.add_operation(spec.with_id(format!("op-{n}")));
        if n % 3 != 2 {
            wanted.push(id);
        }
    }
    let filter = "status%20eq%20%27NotStarted%27%20or%20status%20eq%20%27Running%27";
    for version in ApiVersion::ALL {
        let (path, f, t) = match version.has_api_version_query() {
            true => (list_path(*version) + "&", "filter", "top"),
            false => (list_path(*version) + "?", "$filter", "$top"),
        };
        let pages = walk(&emu, &format!("{path}{f}={filter}"), &token).await;
        assert_eq!(ids(&pages), wanted, "{version}");
        let pages = walk(&emu, &format!("{path}{f}={filter}&{t}=3"), &token).await;
        assert_eq!(ids(&pages), wanted[..3], "{version}");
        assert_eq!(pages.len(), 2, "a page of 2, then one of 1: {version}");
        let pages = walk(&emu, &format!("{path}{t}=0"), &token).await;
        assert_eq!(pages.len(), 1);
        assert!(ids(&pages).is_empty());
        // Completed operations are listed too.
        let failed = format!("{path}{f}=status%20eq%20%27Failed%27");
        assert_eq!(
            ids(&walk(&emu, &failed, &token).await),
            ["op-2", "op-5", "op-8"]
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn an_unsupported_filter_or_top_is_400_in_the_error_shape() {
    let emu = emulator(10, false).await;
    let token = emu.issue_token();
    for path in [
        "/deviceUpdate/blue/updates/operations?api-version=2026-06-01&filter=name%20eq%20%27x%27",
        "/deviceUpdate/blue/management/operations?api-version=2022-10-01&filter=status%20eq%20%27Done%27",
        "/deviceUpdate/blue/updates/operations?api-version=2026-06-01&top=-1",
        "/deviceupdate/blue/v2/updates/operations?$filter=createdDateTime%20gt%202020",
        "/deviceupdate/blue/v2/updates/operations?$top=many",
    ] {
        let a = fetch(&emu, path, &token).await;
        assert_eq!(a.status, 400, "{path}");
        assert!(a.header("content-type").unwrap().starts_with("application/json"));
        let error = &a.json()["error"];
        assert_eq!(error["code"], "BadRequest", "{path}");
        assert!(error["message"].is_string() && error["occurredDateTime"].is_string());
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn every_endpoint_takes_each_known_version_and_refuses_an_unknown_one() {
    let mut config = Config::default();
    config.imports.timings = Some(Timings::immediate());
    config.device_imports.timings = Some(Timings::immediate());
    let emu = adu_emulator::start(config).await.unwrap();
    let token = emu.issue_token();
    let auth = format!("Bearer {token}");
    let update = emu.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let device = emu.add_operation(OperationSpec::succeeding().device().with_id("dev-1"));
    let import = serde_json::to_vec(&serde_json::json!([{
        "importManifest": { "url": "https://storage.example/a.b.1.importmanifest.json" }
    }]))
    .unwrap();
    let endpoints: [(&str, String, &[u8]); 7] = [
        (
            "GET",
            format!("/deviceUpdate/blue/updates/operations/{update}"),
            b"",
        ),
        (
            "GET",
            "/deviceUpdate/blue/updates/operations".to_owned(),
            b"",
        ),
        (
            "POST",
            "/deviceUpdate/blue/updates:import".to_owned(),
            &import,
        ),
        (
            "GET",
            "/deviceUpdate/blue/updates/providers/contoso/names/toaster/versions/1.0.0".to_owned(),
            b"",
        ),
        (
            "GET",
            format!("/deviceUpdate/blue/management/operations/{device}"),
            b"",
        ),
        (
            "GET",
            "/deviceUpdate/blue/management/operations".to_owned(),
            b"",
        ),
        (
            "POST",
            "/deviceUpdate/blue/management/devices:import".to_owned(),
            br#""All""#,
        ),
    ];
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    for (method, path, body) in &endpoints {
        let versions = ApiVersion::ALL.iter().filter(|v| v.has_api_version_query());
        for version in versions.map(ApiVersion::as_str).chain(["2019-01-01", "v2"]) {
            let uri = format!("{path}?api-version={version}");
            let a = send_req(emu.addr(), request(method, &uri, &headers, body))
                .await
                .unwrap();
            match version.parse::<ApiVersion>() {
                Ok(v) if v.has_api_version_query() => {
                    assert!(a.status == 200 || a.status == 202, "{uri}: {}", a.status);
                }
                _ => {
                    assert_eq!(a.status, 400, "{uri}");
                    let error = &a.json()["error"];
                    assert_eq!(error["code"], "UnsupportedApiVersion", "{uri}");
                    assert!(error["message"].as_str().unwrap().contains(version));
                }
            }
        }
    }
    emu.shutdown().await;
}
