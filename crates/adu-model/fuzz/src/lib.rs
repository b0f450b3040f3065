//! The fuzz targets' logic: one function per target, taking the raw fuzz
//! input and panicking when an invariant breaks.
//!
//! This file has no libFuzzer dependency on purpose. The binaries in
//! `fuzz_targets/` call these functions under libFuzzer, and
//! `crates/adu-model/tests/fuzz_smoke.rs` includes this file with
//! `#[path]` and feeds it the seed corpora plus generated inputs in a plain
//! `cargo test`.
//!
//! Input layouts (so seeds can be written by hand):
//! - `decode_response`: byte 0 picks the API version and kind (bit 0 set: v2;
//!   else bit 1 set: device-management operations, bit 2 set: 2026-06-01 rather
//!   than 2022-10-01); bytes 1..3 are the status, big-endian (taken as is when in
//!   100..=999, else picked from a table); then header lines `name: value\n`,
//!   an empty line, and the body. Input starting with `\n` after the status has
//!   no headers; input with no empty line is all body.
//! - `decode_error_body`: bytes 0..2 are the status as above, the rest is the body.
//! - `retry_after`: byte 0 picks the header name, bytes 1..9 the clock reading
//!   (big-endian seconds, reduced below year 10000), the rest is the value.
//! - `operation_location`: the whole input is the header value.
//! - `timestamp`: the whole input is the text.
//! - `ids`: byte 0 picks the id (bit 0: 0 = instance, 1 = operation), the
//!   rest is its text (invalid UTF-8 replaced, as a lossy `OsStr` would be).
//! - `api_version`: the whole input is an `Operation-Location` value (or,
//!   when it is a valid instance name, also the instance of built requests).
//! - `etag`: the whole input is the tag's text (invalid UTF-8 replaced).
//! - `decode_list`: laid out as for `decode_response`, the body a page of a list.
//! - `next_link`: byte 0 picks the version and kind as for `decode_response` (bit 3: a
//!   loopback endpoint), byte 1 the `top` (255: none), and the rest, split at `\n`,
//!   is the `nextLink` of each page in turn (invalid UTF-8 replaced).

#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_model::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use adu_model::{
    build_get_operation_request, build_get_request, build_operation_location_request,
    decode_get_operation_response, decode_list_operations_response, decode_service_error,
    location_info, parse_retry_after, parse_retry_after_value, resolve_operation_location,
    ApiVersion, ETag, Endpoint, Error, GetOperationOutcome, InstanceId, ListOptions, OperationId,
    OperationKind, Pager, Timestamp, MAX_KEPT_BODY,
};

/// Statuses picked when the input's two status bytes are not a valid status.
const STATUSES: [u16; 16] = [
    200, 304, 404, 429, 400, 500, 503, 401, 403, 202, 204, 408, 409, 502, 504, 302,
];

/// Seconds from the epoch to 10000-01-01, the end of what HTTP-dates and
/// RFC 3339 four-digit years can name.
const YEAR_10000: u64 = 253_402_300_800;

fn status_from(hi: u8, lo: u8) -> StatusCode {
    let raw = u16::from_be_bytes([hi, lo]);
    let code = if (100..=999).contains(&raw) {
        raw
    } else {
        STATUSES[usize::from(raw) % STATUSES.len()]
    };
    StatusCode::from_u16(code).expect("100..=999 is always a valid status")
}

/// Splits `headers "\n" body` as the module docs describe.
fn split_headers(rest: &[u8]) -> (&[u8], &[u8]) {
    if let Some(body) = rest.strip_prefix(b"\n") {
        return (&[], body);
    }
    match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&[], rest),
    }
}

