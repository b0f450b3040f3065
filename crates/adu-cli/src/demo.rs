//! `adu demo`: the whole story on the embedded emulator, with nothing to set up.
//!
//! 1. Start the emulator in this process, over https with a fresh self-signed certificate
//!    (trusted for this run only).
//! 2. Get a token from its token endpoint with the client credentials flow.
//! 3. Import an update (`POST .../updates:import`), which answers 202 with an
//!    `Operation-Location`.
//! 4. Wait on that location with exactly the code `adu operation wait` uses, showing progress.

use std::sync::Arc;
use std::time::Duration;

use adu_auth::{Authority, ClientSecretCredential, SharedHttpClient, TokenCredential};
use adu_emulator::{Config, Outcome, RunningEmulator, Timings};
use adu_model::{decode_service_error, ApiVersion, PollPolicy};
use adu_transport::{http, DeviceUpdateClient, HttpTransport, HyperTransport};

use crate::args::{DemoArgs, GlobalArgs};
use crate::exit::{Exit, Failure};
use crate::operation::{self, WaitTarget, USER_AGENT};

/// The instance the demo imports into.
pub const DEMO_INSTANCE: &str = "demo";

/// How long the demo waits at most (it normally takes about two seconds).
pub const DEMO_TIMEOUT: Duration = Duration::from_secs(30);

/// The import request body: one update, described by its import manifest.
pub fn import_body() -> Vec<u8> {
    serde_json::json!([{
        "importManifest": {
            "url": "https://storage.example/updates/contoso.toaster.1.0.0.importmanifest.json",
            "sizeInBytes": 453,
            "hashes": { "sha256": "Dn2a1QmoZ9YJ/4vVn6xG1E8c0Cj8x3Hs3pJhZ2x3yWs=" }
        },
        "friendlyName": "Toaster firmware 1.0.0",
        "files": [{
            "filename": "toaster-1.0.0.swu",
            "url": "https://storage.example/updates/toaster-1.0.0.swu"
        }]
    }])
    .to_string()
    .into_bytes()
}

/// The emulator's configuration for the demo: quick timings, and a failing import on request.
pub fn demo_config(fail: bool) -> Config {
    let mut config = Config::default().with_tls(true);
    config.imports.timings = Some(Timings::new(
        Duration::from_millis(400),
        Duration::from_millis(1200),
    ));
    if fail {
        config.imports.outcome = Outcome::Failed;
    }
    config
}

fn step(text: &str) {
    eprintln!("==> {text}");
}

fn failure(message: impl Into<String>) -> Failure {
    Failure::new(
        Exit::Service,
        message,
        "this is a bug in the demo or the emulator; run again with -vv and report it",
    )
}

/// `adu demo`.
pub async fn run(global: &GlobalArgs, args: &DemoArgs) -> Result<Exit, Failure> {
    let emulator = adu_emulator::start(demo_config(args.fail))
        .await
        .map_err(|e| failure(format!("cannot start the emulator: {e}")).with_sources(&e))?;
    let result = run_against(global, &emulator).await;
    emulator.shutdown().await;
    result
}

async fn run_against(global: &GlobalArgs, emulator: &RunningEmulator) -> Result<Exit, Failure> {
    let base = emulator.base_url();
    step(&format!(
        "started the embedded emulator at {base} (https, with a self-signed certificate trusted for this run only)"
    ));

    // Only the emulator's certificate is trusted: the demo needs nothing from the machine.
    let pem = emulator
        .certificate_pem()
        .ok_or_else(|| failure("the emulator has no certificate"))?;
    let builder = HyperTransport::builder()
        .native_roots(false)
        .add_root_certificates_pem(pem.as_bytes())
        .map_err(|e| failure(format!("cannot trust the emulator's certificate: {e}")))?;
    let transport = operation::build(builder)?;

    // Client credentials against the emulator's token endpoint.
    let creds = emulator.credentials();
    let authority = Authority::new(creds.tenant.clone())
        .and_then(|a| a.with_host(&emulator.authority_url()))
        .map_err(|e| Failure::from_auth(&e))?;
    let http: SharedHttpClient = Arc::new(transport.clone());
    let credential = Arc::new(ClientSecretCredential::new(
        authority,
        creds.client_id.clone(),
        creds.client_secret.clone(),
        http,
    ));
    let scopes = [adu_auth::scopes::CURRENT];
    let token = credential
        .get_token(&scopes)
        .await
        .map_err(|e| Failure::from_auth(&e))?;
    step(&format!(
        "got a token from {} (client credentials flow, client id `{}`)",
        emulator.token_url(),
        creds.client_id
    ));

    // The import: 202 Accepted with an Operation-Location.
    // An import is a call of the current API: at the version asked for, or the default one
    // when the legacy API was asked for (the location it answers then decides).
    let version = match global.api_version.has_api_version_query() {
        true => global.api_version,
        false => ApiVersion::default(),
    };
    let location = import(&transport, &base, token.secret(), version).await?;
    step(&format!(
        "imported contoso/toaster/1.0.0: 202 Accepted, Operation-Location {location}"
    ));
    step("waiting on the operation, exactly as `adu operation wait` does:");

    let builder = DeviceUpdateClient::builder(base.clone(), DEMO_INSTANCE, credential)
        .api_version(global.api_version)
        .user_agent(USER_AGENT);
    let policy = PollPolicy::default().with_min_interval(Duration::from_millis(200));
    let operation = operation::wait_with_progress(
        builder,
        Arc::new(transport),
        WaitTarget::Location(&location),
        Some(DEMO_TIMEOUT),
        policy,
    )
    .await?;
    operation::print_operation(&operation, global.output)?;
    let exit = Exit::for_operation(&operation);
    step(&format!(
        "done: the operation {}; exit code {}. Next: `adu emulator serve` runs the emulator on its own, \
         and `adu operation wait --help` shows how to use a real account",
        operation.status(),
        exit.code()
    ));
    Ok(exit)
}

async fn import(
    transport: &HyperTransport,
    base: &str,
    token: &str,
    version: ApiVersion,
) -> Result<String, Failure> {
    let uri = format!("{base}/deviceUpdate/{DEMO_INSTANCE}/updates:import?api-version={version}");
    let request = http::Request::post(uri)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, USER_AGENT)
        .body(import_body())
        .map_err(|e| failure(format!("cannot build the import request: {e}")))?;
    let response = transport
        .call(request)
        .await
        .map_err(|e| Failure::from_client(&adu_transport::Error::Transport(e)))?;
    if response.status() != http::StatusCode::ACCEPTED {
        let service = decode_service_error(
            response.status(),
            response.headers(),
            response.body(),
            std::time::SystemTime::now(),
        );
        return Err(Failure::from_service(&service));
    }
    response
        .headers()
        .get("operation-location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| failure("the import answer has no Operation-Location"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_import_body_names_a_manifest() {
        let body: serde_json::Value = serde_json::from_slice(&import_body()).unwrap();
        let url = body[0]["importManifest"]["url"].as_str().unwrap();
        assert!(url.ends_with("contoso.toaster.1.0.0.importmanifest.json"));
    }

    #[test]
    fn the_demo_is_quick_and_can_fail() {
        let config = demo_config(true);
        assert!(config.tls);
        assert_eq!(config.imports.outcome, Outcome::Failed);
        let timings = config.imports.timings.unwrap();
        assert!(timings.not_started + timings.running < Duration::from_secs(3));
        assert_eq!(demo_config(false).imports.outcome, Outcome::Succeeded);
    }
}
