//! The operation-status routes, 304s, ETags, the schedule, imports.

use std::time::Duration;

use adu_emulator::{Config, OperationSpec, Timings, Visibility};
use serde_json::Value;

use crate::common::*;

fn long_running() -> Timings {
    Timings::new(Duration::ZERO, Duration::from_secs(3600))
}

async fn emulator() -> adu_emulator::RunningEmulator {
    adu_emulator::start(Config::default()).await.unwrap()
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[tokio::test]
async fn current_api_running_operation() {
    let emu = emulator().await;
    let id = emu.add_operation(
        OperationSpec::succeeding()
            .with_id("op-running")
            .with_timings(long_running()),
    );
    assert_eq!(id, "op-running");
    let token = emu.issue_token();
    let a = get(emu.addr(), &current_path(&id), &token).await;
    assert_eq!(a.status, 200);
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(a.header("retry-after"), Some("1"));
    let tp = a.header("traceparent").unwrap();
    assert!(tp.starts_with("00-") && tp.len() == 55, "{tp}");
    let body = a.json();
    assert_eq!(body["operationId"], "op-running");
    assert_eq!(body["status"], "Running");
    assert_eq!(body["update"]["updateId"]["provider"], "contoso");
    assert!(body.get("updateId").is_none());
    assert!(body.get("resourceLocation").is_none());
    assert!(is_hex32(body["traceId"].as_str().unwrap()));
    // The ETag is quoted in the header and the body holds the same quoted text.
    let etag = a.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(body["etag"], Value::String(etag.to_owned()));
    for field in ["createdDateTime", "lastActionDateTime"] {
        let t = adu_model::Timestamp::parse(body[field].as_str().unwrap());
        assert!(t.is_valid(), "{field}: {t:?}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn legacy_api_uses_the_legacy_shape() {
    let emu = emulator().await;
    let id = emu.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let token = emu.issue_token();
    let a = get(emu.addr(), &legacy_path(&id), &token).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("retry-after"),
        None,
        "finished operations carry no Retry-After"
    );
    let body = a.json();
    assert_eq!(body["status"], "Succeeded");
    assert_eq!(body["updateId"]["name"], "toaster");
    assert!(body.get("update").is_none());
    assert_eq!(
        body["resourceLocation"],
        "/v2/updates/providers/contoso/names/toaster/versions/1.0.0"
    );
    assert_eq!(
        body["etag"],
        Value::String(a.header("etag").unwrap().to_owned())
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn succeeded_and_failed_operations() {
    let emu = emulator().await;
    let ok = emu.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let bad = emu.add_operation(OperationSpec::failing().with_timings(Timings::immediate()));
    let token = emu.issue_token();
    let a = get(emu.addr(), &current_path(&ok), &token).await.json();
    assert_eq!(a["status"], "Succeeded");
    assert_eq!(
        a["resourceLocation"],
        "/deviceUpdate/blue/updates/providers/contoso/names/toaster/versions/1.0.0?api-version=2022-10-01"
    );
    assert!(a.get("error").is_none());
    let b = get(emu.addr(), &current_path(&bad), &token).await.json();
    assert_eq!(b["status"], "Failed");
    assert!(b.get("resourceLocation").is_none());
    let error = &b["error"];
    assert_eq!(error["code"], "UpdateImportFailed");
    assert!(error["occurredDateTime"].is_string());
    // Spelt as recorded traffic spells it, not as the specification does.
    assert!(error.get("innererror").is_none(), "{error}");
    let innermost = &error["innerError"]["innerError"];
    assert_eq!(innermost["code"], "FileDownloadFailed");
    assert!(innermost["errorDetail"].as_str().unwrap().contains("403"));
    // The same chain decodes into the model types.
    let op: adu_model::models::UpdateOperation = serde_json::from_value(b).unwrap();
    assert!(op.error.unwrap().innererror.unwrap().inner_error.is_some());
    emu.shutdown().await;
}

#[tokio::test]
async fn api_version_is_checked() {
    let emu = emulator().await;
    let id = emu.add_operation(OperationSpec::succeeding());
    let token = emu.issue_token();
    let path = format!("/deviceUpdate/blue/updates/operations/{id}");
    let a = get(emu.addr(), &path, &token).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["code"], "MissingApiVersionParameter");
    let a = get(
        emu.addr(),
        &format!("{path}?api-version=2019-01-01"),
        &token,
    )
    .await;
    assert_eq!(a.status, 400);
    let body = a.json();
    assert_eq!(body["error"]["code"], "UnsupportedApiVersion");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2019-01-01"));
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_operations_are_404_in_each_api_shape() {
    let emu = emulator().await;
    let token = emu.issue_token();
    let a = get(emu.addr(), &current_path("nope"), &token).await;
    assert_eq!(a.status, 404);
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(a.json()["error"]["code"], "OperationNotFound");
    let a = get(emu.addr(), &legacy_path("nope"), &token).await;
    assert_eq!(a.status, 404);
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("application/problem+json"));
    let body = a.json();
    assert_eq!(body["title"], "Not Found");
    assert_eq!(body["status"], 404);
    assert!(body["traceId"].as_str().unwrap().starts_with("00-"));
    // Unknown routes are 404 too, wrong methods 405.
    let a = get(emu.addr(), "/somewhere/else", &token).await;
    assert_eq!(a.status, 404);
    let auth = format!("Bearer {token}");
    let a = send_req(
        emu.addr(),
        request(
            "DELETE",
            &current_path("x"),
            &[("authorization", &auth)],
            b"",
        ),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 405);
    emu.shutdown().await;
}

#[tokio::test]
async fn visibility_hides_an_operation_from_the_other_api() {
    let emu = emulator().await;
    let mut spec = OperationSpec::succeeding();
    spec.visible_in = Visibility::LegacyOnly;
    let id = emu.add_operation(spec);
    let token = emu.issue_token();
    assert_eq!(get(emu.addr(), &legacy_path(&id), &token).await.status, 200);
    assert_eq!(
        get(emu.addr(), &current_path(&id), &token).await.status,
        404
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn if_none_match_gives_304_with_etag_and_retry_after() {
    let emu = emulator().await;
    let running = emu.add_operation(OperationSpec::succeeding().with_timings(long_running()));
    let done = emu.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let token = emu.issue_token();
    for path in [current_path(&running), legacy_path(&running)] {
        let first = get(emu.addr(), &path, &token).await;
        let etag = first.header("etag").unwrap().to_owned();
        let a = get_with(emu.addr(), &path, &token, &[("if-none-match", &etag)]).await;
        assert_eq!(a.status, 304);
        assert!(a.body.is_empty());
        assert_eq!(a.header("etag"), Some(etag.as_str()));
        assert_eq!(a.header("retry-after"), Some("1"));
        let a = get_with(emu.addr(), &path, &token, &[("if-none-match", "\"other\"")]).await;
        assert_eq!(a.status, 200);
    }
    let first = get(emu.addr(), &current_path(&done), &token).await;
    let etag = first.header("etag").unwrap().to_owned();
    let a = get_with(
        emu.addr(),
        &current_path(&done),
        &token,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(a.status, 304);
    assert_eq!(a.header("retry-after"), None);
    let stats = emu.stats();
    assert_eq!(stats.not_modified, 3);
    assert_eq!(stats.polls_of(&running), 6);
    assert_eq!(stats.status_requests, 8);
    emu.shutdown().await;
}

#[tokio::test]
async fn operations_are_where_their_schedule_says_and_keep_their_etag_within_a_stage() {
    // An hour in each stage; `created_ago` places each operation in one (the schedule itself
    // is a pure function of time, tested as one in `schedule` and `state`).
    let hour = Duration::from_secs(3600);
    let emu = emulator().await;
    let token = emu.issue_token();
    let mut etags = Vec::new();
    for (ago, status) in [
        (Duration::ZERO, "NotStarted"),
        (hour + hour / 2, "Running"),
        (3 * hour, "Succeeded"),
    ] {
        let mut spec = OperationSpec::succeeding()
            .with_id(status)
            .with_timings(Timings::new(hour, hour));
        spec.created_ago = ago;
        let id = emu.add_operation(spec);
        let a = get(emu.addr(), &current_path(&id), &token).await;
        assert_eq!(a.json()["status"], status);
        let etag = a.header("etag").unwrap().to_owned();
        let again = get(emu.addr(), &current_path(&id), &token).await;
        assert_eq!(again.header("etag"), Some(etag.as_str()), "{status}");
        assert_eq!(again.header("retry-after").is_some(), status != "Succeeded");
        etags.push(etag);
    }
    etags.dedup();
    assert_eq!(etags.len(), 3);
    emu.shutdown().await;
}

fn import_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([{
        "importManifest": {
            "url": "https://storage.example/updates/fabrikam.kettle.2.1.0.importmanifest.json",
            "sizeInBytes": 453,
            "hashes": { "sha256": "Q2xCdXZ5cWxOZkRvR2pMMFJqOHM3aW5aSzJIZkFIZzY=" }
        },
        "files": [{ "filename": "kettle.swu", "url": "https://storage.example/updates/kettle.swu" }]
    }]))
    .unwrap()
}

#[tokio::test]
async fn import_answers_202_with_a_relative_operation_location_that_polls() {
    let mut config = Config::default();
    config.imports.timings = Some(Timings::immediate());
    let emu = adu_emulator::start(config).await.unwrap();
    let token = emu.issue_token();
    let auth = format!("Bearer {token}");
    let path = "/deviceUpdate/blue/updates:import?api-version=2022-10-01";
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let a = send_req(emu.addr(), request("POST", path, &headers, &import_body()))
        .await
        .unwrap();
    assert_eq!(a.status, 202);
    let location = a.header("operation-location").unwrap().to_owned();
    assert!(
        location.starts_with("/deviceUpdate/blue/updates/operations/"),
        "{location}"
    );
    assert!(location.ends_with("?api-version=2022-10-01"), "{location}");
    let op = get(emu.addr(), &location, &token).await;
    assert_eq!(op.status, 200);
    let body = op.json();
    assert_eq!(body["status"], "Succeeded");
    assert_eq!(body["update"]["updateId"]["provider"], "fabrikam");
    assert_eq!(body["update"]["updateId"]["version"], "2.1.0");
    // The poller's final GET of resourceLocation finds the update.
    let update = get(
        emu.addr(),
        body["resourceLocation"].as_str().unwrap(),
        &token,
    )
    .await;
    assert_eq!(update.status, 200);
    assert_eq!(update.json()["updateId"]["name"], "kettle");
    let missing =
        "/deviceUpdate/blue/updates/providers/x/names/y/versions/1?api-version=2022-10-01";
    assert_eq!(get(emu.addr(), missing, &token).await.status, 404);
    assert_eq!(emu.stats().imports, 1);

    for bad in [&b"not json"[..], b"{}", b"[]", br#"[{"files":[]}]"#] {
        let a = send_req(emu.addr(), request("POST", path, &headers, bad))
            .await
            .unwrap();
        assert_eq!(a.status, 400, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(a.json()["error"]["code"], "BadRequest");
    }
    let no_version = "/deviceUpdate/blue/updates:import";
    let a = send_req(
        emu.addr(),
        request("POST", no_version, &headers, &import_body()),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 400);
    assert_eq!(emu.stats().imports, 1);

    // The instance goes back into the locations as the one path segment it came as: an
    // escaped `/` or line feed neither moves the location elsewhere nor drops the header.
    for (instance, encoded) in [("a%2Fb", "a%2Fb"), ("a%0Ab", "a%0Ab"), ("a%20b", "a%20b")] {
        let path = format!("/deviceUpdate/{instance}/updates:import?api-version=2022-10-01");
        let a = send_req(emu.addr(), request("POST", &path, &headers, &import_body()))
            .await
            .unwrap();
        assert_eq!(a.status, 202);
        let location = a
            .header("operation-location")
            .unwrap_or_default()
            .to_owned();
        let prefix = format!("/deviceUpdate/{encoded}/updates/operations/");
        assert!(location.starts_with(&prefix), "{instance}: {location:?}");
        let body = get(emu.addr(), &location, &token).await.json();
        let resource = body["resourceLocation"].as_str().unwrap_or_default();
        let prefix = format!("/deviceUpdate/{encoded}/updates/providers/fabrikam/");
        assert!(resource.starts_with(&prefix), "{instance}: {resource:?}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let mut config = Config::default();
    config.max_body_bytes = 1000;
    let emu = adu_emulator::start(config).await.unwrap();
    let auth = format!("Bearer {}", emu.issue_token());
    let path = "/deviceUpdate/blue/updates:import?api-version=2022-10-01";
    let a = send_req(
        emu.addr(),
        request("POST", path, &[("authorization", &auth)], &[b' '; 5000]),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 413);
    emu.shutdown().await;
}

#[tokio::test]
async fn configured_instances_only() {
    let mut config = Config::default();
    config.instances = Some(vec!["blue".to_owned()]);
    let emu = adu_emulator::start(config).await.unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    let token = emu.issue_token();
    assert_eq!(
        get(emu.addr(), &current_path(&id), &token).await.status,
        200
    );
    let other = format!("/deviceUpdate/green/updates/operations/{id}?api-version=2022-10-01");
    let a = get(emu.addr(), &other, &token).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "InstanceNotFound");
    emu.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let emu = emulator().await;
    let addr = emu.addr();
    emu.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn connections_are_counted_as_they_are_accepted() {
    let emu = emulator().await;
    let id = emu.add_operation(OperationSpec::succeeding().with_timings(long_running()));
    let token = emu.issue_token();
    assert_eq!(emu.stats().connections, 0);
    // `get` opens a new connection for each request.
    for n in 1..=3 {
        assert_eq!(
            get(emu.addr(), &current_path(&id), &token).await.status,
            200
        );
        assert_eq!(emu.stats().connections, n);
    }
    assert_eq!(emu.stats().requests, 3);
    emu.shutdown().await;
}
