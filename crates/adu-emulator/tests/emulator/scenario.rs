//! Scenario files: good ones configure everything, bad ones give clear errors.

use std::time::Duration;

use adu_emulator::{Config, Error, FaultKind, Outcome, Visibility};

use crate::common::*;

const FULL: &str = r#"{
  "credentials": { "tenant": "contoso", "clientId": "ci", "clientSecret": "cs", "username": "u", "password": "p" },
  "tokenLifetimeSecs": 600,
  "authorizationCodeLifetimeSecs": 30,
  "requireAuth": true,
  "instances": ["blue"],
  "apiVersions": ["2022-10-01", "2023-07-01"],
  "defaultTimings": { "notStartedMs": 10, "runningMs": 20, "retryAfterSecs": 2 },
  "imports": { "outcome": "failed", "timings": { "runningMs": 0, "notStartedMs": 0 } },
  "rateLimit": { "requestsPerSecond": 10, "burst": 20 },
  "seed": 99,
  "operations": [
    { "id": "a", "updateId": { "provider": "p", "name": "n", "version": "1" }, "friendlyName": "F",
      "timings": { "runningMs": 3600000 }, "visibleIn": "legacy", "createdAgoMs": 5 },
    { "id": "b", "error": { "code": "Boom", "message": "it broke", "innerError": { "code": "Inner", "errorDetail": "detail" } } }
  ],
  "faults": [
    { "kind": "status", "status": 502, "first": 1, "path": "/operations/" },
    { "kind": "latency", "delayMs": 5, "probability": 0.25 },
    { "kind": "reset" }, { "kind": "truncate" }, { "kind": "stall", "delayMs": 100 }
  ]
}"#;

#[test]
fn a_full_scenario_sets_everything() {
    let c = Config::from_scenario_json(FULL).unwrap();
    assert_eq!(c.credentials.tenant, "contoso");
    assert_eq!(c.credentials.username.as_deref(), Some("u"));
    assert!(
        !format!("{:?}", c.credentials).contains("cs"),
        "the secret stays out of Debug"
    );
    assert_eq!(c.token_lifetime, Duration::from_secs(600));
    assert_eq!(c.authorization_code_lifetime, Duration::from_secs(30));
    assert_eq!(c.instances, Some(vec!["blue".to_owned()]));
    assert_eq!(c.api_versions.len(), 2);
    assert_eq!(c.default_timings.retry_after, Duration::from_secs(2));
    assert_eq!(c.imports.outcome, Outcome::Failed);
    assert_eq!(c.rate_limit.unwrap().burst, 20);
    assert_eq!(c.seed, Some(99));
    assert_eq!(c.operations.len(), 2);
    assert_eq!(c.operations[0].visible_in, Visibility::LegacyOnly);
    assert_eq!(
        c.operations[0].timings.unwrap().running,
        Duration::from_secs(3600)
    );
    assert_eq!(c.operations[1].outcome, None, "inferred from the error");
    assert_eq!(c.imports.timings.unwrap().not_started, Duration::ZERO);
    assert_eq!(c.operations[0].created_ago, Duration::from_millis(5));
    let inner = c.operations[1]
        .error
        .as_ref()
        .unwrap()
        .innererror
        .as_ref()
        .unwrap();
    assert_eq!(inner.error_detail.as_deref(), Some("detail"));
    let kinds: Vec<FaultKind> = c.faults.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            FaultKind::Status(502),
            FaultKind::Latency(Duration::from_millis(5)),
            FaultKind::Reset,
            FaultKind::Truncate,
            FaultKind::Stall(Duration::from_millis(100)),
        ]
    );
    assert_eq!(c.faults[0].first, Some(1));
    assert_eq!(c.faults[1].probability, 0.25);
}

