//! Device-management operations: device imports, their reads and 304s, and their absence
//! from the legacy API.

use std::time::Duration;

use adu_emulator::{Config, OperationSpec, Outcome, RunningEmulator, Timings};

use crate::common::*;

fn device_path(id: &str, version: &str) -> String {
    format!("/deviceUpdate/blue/management/operations/{id}?api-version={version}")
}

async fn import_devices(emu: &RunningEmulator, token: &str, body: &[u8]) -> Answer {
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let path = "/deviceUpdate/blue/management/devices:import?api-version=2026-06-01";
    send_req(emu.addr(), request("POST", path, &headers, body))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_device_import_runs_on_its_schedule_to_completion() {
    let mut config = Config::default();
    // A running phase long enough to see, then `created_ago`-free completion below.
    config.device_imports.timings = Some(Timings::new(Duration::ZERO, Duration::from_secs(3600)));
    let emu = adu_emulator::start(config).await.unwrap();
    let token = emu.issue_token();
    let a = import_devices(&emu, &token, br#""All""#).await;
    assert_eq!(a.status, 202);
    let location = a.header("operation-location").unwrap().to_owned();
    let prefix = "/deviceUpdate/blue/management/operations/";
    assert!(location.starts_with(prefix), "{location}");
    assert!(location.ends_with("?api-version=2026-06-01"), "{location}");
    let running = get(emu.addr(), &location, &token).await;
    assert_eq!(running.status, 200);
    assert_eq!(running.header("retry-after"), Some("1"));
    let body = running.json();
    assert_eq!(body["status"], "Running");
    assert!(body.get("update").is_none() && body.get("resourceLocation").is_none());
    let etag = running.header("etag").unwrap();
    assert_eq!(body["etag"], etag);
    // The operation is a device one: the update API does not know it.
    let id = location[prefix.len()..].split('?').next().unwrap();
    let as_update = format!("/deviceUpdate/blue/updates/operations/{id}?api-version=2026-06-01");
    assert_eq!(get(emu.addr(), &as_update, &token).await.status, 404);

    // Another import finishes at once and reads Succeeded, still without update fields.
    let mut config = Config::default();
    config.device_imports.timings = Some(Timings::immediate());
    let emu2 = adu_emulator::start(config).await.unwrap();
    let token2 = emu2.issue_token();
    for body in [&br#""Devices""#[..], br#""Modules""#, br#""All""#] {
        let a = import_devices(&emu2, &token2, body).await;
        assert_eq!(a.status, 202);
        let done = get(
            emu2.addr(),
            a.header("operation-location").unwrap(),
            &token2,
        )
        .await;
        assert_eq!(done.status, 200);
        assert_eq!(done.header("retry-after"), None);
        let op = done.json();
        assert_eq!(op["status"], "Succeeded");
        assert!(op.get("update").is_none() && op.get("resourceLocation").is_none());
        assert_eq!(op["traceId"].as_str().unwrap().len(), 32);
    }
    assert_eq!(emu2.stats().device_imports, 3);
    assert_eq!(emu2.stats().imports, 0);
    // The device list holds the three, the update list none.
    let list = "/deviceUpdate/blue/management/operations?api-version=2022-10-01";
    assert_eq!(
        get(emu2.addr(), list, &token2).await.json()["value"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let list = "/deviceUpdate/blue/updates/operations?api-version=2022-10-01";
    assert_eq!(
        get(emu2.addr(), list, &token2).await.json()["value"],
        serde_json::json!([])
    );
    emu2.shutdown().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_device_import_needs_one_of_the_three_import_types() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let token = emu.issue_token();
    for bad in [
        &b"All"[..],
        br#""all""#,
        br#""Everything""#,
        br#"["All"]"#,
        b"",
        br#"{"importType":"All"}"#,
    ] {
        let a = import_devices(&emu, &token, bad).await;
        assert_eq!(a.status, 400, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(a.json()["error"]["code"], "BadRequest");
        assert!(a.header("operation-location").is_none());
    }
    assert_eq!(emu.stats().device_imports, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_failed_device_operation_carries_its_error() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let token = emu.issue_token();
    let mut spec = OperationSpec::failing().device().with_id("dev-failed");
    spec.timings = Some(Timings::immediate());
    emu.add_operation(spec);
    let op = get(emu.addr(), &device_path("dev-failed", "2022-10-01"), &token)
        .await
        .json();
    assert_eq!(op["status"], "Failed");
    assert_eq!(op["error"]["code"], "DeviceImportFailed");
    let decoded: adu_model::models::DeviceOperation = serde_json::from_value(op).unwrap();
    assert_eq!(decoded.operation_id, "dev-failed");
    assert_eq!(Outcome::Failed, OperationSpec::failing().outcome.unwrap());
    emu.shutdown().await;
}

#[tokio::test]
async fn a_device_operation_answers_304_to_its_etag() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let token = emu.issue_token();
    let running = Timings::new(Duration::ZERO, Duration::from_secs(3600));
    let id = emu.add_operation(OperationSpec::succeeding().device().with_timings(running));
    let path = device_path(&id, "2026-06-01");
    let first = get(emu.addr(), &path, &token).await;
    let etag = first.header("etag").unwrap().to_owned();
    let a = get_with(emu.addr(), &path, &token, &[("if-none-match", &etag)]).await;
    assert_eq!(a.status, 304);
    assert!(a.body.is_empty());
    assert_eq!(a.header("etag"), Some(etag.as_str()));
    assert_eq!(a.header("retry-after"), Some("1"));
    let a = get_with(emu.addr(), &path, &token, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(a.status, 200);
    let missing = get(emu.addr(), &device_path("nope", "2026-06-01"), &token).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "OperationNotFound");
    let stats = emu.stats();
    assert_eq!(
        (
            stats.not_modified,
            stats.polls_of(&id),
            stats.status_requests
        ),
        (1, 3, 4)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_legacy_api_has_no_management_endpoints() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let token = emu.issue_token();
    let id = emu.add_operation(OperationSpec::succeeding().device().with_id("dev-1"));
    assert_eq!(
        get(emu.addr(), &device_path(&id, "2022-10-01"), &token)
            .await
            .status,
        200
    );
    for path in [
        "/deviceupdate/blue/v2/management/operations/dev-1".to_owned(),
        "/deviceupdate/blue/v2/management/operations".to_owned(),
        // The update API's legacy reads do not show device operations either.
        "/deviceupdate/blue/v2/updates/operations/dev-1".to_owned(),
    ] {
        let a = get(emu.addr(), &path, &token).await;
        assert_eq!(a.status, 404, "{path}");
    }
    let auth = format!("Bearer {token}");
    let a = send_req(
        emu.addr(),
        request(
            "POST",
            "/deviceupdate/blue/v2/management/devices:import",
            &[("authorization", &auth)],
            br#""All""#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 404);
    let legacy_list = get(
        emu.addr(),
        "/deviceupdate/blue/v2/updates/operations",
        &token,
    )
    .await;
    assert_eq!(legacy_list.json()["value"], serde_json::json!([]));
    emu.shutdown().await;
}
