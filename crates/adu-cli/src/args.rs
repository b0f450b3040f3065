//! The command line: every command, option and environment variable, and the parsers of
//! option values (durations, API versions). Parsing never panics: a bad value is a usage
//! error (exit code 2) reported by clap.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use adu_model::models::OperationStatus;
use adu_model::{ApiVersion, OperationKind};
use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::exit::{Exit, Failure, EXIT_CODES_HELP};
pub use crate::values::{parse_duration, parse_interval};

/// `adu`: show, list and wait on Azure Device Update operations.
#[derive(Debug, Parser)]
#[command(
    name = "adu",
    version,
    about = "Show, list and wait on Azure Device Update operations, sign in, and run a local demo",
    long_about = "Show, list and wait on Azure Device Update for IoT Hub operations (imports \
                  and deletions of updates, and device imports), sign in interactively, run \
                  the service emulator, or try everything at once with `adu demo`.",
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

    /// The API version to speak (`v2` is the legacy API, upstream 2020-09-01). Any other
    /// value is refused before anything is sent.
    #[arg(
        long,
        global = true,
        env = "ADU_API_VERSION",
        value_name = "VERSION",
        default_value_t = ApiVersion::default(),
        value_parser = ApiVersionParser
    )]
    pub api_version: ApiVersion,

    /// Trust only the root certificates in this PEM file instead of the system's (as
    /// `curl --cacert` does), e.g. the emulator's https certificate or a corporate bundle.
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

    /// Use only this credential instead of the first that applies (see "Authentication"
    /// below): `access-token`, `environment`, `workload-identity`, `managed-identity`,
    /// `azure-cli` or `login`.
    #[arg(long, global = true, env = "ADU_AUTH", value_enum, value_name = "KIND")]
    pub auth: Option<AuthKind>,

    /// Where the credential chain leaves its account of a failure, for the error report.
    #[arg(skip)]
    pub auth_report: crate::auth::Report,

    /// Output format: `text` (a readable summary, a table for `list`) or `json` (operations
    /// exactly as the service names their fields, one JSON document on stdout, an array for
    /// `list`; errors as JSON on stderr).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More tracing output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG also works.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show, wait on or list operations.
    Operation {
        /// What to do with it.
        #[command(subcommand)]
        command: OperationCommand,
    },
    /// Sign in interactively in a browser and cache the token for later commands.
    Login(LoginArgs),
    /// Show which credential is used here, and for whom its token is.
    Auth {
        /// What to show.
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Run the embedded emulator, import an update and wait on its operation (no setup needed).
    Demo(DemoArgs),
    /// Run the service emulator.
    Emulator {
        /// What to do with it.
        #[command(subcommand)]
        command: EmulatorCommand,
    },
    /// Print a shell completion script on stdout (see the README for where to put it).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

/// `adu operation ...`.
#[derive(Debug, Subcommand)]
pub enum OperationCommand {
    /// Read an operation's status once.
    #[command(after_help = EXIT_CODES_HELP)]
    Show {
        /// The operation id (from the import or delete call's Operation-Location).
        operation_id: String,
        /// Exit with code 1 when the operation Failed (without it, showing any operation
        /// exits 0).
        #[arg(long)]
        exit_status: bool,
        #[command(flatten)]
        kind: KindArg,
    },
    /// Poll an operation until it has Succeeded or Failed.
    #[command(after_help = EXIT_CODES_HELP)]
    Wait {
        /// The operation id (from the import or delete call's Operation-Location).
        operation_id: String,
        /// Give up after this long (e.g. `90s`, `10m`, `1h30m`); exit code 5. Without it,
        /// wait until the operation ends.
        // `allow_hyphen_values` lets `-5s` reach the parser, which says what is wrong with
        // it, instead of clap taking it for an unknown option.
        #[arg(long, value_name = "DURATION", value_parser = parse_timeout, allow_hyphen_values = true)]
        timeout: Option<Duration>,
        /// Poll this often; a longer Retry-After from the service wins, up to 10 minutes (or
        /// up to this interval if longer) [default: 5s, or the service's Retry-After].
        #[arg(long, value_name = "DURATION", value_parser = parse_interval, allow_hyphen_values = true)]
        interval: Option<Duration>,
        #[command(flatten)]
        kind: KindArg,
    },
    /// List operations in the service's order, following every page.
    #[command(after_help = EXIT_CODES_HELP)]
    List(ListArgs),
}

/// `--kind`, on every `adu operation` command.
#[derive(Debug, Clone, Copy, Args)]
pub struct KindArg {
    /// Which operations: `update` (imports and deletions of updates) or `device`
    /// (device-management operations, such as device imports; not in the legacy API `v2`).
    #[arg(long, value_enum, default_value_t = Kind::Update)]
    pub kind: Kind,
}

/// The kinds of operation, as `--kind` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Update operations: imports and deletions of updates.
    Update,
    /// Device-management operations: device imports.
    Device,
}

