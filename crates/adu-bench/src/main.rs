//! `adu-bench`: the processes behind `cargo xtask bench`.
//!
//! - `adu-bench serve --tls-cert PATH` runs the emulator (the `adu-emulator` library over
//!   https, auth on, no rate limit, no faults, no latency) with one running operation,
//!   `bench-op` (none with `--without-load-operation`; `--page-size N` sets the lists' page
//!   size), and answers commands on stdin: `add-scale N RUNNING_MS PREFIX` (N operations
//!   `PREFIX0` .. that finish after RUNNING_MS), `seed-list N` (N succeeded operations
//!   `list-0` .. to list), `stats PREFIX` (the emulator's counters) and `token` (an access
//!   token the emulator accepts).
//! - `adu-bench load --endpoint URL --cert PEM` holds A (`DeviceUpdateClient`) and B (a
//!   bare hyper-util client with the same headers, decoding with `serde_json`) and answers
//!   `run a|b CONCURRENCY MILLIS` (one measured burst) and `decode MILLIS` (the client's
//!   decoder beside `serde_json` into the same model type) with a JSON line each.
//! - `adu-bench list --endpoint URL --cert PEM` holds A (the client's list stream) and B (a
//!   bare hyper-util loop following `nextLink`, decoding each page with `serde_json`) and
//!   answers `run a|b TOP` (list the first TOP seeded operations, checking their order) with
//!   the count, the time and the process's peak RSS.
//! - `adu-bench scale --endpoint URL --cert PEM --count N --prefix PREFIX` waits for N
//!   operations at once through one client once it reads `go` on stdin, and prints the
//!   outcomes, the wall time and its peak RSS as JSON.
#![forbid(unsafe_code)]

mod common;
mod list;
mod load;
mod scale;
mod serve;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((cmd, rest)) if cmd == "serve" => serve::run(rest),
        Some((cmd, rest)) if cmd == "load" => load::run(rest),
        Some((cmd, rest)) if cmd == "list" => list::run(rest),
        Some((cmd, rest)) if cmd == "scale" => scale::run(rest),
        _ => {
            Err("usage: adu-bench serve|load|list|scale [options] (see the crate docs)".to_owned())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("adu-bench: error: {message}");
            ExitCode::FAILURE
        }
    }
}
