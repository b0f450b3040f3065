//! `adu operation show` and `adu operation wait`, and what they share with `adu demo`:
//! validating the configuration before anything is sent, building the transport and the
//! client, waiting with progress, and printing the operation.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use adu_auth::SharedHttpClient;
use adu_model::{
    AnyOperation, ApiVersion, Endpoint, InstanceId, OperationId, OperationKind, PollPolicy,
};
use adu_transport::{
    DeviceUpdateClient, DeviceUpdateClientBuilder, GetOperationOutcome, GetOptions, HttpTransport,
    HyperTransport, HyperTransportBuilder, WaitOptions,
};

use crate::args::{GlobalArgs, OutputFormat};
use crate::auth;
use crate::exit::{Exit, Failure};
use crate::output;
use crate::progress::{Mode, Progress};

/// The `User-Agent` product of the command line.
pub const USER_AGENT: &str = concat!("adu-cli/", env!("CARGO_PKG_VERSION"));

/// Checks `--endpoint` before anything else happens (no request is sent with a bad one).
pub fn validate_endpoint(endpoint: Option<&str>) -> Result<Endpoint, Failure> {
    let Some(endpoint) = endpoint.map(str::trim).filter(|e| !e.is_empty()) else {
        return Err(Failure::new(
            Exit::Usage,
            "no endpoint",
            "pass --endpoint or set ADU_ENDPOINT to the Device Update account's host name, \
             such as contoso.api.adu.microsoft.com",
        ));
    };
    Endpoint::parse(endpoint).map_err(|error| {
        let hint = if endpoint.to_ascii_lowercase().starts_with("http://") {
            "use the account's https endpoint (a host name such as contoso.api.adu.microsoft.com): \
             over plain http the bearer token would travel unencrypted, so http is only allowed \
             to a loopback address such as a local emulator; nothing was sent"
        } else {
            "pass the account's host name, such as contoso.api.adu.microsoft.com (or \
             https://host:port); nothing was sent"
        };
        Failure::new(Exit::Usage, error.to_string(), hint)
    })
}

/// Checks `--instance`.
pub fn validate_instance(instance: Option<&str>) -> Result<String, Failure> {
    let Some(instance) = instance.map(str::trim).filter(|i| !i.is_empty()) else {
        return Err(Failure::new(
            Exit::Usage,
            "no instance",
            "pass --instance or set ADU_INSTANCE to the Device Update instance name",
        ));
    };
    InstanceId::new(instance).map_err(|error| {
        Failure::new(
            Exit::Usage,
            error.to_string(),
            "use the instance name shown for the Device Update account",
        )
    })?;
    Ok(instance.to_owned())
}

/// Checks an operation id.
pub fn validate_operation_id(id: &str) -> Result<(), Failure> {
    OperationId::new(id).map(drop).map_err(|error| {
        Failure::new(
            Exit::Usage,
            error.to_string(),
            "use the id at the end of the import or delete call's Operation-Location",
        )
    })
}

/// The HTTP transport. With `--ca-file`, it trusts that file's roots instead of the
/// system's, as `curl --cacert` and the Azure CLI's `REQUESTS_CA_BUNDLE` do: a narrower
/// trust, and no read of the system store on every command.
pub fn build_transport(global: &GlobalArgs) -> Result<HyperTransport, Failure> {
    let mut builder = HyperTransport::builder();
    if let Some(path) = &global.ca_file {
        builder = builder.native_roots(false).webpki_roots(false);
        builder = builder.add_root_certificates_pem_file(path).map_err(|e| {
            Failure::new(
                Exit::Usage,
                format!("cannot use --ca-file {}: {e}", path.display()),
                "for the emulator, pass the file its --tls-cert wrote",
            )
            .with_sources(&e)
        })?;
    }
    build(builder)
}

/// Builds a transport, reporting a failure as a configuration error.
pub fn build(builder: HyperTransportBuilder) -> Result<HyperTransport, Failure> {
    builder.build().map_err(|e| {
        Failure::new(
            Exit::Usage,
            format!("cannot set up https: {e}"),
            "install the system's root certificates, or pass --ca-file",
        )
        .with_sources(&e)
    })
}