#[tokio::test]
async fn a_scenario_drives_a_running_emulator() {
    let text = r#"{ "operations": [
        { "id": "s1", "timings": { "notStartedMs": 0, "runningMs": 0 } },
        { "id": "s2", "timings": { "notStartedMs": 0, "runningMs": 0 }, "error": { "code": "Boom", "message": "it broke" } }
    ] }"#;
    let emu = adu_emulator::start(Config::from_scenario_json(text).unwrap())
        .await
        .unwrap();
    let a = get(emu.addr(), &current_path("s1"), &emu.issue_token()).await;
    assert_eq!(a.json()["status"], "Succeeded");
    let b = get(emu.addr(), &current_path("s2"), &emu.issue_token()).await;
    assert_eq!(b.json()["status"], "Failed", "an error implies failure");
    assert_eq!(b.json()["error"]["code"], "Boom");
    emu.shutdown().await;
}

/// The line of a scenario's error and what it says.
fn refused(text: &str) -> (usize, String) {
    match Config::from_scenario_json(text).unwrap_err() {
        Error::ScenarioSyntax { line, message, .. } => (line, message),
        other => panic!("unexpected {other:?}"),
    }
}

fn message(text: &str) -> String {
    refused(text).1
}

#[test]
fn bad_scenarios_say_what_and_where() {
    let (line, msg) = refused("{\n \"seed\": 1,\n \"operatoins\": []\n}");
    assert_eq!(line, 3);
    assert!(msg.contains("unknown field `operatoins`"), "{msg}");
    assert!(message(r#"{ "seed": "seven" }"#).contains("invalid type"));
    let msg = message(r#"{ "operations": [ { "outcome": "maybe" } ] }"#);
    assert!(msg.contains("unknown variant `maybe`"), "{msg}");
    let msg = message(r#"{ "faults": [ { "kind": "explode" } ] }"#);
    assert!(msg.contains("unknown variant `explode`"), "{msg}");
    assert_eq!(refused("{ \"seed\": 1,").0, 1);
    let err = Config::from_scenario_json("[]").unwrap_err();
    assert!(
        err.to_string().starts_with("invalid scenario at line 1"),
        "{err}"
    );

    // Values that parse but are not acceptable: the message says which, the position where.
    let (line, msg) = refused("{ \"faults\": [\n { \"kind\": \"status\", \"status\": 404 } ] }");
    assert_eq!(line, 2);
    assert!(msg.contains("between 500 and 599"), "{msg}");
    assert!(message(r#"{ "faults": [ { "kind": "status" } ] }"#).contains("kind `status` needs"));
    assert!(message(r#"{ "faults": [ { "kind": "latency" } ] }"#).contains("delayMs"));
    assert!(
        message(r#"{ "faults": [ { "kind": "reset", "probability": 1.5 } ] }"#)
            .contains("probability")
    );
    assert!(
        message(r#"{ "faults": [ { "kind": "reset", "status": 500 } ] }"#)
            .contains("only goes with")
    );
    assert!(
        message(r#"{ "operations": [ { "id": "x" }, { "id": "x" } ] }"#).contains("appears twice")
    );
    assert!(message(r#"{ "operations": [ { "id": "" } ] }"#)
        .contains("operations[0].id must be 1 to 256"));
    assert!(message(r#"{ "operations": [ { "outcome": "succeeded", "error": { "code": "c", "message": "m" } } ] }"#)
        .contains("outcome is `succeeded`"));
    assert!(message(r#"{ "rateLimit": { "requestsPerSecond": 0 } }"#).contains("positive"));
    assert!(message(r#"{ "apiVersions": [] }"#).contains("at least one"));
    assert!(message(r#"{ "credentials": { "username": "u" } }"#).contains("go together"));
    assert!(message(r#"{ "credentials": { "tenant": "a/b" } }"#).contains("tenant"));
    assert!(message(r#"{ "defaultTimings": { "runningSecs": 1 } }"#).contains("unknown field"));
    for size in ["0", "1001", "-1", "2.5"] {
        let text = format!(r#"{{ "pageSize": {size} }}"#);
        assert!(!message(&text).is_empty(), "{text}");
    }
    assert!(message(r#"{ "pageSize": 0 }"#).contains("between 1 and 1000"));
    assert!(
        message(r#"{ "operations": [ { "kind": "deployment" } ] }"#).contains("unknown variant")
    );
    let twice =
        r#"{ "operations": [ { "id": "x", "kind": "device" }, { "id": "x", "kind": "device" } ] }"#;
    assert!(message(twice).contains("appears twice"));
}

#[tokio::test]
async fn a_scenario_sets_the_page_size_device_imports_and_device_operations() {
    let text = r#"{
      "pageSize": 1,
      "deviceImports": { "outcome": "failed", "timings": { "notStartedMs": 0, "runningMs": 0 } },
      "operations": [
        { "id": "same", "timings": { "notStartedMs": 0, "runningMs": 0 } },
        { "id": "same", "kind": "device", "outcome": "failed", "timings": { "notStartedMs": 0, "runningMs": 0 } },
        { "id": "dev-2", "kind": "device" }
      ]
    }"#;
    let config = Config::from_scenario_json(text).unwrap();
    assert_eq!(config.page_size, 1);
    assert_eq!(config.device_imports.outcome, Outcome::Failed);
    assert_eq!(Config::default().page_size, adu_emulator::DEFAULT_PAGE_SIZE);
    let emu = adu_emulator::start(config).await.unwrap();
    let token = emu.issue_token();
    // One id, two operations: an update one and a device one.
    let update = get(emu.addr(), &current_path("same"), &token).await.json();
    assert_eq!(update["status"], "Succeeded");
    let device = "/deviceUpdate/blue/management/operations/same?api-version=2022-10-01";
    let device = get(emu.addr(), device, &token).await.json();
    assert_eq!(device["status"], "Failed");
    // A page holds one operation.
    let list = "/deviceUpdate/blue/management/operations?api-version=2022-10-01";
    let page = get(emu.addr(), list, &token).await.json();
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert_eq!(page["value"][0]["operationId"], "same");
    assert!(page["nextLink"].as_str().unwrap().contains("skipToken="));
    emu.shutdown().await;
}

/// The error of reading the scenario file at `path`, with its source, as text.
fn file_error(path: &std::path::Path) -> String {
    let error = Config::from_scenario_file(path).unwrap_err();
    assert!(matches!(error, Error::File { .. }), "{error:?}");
    let source = std::error::Error::source(&error).expect("the cause is chained");
    format!("{error}: {source}")
}

#[test]
fn a_scenario_file_up_to_the_limit_is_read_and_a_larger_one_is_refused_unread() {
    const LIMIT: u64 = 4 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.json");
    let mut text = br#"{ "seed": 7 }"#.to_vec();
    text.resize(LIMIT as usize, b' ');
    std::fs::write(&path, &text).unwrap();
    assert_eq!(Config::from_scenario_file(&path).unwrap().seed, Some(7));
    // One byte more is refused (adu_auth::file::read_bounded's tests cover huge sparse files).
    text.push(b' ');
    std::fs::write(&path, &text).unwrap();
    let message = file_error(&path);
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("larger than 4194304 bytes"), "{message}");
    assert!(message.contains("pass a smaller scenario"), "{message}");
}

#[test]
fn a_scenario_path_that_is_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let message = file_error(dir.path());
    assert!(message.contains("not a regular file"), "{message}");
}

#[cfg(unix)]
#[test]
fn a_scenario_path_that_is_a_device_is_refused() {
    // `/dev/zero` would never end; `/dev/null` shows the same check without that risk.
    let message = file_error(std::path::Path::new("/dev/null"));
    assert!(message.contains("not a regular file"), "{message}");
}

#[test]
fn a_scenario_keeps_its_secrets_out_of_debug() {
    let config = Config::from_scenario_json(
        r#"{ "credentials": { "clientSecret": "secret-4Kq9", "username": "u", "password": "password-7Yq2" } }"#,
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("secret-4Kq9"), "{debug}");
    assert!(!debug.contains("password-7Yq2"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}
