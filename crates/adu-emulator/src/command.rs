//! The emulator as a service: the command-line flags and the run until Ctrl-C or SIGTERM,
//! shared by the `adu-emulator` binary and `adu emulator serve`.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::Config;
use crate::error::Error;
use crate::server::{start, RunningEmulator};

/// The flags that set up a served emulator. Each flag replaces only what it names in the
/// scenario's configuration (or the default one).
///
/// A command line flattens them (`#[command(flatten)]`), builds the configuration with
/// [`ServeArgs::config`] (its errors are the user's to fix) and runs it with
/// [`ServeArgs::serve`]. `Debug` never shows the client secret or the identity header.
#[derive(Clone, Default, clap::Args)]
#[non_exhaustive]
pub struct ServeArgs {
    /// The port to listen on (0 picks a free one) [default: the port of the scenario's
    /// `bind`, else 0].
    #[arg(long)]
    pub port: Option<u16>,
    /// The address to listen on [default: the address of the scenario's `bind`, else
    /// 127.0.0.1].
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// A scenario file (JSON): operations, timings, credentials, faults, where to listen.
    /// One with `"tls": true` needs --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Serve https with a self-signed certificate for `localhost`, written (PEM) to PATH
    /// (the file clients must trust, e.g. adu's --ca-file).
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// The tenant of the token endpoint [default: the scenario's, else emulator].
    #[arg(long)]
    pub tenant: Option<String>,
    /// The client id the token endpoint accepts [default: the scenario's, else adu-emulator].
    #[arg(long)]
    pub client_id: Option<String>,
    /// The client secret the token endpoint accepts [default: the scenario's, else
    /// adu-emulator-secret]. Prefer the environment variable: a value on the command line
    /// shows in the process list.
    #[arg(long, env = "ADU_EMULATOR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// The secret the managed-identity endpoint wants in X-IDENTITY-HEADER [default: the
    /// scenario's `managedIdentity.identityHeader`, else adu-emulator-identity-header]. Point
    /// Azure's libraries at the emulator's managed identity with
    /// `IDENTITY_ENDPOINT=<URL>/msi/token` and `IDENTITY_HEADER=<this value>` (App Service), or
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST=<URL>` (the VM metadata service's shape, header
    /// `Metadata: true`), where `<URL>` is the one printed when ready.
    #[arg(long, env = "ADU_EMULATOR_IDENTITY_HEADER", hide_env_values = true)]
    pub identity_header: Option<String>,
    /// Serve the API without requiring bearer tokens.
    #[arg(long)]
    pub no_auth: bool,
    /// How many operations a page of a list holds, 1 to 1000 [default: the scenario's
    /// `pageSize`, else 100].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=crate::config::MAX_PAGE_SIZE as i64))]
    pub page_size: Option<u16>,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("port", &self.port)
            .field("bind", &self.bind)
            .field("scenario", &self.scenario)
            .field("tls_cert", &self.tls_cert)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "identity_header",
                &self.identity_header.as_ref().map(|_| "<redacted>"),
            )
            .field("no_auth", &self.no_auth)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl ServeArgs {
    /// The configuration: the scenario file's (or the default), then the flags over it.
    /// A configuration asking for https without `--tls-cert` is refused: the certificate its
    /// clients must trust would be written nowhere.
    pub fn config(&self) -> Result<Config, Error> {
        let mut config = match &self.scenario {
            Some(path) => Config::from_scenario_file(path)?,
            None => Config::default(),
        };
        if let Some(address) = self.bind {
            config.bind.set_ip(address);
        }
        if let Some(port) = self.port {
            config.bind.set_port(port);
        }
        if self.tls_cert.is_some() {
            config.tls = true;
        } else if config.tls {
            return Err(Error::ScenarioValue {
                detail: "it asks for https (\"tls\": true), which needs --tls-cert PATH to write \
                         the certificate clients must trust"
                    .to_owned(),
            });
        }
        let credentials = &mut config.credentials;
        for (flag, value) in [
            (&self.tenant, &mut credentials.tenant),
            (&self.client_id, &mut credentials.client_id),
            (&self.client_secret, &mut credentials.client_secret),
        ] {
            if let Some(flag) = flag {
                value.clone_from(flag);
            }
        }
        if let Some(header) = &self.identity_header {
            config.managed_identity.identity_header.clone_from(header);
        }
        if self.no_auth {
            config.require_auth = false;
        }
        if let Some(n) = self.page_size {
            config.page_size = n.into();
        }
        Ok(config)
    }

    /// Starts an emulator with `config`, writes its certificate to `--tls-cert`, calls `ready`
    /// (to print where it listens), then serves until Ctrl-C or SIGTERM and shuts down cleanly.
    /// The signals are listened for before `ready`, so one sent as soon as it has printed
    /// stops the emulator cleanly.
    pub async fn serve(
        &self,
        config: Config,
        ready: impl FnOnce(&RunningEmulator),
    ) -> Result<(), Error> {
        let stop = stop_signals().map_err(|source| Error::Signal { source })?;
        let emulator = start(config).await?;
        if let Some(path) = &self.tls_cert {
            if let Err(e) = emulator.write_certificate(path) {
                emulator.shutdown().await;
                return Err(e);
            }
        }
        ready(&emulator);
        stop.await;
        emulator.shutdown().await;
        Ok(())
    }
}

/// Starts listening for Ctrl-C and SIGTERM; the future resolves when one comes.
#[cfg(unix)]
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Starts listening for Ctrl-C; the future resolves when it comes.
#[cfg(windows)]
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
    Ok(async move {
        ctrl_c.recv().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(scenario: Option<&str>) -> (ServeArgs, Option<tempfile::TempDir>) {
        let dir = scenario.map(|_| tempfile::tempdir().unwrap());
        let mut args = ServeArgs::default();
        if let (Some(json), Some(dir)) = (scenario, &dir) {
            let path = dir.path().join("scenario.json");
            std::fs::write(&path, json).unwrap();
            args.scenario = Some(path);
        }
        (args, dir)
    }

    #[test]
    fn without_a_scenario_it_listens_on_loopback_and_flags_set_what_they_name() {
        let (mut a, _dir) = args(None);
        let c = a.config().unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:0");
        assert!(!c.tls && c.require_auth);
        a.port = Some(8081);
        a.tls_cert = Some("/tmp/x.pem".into());
        a.client_id = Some("ci".to_owned());
        a.no_auth = true;
        a.page_size = Some(7);
        let c = a.config().unwrap();
        assert_eq!(c.page_size, 7);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8081");
        assert!(c.tls && !c.require_auth);
        assert_eq!(c.credentials.client_id, "ci");
        assert_eq!(c.credentials.tenant, crate::DEFAULT_TENANT);
    }

    #[test]
    fn the_scenarios_bind_is_honoured_and_flags_replace_only_what_they_name() {
        let (mut a, _dir) = args(Some(r#"{"bind": "127.0.0.2:9000"}"#));
        assert_eq!(a.config().unwrap().bind.to_string(), "127.0.0.2:9000");
        a.port = Some(8081);
        assert_eq!(a.config().unwrap().bind.to_string(), "127.0.0.2:8081");
        a.port = None;
        a.bind = Some("127.0.0.3".parse().unwrap());
        assert_eq!(a.config().unwrap().bind.to_string(), "127.0.0.3:9000");
    }

    #[test]
    fn a_scenario_asking_for_https_needs_tls_cert() {
        let (mut a, _dir) = args(Some(r#"{"tls": true}"#));
        let refused = a.config().unwrap_err();
        assert!(
            matches!(refused, Error::ScenarioValue { .. }),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("--tls-cert PATH"), "{refused}");
        a.tls_cert = Some("/tmp/x.pem".into());
        assert!(a.config().unwrap().tls);
    }

    #[test]
    fn debug_never_shows_the_client_secret() {
        let (mut a, _dir) = args(None);
        a.client_secret = Some("s3cret-4Kq".to_owned());
        a.identity_header = Some("h3ader-9Zp".to_owned());
        let debug = format!("{a:?} {:?}", a.config().unwrap());
        for secret in ["s3cret-4Kq", "h3ader-9Zp"] {
            assert!(
                !debug.contains(secret) && debug.contains("<redacted>"),
                "{debug}"
            );
        }
        assert_eq!(
            a.config().unwrap().managed_identity.identity_header,
            "h3ader-9Zp"
        );
    }

    #[test]
    fn help_says_how_to_point_azure_libraries_at_the_managed_identity() {
        use clap::{Args, Command};
        let mut command = ServeArgs::augment_args(Command::new("serve"));
        let help = command.render_long_help().to_string();
        for variable in [
            "IDENTITY_ENDPOINT=<URL>/msi/token",
            "IDENTITY_HEADER",
            "AZURE_POD_IDENTITY_AUTHORITY_HOST=<URL>",
            "--identity-header",
        ] {
            assert!(help.contains(variable), "{variable} not in {help}");
        }
    }

    #[test]
    fn a_missing_scenario_file_is_an_error() {
        let (mut a, _dir) = args(None);
        a.scenario = Some("/nonexistent/scenario.json".into());
        assert!(matches!(a.config(), Err(Error::File { .. })));
    }
}
