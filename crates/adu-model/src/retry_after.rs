//! Parsing the delay a server asks for.
//!
//! RFC 9110 §10.2.3: `Retry-After` is either an HTTP-date or a number of
//! seconds (delay-seconds). Azure services also send `retry-after-ms` and
//! `x-ms-retry-after-ms` in milliseconds; those are more precise and win.
//! Garbage is ignored (`None`), never an error.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The delay the response asks for, if any header says so.
///
/// `now` is the caller's clock reading, used for the HTTP-date form; a date in
/// the past means no wait (`Duration::ZERO`).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use adu_model::http::HeaderMap;
/// use adu_model::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
/// let mut h = HeaderMap::new();
/// h.insert("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT".parse().unwrap());
/// assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(30)));
///
/// h.insert("retry-after-ms", "1500".parse().unwrap());
/// assert_eq!(parse_retry_after(&h, now), Some(Duration::from_millis(1500)));
/// ```
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    scan_headers(headers, now, |_, _| {})
}

/// [`parse_retry_after`] in one pass over the headers, showing each header to `each` on
/// the way (the response decoder picks the `ETag` up in the same pass: one walk over the
/// map costs less than a hash lookup per header name).
pub(crate) fn scan_headers<'h>(
    headers: &'h HeaderMap,
    now: SystemTime,
    mut each: impl FnMut(&'h HeaderName, &'h HeaderValue),
) -> Option<Duration> {
    // Static names: a `&str` name would be parsed and validated again on every call.
    const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
    const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");
    // The first valid value of each header; the millisecond ones are more precise and win.
    let (mut ms, mut x_ms, mut delay) = (None, None, None);
    for (name, value) in headers {
        each(name, value);
        if *name == http::header::RETRY_AFTER {
            if delay.is_none() {
                delay = parse_retry_after_value(value.as_bytes(), now);
            }
        } else if *name == RETRY_AFTER_MS {
            if ms.is_none() {
                ms = parse_delay_number(value.as_bytes());
            }
        } else if *name == X_MS_RETRY_AFTER_MS && x_ms.is_none() {
            x_ms = parse_delay_number(value.as_bytes());
        }
    }
    ms.or(x_ms).map(Duration::from_millis).or(delay)
}

/// Parses one `Retry-After` value: delay-seconds or an HTTP-date.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use adu_model::parse_retry_after_value;
///
/// assert_eq!(parse_retry_after_value(b"120", SystemTime::now()), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after_value(b"soon", SystemTime::now()), None);
/// ```
pub fn parse_retry_after_value(value: &[u8], now: SystemTime) -> Option<Duration> {
    // The number form first, on the bytes: it is what the service sends, and it needs
    // neither a UTF-8 check nor `str` parsing.
    if let Some(secs) = parse_delay_number(value) {
        return Some(Duration::from_secs(secs));
    }
    let text = std::str::from_utf8(trim_ows(value)).ok()?;
    // RFC 9110 §5.6.7: IMF-fixdate, with the obsolete RFC 850 and asctime
    // forms accepted on receipt (httpdate handles all three).
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `1*DIGIT` between optional whitespace, saturating on overflow (a huge delay stays
/// huge).
fn parse_delay_number(value: &[u8]) -> Option<u64> {
    let digits = trim_ows(value);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then(|| n.saturating_mul(10).saturating_add(u64::from(b - b'0')))
    })
}

/// Without leading and trailing spaces and tabs (RFC 9110 `OWS`).
fn trim_ows(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<Duration>);
        let cases: &[Case<'_>] = &[
            (&[("retry-after", "5")], Some(Duration::from_secs(5))),
            (&[("retry-after", " 0 ")], Some(Duration::ZERO)),
            (&[("retry-after", "-1")], None),
            (&[("retry-after", "1.5")], None),
            (&[("retry-after", "")], None),
            (
                &[("retry-after", "99999999999999999999999")],
                Some(Duration::from_secs(u64::MAX)),
            ),
            (
                &[("retry-after", "garbage"), ("retry-after", "7")],
                Some(Duration::from_secs(7)),
            ),
            (
                &[("x-ms-retry-after-ms", "250"), ("retry-after", "9")],
                Some(Duration::from_millis(250)),
            ),
            (
                &[("retry-after-ms", "x"), ("retry-after", "9")],
                Some(Duration::from_secs(9)),
            ),
            (
                &[("retry-after", "Sun, 09 Sep 2001 01:46:50 GMT")],
                Some(Duration::from_secs(10)),
            ),
            (
                &[("retry-after", "Sun, 09 Sep 2001 01:46:30 GMT")],
                Some(Duration::ZERO),
            ),
            (
                &[("retry-after", "Sunday, 09-Sep-01 01:46:50 GMT")],
                Some(Duration::from_secs(10)),
            ),
            (
                &[
                    ("retry-after", "9"),
                    ("retry-after-ms", "x"),
                    ("x-ms-retry-after-ms", "40"),
                    ("retry-after-ms", "30"),
                ],
                Some(Duration::from_millis(30)),
            ),
            (&[], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(parse_retry_after(&headers(pairs), now), *want, "{pairs:?}");
        }
    }
}
