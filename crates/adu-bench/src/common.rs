//! Small helpers shared by the subcommands.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use adu_auth::{Authority, ClientSecretCredential, TokenCredential};
use adu_transport::{DeviceUpdateClient, HyperTransport, PollPolicy, USER_AGENT_PRODUCT};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, USER_AGENT};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The instance every benchmark uses.
pub const INSTANCE: &str = "blue";

/// The operation the load test reads: running for a day, so every answer is alike.
pub const LOAD_OPERATION: &str = "bench-op";

/// The ids of the operations seeded for the list benchmark: `list-0`, `list-1`, ..
pub const LIST_PREFIX: &str = "list-";

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

/// An access token from `credential` (the first fetch; later ones come from its cache).
pub async fn token(credential: &ClientSecretCredential) -> Result<String, String> {
    let token = credential
        .get_token(&[adu_auth::scopes::CURRENT])
        .await
        .map_err(|e| format!("token: {e}"))?;
    Ok(token.secret().to_owned())
}

/// B: hyper-util's pooled client over rustls (aws-lc-rs, TCP_NODELAY, HTTP/1.1), sending
/// the headers A sends.
pub struct BareClient {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    authorization: HeaderValue,
}

impl BareClient {
    /// Trusts `cert` (PEM) alone and sends `token` as the bearer.
    pub fn new(cert: &str, token: &str) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(cert).map_err(|e| format!("pem: {e}"))? {
            roots
                .add(c.map_err(|e| format!("pem: {e}"))?)
                .map_err(|e| format!("root: {e}"))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token is not a header value")?;
        authorization.set_sensitive(true);
        Ok(BareClient {
            client,
            authorization,
        })
    }

    /// One GET of `uri` with A's headers (a fresh `x-ms-client-request-id`); the body of a
    /// 200 answer.
    pub async fn get(&self, uri: http::Uri) -> Result<Bytes, String> {
        let mut request = http::Request::new(Empty::<Bytes>::new());
        *request.uri_mut() = uri;
        let request_id = uuid::Uuid::new_v4();
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_PRODUCT));
        headers.insert(
            HeaderName::from_static("x-ms-client-request-id"),
            HeaderValue::from_str(request_id.hyphenated().encode_lower(&mut [0; 36]))
                .map_err(|e| format!("request id: {e}"))?,
        );
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("bare: {e}"))?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("bare: status {}", response.status()));
        }
        let body = response.into_body().collect().await;
        Ok(body.map_err(|e| format!("bare body: {e}"))?.to_bytes())
    }
}

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
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
