//! Property tests over the large input spaces: JSON round trips of every
//! model type, path segments that never escape, Retry-After and timestamp
//! parsing against independent references, endpoint and Operation-Location
//! origin rules, decoding that never panics, and retry decisions in bounds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_model::http::{self, HeaderMap, HeaderName, HeaderValue};
use adu_model::models::{
    self, ErrorResponse, InnerError, Operation, OperationStatus, UpdateId, UpdateInfo,
    UpdateOperation,
};
use adu_model::*;
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

// ---------------------------------------------------------------------------
// Strategies.

const KNOWN_STATUSES: [&str; 5] = ["Undefined", "NotStarted", "Running", "Succeeded", "Failed"];

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn month_days(y: u32, m: u32) -> u32 {
    const DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if m == 2 && is_leap(y) {
        29
    } else {
        DAYS[m as usize - 1]
    }
}

/// The parts of a valid RFC 3339 date-time.
#[derive(Debug, Clone)]
struct DateParts {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    fraction: Option<String>,
    /// Minutes east of UTC, and whether to write it as `Z`.
    offset: i32,
    zulu: Option<char>,
    separator: char,
}

impl DateParts {
    fn text(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.separator, self.hour, self.minute, self.second
        );
        if let Some(f) = &self.fraction {
            s.push('.');
            s.push_str(f);
        }
        match self.zulu {
            Some(z) => s.push(z),
            None => {
                let sign = if self.offset < 0 { '-' } else { '+' };
                let m = self.offset.unsigned_abs();
                s.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
            }
        }
        s
    }

    /// Seconds since the epoch, counted day by day: an algorithm independent
    /// of the crate's closed-form one.
    fn reference_unix_seconds(&self) -> i64 {
        let mut days: i64 = 0;
        if self.year >= 1970 {
            for y in 1970..self.year {
                days += if is_leap(y) { 366 } else { 365 };
            }
        } else {
            for y in self.year..1970 {
                days -= if is_leap(y) { 366 } else { 365 };
            }
        }
        for m in 1..self.month {
            days += i64::from(month_days(self.year, m));
        }
        days += i64::from(self.day) - 1;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset) * 60
    }

    fn reference_nanos(&self) -> u32 {
        let Some(f) = &self.fraction else { return 0 };
        let mut digits: String = f.chars().take(9).collect();
        while digits.len() < 9 {
            digits.push('0');
        }
        digits.parse().unwrap()
    }
}

fn date_parts() -> impl Strategy<Value = DateParts> {
    (0u32..=9999, 1u32..=12)
        .prop_flat_map(|(year, month)| {
            (
                Just(year),
                Just(month),
                1..=month_days(year, month),
                0u32..24,
                0u32..60,
                prop_oneof![20 => 0u32..60, 1 => Just(60u32)],
                proptest::option::of("[0-9]{1,12}"),
                -(23 * 60 + 59)..=(23 * 60 + 59),
                proptest::option::of(prop_oneof![Just('Z'), Just('z')]),
                prop_oneof![8 => Just('T'), 1 => Just('t'), 1 => Just(' ')],
            )
        })
        .prop_map(
            |(year, month, day, hour, minute, second, fraction, offset, zulu, separator)| {
                DateParts {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    fraction,
                    offset: if zulu.is_some() { 0 } else { offset },
                    zulu,
                    separator,
                }
            },
        )
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        date_parts().prop_map(|p| Timestamp::parse(p.text())),
        any::<String>().prop_map(Timestamp::parse),
    ]
}