impl From<Kind> for OperationKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Update => OperationKind::Update,
            Kind::Device => OperationKind::Device,
        }
    }
}

/// `adu operation list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only operations in these states (a comma-separated list, e.g. `not-started,running`;
    /// the service's spelling, `NotStarted`, works too).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "STATUS,...",
        ignore_case = true
    )]
    pub status: Vec<Status>,
    /// A filter passed to the service as it is, e.g. `status eq 'Running'` (the service
    /// filters on status only).
    #[arg(long, value_name = "FILTER", conflicts_with = "status")]
    pub filter: Option<String>,
    /// At most this many operations, over all pages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub top: Option<u32>,
    #[command(flatten)]
    pub kind: KindArg,
}

/// The statuses `--status` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Status {
    /// Accepted, not begun.
    #[value(alias = "notstarted")]
    NotStarted,
    /// In progress.
    Running,
    /// Finished, and it worked.
    Succeeded,
    /// Finished, and it did not work.
    Failed,
}

impl From<Status> for OperationStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::NotStarted => OperationStatus::NotStarted,
            Status::Running => OperationStatus::Running,
            Status::Succeeded => OperationStatus::Succeeded,
            Status::Failed => OperationStatus::Failed,
        }
    }
}

/// `adu auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Which credential the chain picks here and why, then the token's tenant, client or
    /// user and expiry (read from its claims, not verified); never the token.
    #[command(after_help = EXIT_CODES_HELP)]
    Show,
}

/// The credentials `--auth` can force, in the order the chain tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthKind {
    /// `--access-token` or `ADU_ACCESS_TOKEN`.
    AccessToken,
    /// `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` with a secret, a certificate or a password.
    Environment,
    /// `AZURE_FEDERATED_TOKEN_FILE` (with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`).
    WorkloadIdentity,
    /// App Service, Azure Arc, or else an Azure VM's IMDS.
    ManagedIdentity,
    /// `az account get-access-token`.
    AzureCli,
    /// The sign-in cached by `adu login`.
    Login,
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
    /// Sign in on another device instead (RFC 8628, for SSH sessions and containers): shows
    /// a code to enter at a verification URL, and waits for the sign-in.
    #[arg(long, conflicts_with = "flow")]
    pub device_code: bool,
    /// The application (client) id registered in Azure AD (a public client with the redirect
    /// URI `http://127.0.0.1/callback`; the port, chosen at run time, is ignored for loopback).
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
    /// How long to wait for the browser to come back (or the device sign-in); exit code 5
    /// after that.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5m",
        value_parser = parse_timeout,
        allow_hyphen_values = true
    )]
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
    Serve(adu_emulator::ServeArgs),
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A readable summary.
    Text,
    /// One JSON document.
    Json,
}

/// A secret value (from the command line, the environment or the token cache); `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
// secrecy's SecretString does not serialize, and the token cache writes its tokens.
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

/// Trims the value; a blank one is judged by [`parse`], which knows where it came from.
fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value.trim()))
}

/// Why the command line did not become a [`Cli`].
#[derive(Debug)]
pub enum ParseError {
    /// Help, the version, or a usage error that clap prints itself (`--output text`).
    Clap(clap::Error),
    /// A usage error to report like every other failure, in this format: with
    /// `--output json` it is one JSON document on stderr too.
    Failure(Failure, OutputFormat),
}

