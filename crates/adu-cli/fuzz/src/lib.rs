//! The fuzz target's logic: a function taking the raw fuzz input and
//! panicking when an invariant breaks.
//!
//! This file has no libFuzzer dependency on purpose. The binary in
//! `fuzz_targets/` calls it under libFuzzer, and
//! `crates/adu-cli/tests/fuzz_smoke.rs` includes this file with `#[path]`
//! and feeds it the seed corpus plus generated inputs in a plain `cargo test`.
//!
//! Input layout (so seeds can be written by hand): byte 0 picks the argument
//! (bit 0: 0 = a duration of `--timeout`/`--interval`, 1 = `--endpoint`), the
//! rest is its text.

#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime};

use adu_model::{
    build_get_operation_request, ApiVersion, Endpoint, InstanceId, OperationId, OperationKind,
};

/// `adu`'s own parsers of `--timeout`/`--interval` values: the command's
/// source file itself (`adu` is a binary, with no library to depend on),
/// which uses nothing but `std` and `humantime`.
#[path = "../../src/values.rs"]
mod cli_values;

use cli_values::{
    parse_duration as cli_parse_duration, parse_interval, MAX_DURATION as CLI_MAX_DURATION,
};

/// The command line's `--timeout`/`--interval` durations and `--endpoint`;
/// checks accepted durations are bounded and round-trip through humantime's
/// formatting, and accepted endpoints build requests that stay on them.
pub fn cli_args(data: &[u8]) {
    let [selector, rest @ ..] = data else {
        return;
    };
    // clap hands over UTF-8 text only.
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if selector & 1 == 0 {
        cli_duration(text);
    } else {
        cli_endpoint(text);
    }
}

fn cli_duration(text: &str) {
    let interval = parse_interval(text);
    let Ok(duration) = cli_parse_duration(text) else {
        assert!(
            interval.is_err(),
            "{text:?}: an interval but not a duration"
        );
        return;
    };
    match interval {
        Ok(i) => assert!(i == duration && i >= Duration::from_millis(100)),
        Err(_) => assert!(duration < Duration::from_millis(100), "{text:?}"),
    }
    assert!(duration <= CLI_MAX_DURATION);
    // Deadline arithmetic stays far from overflow.
    assert!(std::time::Instant::now().checked_add(duration).is_some());
    assert!(SystemTime::now().checked_add(duration).is_some());
    let trimmed = text.trim();
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        assert_eq!(Some(duration.as_secs()), trimmed.parse().ok());
        assert_eq!(duration.subsec_nanos(), 0);
    }
    // What is printed back (in progress lines, `--help` defaults) reads
    // back as the same duration.
    let shown = humantime::format_duration(duration).to_string();
    assert_eq!(
        cli_parse_duration(&shown),
        Ok(duration),
        "{text:?} printed as {shown:?}"
    );
}

fn cli_endpoint(text: &str) {
    // `adu` trims the value and treats an empty one as missing.
    let text = text.trim();
    let endpoint = match Endpoint::parse(text) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            assert!(e.is_input_error());
            assert!(e.to_string().len() < 1024, "the message is unbounded");
            return;
        }
    };
    assert!(!text.is_empty());
    let https = endpoint.scheme() == "https";
    assert!(
        https || endpoint.is_loopback(),
        "plain http to {text:?} was accepted"
    );
    assert!(!endpoint.authority().contains(['@', '/', '?', '#']));
    assert!(!endpoint.host().is_empty(), "{text:?} has no host");
    // Parsing what it prints gives the same endpoint.
    assert_eq!(
        Endpoint::parse(&endpoint.base_url()).ok().as_ref(),
        Some(&endpoint),
        "{text:?}"
    );
    let instance = InstanceId::new("instance").expect("a valid instance");
    let operation = OperationId::new("op-1").expect("a valid operation id");
    let request = build_get_operation_request(
        &endpoint,
        &instance,
        &operation,
        OperationKind::Update,
        ApiVersion::V2022_10_01,
        None,
    )
    .unwrap_or_else(|e| panic!("{text:?} was accepted but a request cannot be built: {e}"));
    let uri = request.uri();
    assert_eq!(uri.scheme_str(), Some(endpoint.scheme()));
    assert_eq!(
        uri.authority().map(|a| a.as_str()),
        Some(endpoint.authority())
    );
    assert_eq!(uri.port_u16().unwrap_or(endpoint.port()), endpoint.port());
    assert!(endpoint.same_origin(uri));
}
