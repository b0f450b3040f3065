//! `adu-emulator`: runs the emulator until Ctrl-C or SIGTERM.
//!
//! Prints exactly one line on stdout when ready:
//! `adu-emulator listening on http://127.0.0.1:PORT` (or `https://localhost:PORT`).
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use adu_emulator::{Config, Error};
use clap::Parser;

/// A local emulator of the Azure Device Update operation-status API and of
/// an Azure-AD-style token endpoint.
#[derive(Debug, Parser)]
#[command(name = "adu-emulator", version)]
struct Args {
    /// Port to listen on (0 picks a free one) [default: the scenario's, else 0].
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on [default: the scenario's, else 127.0.0.1].
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Scenario file (JSON): operations, timings, credentials, faults.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Serve https with a self-signed certificate, written (PEM) to PATH first.
    #[arg(long, value_name = "PATH")]
    tls_cert: Option<PathBuf>,
    /// Tenant of the token endpoint [default: emulator].
    #[arg(long)]
    tenant: Option<String>,
    /// Client id the token endpoint accepts [default: adu-emulator].
    #[arg(long)]
    client_id: Option<String>,
    /// Client secret the token endpoint accepts [default: adu-emulator-secret].
    #[arg(long, env = "ADU_EMULATOR_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Serve the API without requiring bearer tokens.
    #[arg(long)]
    no_auth: bool,
}

fn config_from(args: &Args) -> Result<Config, Error> {
    let mut config = match &args.scenario {
        Some(path) => Config::from_scenario_file(path)?,
        None => Config::default(),
    };
    // Flags win over the scenario, each for what it names.
    config.apply_listen_flags(args.bind, args.port, args.tls_cert.is_some())?;
    if let Some(v) = &args.tenant {
        config.credentials.tenant = v.clone();
    }
    if let Some(v) = &args.client_id {
        config.credentials.client_id = v.clone();
    }
    if let Some(v) = &args.client_secret {
        config.credentials.client_secret = v.clone();
    }
    if args.no_auth {
        config.require_auth = false;
    }
    Ok(config)
}

fn report(error: &Error) {
    let mut message = format!("adu-emulator: error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{message}");
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let config = match config_from(&args) {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adu-emulator: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tls_cert = args.tls_cert.clone();
    let result = runtime.block_on(adu_emulator::serve_until_shutdown(config, |emulator| {
        if let Some(path) = &tls_cert {
            emulator.write_certificate(path)?;
        }
        println!("adu-emulator listening on {}", emulator.base_url());
        Ok(())
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}
