//! `adu emulator serve`: the emulator as a service, until Ctrl-C or SIGTERM.

use std::path::Path;

use adu_emulator::ServeArgs;

use crate::exit::{Exit, Failure};

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
        let creds = emulator.credentials();
        println!(
            "{}",
            ready_text(
                &emulator.base_url(),
                &creds.tenant,
                &creds.client_id,
                args.tls_cert.as_deref()
            )
        );
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
