//! The Azure CLI credential: the token of whoever `az login` signed in, from
//! `az account get-access-token`.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::Deserialize;

use crate::cache::{TokenCache, TokenCacheOptions};
use crate::credentials::{BoxFuture, TokenCredential};
use crate::error::Error;
use crate::response::MAX_EXPIRES_IN;
use crate::token::AccessToken;

/// How long `az account get-access-token` may run by default.
pub const AZURE_CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of its standard output or error that is kept (a token answer is a few KiB).
const MAX_OUTPUT_BYTES: u64 = 64 * 1024;

/// The token of the account the Azure CLI is signed in with: runs
/// `az account get-access-token --output json --scope <scope> [--tenant <tenant>]` directly
/// (no shell), with a time limit and bounded output, and reads `accessToken` and
/// `expires_on` (Azure CLI 2.54.0 or newer). One scope at a time; tokens are cached like the
/// other credentials'.
///
/// Errors say what to do: [`Error::AzureCliNotInstalled`], [`Error::AzureCliNotSignedIn`]
/// ("run `az login`"), or [`Error::AzureCli`] with the reason. Neither errors nor `Debug`
/// ever show the CLI's standard output, which holds the token.
///
/// ```no_run
/// use adu_auth::{AzureCliCredential, TokenCredential};
///
/// let credential = AzureCliCredential::new().with_tenant("contoso.onmicrosoft.com")?;
/// let token = futures::executor::block_on(
///     credential.get_token(&["https://api.adu.microsoft.com/.default"]),
/// )?;
/// # Ok::<(), adu_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct AzureCliCredential {
    program: PathBuf,
    tenant: Option<String>,
    timeout: Duration,
    cache: TokenCache,
}

impl Default for AzureCliCredential {
    fn default() -> Self {
        Self::new()
    }
}

impl AzureCliCredential {
    /// Runs `az` (`az.cmd` on Windows) found on `PATH`, for the CLI's default tenant.
    pub fn new() -> Self {
        let program = if cfg!(windows) { "az.cmd" } else { "az" };
        AzureCliCredential {
            program: PathBuf::from(program),
            tenant: None,
            timeout: AZURE_CLI_TIMEOUT,
            cache: TokenCache::new(TokenCacheOptions::default()),
        }
    }

    /// Asks for a token of `tenant` (`--tenant`). Fails with [`Error::InvalidConfig`] unless
    /// it is made of letters, digits, `.` and `-` and does not start with `-`.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Result<Self, Error> {
        let tenant = tenant.into();
        let valid = !tenant.is_empty()
            && !tenant.starts_with('-')
            && tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid {
            return Err(Error::InvalidConfig {
                message: "the Azure CLI tenant must be a tenant id or domain (letters, digits, `.` and `-`)".to_owned(),
            });
        }
        self.tenant = Some(tenant);
        Ok(self)
    }

    /// Runs this program instead of `az` (a path, or a name looked up on `PATH`).
    #[must_use]
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// How long the CLI may run (default [`AZURE_CLI_TIMEOUT`]); it is then killed.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Replaces the cache options (clock, refresh margin, failure hook).
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache = TokenCache::new(options);
        self
    }

    /// The arguments for `scopes`: exactly one scope, of the characters Azure's libraries
    /// accept (so it cannot be read as an option).
    fn arguments(&self, scopes: &[&str]) -> Result<Vec<String>, Error> {
        let [scope] = scopes else {
            return Err(Error::InvalidConfig {
                message: format!(
                    "the Azure CLI credential takes exactly one scope, not {}",
                    scopes.len()
                ),
            });
        };
        let valid = !scope.is_empty()
            && !scope.starts_with('-')
            && scope
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
        if !valid {
            return Err(Error::InvalidConfig {
                message: "the Azure CLI scope may hold only letters, digits and `-_.:/`".to_owned(),
            });
        }
        let mut args = ["account", "get-access-token", "--output", "json", "--scope"]
            .map(str::to_owned)
            .to_vec();
        args.push((*scope).to_owned());
        if let Some(tenant) = &self.tenant {
            args.extend(["--tenant".to_owned(), tenant.clone()]);
        }
        Ok(args)
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let args = self.arguments(scopes)?;
        let (program, timeout) = (self.program.clone(), self.timeout);
        let output = crate::thread::on_thread("adu-auth-az", move || run(program, args, timeout))
            .await
            .map_err(|e| Error::AzureCli {
                reason: format!("could not start a thread to run it: {e}"),
            })??;
        self.token(&output)
    }

    /// Reads the CLI's answer.
    fn token(&self, output: &Output) -> Result<AccessToken, Error> {
        let failed = |reason: String| Error::AzureCli { reason };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr.bytes);
            if stderr.contains("az login") || stderr.contains("az account set") {
                return Err(Error::AzureCliNotSignedIn);
            }
            // Its first line that says something (the CLI prefixes it with `ERROR:`).
            let line = stderr.lines().map(str::trim).find(|l| !l.is_empty());
            let said: String = line
                .unwrap_or("nothing on standard error")
                .chars()
                .take(300)
                .collect();
            return Err(failed(format!(
                "`az account get-access-token` failed ({}): {said}",
                output.status
            )));
        }
        if output.stdout.overflowed {
            return Err(failed(format!(
                "its output is larger than {MAX_OUTPUT_BYTES} bytes: check the `az` on PATH"
            )));
        }
        // serde's message is not shown: it may quote the output, which holds the token.
        let answer: CliToken = serde_json::from_slice(&output.stdout.bytes).map_err(|_| {
            failed("its output is not a token in JSON: check that `az account get-access-token --output json` works".to_owned())
        })?;
        let Some(expires_on) = answer.expires_on else {
            return Err(failed(
                "its output has no `expires_on`: Azure CLI 2.54.0 or newer is needed (run `az upgrade`)".to_owned(),
            ));
        };
        if answer.access_token.is_empty() {
            return Err(failed("its output has an empty `accessToken`".to_owned()));
        }
        let now = self.cache.options.clock.now();
        let latest = now.checked_add(MAX_EXPIRES_IN).unwrap_or(now);
        let expires_at = UNIX_EPOCH
            .checked_add(Duration::from_secs(expires_on))
            .map_or(latest, |at| at.min(latest));
        Ok(AccessToken::new(answer.access_token, expires_at))
    }
}

