//! `adu-bench`: the processes behind `cargo xtask bench`.
//!
//! - `adu-bench serve [--tls-cert PATH]` runs the emulator (the `adu-emulator` library, in
//!   its own process, auth on, no rate limit, no faults, no artificial latency) with one
//!   pre-seeded running operation, `bench-op`. Unlike the `adu-emulator` binary it also
//!   answers commands on stdin, so the harness can seed the scale operations at the right
//!   moment and read the emulator's counters: `add-scale N RUNNING_MS [PREFIX]` and
//!   `stats [PREFIX]` (the scale operations' ids start with `scale-`, or `PREFIX`).
//! - `adu-bench load --endpoint URL [--cert PEM]` holds the two clients of the side-by-side
//!   load test, A (`DeviceUpdateClient::get_operation_status`) and B (a bare hyper-util
//!   client with the same headers, decoding with plain `serde_json`), and runs one measured
//!   burst per stdin command `run a|b CONCURRENCY MILLIS`, answering with a JSON line. The
//!   harness interleaves the bursts of A, B (and the Python peer C) in rounds. For
//!   profiling it also answers `count a|b N` (N requests one after another) and
//!   `decode-count adu|bare N` (N decodes of the operation's answer); the harness runs those
//!   in fresh processes under callgrind, when valgrind is installed.
//! - `adu-bench scale --endpoint URL [--cert PEM] --count N [--max-in-flight CAP]
//!   [--variant adu|bare] [--prefix PREFIX]` waits for N operations at once through one
//!   client once it reads `go` on stdin (`adu`: `wait_for_operation` on `scale-0` ..;
//!   `bare`: B's client in a minimal polling loop, at most 64 requests in flight, on
//!   `bare-scale-0` ..; `--prefix` names other operations), and prints wall
//!   time, outcomes, when the first answers came (the first wave), resident memory when
//!   ready, after spawning and at the end, peak RSS and peak open file descriptors as JSON.
//!   `--max-in-flight` overrides the transport's default cap on requests in flight.
#![forbid(unsafe_code)]

mod common;
mod load;
mod scale;
mod serve;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((cmd, rest)) if cmd == "serve" => serve::run(rest),
        Some((cmd, rest)) if cmd == "load" => load::run(rest),
        Some((cmd, rest)) if cmd == "scale" => scale::run(rest),
        _ => Err("usage: adu-bench serve|load|scale [options] (see the crate docs)".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("adu-bench: error: {message}");
            ExitCode::FAILURE
        }
    }
}
