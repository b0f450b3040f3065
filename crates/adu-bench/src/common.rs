//! Small helpers shared by the subcommands.

use std::sync::Arc;
use std::time::Duration;

use adu_auth::{scopes, Authority, ClientSecretCredential, TokenCredential};
use adu_transport::{DeviceUpdateClient, HyperTransport, HyperTransportBuilder, PollPolicy};

/// The instance every benchmark uses.
pub const INSTANCE: &str = "blue";

/// Reads `--name VALUE` from `args`.
pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// Reads a required `--name VALUE`.
pub fn required<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    flag(args, name).ok_or_else(|| format!("missing {name}"))
}

/// Reads `--name N` as a number, with a default.
pub fn number(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match flag(args, name) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} needs a number, not {v:?}")),
        None => Ok(default),
    }
}

/// A multi-thread runtime with one worker per core, as an application would use.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// The transport shared by the client and its credential: extra root when given.
pub fn transport(cert: Option<&str>) -> Result<HyperTransport, String> {
    transport_with(cert, HyperTransport::builder())
}

/// Like [`transport`], starting from `builder` (for options under study).
pub fn transport_with(
    cert: Option<&str>,
    mut builder: HyperTransportBuilder,
) -> Result<HyperTransport, String> {
    if let Some(cert) = cert {
        builder = builder
            .add_root_certificates_pem_file(cert)
            .map_err(|e| format!("root certificate: {e}"))?;
    }
    builder.build().map_err(|e| format!("transport: {e}"))
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
    credential: Arc<dyn TokenCredential>,
) -> Result<DeviceUpdateClient, String> {
    DeviceUpdateClient::builder(endpoint, INSTANCE, credential)
        .transport(Arc::new(transport.clone()))
        .poll_policy(PollPolicy::default().with_min_interval(Duration::from_secs(1)))
        .build()
        .map_err(|e| format!("client: {e}"))
}

/// The scope the client asks for.
pub fn scope() -> &'static str {
    scopes::CURRENT
}

/// Peak resident set size of this process (`VmHWM`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    proc_status_kib("VmHWM:")
}

/// Resident set size of this process now (`VmRSS`), in KiB.
pub fn rss_kib() -> Option<u64> {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// How many file descriptors this process has open.
pub fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// CPU time this process has used so far (user + system, all threads), in seconds.
///
/// From `/proc/self/stat` (fields 14 and 15, in clock ticks; Linux reports them at 100 per
/// second to user space).
pub fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is at index N - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}
