//! `adu emulator serve`: the emulator as a service, until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};

use adu_emulator::Config;

use crate::exit::{Exit, Failure};

/// The emulator's configuration: the scenario file (if any), then the flags.
pub fn config(
    port: Option<u16>,
    scenario: Option<&Path>,
    tls_cert: Option<&Path>,
) -> Result<Config, Failure> {
    let config = match scenario {
        Some(path) => Config::from_scenario_file(path).map_err(|e| {
            Failure::new(
                Exit::Usage,
                format!("cannot use the scenario {}: {e}", path.display()),
                "fix the scenario file (see the adu-emulator README for its format)",
            )
            .with_sources(&e)
        })?,
        None => Config::default(),
    };
    apply_flags(config, port, tls_cert)
}

/// The flags over a scenario's configuration ([`Config::apply_listen_flags`]): `--port`
/// replaces the port of the scenario's `bind` (by default `127.0.0.1:0`), whose address is
/// kept; `--tls-cert` turns https on, and a scenario asking for https needs it.
pub fn apply_flags(
    mut config: Config,
    port: Option<u16>,
    tls_cert: Option<&Path>,
) -> Result<Config, Failure> {
    config
        .apply_listen_flags(None, port, tls_cert.is_some())
        .map_err(|e| {
            Failure::new(
                Exit::Usage,
                format!("cannot use the scenario: {e}"),
                "pass --tls-cert PATH: the self-signed certificate is written there, for the \
                 other commands' --ca-file",
            )
        })?;
    Ok(config)
}

/// The lines printed once the emulator listens: its URL first (on a line of its own, for
/// scripts), then how to point `adu` at it.
pub fn ready_text(base_url: &str, tenant: &str, client_id: &str, ca_file: Option<&Path>) -> String {
    let mut text = format!("adu emulator listening on {base_url}\n");
    text.push_str("Point adu at it with, for example:\n");
    text.push_str(&format!(
        "  export ADU_ENDPOINT={base_url} ADU_INSTANCE=blue\n"
    ));
    text.push_str(&format!(
        "  export AZURE_AUTHORITY_HOST={base_url} AZURE_TENANT_ID={tenant} AZURE_CLIENT_ID={client_id}\n"
    ));
    text.push_str("  export AZURE_CLIENT_SECRET=...   # the emulator's client secret\n");
    if let Some(path) = ca_file {
        text.push_str(&format!("  export ADU_CA_FILE={}\n", path.display()));
    }
    text.push_str("Stop it with Ctrl-C.");
    text
}

/// `adu emulator serve`.
pub async fn run(
    port: Option<u16>,
    scenario: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
) -> Result<Exit, Failure> {
    let config = config(port, scenario.as_deref(), tls_cert.as_deref())?;
    let result = adu_emulator::serve_until_shutdown(config, |emulator| {
        if let Some(path) = &tls_cert {
            emulator.write_certificate(path)?;
        }
        let creds = emulator.credentials();
        println!(
            "{}",
            ready_text(
                &emulator.base_url(),
                &creds.tenant,
                &creds.client_id,
                tls_cert.as_deref()
            )
        );
        Ok(())
    })
    .await;
    result.map(|()| Exit::Success).map_err(|e| {
        Failure::new(
            Exit::Service,
            format!("the emulator failed: {e}"),
            "check the port and the files given",
        )
        .with_sources(&e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_scenario() {
        let c = config(Some(8081), None, Some(Path::new("/tmp/x.pem"))).unwrap();
        assert_eq!(c.bind.port(), 8081);
        assert!(c.bind.ip().is_loopback());
        assert!(c.tls);
        let c = config(None, None, None).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:0");
        assert!(!c.tls);
        let missing =
            config(None, Some(Path::new("/nonexistent/scenario.json")), None).unwrap_err();
        assert_eq!(missing.exit(), Exit::Usage);
    }

    #[test]
    fn the_scenarios_bind_is_honoured_and_its_port_replaced_by_the_flag() {
        let scenario = || Config::from_scenario_json(r#"{"bind": "127.0.0.2:9000"}"#).unwrap();
        let c = apply_flags(scenario(), None, None).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.2:9000");
        let c = apply_flags(scenario(), Some(8081), None).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.2:8081");
    }

    #[test]
    fn a_scenario_asking_for_https_needs_tls_cert() {
        let scenario = || Config::from_scenario_json(r#"{"tls": true}"#).unwrap();
        let refused = apply_flags(scenario(), None, None).unwrap_err();
        assert_eq!(refused.exit(), Exit::Usage);
        assert!(
            refused.hint.as_deref().unwrap().contains("--tls-cert PATH"),
            "{refused:?}"
        );
        let c = apply_flags(scenario(), None, Some(Path::new("/tmp/x.pem"))).unwrap();
        assert!(c.tls);
    }

    #[test]
    fn the_url_comes_first() {
        let text = ready_text("http://127.0.0.1:1234", "emulator", "adu-emulator", None);
        assert_eq!(
            text.lines().next(),
            Some("adu emulator listening on http://127.0.0.1:1234")
        );
        assert!(text.contains("AZURE_TENANT_ID=emulator"));
    }
}