/// Checks that `--api-version` has operations of `--kind` (the legacy API has no
/// device-management operations).
pub fn validate_kind(version: ApiVersion, kind: OperationKind) -> Result<(), Failure> {
    if version.supports(kind) {
        return Ok(());
    }
    let others: Vec<&str> = ApiVersion::ALL
        .iter()
        .filter(|v| v.supports(kind))
        .map(ApiVersion::as_str)
        .collect();
    Err(Failure::new(
        Exit::Usage,
        format!("API version {version} has no {kind} operations"),
        format!(
            "pass --api-version {} (or leave it out); nothing was sent",
            others.join(" or ")
        ),
    ))
}

/// Validates the configuration and picks the credential, in order: endpoint, instance,
/// kind of operation, operation id (when there is one), transport, credential. Nothing has
/// been sent when this fails; on success it gives the client's builder (transport not yet
/// chosen) and the HTTP transport.
pub fn prepare(
    global: &GlobalArgs,
    kind: OperationKind,
    operation_id: Option<&str>,
) -> Result<(DeviceUpdateClientBuilder, HyperTransport), Failure> {
    let endpoint = validate_endpoint(global.endpoint.as_deref())?;
    let instance = validate_instance(global.instance.as_deref())?;
    validate_kind(global.api_version, kind)?;
    if let Some(id) = operation_id {
        validate_operation_id(id)?;
    }
    let transport = build_transport(global)?;
    let http: SharedHttpClient = Arc::new(transport.clone());
    let resolved = auth::resolve(global, http)?;
    tracing::info!(chain = ?resolved.source, "credentials configured");
    let builder = DeviceUpdateClient::builder(endpoint.base_url(), instance, resolved.credential)
        .api_version(global.api_version)
        .user_agent(USER_AGENT);
    Ok((builder, transport))
}

/// Prints the operation on stdout (see [`print()`]).
pub fn print_operation(operation: &AnyOperation, format: OutputFormat) -> Result<(), Failure> {
    match format {
        OutputFormat::Json => print(format!("{}\n", output::operation_json(operation)).as_bytes()),
        OutputFormat::Text => print(output::operation_text(operation).as_bytes()),
    }
}

/// Writes `bytes` to stdout. A reader that has gone (`adu ... | head`) wants no more, so a
/// closed pipe is not a failure; any other failure to write is.
pub fn print(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::new(
            Exit::Service,
            format!("cannot write to stdout: {error}"),
            "check where stdout goes",
        )),
        _ => Ok(()),
    }
}

/// A client for `kind` operations (and `operation_id`, if given), on the HTTP transport.
pub fn client(
    global: &GlobalArgs,
    kind: OperationKind,
    operation_id: Option<&str>,
) -> Result<DeviceUpdateClient, Failure> {
    let (builder, transport) = prepare(global, kind, operation_id)?;
    builder
        .transport(Arc::new(transport))
        .build()
        .map_err(|e| Failure::from_client(&e))
}

/// `adu operation show`: exits 0 once the operation is shown, whatever its status (as
/// `gh run view` and `kubectl get` do); with `--exit-status`, 1 when it Failed.
pub async fn show(
    global: &GlobalArgs,
    kind: OperationKind,
    operation_id: &str,
    exit_status: bool,
) -> Result<Exit, Failure> {
    let client = client(global, kind, Some(operation_id))?;
    let options = GetOptions::default();
    let outcome = match kind {
        OperationKind::Device => {
            client
                .get_device_operation_status(operation_id, &options)
                .await
        }
        _ => client.get_operation_status(operation_id, &options).await,
    };
    match outcome.map_err(|e| Failure::from_client(&e))? {
        GetOperationOutcome::Operation(response) => {
            print_operation(&response.operation, global.output)?;
            Ok(if exit_status {
                Exit::for_operation(&response.operation)
            } else {
                Exit::Success
            })
        }
        GetOperationOutcome::NotModified { .. } => Err(Failure::new(
            Exit::Service,
            "the service answered 304 (not modified) to an unconditional request",
            "try again; report it if it persists",
        )),
    }
}

/// The poll policy for `--interval`: poll that often, unless the service's Retry-After asks
/// for longer.
pub fn poll_policy(interval: Option<Duration>) -> PollPolicy {
    match interval {
        None => PollPolicy::default(),
        Some(interval) => {
            let default = PollPolicy::default();
            PollPolicy::default()
                .with_default_interval(interval)
                .with_min_interval(interval)
                .with_max_interval(default.max_interval.max(interval))
        }
    }
}

