//! `adu`: show, list and wait on Azure Device Update operations, sign in, run the emulator,
//! or try it all with `adu demo`. See the crate README for commands, options and exit codes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// `Failure` (about 200 bytes) is made at most once per run, on the way to the exit: boxing it
// in every `Result` would add noise and buy nothing.
#![allow(clippy::result_large_err)]

mod args;
mod auth;
mod completions;
mod demo;
mod exit;
mod list;
mod login;
mod operation;
mod output;
mod progress;
mod redirect;
mod serve;
mod token_cache;
mod values;

use std::process::ExitCode;

use crate::args::{AuthCommand, Cli, Command, EmulatorCommand, OperationCommand, OutputFormat};
use crate::exit::{Exit, Failure};

fn main() -> ExitCode {
    let cli = match args::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(args::ParseError::Clap(error)) => error.exit(),
        Err(args::ParseError::Failure(failure, format)) => return report(&failure, format),
    };
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let failure = Failure::new(
                Exit::Service,
                format!("cannot start the async runtime: {e}"),
                "check the system's limits on threads",
            );
            return report(&failure, cli.global.output);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(exit) => exit.to_exit_code(),
        Err(failure) => report(&cli.global.auth_report.explain(failure), cli.global.output),
    }
}

async fn run(cli: &Cli) -> Result<Exit, Failure> {
    let global = &cli.global;
    match &cli.command {
        Command::Operation { command } => match command {
            OperationCommand::Show {
                operation_id,
                exit_status,
                kind,
            } => operation::show(global, kind.kind.into(), operation_id, *exit_status).await,
            OperationCommand::Wait {
                operation_id,
                timeout,
                interval,
                kind,
            } => operation::wait(global, kind.kind.into(), operation_id, *timeout, *interval).await,
            OperationCommand::List(args) => list::run(global, args).await,
        },
        Command::Login(args) => login::run(global, args).await,
        Command::Auth {
            command: AuthCommand::Show,
        } => auth::show(global).await,
        Command::Demo(args) => demo::run(global, args).await,
        Command::Emulator { command } => match command {
            EmulatorCommand::Serve(args) => serve::run(args).await,
        },
        Command::Completions { shell } => completions::run(*shell),
    }
}

fn report(failure: &Failure, format: OutputFormat) -> ExitCode {
    match format {
        OutputFormat::Json => eprintln!("{}", output::failure_json(failure)),
        OutputFormat::Text => eprintln!("adu: {}", output::failure_text(failure)),
    }
    failure.exit.to_exit_code()
}

/// `-v` picks a level for every crate of the workspace; otherwise `RUST_LOG` decides, and
/// without it only warnings are shown. Tracing goes to stderr, above the live progress line.
fn init_tracing(verbose: u8) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    tracing_subscriber::fmt()
        .with_writer(|| progress::AboveLiveLine)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
}