fn parse_headers(block: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in block.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = trim(&line[colon + 1..]);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The version and kind byte 0 of a decode target's input picks: bit 0 set is the legacy
/// API (update operations); otherwise bit 1 picks device-management operations and bit 2
/// 2026-06-01 over 2022-10-01.
fn version_and_kind(byte: u8) -> (ApiVersion, OperationKind) {
    if byte & 1 == 1 {
        return (ApiVersion::V2, OperationKind::Update);
    }
    let version = match byte & 4 {
        0 => ApiVersion::V2022_10_01,
        _ => ApiVersion::V2026_06_01,
    };
    let kind = match byte & 2 {
        0 => OperationKind::Update,
        _ => OperationKind::Device,
    };
    (version, kind)
}

fn fixed_now() -> SystemTime {
    // 2023-03-14T16:40:00Z.
    UNIX_EPOCH + Duration::from_secs(1_678_812_000)
}

/// Decodes a whole response of any version and kind; checks the outcome matches
/// the status, bodies are kept bounded, and a decoded operation survives a
/// JSON round trip.
pub fn decode_response(data: &[u8]) {
    let [v, hi, lo, rest @ ..] = data else {
        return;
    };
    let (version, kind) = version_and_kind(*v);
    let status = status_from(*hi, *lo);
    let (block, body) = split_headers(rest);
    let mut response = Response::new(body.to_vec());
    *response.status_mut() = status;
    *response.headers_mut() = parse_headers(block);
    match decode_get_operation_response(version, kind, &response, fixed_now()) {
        Ok(GetOperationOutcome::Operation(r)) => {
            assert_eq!(status, StatusCode::OK);
            // What was decoded can be written out and read back unchanged.
            let json = serde_json::to_vec(&r.operation).expect("an operation serializes");
            let again = Response::new(json);
            assert_eq!(r.operation.kind(), kind);
            match decode_get_operation_response(version, kind, &again, fixed_now()) {
                Ok(GetOperationOutcome::Operation(back)) => assert_eq!(back.operation, r.operation),
                other => panic!("a re-encoded operation did not decode: {other:?}"),
            }
            let _ = r.operation.inner_errors().count();
            let _ = r.etag_for_next_poll();
        }
        Ok(GetOperationOutcome::NotModified { .. }) => assert_eq!(status, StatusCode::NOT_MODIFIED),
        Err(Error::Decode(d)) => {
            assert_eq!(status, StatusCode::OK);
            assert!(d.raw_body().len() <= MAX_KEPT_BODY);
            assert!(body.starts_with(d.raw_body()));
            let _ = d.to_string();
        }
        Err(Error::Service(e)) => {
            assert!(status != StatusCode::OK && status != StatusCode::NOT_MODIFIED);
            assert_eq!(e.status(), status);
            assert!(body.starts_with(e.raw_body()));
            assert_eq!(e.body_truncated(), body.len() > MAX_KEPT_BODY);
            let _ = e.to_string();
        }
        Err(other) => panic!("decoding produced an input error: {other:?}"),
    }
}

/// Decodes an error body; checks the accessors agree with the decoded error
/// object and the raw body is kept, bounded.
pub fn decode_error_body(data: &[u8]) {
    let [hi, lo, body @ ..] = data else {
        return;
    };
    let status = status_from(*hi, *lo);
    let e = decode_service_error(status, &HeaderMap::new(), body, fixed_now());
    assert_eq!(e.status(), status);
    assert_eq!(e.raw_body(), &body[..body.len().min(MAX_KEPT_BODY)]);
    assert_eq!(e.body_truncated(), body.len() > MAX_KEPT_BODY);
    assert_eq!(e.retry_after(), None);
    if let Some(err) = e.error() {
        // Whole, or (from a body over the kept bound) a prefix cut short with an ellipsis.
        let agrees = |shown: Option<&str>, full: Option<&str>| match (shown, full) {
            (Some(shown), Some(full)) if e.body_truncated() => {
                shown == full || full.starts_with(shown.trim_end_matches('…'))
            }
            (shown, full) => shown == full,
        };
        assert!(agrees(e.code(), Some(err.code.as_str())));
        assert!(agrees(e.message(), Some(err.message.as_str())));
        assert!(agrees(e.target(), err.target.as_deref()));
        assert_eq!(e.details().len(), err.details.as_ref().map_or(0, Vec::len));
    } else {
        assert!(e.details().is_empty());
        assert_eq!(e.inner_errors().count(), 0);
    }
    let _ = e.to_string();
    let _ = format!("{e:?}");
}

/// What RFC 9110 §10.2.3 says a `Retry-After` value means, written
/// independently of the crate: delay-seconds (saturating), else an
/// HTTP-date relative to `now`, else nothing.
fn reference_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(trim(value)).ok()?;
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or_default())
}