/// Parses the command line (the program name first).
///
/// With `--output json`, usage errors become a [`Failure`] (exit code 2), so that every error
/// is one JSON document on stderr; help and the version are printed as usual. A blank
/// `ADU_ACCESS_TOKEN` counts as unset, like every other empty variable, while a blank
/// `--access-token` is an error.
pub fn parse<I, T>(args: I) -> Result<Cli, ParseError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let format = output_format_in(&args);
    let refuse = |error: clap::Error| match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ParseError::Clap(error),
        _ if format == OutputFormat::Json => ParseError::Failure(usage_failure(&error), format),
        _ => ParseError::Clap(error),
    };
    let matches = Cli::command().try_get_matches_from(&args).map_err(refuse)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(refuse)?;
    if cli
        .global
        .access_token
        .as_ref()
        .is_some_and(|token| token.expose().is_empty())
    {
        if matches.value_source("access_token") == Some(ValueSource::EnvVariable) {
            cli.global.access_token = None;
        } else {
            return Err(refuse(Cli::command().error(
                ErrorKind::InvalidValue,
                "the value of --access-token is empty: pass the token, or leave the option out \
                 to use another credential",
            )));
        }
    }
    Ok(cli)
}

/// The `--output` asked for, read before clap parses (so that its errors can be rendered in
/// that format): the last `--output json`, `--output=json` (or other value) before `--`.
// clap's `ignore_errors` parse was tried: it still gives up at an unknown subcommand.
fn output_format_in(args: &[OsString]) -> OutputFormat {
    let mut format = OutputFormat::Text;
    let mut rest = args.iter().skip(1).map(|arg| arg.to_str());
    while let Some(arg) = rest.next() {
        let value = match arg {
            Some("--") => break,
            Some("--output") => rest.next().flatten(),
            Some(arg) => arg.strip_prefix("--output="),
            None => None,
        };
        if let Some(value) = value {
            format = if value == "json" {
                OutputFormat::Json
            } else {
                OutputFormat::Text
            };
        }
    }
    format
}

/// A clap usage error as a [`Failure`]: clap's first paragraph (the error, with what it
/// lists) as the message, its tip (if any) as the hint.
fn usage_failure(error: &clap::Error) -> Failure {
    let mut hint = "see `adu --help` (or `adu COMMAND --help`); nothing was sent".to_owned();
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim);
    let mut message = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        message.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    for line in lines {
        if let Some(tip) = line.strip_prefix("tip: ") {
            hint = tip.to_owned();
        }
    }
    let message = match message.join(" ") {
        m if m.is_empty() => "invalid command line".to_owned(),
        m => m,
    };
    Failure::new(Exit::Usage, message, hint)
}

/// Like [`parse_duration`], and longer than zero: a zero timeout would give up before the
/// first request.
pub fn parse_timeout(value: &str) -> Result<Duration, String> {
    let timeout = parse_duration(value)?;
    if timeout.is_zero() {
        return Err(
            "the timeout must be longer than zero (leave --timeout out to wait \
                    until the operation ends)"
                .to_owned(),
        );
    }
    Ok(timeout)
}

/// Parses a version of [`ApiVersion::ALL`] by its name (`2026-06-01`, `v2`) or upstream name
/// (`2020-09-01`); the error names the accepted ones.
pub fn parse_api_version(value: &str) -> Result<ApiVersion, String> {
    value.parse::<ApiVersion>().map_err(|e| e.to_string())
}

/// `--api-version`'s parser: [`parse_api_version`], with [`ApiVersion::ALL`] as the possible
/// values that help and shell completion show.
// `PossibleValuesParser` would refuse the upstream names `FromStr` accepts.
#[derive(Debug, Clone, Copy)]
struct ApiVersionParser;

