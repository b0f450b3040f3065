//! `adu-emulator`: runs the emulator until Ctrl-C or SIGTERM (the flags are
//! [`adu_emulator::ServeArgs`]).
//!
//! Prints exactly one line on stdout when ready, which harnesses read:
//! `adu-emulator listening on http://127.0.0.1:PORT` (or `https://localhost:PORT`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use adu_emulator::{Error, ServeArgs};
use clap::Parser;

/// A local emulator of the Azure Device Update operation-status API and of
/// an Azure-AD-style token endpoint.
#[derive(Debug, Parser)]
#[command(name = "adu-emulator", version)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse().serve;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => return report(&e, ExitCode::from(2)),
    };
    let served = args.serve(config, |emulator| {
        println!("adu-emulator listening on {}", emulator.base_url());
    });
    match served.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, ExitCode::FAILURE),
    }
}

/// Prints the error and its sources on one line of stderr; returns `code`.
fn report(error: &Error, code: ExitCode) -> ExitCode {
    let mut message = format!("adu-emulator: error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{message}");
    code
}
