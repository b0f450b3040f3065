//! The documented examples and recorded-traffic shapes in `tests/fixtures/`:
//! building their request yields exactly the documented URL, and decoding
//! their response yields the documented values.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_model::http::{self, HeaderName, HeaderValue};
use adu_model::models::{InnerError, Operation, OperationStatus, UpdateId};
use adu_model::*;
use serde_json::Value;

/// One exchange as a fixture file describes it.
struct Fixture {
    name: String,
    version: ApiVersion,
    kind: OperationKind,
    endpoint: String,
    instance: String,
    operation: String,
    if_none_match: Option<String>,
    url: String,
    response: http::Response<Vec<u8>>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(name: &str) -> Fixture {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    let req = &v["request"];
    let resp = &v["response"];
    let mut builder =
        http::Response::builder().status(u16::try_from(resp["status"].as_u64().unwrap()).unwrap());
    for (k, val) in resp["headers"].as_object().unwrap() {
        builder = builder.header(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(val.as_str().unwrap()).unwrap(),
        );
    }
    let body = match (&resp["body"], &resp["bodyText"]) {
        (Value::Null, Value::String(t)) => t.clone().into_bytes(),
        (body, Value::Null) => serde_json::to_vec(body).unwrap(),
        _ => panic!("{name}: give either body or bodyText"),
    };
    Fixture {
        name: name.to_owned(),
        version: v["apiVersion"].as_str().unwrap().parse().unwrap(),
        kind: v["kind"].as_str().unwrap_or("update").parse().unwrap(),
        endpoint: s(&req["endpoint"]),
        instance: s(&req["instanceId"]),
        operation: s(&req["operationId"]),
        if_none_match: req["ifNoneMatch"].as_str().map(str::to_owned),
        url: s(&req["url"]),
        response: builder.body(body).unwrap(),
    }
}

fn all_fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

fn now() -> SystemTime {
    // 2023-03-14T16:40:00Z, a fixed clock reading.
    UNIX_EPOCH + Duration::from_secs(1_678_812_000)
}

fn decode(f: &Fixture) -> Result<GetOperationOutcome, Error> {
    decode_get_operation_response(f.version, f.kind, &f.response, now())
}

fn operation(f: &Fixture) -> OperationResponse {
    match decode(f) {
        Ok(GetOperationOutcome::Operation(r)) => r,
        other => panic!("{}: expected an operation, got {other:?}", f.name),
    }
}

fn service_error(f: &Fixture) -> ServiceError {
    match decode(f) {
        Err(Error::Service(e)) => *e,
        other => panic!("{}: expected a service error, got {other:?}", f.name),
    }
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text)
}

#[test]
fn every_fixture_builds_exactly_its_documented_url() {
    let names = all_fixture_names();
    assert!(names.len() >= 10, "fixtures went missing: {names:?}");
    for name in names {
        let f = load(&name);
        let request = build_get_operation_request(
            &Endpoint::parse(&f.endpoint).unwrap(),
            &InstanceId::new(&f.instance).unwrap(),
            &OperationId::new(&f.operation).unwrap(),
            f.kind,
            f.version,
            f.if_none_match.as_deref(),
        )
        .unwrap();
        assert_eq!(request.uri().to_string(), f.url, "{name}");
        assert_eq!(request.method(), http::Method::GET, "{name}");
        assert_eq!(request.headers()["accept"], "application/json", "{name}");
        assert_eq!(
            request
                .headers()
                .get("if-none-match")
                .map(|v| v.to_str().unwrap()),
            f.if_none_match.as_deref(),
            "{name}"
        );
        assert!(request.body().is_empty(), "{name}");
        assert!(
            request.headers().get("authorization").is_none(),
            "the model never adds a credential"
        );
    }
}

