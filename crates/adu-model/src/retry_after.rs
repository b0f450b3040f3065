//! Parsing the delay a server asks for.
//!
//! RFC 9110 §10.2.3: `Retry-After` is either an HTTP-date or a number of
//! seconds (delay-seconds). Azure services also send `retry-after-ms` and
//! `x-ms-retry-after-ms` in milliseconds; those are more precise and win.
//! Garbage is ignored (`None`), never an error.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName};

/// The delay the response asks for, if any header says so.
///
/// `now` is the caller's clock reading, used for the HTTP-date form; a date in
/// the past means no wait (`Duration::ZERO`). Of each header, the first value that
/// parses counts.
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
    // Named as constants, so no lookup parses a header name.
    const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
    const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");
    let millis = |name: HeaderName| {
        headers
            .get_all(name)
            .iter()
            .find_map(|v| parse_delay_number(std::str::from_utf8(v.as_bytes()).ok()?))
    };
    // The millisecond headers are more precise and win.
    millis(RETRY_AFTER_MS)
        .or_else(|| millis(X_MS_RETRY_AFTER_MS))
        .map(Duration::from_millis)
        .or_else(|| {
            headers
                .get_all(http::header::RETRY_AFTER)
                .iter()
                .find_map(|v| parse_retry_after_value(v.as_bytes(), now))
        })
}

/// Parses one `Retry-After` value: delay-seconds or an HTTP-date.
pub fn parse_retry_after_value(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    if let Some(secs) = parse_delay_number(text) {
        return Some(Duration::from_secs(secs));
    }
    // RFC 9110 §5.6.7: IMF-fixdate, with the obsolete RFC 850 and asctime
    // forms accepted on receipt (httpdate handles all three).
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `1*DIGIT` between optional whitespace (RFC 9110 `OWS`), saturating on overflow (a huge
/// delay stays huge).
fn parse_delay_number(value: &str) -> Option<u64> {
    let digits = value.trim_matches([' ', '\t']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Only digits: parsing fails on overflow alone.
    Some(digits.parse().unwrap_or(u64::MAX))
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