fn reference_millis(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(trim(value)).ok()?;
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_millis(text.parse().unwrap_or(u64::MAX)));
    }
    None
}

/// Parses a `Retry-After` value and a header map holding it; checks both
/// against the reference, including the millisecond headers' precedence.
pub fn retry_after(data: &[u8]) {
    let [selector, n0, n1, n2, n3, n4, n5, n6, n7, value @ ..] = data else {
        return;
    };
    let now_secs = u64::from_be_bytes([*n0, *n1, *n2, *n3, *n4, *n5, *n6, *n7]) % YEAR_10000;
    let now = UNIX_EPOCH + Duration::from_secs(now_secs);
    assert_eq!(
        parse_retry_after_value(value, now),
        reference_retry_after(value, now),
        "value {:?}",
        String::from_utf8_lossy(value)
    );
    let Ok(header) = HeaderValue::from_bytes(value) else {
        return;
    };
    let names = ["retry-after", "retry-after-ms", "x-ms-retry-after-ms"];
    let mut headers = HeaderMap::new();
    let mut millis = None;
    for (i, name) in names.iter().enumerate() {
        if selector & (1 << i) != 0 {
            headers.insert(*name, header.clone());
            if i > 0 {
                millis = millis.or(reference_millis(value));
            }
        }
    }
    let want = millis.or_else(|| {
        if selector & 1 != 0 {
            reference_retry_after(value, now)
        } else {
            None
        }
    });
    assert_eq!(parse_retry_after(&headers, now), want);
}

/// Resolves the input as an `Operation-Location` against fixed endpoints;
/// checks that whatever resolves stays on the endpoint's origin.
pub fn operation_location(data: &[u8]) {
    let Ok(location) = std::str::from_utf8(data) else {
        return;
    };
    for endpoint in [
        "contoso.api.adu.microsoft.com",
        "http://127.0.0.1:8080",
        "https://[::1]:8443",
    ] {
        let endpoint = Endpoint::parse(endpoint).expect("a valid fixed endpoint");
        let resolved = resolve_operation_location(&endpoint, location);
        let request = build_operation_location_request(&endpoint, location, None);
        match (&resolved, &request) {
            (Ok(uri), Ok(request)) => {
                assert_eq!(request.uri(), uri);
                assert!(endpoint.same_origin(uri), "{location:?} resolved to {uri}");
                assert_eq!(uri.scheme_str(), Some(endpoint.scheme()));
                assert_eq!(
                    uri.authority().map(|a| a.as_str()),
                    Some(endpoint.authority())
                );
                assert!(!uri.to_string().contains('#'));
                assert!(uri.path().starts_with('/'));
                let trimmed = location.trim_matches([' ', '\t']);
                if trimmed.starts_with('/') && !trimmed.starts_with("//") {
                    // A relative reference is kept byte for byte: its query is
                    // never percent-encoded into the path.
                    assert_eq!(uri.path_and_query().map(|p| p.as_str()), Some(trimmed));
                }
            }
            (Err(e), Err(_)) => {
                assert!(e.is_input_error());
                assert!(e.to_string().len() < 1024);
            }
            _ => panic!("resolve and build disagree on {location:?}"),
        }
    }
}