#[test]
fn documented_example_current_api() {
    let f = load("get_operation_2022-10-01.json");
    assert_eq!(
        f.url,
        "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/e4491c54-916f-443d-9094-bcca546ace2f?api-version=2022-10-01"
    );
    let r = operation(&f);
    let AnyOperation::Current(op) = &r.operation else {
        panic!("expected the current model, got {:?}", r.operation);
    };
    assert_eq!(op.operation_id, "e4491c54-916f-443d-9094-bcca546ace2f");
    assert_eq!(op.status, OperationStatus::Succeeded);
    let update = op.update.as_ref().unwrap();
    assert_eq!(
        update.update_id,
        UpdateId::new("microsoft", "adu", "1.0.0.0")
    );
    assert_eq!(update.friendly_name.as_deref(), Some("Microsoft ADU v1"));
    assert_eq!(update.description, None);
    assert_eq!(
        op.resource_location.as_deref(),
        Some("/deviceUpdate/blue/updates/providers/microsoft/names/adu/versions/1.0.0.0?api-version=2022-10-01")
    );
    assert_eq!(
        op.trace_id.as_deref(),
        Some("2b881ef9deaf5d45b0a716ca5b4145ec")
    );
    assert_eq!(
        op.created_date_time.as_str(),
        "2020-04-22T21:00:53.2548897+00:00"
    );
    assert_eq!(
        op.created_date_time.unix_time(),
        Some((1_587_589_253, 254_889_700))
    );
    assert_eq!(
        op.last_action_date_time.unix_time(),
        Some((1_587_589_303, 940_142_000))
    );
    assert_eq!(
        op.etag.as_deref(),
        Some("\"a0f7b6f2-3f6c-4eb6-8a59-2f5411c23888\"")
    );
    assert!(op.error.is_none());
    // No ETag header in the example: the body's etag is the one to send back.
    assert_eq!(r.etag, None);
    assert_eq!(
        r.etag_for_next_poll(),
        Some("\"a0f7b6f2-3f6c-4eb6-8a59-2f5411c23888\"")
    );
    assert_eq!(r.retry_after, None);
    assert!(r.operation.is_terminal());
    assert_eq!(
        r.operation.update_id(),
        Some(&UpdateId::new("microsoft", "adu", "1.0.0.0"))
    );
}

#[test]
fn documented_example_legacy_api() {
    let f = load("get_operation_v2.json");
    assert_eq!(
        f.url,
        "https://contoso.api.adu.microsoft.com/deviceupdate/blue/v2/updates/operations/e4491c54-916f-443d-9094-bcca546ace2f"
    );
    let r = operation(&f);
    let AnyOperation::Legacy(op) = &r.operation else {
        panic!("expected the legacy model, got {:?}", r.operation);
    };
    let mut expected = Operation::new(
        "e4491c54-916f-443d-9094-bcca546ace2f",
        OperationStatus::Succeeded,
        ts("2020-04-22T21:01:43.9401420+00:00"),
        ts("2020-04-22T21:00:53.2548897+00:00"),
    );
    expected.resource_location =
        Some("/v2/updates/providers/microsoft/names/adu/versions/1.0.0.0".to_owned());
    expected.trace_id = Some("2b881ef9deaf5d45b0a716ca5b4145ec".to_owned());
    expected.etag = Some(ETag::new("\"a0f7b6f2-3f6c-4eb6-8a59-2f5411c23888\""));
    assert_eq!(op, &expected);
    assert_eq!(r.operation.update_id(), None);
    assert!(r.operation.is_terminal());
}

#[test]
fn recorded_running_with_etag_traceparent_offsets_and_unknown_fields() {
    let f = load("recorded_running_etag_traceparent.json");
    let r = operation(&f);
    assert_eq!(r.operation.status(), &OperationStatus::Running);
    assert!(!r.operation.is_terminal());
    assert_eq!(
        r.etag.as_deref(),
        Some("\"e0d5b0f1-7a44-4c3e-b1c9-0a6f2d8e5c31\"")
    );
    // The header and the body carry the same quoted ETag.
    assert_eq!(r.operation.etag(), r.etag.as_deref());
    assert_eq!(r.retry_after, Some(Duration::from_secs(5)));
    assert_eq!(
        r.operation.trace_id(),
        Some("7d1f2a9c4be34f0a9e6b5c3d2a1f0e9d")
    );
    let created = r.operation.created_date_time();
    assert_eq!(created.as_str(), "2023-03-14T09:26:53.5897932-07:00");
    assert_eq!(created.offset_minutes(), Some(-420));
    // 09:26:53 at -07:00 is 16:26:53 UTC.
    assert_eq!(created.unix_time(), Some((1_678_811_213, 589_793_200)));
    let last = r.operation.last_action_date_time();
    assert_eq!(last.unix_time(), Some((1_678_811_221, 100)));
    assert_eq!(last.offset_minutes(), Some(0));
    assert!(last.instant().unwrap() > created.instant().unwrap());
}