/// What to wait on.
#[derive(Debug, Clone, Copy)]
pub enum WaitTarget<'a> {
    /// An operation id, of this kind.
    Id(&'a str, OperationKind),
    /// An `Operation-Location` header value.
    Location(&'a str),
}

/// Waits with progress on stderr (live on a terminal, plain lines otherwise), through the
/// client's own `wait_for_operation` / `wait_for_operation_location`, whose events the
/// progress shows.
pub async fn wait_with_progress(
    builder: DeviceUpdateClientBuilder,
    transport: Arc<dyn HttpTransport>,
    target: WaitTarget<'_>,
    timeout: Option<Duration>,
    policy: PollPolicy,
) -> Result<AnyOperation, Failure> {
    let mode = if std::io::stderr().is_terminal() {
        Mode::Live
    } else {
        Mode::Plain
    };
    let progress = Progress::new(mode);
    let client = builder
        .transport(transport)
        .poll_policy(policy)
        .build()
        .map_err(|e| Failure::from_client(&e))?;
    let reporter = progress.clone();
    let mut options = WaitOptions::default().on_event(move |event| reporter.event(event));
    if let Some(timeout) = timeout {
        options = options.with_timeout(timeout);
    }
    let live = progress.show_live();
    let result = match target {
        WaitTarget::Id(id, OperationKind::Device) => {
            client.wait_for_device_operation(id, options).await
        }
        WaitTarget::Id(id, _) => client.wait_for_operation(id, options).await,
        WaitTarget::Location(location) => {
            client.wait_for_operation_location(location, options).await
        }
    };
    if let Some(live) = live {
        live.finish();
        if let Ok(done) = &result {
            eprintln!("{}", progress.final_line(done.operation.status()));
        }
    }
    result
        .map(|response| response.operation)
        .map_err(|e| Failure::from_client(&e))
}

/// `adu operation wait`.
pub async fn wait(
    global: &GlobalArgs,
    kind: OperationKind,
    operation_id: &str,
    timeout: Option<Duration>,
    interval: Option<Duration>,
) -> Result<Exit, Failure> {
    let (builder, transport) = prepare(global, kind, Some(operation_id))?;
    let operation = wait_with_progress(
        builder,
        Arc::new(transport),
        WaitTarget::Id(operation_id, kind),
        timeout,
        poll_policy(interval),
    )
    .await?;
    print_operation(&operation, global.output)?;
    Ok(Exit::for_operation(&operation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_first() {
        assert_eq!(validate_endpoint(None).unwrap_err().exit, Exit::Usage);
        let plain = validate_endpoint(Some("http://contoso.api.adu.microsoft.com")).unwrap_err();
        assert_eq!(plain.exit, Exit::Usage);
        assert!(plain.message.contains("plain http"), "{}", plain.message);
        assert!(plain.hint.unwrap().contains("unencrypted"));
        assert!(validate_endpoint(Some("http://127.0.0.1:8080")).is_ok());
        assert!(validate_endpoint(Some("contoso.api.adu.microsoft.com")).is_ok());
        assert!(validate_endpoint(Some("https://x/with/path")).is_err());
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_instance(None).is_err());
        assert!(validate_instance(Some("..")).is_err());
        assert_eq!(validate_instance(Some("blue")).unwrap(), "blue");
        assert!(validate_operation_id("").is_err());
        assert!(validate_operation_id(&"x".repeat(257)).is_err());
        assert!(validate_operation_id("e4491c53").is_ok());
    }

    #[test]
    fn interval_sets_the_pace() {
        let p = poll_policy(Some(Duration::from_secs(10)));
        assert_eq!(p.default_interval, Duration::from_secs(10));
        assert_eq!(p.min_interval, Duration::from_secs(10));
        // A longer Retry-After from the service wins, up to the default ceiling (10 min)...
        assert_eq!(p.max_interval, PollPolicy::default().max_interval);
        assert_eq!(p.max_interval, Duration::from_secs(600));
        // ...or up to the interval asked for, if that is longer.
        let long = poll_policy(Some(Duration::from_secs(1200)));
        assert_eq!(long.max_interval, Duration::from_secs(1200));
        assert_eq!(poll_policy(None), PollPolicy::default());
    }
}