/// Parses the input as a timestamp; checks the text is kept, the parts are
/// consistent, and a valid instant formats and parses back to itself.
pub fn timestamp(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let t = Timestamp::parse(text.clone());
    assert_eq!(t.as_str(), text);
    assert_eq!(t.is_valid(), t.unix_time().is_some());
    assert_eq!(t.is_valid(), t.offset_minutes().is_some());
    let json = serde_json::to_string(&t).expect("a timestamp serializes");
    let back: Timestamp = serde_json::from_str(&json).expect("and deserializes");
    assert_eq!(back, t);
    let Some((secs, nanos)) = t.unix_time() else {
        assert_eq!(t.instant(), None);
        return;
    };
    assert!(nanos < 1_000_000_000);
    assert!(t.offset_minutes().is_some_and(|m| m.abs() < 24 * 60));
    // Four-digit years, shifted by at most a day of offset (and a leap second).
    assert!((-62_167_219_200 - 86_400..YEAR_10000 as i64 + 86_400).contains(&secs));
    let instant = t.instant().expect("a valid timestamp has an instant");
    if (0..YEAR_10000 as i64).contains(&secs) {
        let again = Timestamp::from_system_time(instant);
        assert_eq!(again.unix_time(), Some((secs, nanos / 100 * 100)), "{text}");
        assert_eq!(
            httpdate::parse_http_date(&httpdate::fmt_http_date(instant)).ok(),
            Some(UNIX_EPOCH + Duration::from_secs(secs as u64))
        );
    }
}

/// What the API documents an id to be, written independently of the crate:
/// 1 to 256 characters, no control characters, not `.` or `..`.
fn reference_id_ok(text: &str) -> bool {
    (1..=256).contains(&text.chars().count())
        && text != "."
        && text != ".."
        && !text.chars().any(char::is_control)
}