fn status() -> impl Strategy<Value = OperationStatus> {
    prop_oneof![
        Just(OperationStatus::Undefined),
        Just(OperationStatus::NotStarted),
        Just(OperationStatus::Running),
        Just(OperationStatus::Succeeded),
        Just(OperationStatus::Failed),
        // An unknown value that spells a known one would come back as the
        // known variant, so only truly unknown values are `Unknown`.
        any::<String>()
            .prop_filter("not a known status", |s| !KNOWN_STATUSES
                .contains(&s.as_str()))
            .prop_map(OperationStatus::Unknown),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-zA-Z0-9 .\"\\\\/{}-]{0,16}"]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn update_id() -> impl Strategy<Value = UpdateId> {
    (text(), text(), text()).prop_map(|(p, n, v)| UpdateId::new(p, n, v))
}

fn update_info() -> impl Strategy<Value = UpdateInfo> {
    (update_id(), opt_text(), opt_text()).prop_map(|(id, description, friendly_name)| {
        let mut u = UpdateInfo::new(id);
        u.description = description;
        u.friendly_name = friendly_name;
        u
    })
}

/// An inner-error chain of at most `depth` links.
fn inner_error(depth: u32) -> BoxedStrategy<InnerError> {
    let leaf = (text(), opt_text(), opt_text()).prop_map(|(code, message, detail)| {
        let mut e = InnerError::new(code);
        e.message = message;
        e.error_detail = detail;
        e
    });
    if depth <= 1 {
        return leaf.boxed();
    }
    (leaf, proptest::option::of(inner_error(depth - 1)))
        .prop_map(|(mut e, next)| {
            e.inner_error = next.map(Box::new);
            e
        })
        .boxed()
}

fn error() -> BoxedStrategy<models::Error> {
    let leaf = (
        text(),
        text(),
        opt_text(),
        proptest::option::of(inner_error(5)),
        proptest::option::of(timestamp()),
    )
        .prop_map(|(code, message, target, inner, occurred)| {
            let mut e = models::Error::new(code, message);
            e.target = target;
            e.innererror = inner;
            e.occurred_date_time = occurred;
            e
        });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (
            text(),
            text(),
            proptest::option::of(proptest::collection::vec(inner, 0..3)),
            proptest::option::of(inner_error(3)),
        )
            .prop_map(|(code, message, details, innererror)| {
                let mut e = models::Error::new(code, message);
                e.details = details;
                e.innererror = innererror;
                e
            })
    })
    .boxed()
}

fn update_operation() -> BoxedStrategy<UpdateOperation> {
    (
        (text(), status(), timestamp(), timestamp()),
        (
            proptest::option::of(update_info()),
            opt_text(),
            proptest::option::of(error()),
            opt_text(),
            opt_text(),
        ),
    )
        .prop_map(
            |((id, status, last, created), (update, location, error, trace, etag))| {
                let mut op = UpdateOperation::new(id, status, last, created);
                op.update = update;
                op.resource_location = location;
                op.error = error.map(Box::new);
                op.trace_id = trace;
                op.etag = etag.map(ETag::from);
                op
            },
        )
        .boxed()
}

fn legacy_operation() -> BoxedStrategy<Operation> {
    (
        (text(), status(), timestamp(), timestamp()),
        (
            proptest::option::of(update_id()),
            opt_text(),
            proptest::option::of(error()),
            opt_text(),
            opt_text(),
        ),
    )
        .prop_map(
            |((id, status, last, created), (update_id, location, error, trace, etag))| {
                let mut op = Operation::new(id, status, last, created);
                op.update_id = update_id;
                op.resource_location = location;
                op.error = error.map(Box::new);
                op.trace_id = trace;
                op.etag = etag.map(ETag::from);
                op
            },
        )
        .boxed()
}

/// Ids with a bias towards everything that could break out of a segment.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[/?#%.\\\\ a-c\u{0}-\u{1f}\u{7f}é€😀;:@&=+$,]{0,12}",
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("...".to_owned()),
        Just("%2e%2e".to_owned()),
        "[a-z]{250,260}",
    ]
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value, "{json}");
}

/// Renames every `innererror` key to `innerError`, as real traffic spells it.
fn respell_inner_error(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(inner) = map.remove("innererror") {
                map.insert("innerError".to_owned(), inner);
            }
            map.values_mut().for_each(respell_inner_error);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(respell_inner_error),
        _ => {}
    }
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    let duration = prop_oneof![
        4 => (0u64..120_000).prop_map(Duration::from_millis),
        1 => any::<u64>().prop_map(Duration::from_secs),
        1 => Just(Duration::MAX),
        1 => Just(Duration::ZERO),
    ];
    (
        0u32..8,
        duration.clone(),
        duration.clone(),
        duration.clone(),
        duration,
    )
        .prop_map(|(attempts, initial, max_backoff, max_elapsed, max_ra)| {
            let mut p = RetryPolicy::default()
                .with_initial_backoff(initial)
                .with_max_backoff(max_backoff)
                .with_max_elapsed(max_elapsed)
                .with_max_retry_after(max_ra);
            // The field is public: 0 is possible even though the builder refuses it.
            p.max_attempts = attempts;
            p
        })
}