#[test]
fn recorded_failed_import_exposes_the_innermost_storage_error() {
    let f = load("recorded_failed_import.json");
    let r = operation(&f);
    assert_eq!(r.operation.status(), &OperationStatus::Failed);
    assert!(r.operation.is_terminal());
    let error = r.operation.error().unwrap();
    assert_eq!(error.code, "ImportFailed");
    assert_eq!(error.message, "Import of update failed.");
    assert_eq!(
        error.occurred_date_time.as_ref().unwrap().unix_time(),
        Some((1_678_811_467, 623_459_800))
    );
    // `innerError` inside `Error`, as the real service spells it.
    let chain: Vec<&InnerError> = r.operation.inner_errors().collect();
    let codes: Vec<&str> = chain.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["ImportFileDownloadFailed", "StorageAccessDenied"]);
    assert_eq!(
        chain[0].error_detail.as_deref(),
        Some("The import manifest could not be downloaded.")
    );
    let innermost = chain.last().unwrap();
    assert_eq!(innermost.message, None);
    assert!(innermost
        .error_detail
        .as_deref()
        .unwrap()
        .contains("(403) Forbidden"));
}

#[test]
fn recorded_failed_import_legacy_spelling_and_details() {
    let f = load("recorded_failed_import_v2.json");
    let r = operation(&f);
    let AnyOperation::Legacy(op) = &r.operation else {
        panic!("expected the legacy model");
    };
    assert_eq!(
        op.update_id,
        Some(UpdateId::new("fabrikam", "camera", "2.1.0.4"))
    );
    let error = op.error.as_ref().unwrap();
    assert_eq!(error.target.as_deref(), Some("importManifest"));
    let details = error.details.as_deref().unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].code, "FileHashMismatch");
    assert_eq!(details[0].target.as_deref(), Some("firmware.bin"));
    // `innererror` inside `Error`, as the spec spells it.
    let codes: Vec<&str> = r
        .operation
        .inner_errors()
        .map(|e| e.code.as_str())
        .collect();
    assert_eq!(codes, ["ImportFileDownloadFailed", "StorageAccessDenied"]);
    // No fraction, and a fraction of two digits with a +05:30 offset.
    assert_eq!(op.created_date_time.unix_time(), Some((1_678_811_442, 0)));
    assert_eq!(
        op.last_action_date_time.unix_time(),
        Some((1_678_811_467 - 5 * 3600 - 30 * 60, 620_000_000))
    );
    assert_eq!(op.last_action_date_time.offset_minutes(), Some(330));
    assert_eq!(r.etag_for_next_poll(), None);
}

#[test]
fn recorded_unknown_status_is_kept_as_sent() {
    let f = load("recorded_unknown_status.json");
    let r = operation(&f);
    assert_eq!(
        r.operation.status(),
        &OperationStatus::Unknown("Cancelling".to_owned())
    );
    assert_eq!(r.operation.status().as_str(), "Cancelling");
    assert!(!r.operation.is_terminal());
    assert_eq!(r.retry_after, Some(Duration::from_millis(1500)));
    // It is written back out as the service sent it.
    let json = serde_json::to_value(&r.operation).unwrap();
    assert_eq!(json["status"], "Cancelling");
    assert!(json.get("futureField").is_none());
}

