//! Error answers in every body shape decode into one actionable
//! `ServiceError`, never into a second error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_model::http::{self, StatusCode};
use adu_model::*;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TRACEPARENT_ID: &str = "0af7651916cd43dd8448eb211c80319c";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_678_812_000)
}

/// What a shape should decode into.
struct Expect {
    code: Option<&'static str>,
    message: Option<String>,
    target: Option<&'static str>,
    trace_id: Option<&'static str>,
    has_error_object: bool,
    details: usize,
    inner: &'static [&'static str],
    truncated: bool,
}

fn shapes() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let huge = {
        // A documented-shape body padded past the kept bound.
        let padding = "x".repeat(MAX_KEPT_BODY + 10);
        format!(r#"{{"error":{{"code":"Huge","message":"{padding}"}}}}"#).into_bytes()
    };
    vec![
        (
            "documented",
            br#"{"error":{"code":"OperationNotFound","message":"Operation not found.","target":"operationId","details":[{"code":"A","message":"a"},{"code":"B","message":"b"}],"innererror":{"code":"Outer","innerError":{"code":"Inner","errorDetail":"disk"}},"occurredDateTime":"2023-03-14T16:40:00.1234567+00:00"}}"#.to_vec(),
            Expect {
                code: Some("OperationNotFound"),
                message: Some("Operation not found.".into()),
                target: Some("operationId"),
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: true,
                details: 2,
                inner: &["Outer", "Inner"],
                truncated: false,
            },
        ),
        (
            "documented, innerError spelling, traceId in body, unknown fields",
            br#"{"error":{"code":"C","message":"M","innerError":{"code":"I1","extra":1},"future":[1]},"traceId":"body-trace","other":{}}"#.to_vec(),
            Expect {
                code: Some("C"),
                message: Some("M".into()),
                target: None,
                trace_id: Some("body-trace"),
                has_error_object: true,
                details: 0,
                inner: &["I1"],
                truncated: false,
            },
        ),
        (
            "documented but missing the required message",
            br#"{"error":{"code":"OnlyCode"}}"#.to_vec(),
            Expect {
                code: Some("OnlyCode"),
                message: None,
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "problem+json",
            br#"{"type":"https://tools.ietf.org/html/rfc7231#section-6.5.4","title":"Not Found","status":404,"traceId":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}"#.to_vec(),
            Expect {
                code: None,
                message: Some("Not Found".into()),
                target: None,
                trace_id: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "problem+json with detail",
            br#"{"title":"Bad Request","detail":"The api-version query parameter is missing.","status":400}"#.to_vec(),
            Expect {
                code: None,
                message: Some("The api-version query parameter is missing.".into()),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "bare error object",
            br#"{"code":"BadArgument","message":"Bad argument.","target":"instanceId","traceId":"t-1"}"#.to_vec(),
            Expect {
                code: Some("BadArgument"),
                message: Some("Bad argument.".into()),
                target: Some("instanceId"),
                trace_id: Some("t-1"),
                has_error_object: true,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "plain text",
            b"  Service Unavailable\r\n".to_vec(),
            Expect {
                code: None,
                message: Some("Service Unavailable".into()),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "empty",
            Vec::new(),
            Expect {
                code: None,
                message: None,
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "invalid JSON",
            br#"{"error":{"code":"Cut","mess"#.to_vec(),
            Expect {
                code: None,
                message: Some(r#"{"error":{"code":"Cut","mess"#.into()),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "JSON of no known shape",
            br#"[1,2,3]"#.to_vec(),
            Expect {
                code: None,
                // Shown as it came, since nothing in it has a known meaning.
                message: Some("[1,2,3]".into()),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "an object of no known shape",
            br#"{"status":"down","retry":true}"#.to_vec(),
            Expect {
                code: None,
                message: Some(r#"{"status":"down","retry":true}"#.into()),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "an empty object",
            b"{}".to_vec(),
            Expect {
                code: None,
                message: None,
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "OAuth's error shape (a gateway refusing the token)",
            br#"{"error":"invalid_token","error_description":"The access token expired."}"#.to_vec(),
            Expect {
                code: Some("invalid_token"),
                message: Some("The access token expired.".into()),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "a lone message (ASP.NET)",
            br#"{"Message":"An error has occurred."}"#.to_vec(),
            Expect {
                code: None,
                message: Some("An error has occurred.".into()),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "a JSON string",
            br#""Service unavailable""#.to_vec(),
            Expect {
                code: None,
                message: Some("Service unavailable".into()),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "binary",
            vec![0xff, 0xfe, 0x00, 0x80],
            Expect {
                code: None,
                message: None,
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: false,
                details: 0,
                inner: &[],
                truncated: false,
            },
        ),
        (
            "huge (over the kept bound)",
            huge,
            Expect {
                // The whole body is read; its long message is cut to a short excerpt.
                code: Some("Huge"),
                message: Some(format!("{}…", "x".repeat(300))),
                target: None,
                trace_id: Some(TRACEPARENT_ID),
                has_error_object: true,
                details: 0,
                inner: &[],
                truncated: true,
            },
        ),
    ]
}

#[test]
fn every_status_in_every_body_shape_decodes_into_a_service_error() {
    let statuses = [400u16, 404, 429, 500, 503, 401, 403, 409];
    let mut checked = 0;
    for status in statuses {
        for (shape, body, want) in shapes() {
            for version in [ApiVersion::V2, ApiVersion::V2022_10_01] {
                let ctx = format!("{status} {shape} {version}");
                let response = http::Response::builder()
                    .status(status)
                    .header("traceparent", TRACEPARENT)
                    .header("retry-after", "7")
                    .header("x-ms-request-id", "req-1")
                    .body(body.clone())
                    .unwrap();
                let err =
                    decode_get_operation_response(version, OperationKind::Update, &response, now())
                        .unwrap_err();
                assert!(!err.is_input_error(), "{ctx}");
                let e = err.service().unwrap_or_else(|| panic!("{ctx}: {err:?}"));
                assert_eq!(e.status().as_u16(), status, "{ctx}");
                assert_eq!(e.code(), want.code, "{ctx}");
                assert_eq!(e.message(), want.message.as_deref(), "{ctx}");
                assert_eq!(e.target(), want.target, "{ctx}");
                assert_eq!(e.trace_id(), want.trace_id, "{ctx}");
                assert_eq!(e.error().is_some(), want.has_error_object, "{ctx}");
                assert_eq!(e.details().len(), want.details, "{ctx}");
                let inner: Vec<&str> = e.inner_errors().map(|i| i.code.as_str()).collect();
                assert_eq!(inner, want.inner, "{ctx}");
                assert_eq!(e.request_id(), Some("req-1"), "{ctx}");
                assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{ctx}");
                assert_eq!(e.body_truncated(), want.truncated, "{ctx}");
                let kept = body.len().min(MAX_KEPT_BODY);
                assert_eq!(e.raw_body(), &body[..kept], "{ctx}");
                assert_eq!(
                    e.kind(),
                    ServiceErrorKind::from_status(StatusCode::from_u16(status).unwrap())
                );
                assert_eq!(e.is_retryable(), matches!(status, 429 | 500 | 503), "{ctx}");
                let shown = err.to_string();
                assert!(shown.contains(&status.to_string()), "{ctx}: {shown}");
                assert!(shown.len() < 1000, "{ctx}: display is bounded");
                let debug = format!("{e:?}");
                assert!(debug.contains("ServiceError"), "{ctx}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 8 * shapes().len() * 2);
}

#[test]
fn kinds_and_advice() {
    let table = [
        (400, ServiceErrorKind::BadRequest),
        (401, ServiceErrorKind::Unauthorized),
        (403, ServiceErrorKind::Forbidden),
        (404, ServiceErrorKind::NotFound),
        (429, ServiceErrorKind::TooManyRequests),
        (500, ServiceErrorKind::ServerError),
        (599, ServiceErrorKind::ServerError),
        (409, ServiceErrorKind::Other),
        (302, ServiceErrorKind::Other),
    ];
    for (status, kind) in table {
        let k = ServiceErrorKind::from_status(StatusCode::from_u16(status).unwrap());
        assert_eq!(k, kind, "{status}");
        assert!(!k.advice().is_empty());
        assert!(k.advice().chars().next().unwrap().is_lowercase());
    }
}

#[test]
fn traceparent_that_is_not_w3c_gives_no_trace_id() {
    for tp in [
        "garbage",
        "00-short-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
    ] {
        let response = http::Response::builder()
            .status(500)
            .header("traceparent", tp)
            .body(Vec::new())
            .unwrap();
        let err = decode_get_operation_response(
            ApiVersion::V2022_10_01,
            OperationKind::Update,
            &response,
            now(),
        )
        .unwrap_err();
        assert_eq!(err.service().unwrap().trace_id(), None, "{tp}");
    }
}

#[test]
fn a_200_that_is_not_an_operation_is_a_decode_error_keeping_the_body() {
    let cases: [(&str, &[u8]); 6] = [
        ("empty", b""),
        // An operation whose id is Latin-1, not UTF-8: JSON must be UTF-8 (RFC 8259).
        ("not utf-8", b"{\"operationId\":\"caf\xe9\",\"status\":\"Running\",\"createdDateTime\":\"a\",\"lastActionDateTime\":\"b\"}"),
        ("invalid utf-8 at the end", b"{}\xff"),
        ("html", b"<html>gateway</html>"),
        ("missing required", br#"{"operationId":"x","status":"Running"}"#),
        ("wrong type", br#"{"operationId":1,"status":"Running","createdDateTime":"a","lastActionDateTime":"b"}"#),
    ];
    for (name, body) in cases {
        for version in [ApiVersion::V2, ApiVersion::V2022_10_01] {
            let response = http::Response::builder()
                .status(200)
                .body(body.to_vec())
                .unwrap();
            let err =
                decode_get_operation_response(version, OperationKind::Update, &response, now())
                    .unwrap_err();
            let Error::Decode(d) = &err else {
                panic!("{name}: expected a decode error, got {err:?}");
            };
            assert_eq!(d.status(), StatusCode::OK);
            assert_eq!(d.raw_body(), body, "{name}");
            assert!(!d.reason().is_empty());
            if name.contains("utf-8") {
                assert!(d.reason().contains("UTF-8"), "{name}: {}", d.reason());
            }
            assert!(
                err.to_string().starts_with("the service answered 200"),
                "{err}"
            );
        }
    }
    // A huge 200 body keeps only the bound.
    let huge = vec![b'['; MAX_KEPT_BODY * 2];
    let response = http::Response::builder().status(200).body(huge).unwrap();
    let err =
        decode_get_operation_response(ApiVersion::V2, OperationKind::Update, &response, now())
            .unwrap_err();
    let Error::Decode(d) = err else { panic!() };
    assert_eq!(d.raw_body().len(), MAX_KEPT_BODY);
}

#[test]
fn other_success_statuses_are_service_errors_not_operations() {
    // 202 or 204 are not what get-operation answers; keep what came.
    for status in [201u16, 202, 204, 302] {
        let response = http::Response::builder()
            .status(status)
            .body(b"{}".to_vec())
            .unwrap();
        let err = decode_get_operation_response(
            ApiVersion::V2022_10_01,
            OperationKind::Update,
            &response,
            now(),
        )
        .unwrap_err();
        assert_eq!(err.service().unwrap().status().as_u16(), status);
    }
}

#[test]
fn unsupported_kind_is_refused_before_any_request_and_by_the_decoder() {
    let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
    let instance = InstanceId::new("blue").unwrap();
    let op = OperationId::new("x").unwrap();
    let device = OperationKind::Device;
    let built =
        build_get_operation_request(&endpoint, &instance, &op, device, ApiVersion::V2, None);
    let listed = build_list_operations_request(
        &endpoint,
        &instance,
        device,
        ApiVersion::V2,
        &ListOptions::default(),
    );
    let ok = http::Response::builder()
        .status(200)
        .body(b"{}".to_vec())
        .unwrap();
    let decoded = decode_get_operation_response(ApiVersion::V2, device, &ok, now());
    for err in [
        built.unwrap_err(),
        listed.unwrap_err(),
        decoded.unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::UnsupportedKind {
                    kind: OperationKind::Device,
                    version: ApiVersion::V2
                }
            ),
            "{err:?}"
        );
        assert!(err.is_input_error());
        assert!(err
            .to_string()
            .starts_with("API version `v2` has no device operations"));
    }
}

#[test]
fn an_unknown_api_version_in_a_location_is_named_with_the_accepted_ones() {
    let err =
        location_info("https://u:pw@h/deviceUpdate/b/updates/operations/x?api-version=1999-01-01")
            .unwrap_err();
    let Error::UnknownApiVersion { input, version } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(version, "1999-01-01");
    assert!(!input.contains("pw"), "{input}");
    assert!(err.is_input_error());
    assert!(
        err.to_string().ends_with(
            "which this crate does not speak; use 2026-06-01, 2022-10-01, v2 (or 2020-09-01)"
        ),
        "{err}"
    );
}
