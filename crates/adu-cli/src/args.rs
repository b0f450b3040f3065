//! The command line: every command, option and environment variable, and the parsers of
//! option values (durations, API versions). Parsing never panics: a bad value is a usage
//! error (exit code 2) reported by clap.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use adu_model::ApiVersion;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;
pub use crate::values::{parse_duration, parse_interval};

/// `adu`: show and wait on Azure Device Update operations.
#[derive(Debug, Parser)]
#[command(
    name = "adu",
    version,
    about = "Show and wait on Azure Device Update operations, sign in, and run a local demo",
    long_about = "Show and wait on Azure Device Update for IoT Hub operations (imports and \
                  deletions of updates), sign in interactively, run the service emulator, or \
                  try everything at once with `adu demo`.",
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Options that apply to every command (before or after the subcommand).
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command; `global = true` lets them appear anywhere.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The Device Update account endpoint: a host name such as
    /// `contoso.api.adu.microsoft.com` (https). Plain `http://127.0.0.1:PORT` style URLs are
    /// accepted for loopback hosts only.
    #[arg(long, global = true, env = "ADU_ENDPOINT", value_name = "HOST")]
    pub endpoint: Option<String>,

    /// The Device Update instance name.
    #[arg(long, global = true, env = "ADU_INSTANCE", value_name = "NAME")]
    pub instance: Option<String>,

    /// The API version: `2022-10-01` (current) or `v2` (legacy).
    #[arg(
        long,
        global = true,
        env = "ADU_API_VERSION",
        value_name = "VERSION",
        default_value = "2022-10-01",
        value_parser = parse_api_version
    )]
    pub api_version: ApiVersion,

    /// Extra trusted root certificates (PEM), e.g. the emulator's https certificate.
    #[arg(long, global = true, env = "ADU_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// A bearer token obtained elsewhere (e.g. `az account get-access-token`). Prefer the
    /// ADU_ACCESS_TOKEN environment variable: a value given on the command line is visible to
    /// other users in the process list and is kept in the shell's history.
    #[arg(
        long,
        global = true,
        env = "ADU_ACCESS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_secret
    )]
    pub access_token: Option<Secret>,

    /// Output format: `text` (a readable summary) or `json` (the operation exactly as the
    /// service names its fields, one JSON document on stdout; errors as JSON on stderr).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More tracing output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG also works.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show or wait on an operation.
    Operation {
        /// What to do with it.
        #[command(subcommand)]
        command: OperationCommand,
    },
    /// Sign in interactively in a browser and cache the token for later commands.
    Login(LoginArgs),
    /// Run the embedded emulator, import an update and wait on its operation (no setup needed).
    Demo(DemoArgs),
    /// Run the service emulator.
    Emulator {
        /// What to do with it.
        #[command(subcommand)]
        command: EmulatorCommand,
    },
}

/// `adu operation ...`.
#[derive(Debug, Subcommand)]
pub enum OperationCommand {
    /// Read an operation's status once.
    Show {
        /// The operation id (from the import or delete call's Operation-Location).
        operation_id: String,
    },
    /// Poll an operation until it has Succeeded or Failed.
    Wait {
        /// The operation id (from the import or delete call's Operation-Location).
        operation_id: String,
        /// Give up after this long (e.g. `90s`, `10m`, `1h30m`); exit code 5.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Poll this often; a longer Retry-After from the service wins [default: 5s, or the
        /// service's Retry-After].
        #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
        interval: Option<Duration>,
    },
}

/// The interactive flows `adu login` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginFlow {
    /// Authorization code with PKCE: the browser comes back with a code, exchanged for tokens.
    AuthCode,
    /// Implicit: the browser comes back with the token itself (in the URL fragment).
    Implicit,
}

/// `adu login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The sign-in flow.
    #[arg(long, value_enum, default_value_t = LoginFlow::AuthCode)]
    pub flow: LoginFlow,
    /// The application (client) id registered in Azure AD, with a `http://localhost` redirect URI.
    #[arg(long, env = "AZURE_CLIENT_ID", value_name = "ID")]
    pub client_id: String,
    /// The tenant (directory) id or domain; `organizations` for any work account.
    #[arg(
        long,
        env = "AZURE_TENANT_ID",
        value_name = "TENANT",
        default_value = "organizations"
    )]
    pub tenant: String,
    /// The authority host (default: the public cloud, `https://login.microsoftonline.com`).
    #[arg(long, env = "AZURE_AUTHORITY_HOST", value_name = "URL")]
    pub authority_host: Option<String>,
    /// The scope to ask for [default: the Device Update API's scope for --api-version].
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// How long to wait for the browser to come back.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// `adu demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Make the import fail, to show how a failed operation and its error chain look.
    #[arg(long)]
    pub fail: bool,
}

/// `adu emulator ...`.
#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve the emulator until Ctrl-C or SIGTERM (prints its URL first).
    Serve {
        /// The port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// A scenario file (JSON): operations, timings, credentials, faults.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Serve https with a self-signed certificate for `localhost`, written (PEM) to PATH
        /// (pass it to the other commands with --ca-file).
        #[arg(long, value_name = "PATH")]
        tls_cert: Option<PathBuf>,
    },
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A readable summary.
    Text,
    /// One JSON document.
    Json,
}

/// A secret value from the command line or the environment; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

fn parse_secret(value: &str) -> Result<Secret, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("the token is empty".to_owned());
    }
    Ok(Secret::new(value))
}

/// Parses `2022-10-01` or `v2` (also `V2` and `2020-09-01`).
pub fn parse_api_version(value: &str) -> Result<ApiVersion, String> {
    value.parse::<ApiVersion>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 45 "), Ok(Duration::from_secs(45)));
        for bad in [
            "",
            "ten",
            "10x",
            "-5s",
            "99999999999999999999999",
            "1000000000h",
            "\u{0}",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_interval("50ms").is_err());
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn api_versions() {
        assert_eq!(parse_api_version("2022-10-01"), Ok(ApiVersion::V2022_10_01));
        assert_eq!(parse_api_version("v2"), Ok(ApiVersion::V2));
        assert!(parse_api_version("2021-01-01").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "adu",
            "operation",
            "show",
            "op1",
            "--endpoint",
            "example.com",
            "--output",
            "json",
            "--api-version",
            "v2",
        ])
        .unwrap();
        assert_eq!(cli.global.endpoint.as_deref(), Some("example.com"));
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.api_version, ApiVersion::V2);
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let secret = parse_secret("eyJ0eXAiOiJKV1Qi").unwrap();
        assert!(!format!("{secret:?}").contains("eyJ0"));
        assert!(parse_secret("  ").is_err());
    }

    #[test]
    fn login_flows_parse() {
        let cli = Cli::try_parse_from(["adu", "login", "--flow", "implicit", "--client-id", "x"])
            .unwrap();
        match cli.command {
            Command::Login(args) => {
                assert_eq!(args.flow, LoginFlow::Implicit);
                assert_eq!(args.timeout, Duration::from_secs(300));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            Cli::try_parse_from(["adu", "login", "--flow", "device-code", "--client-id", "x"])
                .is_err()
        );
    }
}