impl TokenCredential for AzureCliCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(self.cache.get_or_fetch(scopes, || self.fetch(scopes)))
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.cache.invalidate(scopes);
    }
}

/// The CLI's answer. Not `Debug`: it holds the token.
#[derive(Deserialize)]
struct CliToken {
    #[serde(rename = "accessToken")]
    access_token: String,
    #[serde(
        default,
        deserialize_with = "crate::response::seconds_number_or_string"
    )]
    expires_on: Option<u64>,
}

/// What a stream said, up to the bound.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    overflowed: bool,
}

struct Output {
    status: ExitStatus,
    stdout: Captured,
    stderr: Captured,
}

/// Keeps the first [`MAX_OUTPUT_BYTES`] of `stream` and drains the rest, so the child never
/// blocks on a full pipe.
fn capture(mut stream: impl Read + Send + 'static) -> mpsc::Receiver<Captured> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut captured = Captured::default();
        let _ = (&mut stream)
            .take(MAX_OUTPUT_BYTES + 1)
            .read_to_end(&mut captured.bytes);
        if captured.bytes.len() as u64 > MAX_OUTPUT_BYTES {
            captured.bytes.truncate(MAX_OUTPUT_BYTES as usize);
            captured.overflowed = true;
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
        let _ = sender.send(captured);
    });
    receiver
}

/// Runs `program` with `args` (no shell), kills it (with its process group on Unix: `az`
/// is a script that starts Python) once `timeout` has passed, and collects its bounded
/// output. Blocking. `wait-timeout` waits for the child with a limit, which `std` cannot.
fn run(program: PathBuf, args: Vec<String>, timeout: Duration) -> Result<Output, Error> {
    let deadline = Instant::now() + timeout;
    let mut command = Command::new(&program);
    command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::AzureCliNotInstalled {
            program: program.display().to_string(),
        },
        _ => Error::AzureCli {
            reason: format!("could not run `{}`: {e}", program.display()),
        },
    })?;
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);
    let timed_out = || {
        Error::AzureCli {
        reason: format!(
            "`az account get-access-token` did not finish within {} s: check that it works in a terminal",
            timeout.as_secs_f32()
        ),
    }
    };
    let status = match wait_timeout::ChildExt::wait_timeout(&mut child, timeout) {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            #[cfg(unix)]
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_child(&child),
                rustix::process::Signal::KILL,
            );
            let _ = child.kill();
            let _ = child.wait();
            return Err(timed_out());
        }
    };
    // A process the CLI left behind may hold the pipes open: wait for them only until the
    // deadline.
    let collect = |receiver: Option<mpsc::Receiver<Captured>>| match receiver {
        None => Ok(Captured::default()),
        Some(r) => r
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| timed_out()),
    };
    Ok(Output {
        status,
        stdout: collect(stdout)?,
        stderr: collect(stderr)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever the text, an accepted tenant or scope is made of the allowed
        /// characters and cannot be read as an option.
        #[test]
        fn accepted_arguments_are_plain(text in "\\PC{0,12}") {
            let plain = |s: &str, extra: &[u8]| {
                !s.is_empty() && !s.starts_with('-')
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
            };
            let tenant = AzureCliCredential::new().with_tenant(text.clone());
            proptest::prop_assert_eq!(tenant.is_ok(), plain(&text, b".-"));
            let scope = AzureCliCredential::new().arguments(&[text.as_str()]);
            proptest::prop_assert_eq!(scope.is_ok(), plain(&text, b"-_.:/"));
        }
    }

    #[test]
    fn the_tenant_and_scope_cannot_become_options() {
        let cli = AzureCliCredential::new();
        for tenant in ["-x", "--help", "a b", "a;b", "", "t/../x", "a=b"] {
            assert!(
                AzureCliCredential::new().with_tenant(tenant).is_err(),
                "{tenant}"
            );
        }
        let cli_t = AzureCliCredential::new()
            .with_tenant("contoso.onmicrosoft.com")
            .unwrap();
        assert_eq!(
            cli_t
                .arguments(&["https://api.adu.microsoft.com/.default"])
                .unwrap(),
            [
                "account",
                "get-access-token",
                "--output",
                "json",
                "--scope",
                "https://api.adu.microsoft.com/.default",
                "--tenant",
                "contoso.onmicrosoft.com"
            ]
        );
        for scopes in [&["--debug"][..], &["a b"], &[""], &["a", "b"], &[]] {
            assert!(cli.arguments(scopes).is_err(), "{scopes:?}");
        }
    }
}
