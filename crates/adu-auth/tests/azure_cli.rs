//! The Azure CLI credential against fake `az` programs (shell scripts): a good answer,
//! signed out, not installed, garbage, huge output, an old CLI, and one that never ends.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use adu_auth::{AzureCliCredential, Error, TokenCacheOptions, TokenCredential};

const SCOPE: &str = "https://api.adu.microsoft.com/.default";

/// The fake programs, all written before any test starts a process: a file still open for
/// writing when another thread forks could not be run ("text file busy").
fn fakes() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let scripts = [
            // Records its arguments, one a line, then answers as az 2.54+ does.
            (
                "good",
                r#"printf '%s\n' "$@" > "$(dirname "$0")/good.args"
echo '{"accessToken":"cli-t0ken","expiresOn":"2030-01-01 00:00:00.000000","expires_on":1700003600,"subscription":"s","tenant":"t","tokenType":"Bearer"}'"#,
            ),
            (
                "signed-out",
                r#"echo "ERROR: Please run 'az login' to setup account." >&2; exit 1"#,
            ),
            (
                "failing",
                r#"echo; echo "ERROR: AADSTS50076: multi-factor authentication is required" >&2; exit 1"#,
            ),
            ("garbage", r#"echo 'not json at all cli-t0ken'"#),
            (
                "old",
                r#"echo '{"accessToken":"cli-t0ken","expiresOn":"2030-01-01 00:00:00.000000","tokenType":"Bearer"}'"#,
            ),
            // 8 MiB of output, far past the bound.
            ("huge", r#"head -c 8388608 /dev/zero | tr '\0' 'a'"#),
            ("slow", "sleep 30"),
        ];
        for (name, body) in scripts {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    })
    .path()
}

fn fake(name: &str) -> PathBuf {
    fakes().join(name)
}

#[derive(Debug)]
struct Fixed;

impl adu_auth::Clock for Fixed {
    fn now(&self) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
}

fn run(credential: &AzureCliCredential) -> Result<adu_auth::AccessToken, Error> {
    futures::executor::block_on(credential.get_token(&[SCOPE]))
}

#[test]
fn reads_the_token_and_expires_on_and_passes_scope_and_tenant() {
    let credential = AzureCliCredential::new()
        .with_program(fake("good"))
        .with_tenant("contoso.onmicrosoft.com")
        .unwrap()
        .with_cache_options(TokenCacheOptions::default().with_clock(Arc::new(Fixed)));
    let token = run(&credential).unwrap();
    assert_eq!(token.secret(), "cli-t0ken");
    assert_eq!(
        token.expires_at(),
        UNIX_EPOCH + Duration::from_secs(1_700_003_600)
    );
    let args = std::fs::read_to_string(fakes().join("good.args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "account",
            "get-access-token",
            "--output",
            "json",
            "--scope",
            SCOPE,
            "--tenant",
            "contoso.onmicrosoft.com"
        ]
    );
    assert!(!format!("{credential:?}").contains("cli-t0ken"));
}

#[test]
fn signed_out_says_run_az_login() {
    let error = run(&AzureCliCredential::new().with_program(fake("signed-out"))).unwrap_err();
    assert!(matches!(error, Error::AzureCliNotSignedIn), "{error:?}");
    assert!(error.to_string().contains("run `az login`"), "{error}");
}

#[test]
fn other_failures_show_the_first_line_of_standard_error() {
    let error = run(&AzureCliCredential::new().with_program(fake("failing"))).unwrap_err();
    let shown = error.to_string();
    assert!(
        shown.contains("ERROR: AADSTS50076: multi-factor authentication is required"),
        "{shown}"
    );
    assert!(shown.contains("exit status: 1"), "{shown}");
}

#[test]
fn not_installed_is_told_apart() {
    let missing = fakes().join("no-such-az");
    let error = run(&AzureCliCredential::new().with_program(&missing)).unwrap_err();
    assert!(
        matches!(&error, Error::AzureCliNotInstalled { program } if program.ends_with("no-such-az")),
        "{error:?}"
    );
    assert!(error.to_string().contains("not installed"), "{error}");
}

#[test]
fn garbage_output_is_an_error_that_does_not_show_it() {
    let error = run(&AzureCliCredential::new().with_program(fake("garbage"))).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("not a token in JSON"), "{shown}");
    assert!(!shown.contains("cli-t0ken"), "{shown}");
}

#[test]
fn an_old_cli_without_expires_on_names_the_version_needed() {
    let error = run(&AzureCliCredential::new().with_program(fake("old"))).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("2.54.0 or newer"), "{shown}");
    assert!(!shown.contains("cli-t0ken"), "{shown}");
}

#[test]
fn huge_output_is_refused_after_the_bound() {
    let error = run(&AzureCliCredential::new().with_program(fake("huge"))).unwrap_err();
    assert!(
        error.to_string().contains("larger than 65536 bytes"),
        "{error}"
    );
}

#[test]
fn a_cli_that_never_answers_is_stopped_at_the_timeout() {
    let credential = AzureCliCredential::new()
        .with_program(fake("slow"))
        .with_timeout(Duration::from_millis(200));
    let error = run(&credential).unwrap_err();
    assert!(
        error.to_string().contains("did not finish within"),
        "{error}"
    );
}

#[test]
fn only_one_plain_scope_reaches_the_cli() {
    let credential = AzureCliCredential::new().with_program(fake("good"));
    for scopes in [&[SCOPE, "b"][..], &["--help"], &["a b"]] {
        let error = futures::executor::block_on(credential.get_token(scopes)).unwrap_err();
        assert!(matches!(error, Error::InvalidConfig { .. }), "{error:?}");
    }
    assert!(AzureCliCredential::new().with_tenant("--debug").is_err());
    assert!(AzureCliCredential::new()
        .with_tenant("t; rm -rf /")
        .is_err());
}
