//! Small helpers shared by the subcommands.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use adu_auth::{Authority, ClientSecretCredential};
use adu_transport::{DeviceUpdateClient, HyperTransport, PollPolicy};

/// The instance every benchmark uses.
pub const INSTANCE: &str = "blue";

/// The operation the load test reads: running for a day, so every answer is alike.
pub const LOAD_OPERATION: &str = "bench-op";

/// Reads a required `--name VALUE` from `args`.
pub fn required<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .ok_or_else(|| format!("missing {name}"))
}

/// A multi-thread runtime with one worker per core, as an application would use.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// The default transport, trusting the emulator's certificate `cert` too.
pub fn transport(cert: &str) -> Result<HyperTransport, String> {
    HyperTransport::builder()
        .add_root_certificates_pem_file(cert)
        .map_err(|e| format!("root certificate: {e}"))?
        .build()
        .map_err(|e| format!("transport: {e}"))
}

/// A client-credentials credential at the emulator's token endpoint (its defaults), so the
/// token is fetched once and then served from the credential's cache.
pub fn credential(
    endpoint: &str,
    transport: &HyperTransport,
) -> Result<Arc<ClientSecretCredential>, String> {
    let authority = Authority::new(adu_emulator::DEFAULT_TENANT)
        .and_then(|a| a.with_host(endpoint))
        .map_err(|e| format!("authority: {e}"))?;
    Ok(Arc::new(ClientSecretCredential::new(
        authority,
        adu_emulator::DEFAULT_CLIENT_ID,
        adu_emulator::DEFAULT_CLIENT_SECRET,
        Arc::new(transport.clone()),
    )))
}

/// The client under test, with default retries; polls may come every second.
pub fn client(
    endpoint: &str,
    transport: &HyperTransport,
    credential: Arc<ClientSecretCredential>,
) -> Result<DeviceUpdateClient, String> {
    DeviceUpdateClient::builder(endpoint, INSTANCE, credential)
        .transport(Arc::new(transport.clone()))
        .poll_policy(PollPolicy::default().with_min_interval(Duration::from_secs(1)))
        .build()
        .map_err(|e| format!("client: {e}"))
}

/// Answers each line of stdin with the JSON `answer` gives it, until stdin closes.
pub fn serve_stdin(
    mut answer: impl FnMut(&[&str]) -> Result<serde_json::Value, String>,
) -> Result<(), String> {
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let value = answer(&words).unwrap_or_else(|e| serde_json::json!({ "error": e }));
        let mut out = std::io::stdout().lock();
        writeln!(out, "{value}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))?;
    }
    Ok(())
}