#[test]
fn not_modified_is_an_outcome_not_an_error() {
    let f = load("not_modified_304.json");
    assert_eq!(
        decode(&f).unwrap(),
        GetOperationOutcome::NotModified {
            etag: Some(ETag::new("\"e0d5b0f1-7a44-4c3e-b1c9-0a6f2d8e5c31\"")),
            retry_after: Some(Duration::from_millis(2500)),
        }
    );
    // The same for the legacy API, and with no headers at all.
    let bare = http::Response::builder()
        .status(304)
        .body(Vec::new())
        .unwrap();
    for version in [ApiVersion::V2, ApiVersion::V2022_10_01] {
        assert_eq!(
            decode_get_operation_response(version, OperationKind::Update, &bare, now()).unwrap(),
            GetOperationOutcome::NotModified {
                etag: None,
                retry_after: None
            }
        );
    }
}

#[test]
fn recorded_legacy_404_problem_json() {
    let f = load("recorded_legacy_404_problem.json");
    let e = service_error(&f);
    assert_eq!(e.status(), http::StatusCode::NOT_FOUND);
    assert_eq!(e.kind(), ServiceErrorKind::NotFound);
    assert_eq!(e.message(), Some("Not Found"));
    assert_eq!(e.code(), None);
    assert_eq!(
        e.trace_id(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
    );
    assert!(e.error().is_none());
    assert!(!e.is_retryable());
    assert_eq!(e.raw_body(), f.response.body().as_slice());
    assert!(!e.body_truncated());
}

#[test]
fn documented_404_takes_the_trace_id_from_traceparent() {
    let f = load("error_404_documented.json");
    let e = service_error(&f);
    assert_eq!(e.code(), Some("OperationNotFound"));
    assert!(e.message().unwrap().starts_with("Operation with id"));
    assert_eq!(e.trace_id(), Some("0af7651916cd43dd8448eb211c80319c"));
    assert_eq!(e.error().unwrap().code, "OperationNotFound");
    let shown = e.to_string();
    assert!(shown.contains("404"), "{shown}");
    assert!(shown.contains("OperationNotFound"), "{shown}");
    assert!(
        shown.contains("0af7651916cd43dd8448eb211c80319c"),
        "{shown}"
    );
}

#[test]
fn documented_429_with_retry_after_details_and_inner_error() {
    let f = load("error_429_throttled.json");
    let e = service_error(&f);
    assert_eq!(e.kind(), ServiceErrorKind::TooManyRequests);
    assert!(e.is_retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(e.code(), Some("TooManyRequests"));
    assert_eq!(e.target(), Some("operationId"));
    assert_eq!(e.request_id(), Some("5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716"));
    assert_eq!(e.details().len(), 1);
    assert_eq!(e.details()[0].code, "RateLimited");
    let inner: Vec<&str> = e.inner_errors().map(|i| i.code.as_str()).collect();
    assert_eq!(inner, ["ThrottledByInstance"]);
    let shown = e.to_string();
    assert!(
        shown.contains("innermost: ThrottledByInstance: Instance blue is throttled."),
        "{shown}"
    );
}

#[test]
fn an_error_with_both_spellings_of_innererror_still_decodes() {
    // The spec spells it `innererror`, the service `innerError`; a body with both must
    // not fail the whole operation as a duplicate field. The spec's spelling wins.
    let body = br#"{"operationId":"x","status":"Failed","createdDateTime":"2022-01-05T18:24:39Z","lastActionDateTime":"2022-01-05T18:25:01Z",
        "error":{"code":"ImportFailed","message":"m","innerError":{"code":"Observed"},"innererror":{"code":"Documented","innerError":{"code":"Deeper"}}}}"#;
    for version in [ApiVersion::V2, ApiVersion::V2022_10_01] {
        let response = http::Response::builder()
            .status(200)
            .body(body.to_vec())
            .unwrap();
        let GetOperationOutcome::Operation(r) =
            decode_get_operation_response(version, OperationKind::Update, &response, now())
                .unwrap()
        else {
            panic!("expected the operation");
        };
        let codes: Vec<&str> = r
            .operation
            .inner_errors()
            .map(|e| e.code.as_str())
            .collect();
        assert_eq!(codes, ["Documented", "Deeper"], "{version:?}");
        // Written back out with the spec's spelling only.
        let json = serde_json::to_value(&r.operation).unwrap();
        assert_eq!(json["error"]["innererror"]["code"], "Documented");
        assert!(json["error"].get("innerError").is_none());
    }
    // Either spelling alone is read.
    for key in ["innererror", "innerError"] {
        let text = format!(r#"{{"code":"c","message":"m","{key}":{{"code":"only"}}}}"#);
        let e: models::Error = serde_json::from_str(&text).unwrap();
        assert_eq!(e.innererror.unwrap().code, "only", "{key}");
    }
}

/// A tag that cannot go back as `If-None-Match` is passed over: the header's for the
/// body's, and both for none (the next poll is then unconditional instead of failing).
#[test]
fn etag_for_next_poll_skips_tags_that_cannot_be_sent() {
    let answer = |header: Option<&str>, body_etag: &str| {
        let body = format!(
            r#"{{"operationId":"op","status":"Running","createdDateTime":"2022-01-05T18:24:39Z","lastActionDateTime":"2022-01-05T18:25:01Z","etag":{}}}"#,
            serde_json::to_string(body_etag).unwrap()
        );
        let mut response = http::Response::builder().status(200);
        if let Some(value) = header {
            response = response.header("etag", HeaderValue::from_bytes(value.as_bytes()).unwrap());
        }
        let response = response.body(body.into_bytes()).unwrap();
        match decode_get_operation_response(
            ApiVersion::V2022_10_01,
            OperationKind::Update,
            &response,
            SystemTime::now(),
        )
        .unwrap()
        {
            GetOperationOutcome::Operation(r) => r,
            GetOperationOutcome::NotModified { .. } => unreachable!(),
        }
    };
    let both = answer(Some("\"h\""), "\"b\"");
    assert_eq!(both.etag_for_next_poll(), Some("\"h\""));
    let tab_in_header = answer(Some("\"h\t\""), "\"b\"");
    assert_eq!(tab_in_header.etag_for_next_poll(), Some("\"b\""));
    let odd_body = answer(None, "\"café\"");
    assert_eq!(odd_body.operation.etag(), Some("\"café\""), "kept as sent");
    assert_eq!(odd_body.etag_for_next_poll(), None);
    let empty_header = answer(Some(""), "");
    assert_eq!(empty_header.etag_for_next_poll(), None);
}

#[test]
fn device_operation_decodes_without_update_or_resource_location() {
    let f = load("device_operation_2026-06-01.json");
    let r = operation(&f);
    let AnyOperation::Device(op) = &r.operation else {
        panic!("{:?}", r.operation)
    };
    assert_eq!(op.operation_id, "9d2e4f60-7b13-4c85-a0f2-1e3d5c7b9a42");
    assert_eq!(r.operation.kind(), OperationKind::Device);
    assert_eq!(r.operation.status(), &OperationStatus::Running);
    assert_eq!(r.operation.update_id(), None);
    assert_eq!(r.operation.resource_location(), None);
    assert_eq!(
        r.operation.trace_id(),
        Some("3c4d5e6f708192a3b4c5d6e7f8091a2b")
    );
    assert_eq!(r.retry_after, Some(Duration::from_secs(10)));
    assert_eq!(
        r.etag_for_next_poll(),
        Some("\"5d2e3f40-1b0c-4d9e-c8f7-06b5c4d3e2f1\"")
    );
    assert_eq!(
        r.operation.created_date_time(),
        &ts("2026-06-03T07:30:00.1234567-07:00")
    );
    // Its Operation-Location reads as what it is.
    let location = f
        .url
        .strip_prefix("https://contoso.api.adu.microsoft.com")
        .unwrap();
    assert_eq!(location_info(location).unwrap(), (f.version, f.kind));
    // The same body read as an update operation of the legacy API is refused for the kind,
    // not misread.
    let legacy =
        decode_get_operation_response(ApiVersion::V2, OperationKind::Device, &f.response, now());
    assert!(matches!(legacy, Err(Error::UnsupportedKind { .. })));
    // A 304 to a conditional device read is an outcome, as for update operations.
    let not_modified = http::Response::builder()
        .status(304)
        .body(Vec::new())
        .unwrap();
    let outcome = decode_get_operation_response(f.version, f.kind, &not_modified, now()).unwrap();
    assert!(matches!(outcome, GetOperationOutcome::NotModified { .. }));
}