/// Validates the input as an instance name or operation id; checks the
/// verdict agrees with the documented rule, errors are bounded, and an
/// accepted id travels as exactly one path segment that decodes back to it.
pub fn ids(data: &[u8]) {
    let [selector, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let operation = selector & 1 == 1;
    let verdict = if operation {
        OperationId::new(text.as_str()).map(|o| (InstanceId::new("blue").unwrap(), o))
    } else {
        InstanceId::new(text.as_str()).map(|i| (i, OperationId::new("op-1").unwrap()))
    };
    let (instance, operation_id) = match verdict {
        Ok(ids) => ids,
        Err(e) => {
            assert!(!reference_id_ok(&text), "{text:?} was refused: {e}");
            assert!(e.is_input_error());
            assert!(e.to_string().len() < 1024, "the message is unbounded");
            return;
        }
    };
    assert!(reference_id_ok(&text), "{text:?} was accepted");
    assert_eq!(
        if operation {
            operation_id.as_str()
        } else {
            instance.as_str()
        },
        text
    );
    let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").expect("a valid endpoint");
    for (version, kind) in versions_and_kinds() {
        let request =
            build_get_operation_request(&endpoint, &instance, &operation_id, kind, version, None)
                .unwrap_or_else(|e| panic!("{text:?} was accepted but cannot be sent: {e}"));
        let uri = request.uri();
        assert!(endpoint.same_origin(uri));
        // Nothing of the id leaks into the query.
        let query = format!("api-version={version}");
        let query = version.has_api_version_query().then_some(query.as_str());
        assert_eq!(uri.query(), query, "{uri}");
        // The id is one segment: the segment count does not depend on it, and
        // the segment at its place decodes back to it.
        let segments: Vec<&str> = uri.path().split('/').collect();
        let (expected, at) = match (version.has_api_version_query(), operation) {
            (true, false) => (6, 2),
            (true, true) => (6, 5),
            (false, false) => (7, 2),
            (false, true) => (7, 6),
        };
        assert_eq!(segments.len(), expected, "{}", uri.path());
        let decoded = percent_encoding::percent_decode_str(segments[at]).decode_utf8();
        assert_eq!(decoded.as_deref(), Ok(text.as_str()), "{}", uri.path());
        // The version and kind a path names are those it was built for.
        let path_and_query = uri.path_and_query().unwrap().as_str();
        let want = (version, kind);
        assert_eq!(
            location_info(path_and_query).ok(),
            Some(want),
            "{path_and_query}"
        );
        assert_eq!(location_info(&uri.to_string()).ok(), Some(want), "{uri}");
    }
}

/// Every version with every kind of operation it has.
fn versions_and_kinds() -> impl Iterator<Item = (ApiVersion, OperationKind)> {
    let kinds = [OperationKind::Update, OperationKind::Device];
    let all = ApiVersion::ALL
        .iter()
        .flat_map(move |v| kinds.map(|k| (*v, k)));
    all.filter(|(v, k)| v.supports(*k))
}

/// Reads the input as an `Operation-Location` with `location_info`; checks it agrees with
/// the reading of the URI that resolving it produces (the URI that is actually polled),
/// that a refusal is a location error, and that requests built for the input as an
/// instance name read back as the version and kind they were built for.
pub fn api_version(data: &[u8]) {
    let Ok(location) = std::str::from_utf8(data) else {
        return;
    };
    let info = location_info(location);
    if let Err(e) = &info {
        assert!(
            matches!(
                e,
                Error::InvalidOperationLocation { .. } | Error::UnknownApiVersion { .. }
            ),
            "{e:?}"
        );
        assert!(e.is_input_error());
        let _ = e.to_string();
    }
    let info = info.ok();
    for endpoint in [
        "contoso.api.adu.microsoft.com",
        "http://127.0.0.1:8080",
        "https://[::1]:8443",
    ] {
        let endpoint = Endpoint::parse(endpoint).expect("a valid fixed endpoint");
        if let Ok(uri) = resolve_operation_location(&endpoint, location) {
            assert_eq!(info, location_info(&uri.to_string()).ok(), "{uri}");
            // A bare path that starts with `//` reads as scheme-relative (its first
            // segment as a host), so only the whole URI says which version it is.
            let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
            if !uri.path().starts_with("//") {
                assert_eq!(
                    info,
                    location_info(path_and_query).ok(),
                    "{location:?} resolved to {uri}"
                );
            }
        }
    }
    if let Ok(instance) = InstanceId::new(location) {
        let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").expect("a valid endpoint");
        let operation = OperationId::new("op-1").expect("a valid operation id");
        for want in versions_and_kinds() {
            let request =
                build_get_operation_request(&endpoint, &instance, &operation, want.1, want.0, None)
                    .expect("valid ids build a request");
            let path_and_query = request.uri().path_and_query().unwrap().as_str();
            assert_eq!(location_info(path_and_query).ok(), Some(want));
        }
    }
}

/// Keeps the input as an entity tag; checks the text is kept exactly (inline
/// or on the heap), equality, hashing and JSON agree with the text, and
/// `is_sendable` agrees with what the request builder accepts.
pub fn etag(data: &[u8]) {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    let text = String::from_utf8_lossy(data).into_owned();
    let tag = ETag::new(&text);
    assert_eq!(tag.as_str(), text);
    assert_eq!(tag.len(), text.len());
    assert_eq!(tag, text.as_str());
    assert_eq!(tag.to_string(), text);
    let owned = ETag::from(text.clone());
    assert_eq!(owned, tag);
    assert_eq!(owned.as_str(), text);
    assert_eq!(text.parse::<ETag>().ok().as_ref(), Some(&tag));
    assert_eq!(String::from(tag.clone()), text);
    let hash = |value: &dyn Fn(&mut DefaultHasher)| {
        let mut h = DefaultHasher::new();
        value(&mut h);
        h.finish()
    };
    // `Borrow<str>` promises the same hash as the text.
    assert_eq!(hash(&|h| tag.hash(h)), hash(&|h| text.as_str().hash(h)));
    let mut set = std::collections::HashSet::new();
    set.insert(tag.clone());
    assert!(set.contains(text.as_str()));
    // JSON: written as a string, read back (borrowed or escaped) as the same tag.
    let json = serde_json::to_string(&tag).expect("a tag serializes");
    assert_eq!(json, serde_json::to_string(&text).unwrap());
    let back: ETag = serde_json::from_str(&json).expect("and deserializes");
    assert_eq!(back, tag);
    let from_slice: ETag = serde_json::from_slice(json.as_bytes()).expect("from bytes too");
    assert_eq!(from_slice, tag);
    let uri: adu_model::http::Uri = "https://h.example/deviceUpdate/i/updates/operations/o"
        .parse()
        .unwrap();
    match build_get_request(uri, Some(tag.as_str())) {
        Ok(request) => {
            assert!(tag.is_sendable(), "{text:?} was sent but is not sendable");
            assert_eq!(
                request.headers()["if-none-match"].as_bytes(),
                text.as_bytes()
            );
        }
        Err(e) => {
            assert!(!tag.is_sendable(), "{text:?} is sendable but refused: {e}");
            assert!(matches!(e, Error::InvalidETag));
        }
    }
}

/// Decodes a whole list response of any version and kind (laid out as for
/// `decode_response`); checks the outcome matches the status, kept bodies are bounded,
/// every item is of the kind asked for, a decoded page survives a JSON round trip, and a
/// pager given the same answer agrees with the decoder.
pub fn decode_list(data: &[u8]) {
    let [v, hi, lo, rest @ ..] = data else {
        return;
    };
    let (version, kind) = version_and_kind(*v);
    let status = status_from(*hi, *lo);
    let (block, body) = split_headers(rest);
    let mut response = Response::new(body.to_vec());
    *response.status_mut() = status;
    *response.headers_mut() = parse_headers(block);
    let decoded = decode_list_operations_response(version, kind, &response, fixed_now());
    match &decoded {
        Ok(page) => {
            assert_eq!(status, StatusCode::OK);
            assert!(page.items.iter().all(|item| item.kind() == kind));
            if let Some(link) = &page.next_link {
                assert!(!link.trim().is_empty(), "an empty link ends the list");
            }
            // What was decoded can be written out and read back unchanged.
            let json = serde_json::json!({ "value": page.items, "nextLink": page.next_link });
            let again = Response::new(serde_json::to_vec(&json).expect("a page serializes"));
            let back = decode_list_operations_response(version, kind, &again, fixed_now())
                .expect("a re-encoded page decodes");
            assert_eq!(&back, page);
        }
        Err(Error::Decode(d)) => {
            assert_eq!(status, StatusCode::OK);
            assert!(d.raw_body().len() <= MAX_KEPT_BODY);
            assert!(body.starts_with(d.raw_body()));
            let _ = d.to_string();
        }
        Err(Error::Service(e)) => {
            assert_ne!(status, StatusCode::OK);
            assert_eq!(e.status(), status);
            assert!(body.starts_with(e.raw_body()));
            assert_eq!(e.body_truncated(), body.len() > MAX_KEPT_BODY);
            let _ = e.to_string();
        }
        Err(other) => panic!("decoding produced another error: {other:?}"),
    }
    // The pager reads the answer the same way; its only other errors are about the link.
    let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").expect("a valid endpoint");
    let instance = InstanceId::new("blue").expect("a valid instance");
    let mut pager = Pager::new(&endpoint, &instance, kind, version, &ListOptions::default())
        .expect("every version has the kinds `version_and_kind` picks");
    match (pager.handle_response(&response, fixed_now()), decoded) {
        (Ok(items), Ok(page)) => assert_eq!(items, page.items),
        (Err(Error::Decode(_)), Err(Error::Decode(_)))
        | (Err(Error::Service(_)), Err(Error::Service(_))) => {
            assert!(
                pager.next_request().is_some(),
                "the same request can be sent again"
            );
        }
        (Err(e), Ok(page)) => {
            assert!(
                matches!(
                    e,
                    Error::InvalidNextLink { .. }
                        | Error::ForeignNextLink { .. }
                        | Error::UnknownApiVersion { .. }
                ),
                "{e:?}"
            );
            assert!(page.next_link.is_some());
            assert!(pager.next_request().is_none(), "a bad link ends the list");
        }
        (pager, decoder) => panic!("the pager said {pager:?}, the decoder {decoder:?}"),
    }
}

/// Drives a pager through pages whose `nextLink`s are the input's lines: byte 0 picks the
/// version and kind (as for `decode_response`; bit 3 a loopback endpoint), byte 1 the
/// `top` (255: none), and page `i` holds one operation and links to line `i` (no link
/// after the last line). Checks that every request stays on the endpoint's origin, names
/// a version this crate speaks, and is never sent twice once answered; that the list
/// ends within one request per line and one more; that the caller gets the operations in
/// order, at most `top` of them; and that a refused link is a link error ending the list.
pub fn next_link(data: &[u8]) {
    let [v, top, rest @ ..] = data else {
        return;
    };
    let (version, kind) = version_and_kind(*v);
    let endpoint = match v & 8 {
        0 => "contoso.api.adu.microsoft.com",
        _ => "http://127.0.0.1:8080",
    };
    let endpoint = Endpoint::parse(endpoint).expect("a valid fixed endpoint");
    let instance = InstanceId::new("blue").expect("a valid instance");
    let top = (*top != 255).then_some(u32::from(*top));
    let mut options = ListOptions::default();
    if let Some(top) = top {
        options = options.with_top(top);
    }
    let text = String::from_utf8_lossy(rest);
    let links: Vec<&str> = match text.is_empty() {
        true => Vec::new(),
        false => text.split('\n').collect(),
    };
    let mut pager = Pager::new(&endpoint, &instance, kind, version, &options)
        .expect("every version has the kinds `version_and_kind` picks");
    let (mut answered, mut seen) = (std::collections::HashSet::new(), Vec::new());
    let mut page = 0usize;
    while let Some(request) = pager.next_request() {
        assert!(page <= links.len(), "more requests than pages");
        let uri = request.uri();
        assert!(endpoint.same_origin(uri), "{uri} left the endpoint");
        assert!(request.headers().get("authorization").is_none());
        if version.has_api_version_query() {
            // The name in any case, as the service reads it; `2` is the value the service
            // was recorded sending in its own locations, read as 2022-10-01.
            let named = uri.query().into_iter().flat_map(|q| q.split('&'));
            let named: Vec<&str> = named
                .filter_map(|p| p.split_once('='))
                .filter(|(name, _)| name.eq_ignore_ascii_case("api-version"))
                .map(|(_, value)| value)
                .collect();
            assert!(
                named.iter().any(|n| *n == "2"
                    || ApiVersion::ALL
                        .iter()
                        .any(|v| v.has_api_version_query() && v.as_str() == *n)),
                "{uri} names no version this crate speaks"
            );
            assert!(pager.version().has_api_version_query());
        } else {
            assert_eq!(pager.version(), version);
        }
        assert!(
            answered.insert(uri.to_string()),
            "{uri} was asked for twice"
        );
        let id = format!("op-{page}");
        let mut body = serde_json::json!({ "value": [{
            "operationId": id,
            "status": "Running",
            "createdDateTime": "2026-06-02T08:15:30Z",
            "lastActionDateTime": "2026-06-02T08:16:02Z",
        }] });
        if let Some(link) = links.get(page) {
            body["nextLink"] = serde_json::json!(link);
        }
        let response = Response::new(serde_json::to_vec(&body).expect("a page serializes"));
        match pager.handle_response(&response, fixed_now()) {
            Ok(items) => seen.extend(items.iter().map(|i| i.operation_id().to_owned())),
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        Error::InvalidNextLink { .. }
                            | Error::ForeignNextLink { .. }
                            | Error::UnknownApiVersion { .. }
                    ),
                    "{e:?}"
                );
                let _ = e.to_string();
                assert!(pager.next_request().is_none(), "a bad link ends the list");
                // A refused link is refused by the resolver too, unless it was a loop or
                // an unknown version.
                let link = links[page];
                if matches!(e, Error::ForeignNextLink { .. }) {
                    assert!(
                        resolve_operation_location(&endpoint, link).is_err(),
                        "{link:?}"
                    );
                }
                // Operations of a page with a bad link were not given.
                break;
            }
        }
        page += 1;
    }
    let want: Vec<String> = (0..seen.len()).map(|i| format!("op-{i}")).collect();
    assert_eq!(seen, want);
    if let Some(top) = top {
        assert!(seen.len() <= top as usize);
    }
}
