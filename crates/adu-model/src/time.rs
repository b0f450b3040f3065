//! Timestamps as the service sends them: RFC 3339 date-times with up to seven fractional
//! digits and an offset (`Z`, `+00:00`, `-07:00`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A date-time from the service: the text as sent (so nothing is lost when it is written
/// back out) plus the instant it names.
///
/// Parsing never fails: text that is not RFC 3339 is kept, and
/// [`Timestamp::instant`] returns `None` for it, so a surprising date format
/// never breaks decoding of a whole operation. Two timestamps are equal when their
/// texts are: the same instant written two ways is two timestamps, as the service sent
/// them (compare [`Timestamp::instant`]s for the instant).
///
/// ```
/// use adu_model::Timestamp;
///
/// let t = Timestamp::parse("2022-01-05T18:24:39.1234567-07:00");
/// assert_eq!(t.as_str(), "2022-01-05T18:24:39.1234567-07:00");
/// let utc = Timestamp::parse("2022-01-06T01:24:39.1234567Z");
/// assert_eq!(t.instant(), utc.instant());
/// assert_eq!(t.offset_minutes(), Some(-7 * 60));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    /// What `text` denotes; `None` when it is not RFC 3339.
    parsed: Option<Parsed>,
}

/// What RFC 3339 text denotes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Parsed {
    /// Seconds since the Unix epoch, UTC.
    unix_seconds: i64,
    /// Nanoseconds within the second.
    nanos: u32,
    /// The offset the text was written in, in minutes east of UTC.
    offset_minutes: i16,
}

impl Timestamp {
    /// Keeps `text` and parses it; whether it is an RFC 3339 date-time is asked by
    /// [`Timestamp::is_valid`] and the accessors.
    pub fn parse(text: impl Into<String>) -> Self {
        let text = text.into();
        let parsed = parse_rfc3339(&text);
        Timestamp { text, parsed }
    }

    /// Formats an instant as RFC 3339 in UTC with seven fractional digits,
    /// the way the service writes its timestamps.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use adu_model::Timestamp;
    ///
    /// let t = Timestamp::from_system_time(UNIX_EPOCH + Duration::new(1_641_407_079, 123_456_700));
    /// assert_eq!(t.as_str(), "2022-01-05T18:24:39.1234567Z");
    /// ```
    pub fn from_system_time(time: SystemTime) -> Self {
        let since_epoch = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        };
        let secs = since_epoch.div_euclid(1_000_000_000) as i64;
        let nanos = since_epoch.rem_euclid(1_000_000_000) as u32;
        let (year, month, day, hour, minute, second) = civil_from_unix(secs);
        Timestamp::parse(format!(
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:07}Z",
            nanos / 100
        ))
    }

    /// The text exactly as the service sent it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The instant this timestamp names, or `None` if the text is not RFC 3339.
    pub fn instant(&self) -> Option<SystemTime> {
        let p = self.parsed?;
        if p.unix_seconds >= 0 {
            UNIX_EPOCH.checked_add(Duration::new(p.unix_seconds as u64, p.nanos))
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(p.unix_seconds.unsigned_abs()))?
                .checked_add(Duration::from_nanos(u64::from(p.nanos)))
        }
    }

    /// Seconds since the Unix epoch (UTC) and nanoseconds, if the text is RFC 3339.
    pub fn unix_time(&self) -> Option<(i64, u32)> {
        self.parsed.map(|p| (p.unix_seconds, p.nanos))
    }

    /// The UTC offset the text was written with, in minutes east of UTC.
    pub fn offset_minutes(&self) -> Option<i16> {
        self.parsed.map(|p| p.offset_minutes)
    }

    /// Whether the text is a valid RFC 3339 date-time.
    pub fn is_valid(&self) -> bool {
        self.parsed.is_some()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Timestamp").field(&self.text).finish()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Timestamp::from_system_time(time)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Timestamp::parse)
    }
}