const HEADER_NAMES: [&str; 8] = [
    "retry-after",
    "retry-after-ms",
    "x-ms-retry-after-ms",
    "etag",
    "traceparent",
    "x-ms-request-id",
    "content-type",
    "x-other",
];

fn headers() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec(
        (
            proptest::sample::select(&HEADER_NAMES[..]),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..40),
                "[0-9 \t]{0,25}".prop_map(String::into_bytes),
                (0u64..4_000_000_000).prop_map(|s| httpdate::fmt_http_date(
                    UNIX_EPOCH + Duration::from_secs(s)
                )
                .into_bytes()),
            ],
        ),
        0..6,
    )
    .prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                h.append(HeaderName::from_static(name), value);
            }
        }
        h
    })
}

fn fixture_bodies() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut bodies = Vec::new();
    // The get fixtures; the list fixtures are in a folder of their own.
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        if !v["response"]["body"].is_null() {
            bodies.push(serde_json::to_vec(&v["response"]["body"]).unwrap());
        }
    }
    bodies.sort();
    bodies
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let fixtures = fixture_bodies();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (
            proptest::sample::select(fixtures),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(mut body, edits, cut)| {
                for (at, byte) in edits {
                    let i = at.index(body.len());
                    body[i] = byte;
                }
                let keep = cut.index(body.len() + 1).max(body.len() * 3 / 4);
                body.truncate(keep);
                body
            }),
    ]
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn current_operations_round_trip(op in update_operation()) {
        round_trip(&op);
        // An operation read through the typed decoder is the same value.
        let body = serde_json::to_vec(&op).unwrap();
        let resp = http::Response::builder().status(200).body(body).unwrap();
        match decode_get_operation_response(ApiVersion::V2022_10_01, OperationKind::Update, &resp, UNIX_EPOCH) {
            Ok(GetOperationOutcome::Operation(r)) => {
                prop_assert_eq!(r.operation, AnyOperation::Current(op));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn legacy_operations_round_trip(legacy in legacy_operation()) {
        round_trip(&legacy);
        let body = serde_json::to_vec(&legacy).unwrap();
        let resp = http::Response::builder().status(200).body(body).unwrap();
        match decode_get_operation_response(ApiVersion::V2, OperationKind::Update, &resp, UNIX_EPOCH) {
            Ok(GetOperationOutcome::Operation(r)) => {
                prop_assert_eq!(r.operation, AnyOperation::Legacy(legacy));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn errors_round_trip_in_both_spellings(error in error()) {
        round_trip(&error);
        let response = ErrorResponse::new(error);
        round_trip(&response);
        // Real traffic spells the key `innerError` inside `Error` too.
        let mut value = serde_json::to_value(&response).unwrap();
        respell_inner_error(&mut value);
        let back: ErrorResponse = serde_json::from_value(value).unwrap();
        prop_assert_eq!(back, response);
    }

    #[test]
    fn small_models_round_trip(
        inner in inner_error(6),
        info in update_info(),
        status in status(),
        ts in timestamp(),
    ) {
        round_trip(&inner);
        round_trip(&info);
        round_trip(&info.update_id);
        round_trip(&status);
        round_trip(&ts);
    }

    #[test]
    fn path_segments_never_escape(instance in id(), operation in id(), port in proptest::option::of(1u16..)) {
        let endpoint_text = match port {
            Some(p) => format!("contoso.api.adu.microsoft.com:{p}"),
            None => "contoso.api.adu.microsoft.com".to_owned(),
        };
        let endpoint = Endpoint::parse(&endpoint_text).unwrap();
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars().count() <= 256
                && s != "."
                && s != ".."
                && !s.chars().any(char::is_control)
        };
        let i = InstanceId::new(instance.clone());
        let o = OperationId::new(operation.clone());
        prop_assert_eq!(i.is_ok(), valid(&instance));
        prop_assert_eq!(o.is_ok(), valid(&operation));
        if let Err(e) = &o {
            prop_assert!(matches!(e, Error::InvalidOperationId { .. }), "{:?}", e);
            prop_assert!(e.to_string().len() < 1000);
        }
        let (Ok(i), Ok(o)) = (i, o) else { return Ok(()) };
        for (version, kind) in ApiVersion::ALL.iter().flat_map(|v| [(*v, OperationKind::Update), (*v, OperationKind::Device)]) {
            if !version.supports(kind) {
                continue;
            }
            let request = build_get_operation_request(&endpoint, &i, &o, kind, version, None).unwrap();
            let uri = request.uri();
            prop_assert_eq!(uri.scheme_str(), Some("https"));
            prop_assert_eq!(uri.host(), Some("contoso.api.adu.microsoft.com"));
            prop_assert_eq!(uri.port_u16(), port.filter(|p| *p != 443));
            prop_assert!(!uri.to_string().contains('#'));
            let segments: Vec<&str> = uri.path().strip_prefix('/').unwrap().split('/').collect();
            let expected: Vec<&str> = match (version.has_api_version_query(), kind) {
                (true, OperationKind::Update) => vec!["deviceUpdate", "*", "updates", "operations", "*"],
                (true, _) => vec!["deviceUpdate", "*", "management", "operations", "*"],
                (false, _) => vec!["deviceupdate", "*", "v2", "updates", "operations", "*"],
            };
            prop_assert_eq!(segments.len(), expected.len(), "{}", uri);
            for (got, want) in segments.iter().zip(&expected) {
                if *want != "*" {
                    prop_assert_eq!(got, want);
                }
                // Only unreserved characters and %XX escapes.
                prop_assert!(got.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{}", got);
            }
            let decode = |s: &str| percent_decode_str(s).decode_utf8().unwrap().into_owned();
            prop_assert_eq!(decode(segments[1]), instance.clone());
            prop_assert_eq!(decode(segments[segments.len() - 1]), operation.clone());
            let query = format!("api-version={version}");
            match version.has_api_version_query() {
                true => prop_assert_eq!(uri.query(), Some(query.as_str())),
                false => prop_assert_eq!(uri.query(), None),
            }
            prop_assert_eq!(location_info(&uri.to_string()).unwrap(), (version, kind));
        }
    }

    #[test]
    fn retry_after_never_panics(value in proptest::collection::vec(any::<u8>(), 0..64), now in any::<u64>(), headers in headers()) {
        let now = UNIX_EPOCH + Duration::from_secs(now % 400_000_000_000);
        let _ = parse_retry_after_value(&value, now);
        let _ = parse_retry_after(&headers, now);
        let _ = parse_retry_after(&headers, UNIX_EPOCH);
    }

    /// The byte-level number reading against a plain `str` one: trim spaces and tabs,
    /// all digits, saturate on overflow; anything else is no delay (none of these texts
    /// is a date).
    #[test]
    fn retry_after_numbers_agree_with_a_plain_reading(value in "[ \t0-9x.+-]{0,26}") {
        let text = value.trim_matches(|c| c == ' ' || c == '\t');
        let want = (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Duration::from_secs(text.parse::<u64>().unwrap_or(u64::MAX)));
        prop_assert_eq!(parse_retry_after_value(value.as_bytes(), UNIX_EPOCH), want);
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", HeaderValue::from_str(&value).unwrap());
        prop_assert_eq!(parse_retry_after(&h, UNIX_EPOCH), want.map(|d| Duration::from_millis(d.as_secs())));
    }

    #[test]
    fn retry_after_seconds_agree_with_the_reference(n in any::<u64>(), pad_left in "[ \t]{0,3}", pad_right in "[ \t]{0,3}") {
        let value = format!("{pad_left}{n}{pad_right}");
        prop_assert_eq!(parse_retry_after_value(value.as_bytes(), UNIX_EPOCH), Some(Duration::from_secs(n)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_str(&value).unwrap());
        prop_assert_eq!(parse_retry_after(&h, UNIX_EPOCH), Some(Duration::from_secs(n)));
        // The millisecond headers win over Retry-After.
        let ms = n / 3;
        h.insert("x-ms-retry-after-ms", HeaderValue::from_str(&ms.to_string()).unwrap());
        prop_assert_eq!(parse_retry_after(&h, UNIX_EPOCH), Some(Duration::from_millis(ms)));
        h.insert("retry-after-ms", HeaderValue::from_str(&(ms / 2).to_string()).unwrap());
        prop_assert_eq!(parse_retry_after(&h, UNIX_EPOCH), Some(Duration::from_millis(ms / 2)));
    }

    #[test]
    fn retry_after_dates_agree_with_the_reference(
        date in 0u64..253_402_300_800,
        date_nanos in 0u32..1_000_000_000,
        now in 0u64..253_402_300_800,
        now_nanos in 0u32..1_000_000_000,
    ) {
        let date_time = UNIX_EPOCH + Duration::new(date, date_nanos);
        let now = UNIX_EPOCH + Duration::new(now, now_nanos);
        let text = httpdate::fmt_http_date(date_time);
        // HTTP-dates have whole seconds.
        let whole = UNIX_EPOCH + Duration::from_secs(date);
        let want = whole.duration_since(now).unwrap_or(Duration::ZERO);
        prop_assert_eq!(parse_retry_after_value(text.as_bytes(), now), Some(want));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_str(&text).unwrap());
        prop_assert_eq!(parse_retry_after(&h, now), Some(want));
    }

    #[test]
    fn endpoint_parse_never_accepts_plain_http_to_a_remote_host(
        input in prop_oneof![
            any::<String>(),
            ("(http|HTTP|https|hTtP|ftp)://", "[a-z0-9.:\\[\\]-]{0,24}", "(/|:[0-9]{1,6}|)")
                .prop_map(|(s, h, t)| format!("{s}{h}{t}")),
            (proptest::sample::select(&["127.0.0.1", "[::1]", "localhost", "127.0.0.1.evil", "localhost.evil", "10.0.0.1", "evil.localhost", "[::ffff:127.0.0.1]", "0.0.0.0", "127.1", "."][..]), "(:[0-9]{1,5}|)")
                .prop_map(|(h, p)| format!("http://{h}{p}")),
        ]
    ) {
        if let Ok(e) = Endpoint::parse(&input) {
            if e.scheme() == "http" {
                prop_assert!(e.is_loopback(), "{}", input);
                prop_assert!(is_loopback_host(e.host()), "{}", input);
                // Read plainly: the name `localhost`, a dotted 127.x address or `::1`.
                let host = e.host().trim_start_matches('[').trim_end_matches(']');
                let plain = host.eq_ignore_ascii_case("localhost")
                    || host.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.octets()[0] == 127)
                    || host.parse::<std::net::Ipv6Addr>() == Ok(std::net::Ipv6Addr::LOCALHOST);
                prop_assert!(plain, "{}", input);
            } else {
                prop_assert_eq!(e.scheme(), "https");
            }
            // The base URL is a valid URI that parses back to the same endpoint.
            let uri: http::Uri = e.base_url().parse().unwrap();
            prop_assert!(e.same_origin(&uri));
            prop_assert_eq!(Endpoint::parse(&e.base_url()).unwrap(), e);
        }
    }

    #[test]
    fn same_origin_agrees_with_a_plain_reading_of_the_uri(
        endpoint in proptest::sample::select(&["contoso.api.adu.microsoft.com", "https://contoso.api.adu.microsoft.com:8443", "http://127.0.0.1:8080", "http://[::1]:9000", "http://localhost", "https://[::1]"][..]),
        scheme in proptest::sample::select(&["https", "http", "HTTPS", "Http", "ftp"][..]),
        host in proptest::sample::select(&["contoso.api.adu.microsoft.com", "CONTOSO.api.adu.microsoft.com", "contoso.api.adu.microsoft.com.evil", "127.0.0.1", "[::1]", "[0:0::1]", "localhost", "LOCALHOST", "evil"][..]),
        port in proptest::sample::select(&["", ":", ":443", ":80", ":8443", ":8080", ":9000", ":99999", ":0443"][..]),
        userinfo in proptest::sample::select(&["", "user@", "contoso.api.adu.microsoft.com@"][..]),
    ) {
        let e = Endpoint::parse(endpoint).unwrap();
        let text = format!("{scheme}://{userinfo}{host}{port}/deviceUpdate/x");
        let Ok(uri) = text.parse::<http::Uri>() else { return Ok(()) };
        // The reference: the scheme, the host and the port the URI names, read plainly.
        let scheme_ok = scheme.eq_ignore_ascii_case(e.scheme());
        let uri_host = uri.host().unwrap().trim_start_matches('[').trim_end_matches(']');
        let host_ok = match (uri_host.parse::<std::net::Ipv6Addr>(), e.host().parse::<std::net::Ipv6Addr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => uri_host.eq_ignore_ascii_case(e.host()),
        };
        let default = if e.scheme() == "https" { 443 } else { 80 };
        let port_ok = match port.strip_prefix(':') {
            None | Some("") => e.port() == default,
            Some(p) => p.parse::<u16>().is_ok_and(|p| p == e.port()),
        };
        let expected = scheme_ok && host_ok && port_ok;
        // `[0:0::1]` is `::1` written another way: we compare hosts as text and refuse it,
        // which is the safe side; everything else must agree exactly.
        if host == "[0:0::1]" && expected {
            prop_assert!(!e.same_origin(&uri), "{}", text);
        } else {
            prop_assert_eq!(e.same_origin(&uri), expected, "{} against {}", text, endpoint);
        }
    }

    #[test]
    fn operation_locations_never_leave_the_endpoints_origin(
        endpoint in proptest::sample::select(&["contoso.api.adu.microsoft.com", "https://contoso.api.adu.microsoft.com:8443", "http://127.0.0.1:8080", "http://[::1]:9000", "http://localhost"][..]),
        location in prop_oneof![
            any::<String>(),
            "[/?#%@:.\\\\a-z0-9 \t\\[\\]]{0,30}",
            (
                "(https?:|HTTPS:|ftp:|)(//|)",
                proptest::sample::select(&["contoso.api.adu.microsoft.com", "CONTOSO.api.adu.microsoft.com", "127.0.0.1", "[::1]", "localhost", "evil.example", "user@contoso.api.adu.microsoft.com", "contoso.api.adu.microsoft.com@evil.example", ""][..]),
                "(:[0-9]{0,6}|)",
                "[/?#%a-z0-9=&.-]{0,20}",
            ).prop_map(|(s, h, p, rest)| format!("{s}{h}{p}{rest}")),
        ]
    ) {
        let endpoint = Endpoint::parse(endpoint).unwrap();
        if let Ok(uri) = resolve_operation_location(&endpoint, &location) {
            prop_assert!(endpoint.same_origin(&uri), "{} -> {}", location, uri);
            prop_assert_eq!(uri.scheme_str(), Some(endpoint.scheme()));
            prop_assert_eq!(uri.authority().map(|a| a.as_str()), Some(endpoint.authority()));
            prop_assert!(!uri.to_string().contains('#'));
            prop_assert!(uri.path().starts_with('/'));
            // What the service sent as a path and query is kept byte for byte.
            let trimmed = location.trim_matches([' ', '\t']);
            if trimmed.starts_with('/') && !trimmed.starts_with("//") {
                prop_assert_eq!(uri.path_and_query().unwrap().as_str(), trimmed);
            }
        }
    }

    #[test]
    fn decoding_never_panics(status in 100u16..1000, headers in headers(), body in body(), legacy in any::<bool>(), now in 0u64..400_000_000_000) {
        let mut builder = http::Response::builder().status(status);
        *builder.headers_mut().unwrap() = headers;
        let response = builder.body(body.clone()).unwrap();
        let version = if legacy { ApiVersion::V2 } else { ApiVersion::V2022_10_01 };
        let now = UNIX_EPOCH + Duration::from_secs(now);
        match decode_get_operation_response(version, OperationKind::Update, &response, now) {
            Ok(GetOperationOutcome::Operation(_)) => prop_assert_eq!(status, 200),
            Ok(GetOperationOutcome::NotModified { .. }) => prop_assert_eq!(status, 304),
            Err(Error::Decode(d)) => {
                prop_assert_eq!(status, 200);
                prop_assert!(body.starts_with(d.raw_body()));
                prop_assert!(d.raw_body().len() <= MAX_KEPT_BODY);
            }
            Err(Error::Service(e)) => {
                prop_assert!(status != 200 && status != 304);
                prop_assert_eq!(e.status().as_u16(), status);
                prop_assert!(body.starts_with(e.raw_body()));
                let _ = e.to_string();
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn retry_decisions_stay_in_bounds(
        policy in policy(),
        status in 100u16..600,
        retry_after in proptest::option::of(prop_oneof![(0u64..200_000).prop_map(Duration::from_millis), any::<u64>().prop_map(Duration::from_secs)]),
        kind in 0u8..3,
        attempts in 0u32..40,
        elapsed in prop_oneof![(0u64..200_000).prop_map(Duration::from_millis), any::<u64>().prop_map(Duration::from_secs)],
        jitter in prop_oneof![0.0f64..1.0, any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-1.0)],
    ) {
        let cause = match kind {
            0 => RetryCause::Status { status: http::StatusCode::from_u16(status).unwrap(), retry_after },
            1 => RetryCause::ConnectionFailed,
            _ => RetryCause::TimedOut,
        };
        let b = backoff(&policy, attempts, jitter);
        prop_assert!(b <= policy.max_backoff);
        if let RetryDecision::RetryAfter(delay) = decide_retry(&policy, &cause, attempts, elapsed, jitter) {
            prop_assert!(delay <= policy.max_backoff.max(policy.max_retry_after));
            prop_assert!(attempts < policy.max_attempts);
            prop_assert!(elapsed.checked_add(delay).is_some_and(|t| t <= policy.max_elapsed));
            if let RetryCause::Status { status, retry_after } = cause {
                prop_assert!(is_retryable_status(status));
                if let Some(asked) = retry_after {
                    prop_assert_eq!(delay, asked);
                }
            }
        }
    }

    #[test]
    fn timestamps_parse_like_the_reference(parts in date_parts()) {
        let text = parts.text();
        let t = Timestamp::parse(text.clone());
        prop_assert_eq!(t.as_str(), text.as_str());
        let want = parts.reference_unix_seconds();
        prop_assert_eq!(t.unix_time(), Some((want, parts.reference_nanos())), "{}", text);
        prop_assert_eq!(t.offset_minutes(), Some(parts.offset as i16));
        // Cross-check the UTC second with httpdate where it applies.
        if (0..253_402_300_800).contains(&want) && parts.second < 60 {
            let instant = UNIX_EPOCH + Duration::from_secs(want as u64);
            let http_date = httpdate::fmt_http_date(instant);
            prop_assert_eq!(httpdate::parse_http_date(&http_date).unwrap(), instant);
            if parts.offset == 0 {
                const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
                let expected = format!(
                    "{:02} {} {:04} {:02}:{:02}:{:02} GMT",
                    parts.day, MONTHS[parts.month as usize - 1], parts.year, parts.hour, parts.minute, parts.second
                );
                prop_assert!(http_date.ends_with(&expected), "{} vs {}", http_date, expected);
            }
            let ts_instant: SystemTime = t.instant().unwrap();
            prop_assert_eq!(ts_instant.duration_since(instant).unwrap(), Duration::from_nanos(u64::from(parts.reference_nanos())));
        }
        // Formatting the instant back gives the same instant to 100 ns.
        if (0..253_402_300_800).contains(&want) {
            let again = Timestamp::from_system_time(t.instant().unwrap());
            let nanos = parts.reference_nanos() / 100 * 100;
            prop_assert_eq!(again.unix_time(), Some((want, nanos)));
        }
    }

    #[test]
    fn timestamps_never_panic_and_keep_their_text(s in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        for text in [s.clone(), String::from_utf8_lossy(&bytes).into_owned()] {
            let t = Timestamp::parse(text.clone());
            prop_assert_eq!(t.as_str(), text.as_str());
            prop_assert_eq!(t.is_valid(), t.unix_time().is_some());
            prop_assert_eq!(t.is_valid(), t.offset_minutes().is_some());
            let _ = t.instant();
        }
    }
}