impl TypedValueParser for ApiVersionParser {
    type Value = ApiVersion;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<ApiVersion, clap::Error> {
        parse_api_version.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            ApiVersion::ALL
                .iter()
                .map(|v| PossibleValue::new(v.as_str())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// `--status` also takes the service's own spelling (`NotStarted`, as `show` prints it),
    /// in any case.
    #[test]
    fn statuses_parse_in_any_case_and_as_the_service_spells_them() {
        for spelling in [
            "not-started,running",
            "NotStarted,Running",
            "NOT-STARTED,running",
        ] {
            let cli = parse(["adu", "operation", "list", "--status", spelling]).unwrap();
            let Command::Operation {
                command: OperationCommand::List(args),
            } = cli.command
            else {
                panic!("not a list: {spelling}");
            };
            assert_eq!(
                args.status,
                [Status::NotStarted, Status::Running],
                "{spelling}"
            );
        }
        assert!(parse(["adu", "operation", "list", "--status", "done"]).is_err());
    }

    #[test]
    fn api_versions() {
        assert_eq!(parse_api_version("2026-06-01"), Ok(ApiVersion::V2026_06_01));
        assert_eq!(parse_api_version("2022-10-01"), Ok(ApiVersion::V2022_10_01));
        assert_eq!(parse_api_version("v2"), Ok(ApiVersion::V2));
        assert_eq!(parse_api_version("2020-09-01"), Ok(ApiVersion::V2));
        let error = parse_api_version("2021-01-01").unwrap_err();
        for accepted in ApiVersion::ALL {
            assert!(error.contains(accepted.as_str()), "{error}");
        }
        let default = Cli::try_parse_from(["adu", "operation", "show", "op1"]).unwrap();
        assert_eq!(default.global.api_version, ApiVersion::default());
        let Err(ParseError::Clap(e)) =
            parse(["adu", "operation", "show", "op1", "--api-version", "v3"])
        else {
            panic!("v3 parsed")
        };
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("2026-06-01, 2022-10-01, v2"), "{e}");
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
    }

    #[test]
    fn a_blank_access_token_on_the_command_line_is_refused() {
        for args in [
            vec!["adu", "operation", "show", "op1", "--access-token", "  "],
            vec![
                "adu",
                "--output",
                "json",
                "operation",
                "show",
                "op1",
                "--access-token=",
            ],
        ] {
            match parse(&args) {
                Err(ParseError::Clap(e)) => {
                    assert_eq!(e.kind(), ErrorKind::InvalidValue, "{args:?}");
                    assert!(e.to_string().contains("--access-token is empty"), "{e}");
                }
                Err(ParseError::Failure(f, format)) => {
                    assert_eq!((f.exit, format), (Exit::Usage, OutputFormat::Json));
                    assert!(f.message.contains("--access-token is empty"), "{f:?}");
                }
                Ok(cli) => panic!("{args:?} parsed: {cli:?}"),
            }
        }
    }

    #[test]
    fn usage_errors_are_failures_with_output_json() {
        let json = |args: &[&str]| match parse(args) {
            Err(ParseError::Failure(f, OutputFormat::Json)) => f,
            other => panic!("{args:?}: {other:?}"),
        };
        let f = json(&["adu", "--output", "json", "operation", "show"]);
        assert_eq!(f.exit, Exit::Usage);
        assert!(f.message.contains("<OPERATION_ID>"), "{f:?}");
        let f = json(&["adu", "operation", "frobnicate", "--output=json"]);
        assert!(f.message.contains("frobnicate"), "{f:?}");
        let f = json(&["adu", "--output", "json"]);
        assert!(f.message.contains("requires a subcommand"), "{f:?}");
        let f = json(&[
            "adu",
            "operation",
            "wait",
            "x",
            "--timeout",
            "0",
            "--output",
            "json",
        ]);
        assert!(f.message.contains("longer than zero"), "{f:?}");
        // Help and the version are not errors; text output keeps clap's own rendering; an
        // invalid --output is reported as text.
        for args in [
            vec!["adu", "--output", "json", "--help"],
            vec!["adu", "--output", "json", "--version"],
            vec!["adu", "operation", "show"],
            vec!["adu", "operation", "show", "--output", "yaml"],
            vec!["adu", "operation", "show", "--", "--output", "json"],
        ] {
            assert!(matches!(parse(&args), Err(ParseError::Clap(_))), "{args:?}");
        }
    }

    #[test]
    fn timeouts_must_be_longer_than_zero_and_not_negative() {
        for zero in ["0", "0s", "0ms"] {
            let error = parse_timeout(zero).unwrap_err();
            assert!(error.contains("longer than zero"), "{zero}: {error}");
        }
        assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
        for args in [
            ["adu", "operation", "wait", "op1", "--timeout", "-5s"],
            ["adu", "login", "--client-id", "x", "--timeout", "-5s"],
        ] {
            let Err(ParseError::Clap(e)) = parse(args) else {
                panic!("{args:?} parsed")
            };
            assert_eq!(e.kind(), ErrorKind::ValueValidation, "{args:?}: {e}");
            assert!(e.to_string().contains("cannot be negative"), "{e}");
        }
        let Err(ParseError::Clap(e)) =
            parse(["adu", "login", "--client-id", "x", "--timeout", "0"])
        else {
            panic!("a zero login timeout parsed")
        };
        assert!(e.to_string().contains("longer than zero"), "{e}");
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