// Hand-written: `time`, `chrono` or `jiff` would add a date library to the sans-IO core
// for this one parser and formatter, and `humantime` reads only the `Z` offset.
/// RFC 3339 §5.6 `date-time`: `full-date "T" full-time`, where `time-secfrac`
/// may have any number of digits (the service sends seven) and the offset is
/// `Z` or `±hh:mm`. Lowercase `t`/`z` and a space separator are accepted as
/// RFC 3339 §5.6 notes allow.
fn parse_rfc3339(s: &str) -> Option<Parsed> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let mut v: u32 = 0;
        for &c in b.get(range)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let year = num(0..4)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let month = num(5..7)?;
    let day = num(8..10)?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let hour = num(11..13)?;
    let minute = num(14..16)?;
    let second = num(17..19)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // RFC 3339 allows a leap second (60); it is folded into the next second.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_minutes: i32 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = (oh * 60 + om) as i32;
            if *sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day);
    let local = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Some(Parsed {
        unix_seconds: local - i64::from(offset_minutes) * 60,
        nanos,
        offset_minutes: offset_minutes as i16,
    })
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil` algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`], with the time of day.
fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seven_fraction_digits_and_offsets() {
        let a = Timestamp::parse("2022-01-05T18:24:39.1234567-07:00");
        let b = Timestamp::parse("2022-01-06T01:24:39.1234567+00:00");
        let c = Timestamp::parse("2022-01-06T01:24:39.1234567Z");
        assert!(a.is_valid());
        assert_eq!(a.instant(), b.instant());
        assert_eq!(b.instant(), c.instant());
        assert_eq!(c.unix_time(), Some((1_641_432_279, 123_456_700)));
    }

    #[test]
    fn keeps_invalid_text() {
        for bad in [
            "",
            "yesterday",
            "2022-13-01T00:00:00Z",
            "2022-02-30T00:00:00Z",
            "2022-01-01T00:00:00",
            "2022-01-01T00:00:00.Z",
            "2022-01-01T24:00:00Z",
            "2022-01-01T00:00:00+0100",
        ] {
            let t = Timestamp::parse(bad);
            assert!(!t.is_valid(), "{bad} should not parse");
            assert_eq!(t.as_str(), bad);
            assert_eq!(t.instant(), None);
        }
    }

    #[test]
    fn any_text_is_kept_whatever_its_length_or_escapes() {
        let long = "2022-01-05T18:24:39.123456789012345678901234567890-07:00";
        for text in [long, "2022-01-05T18:24:39Z", ""] {
            let from_string = Timestamp::parse(text.to_owned());
            let from_json: Timestamp = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            let escaped: Timestamp =
                serde_json::from_str(&format!("\"{}\"", text.replace('-', "\\u002d"))).unwrap();
            assert_eq!(from_string.as_str(), text);
            assert_eq!(from_json, from_string, "{text}");
            assert_eq!(escaped, from_string, "{text}");
            assert_eq!(format!("{from_json}"), text);
            assert_eq!(format!("{from_json:?}"), format!("Timestamp({text:?})"));
        }
        let t = Timestamp::parse(long);
        assert!(t.is_valid());
        assert_eq!(t.offset_minutes(), Some(-420));
        assert_eq!(t.unix_time(), Some((1_641_432_279, 123_456_789)));
        assert_ne!(t, Timestamp::parse(&long[..long.len() - 1]));
    }

    #[test]
    fn formats_like_the_service() {
        let t = Timestamp::from_system_time(UNIX_EPOCH + Duration::new(951_782_400, 0));
        assert_eq!(t.as_str(), "2000-02-29T00:00:00.0000000Z");
        let before = Timestamp::from_system_time(UNIX_EPOCH - Duration::new(1, 500_000_000));
        assert_eq!(before.as_str(), "1969-12-31T23:59:58.5000000Z");
        assert_eq!(before.unix_time(), Some((-2, 500_000_000)));
        let far = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(
            Timestamp::from_system_time(far).as_str(),
            "10000-01-01T00:00:00.0000000Z"
        );
    }
}
