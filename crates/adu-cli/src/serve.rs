//! `adu emulator serve`: the emulator as a service, until Ctrl-C or SIGTERM.

use std::path::Path;

use adu_emulator::{RunningEmulator, ServeArgs};

use crate::exit::{Exit, Failure};

/// The lines printed once the emulator listens: its URL first (on a line of its own, for
/// scripts), then how to point `adu` at it, with a client secret or as a managed identity
/// (App Service's endpoint, or the metadata service's with `--auth managed-identity`). The
/// secrets themselves are not printed.
pub fn ready_text(emulator: &RunningEmulator, ca_file: Option<&Path>) -> String {
    let base_url = emulator.base_url();
    let creds = emulator.credentials();
    let mut text = format!("adu emulator listening on {base_url}\n");
    text.push_str("Point adu at it with, for example:\n");
    text.push_str(&format!(
        "  export ADU_ENDPOINT={base_url} ADU_INSTANCE=blue\n"
    ));
    if let Some(path) = ca_file {
        text.push_str(&format!("  export ADU_CA_FILE={}\n", path.display()));
    }
    text.push_str(&format!(
        "and a client secret:\n  export AZURE_AUTHORITY_HOST={base_url} AZURE_TENANT_ID={} AZURE_CLIENT_ID={}\n",
        creds.tenant, creds.client_id
    ));
    text.push_str("  export AZURE_CLIENT_SECRET=...   # the emulator's client secret\n");
    let managed = emulator.managed_identity();
    if managed.client_id.is_some() || !managed.user_assigned.is_empty() {
        text.push_str(&format!(
            "or a managed identity, as App Service's:\n  export IDENTITY_ENDPOINT={}\n",
            emulator.identity_endpoint()
        ));
        text.push_str("  export IDENTITY_HEADER=...   # the emulator's identity header\n");
        text.push_str(&format!(
            "or as a VM's, with --auth managed-identity:\n  export AZURE_POD_IDENTITY_AUTHORITY_HOST={base_url}\n"
        ));
        if let Some(first) = managed.user_assigned.first() {
            text.push_str(&format!(
                "  (AZURE_CLIENT_ID={} picks a user-assigned identity)\n",
                first.client_id
            ));
        }
    }
    text.push_str("Stop it with Ctrl-C.");
    text
}

/// `adu emulator serve`: the emulator's own flags and run ([`ServeArgs`]), with the ready text
/// above and failures as exit codes.
pub async fn run(args: &ServeArgs) -> Result<Exit, Failure> {
    let config = args.config().map_err(|e| {
        Failure::new(
            Exit::Usage,
            format!("cannot set up the emulator: {e}"),
            "fix the scenario file (see the adu-emulator README for its format) or the flags",
        )
        .with_sources(&e)
    })?;
    let served = args.serve(config, |emulator| {
        println!("{}", ready_text(emulator, args.tls_cert.as_deref()));
    });
    served.await.map(|()| Exit::Success).map_err(|e| {
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
    use adu_emulator::Config;

    #[tokio::test]
    async fn the_url_comes_first_then_each_way_to_point_adu_at_it_without_secrets() {
        let scenario = r#"{ "managedIdentity": { "identityHeader": "hdr-secret",
                              "userAssigned": [ { "clientId": "uami-1" } ] } }"#;
        let emulator = adu_emulator::start(Config::from_scenario_json(scenario).unwrap())
            .await
            .unwrap();
        let base = emulator.base_url();
        let text = ready_text(&emulator, Some(Path::new("/tmp/emulator.pem")));
        assert_eq!(
            text.lines().next(),
            Some(format!("adu emulator listening on {base}").as_str())
        );
        for line in [
            format!("export ADU_ENDPOINT={base} ADU_INSTANCE=blue"),
            "export ADU_CA_FILE=/tmp/emulator.pem".to_owned(),
            format!("export AZURE_AUTHORITY_HOST={base} AZURE_TENANT_ID=emulator AZURE_CLIENT_ID=adu-emulator"),
            format!("export IDENTITY_ENDPOINT={base}/msi/token"),
            format!("export AZURE_POD_IDENTITY_AUTHORITY_HOST={base}"),
            "AZURE_CLIENT_ID=uami-1".to_owned(),
        ] {
            assert!(text.contains(&line), "{line:?} in\n{text}");
        }
        assert!(!text.contains("hdr-secret"), "{text}");
        assert!(
            !text.contains(adu_emulator::DEFAULT_CLIENT_SECRET),
            "{text}"
        );
        emulator.shutdown().await;

        // A host without a managed identity names none.
        let scenario = r#"{ "managedIdentity": { "clientId": null } }"#;
        let emulator = adu_emulator::start(Config::from_scenario_json(scenario).unwrap())
            .await
            .unwrap();
        let text = ready_text(&emulator, None);
        assert!(!text.contains("IDENTITY_ENDPOINT"), "{text}");
        assert!(!text.contains("ADU_CA_FILE"), "{text}");
        emulator.shutdown().await;
    }
}
