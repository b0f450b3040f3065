//! Parsers of option values that are pure text-to-value functions: durations.
//!
//! This file uses nothing but `std` and `humantime`, on purpose: the fuzz
//! target `cli_args` (`crates/adu-cli/fuzz/src/lib.rs`) includes it with
//! `#[path]`, so the fuzzer exercises the very code `adu` runs.

use std::time::Duration;

/// The longest duration accepted (a year): longer values are surely mistakes, and capping
/// keeps deadline arithmetic far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a human duration such as `10s`, `2m`, `1h30m` or `250ms`; a bare number is seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let text = value.trim();
    if text.is_empty() {
        return Err("the duration is empty: use e.g. 30s, 10m or 1h30m".to_owned());
    }
    if text.starts_with('-') {
        return Err("a duration cannot be negative: use e.g. 30s, 10m or 1h30m".to_owned());
    }
    let parsed = if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| "the number is too large".to_owned())
    } else {
        humantime::parse_duration(text).map_err(|e| format!("{e}: use e.g. 30s, 10m or 1h30m"))
    }?;
    if parsed > MAX_DURATION {
        return Err("the duration is longer than a year".to_owned());
    }
    Ok(parsed)
}

/// Like [`parse_duration`], and at least 100 ms (polling faster only burns the rate limit).
pub fn parse_interval(value: &str) -> Result<Duration, String> {
    let interval = parse_duration(value)?;
    if interval < Duration::from_millis(100) {
        return Err("the interval must be at least 100ms".to_owned());
    }
    Ok(interval)
}
