//! The HTTP seam: a one-method async trait, and its default implementation on hyper + rustls.
//!
//! The client never talks to hyper directly: it hands an `http::Request<Vec<u8>>` to an
//! [`HttpTransport`] and gets an `http::Response<Vec<u8>>` back. [`HyperTransport`] is the
//! default implementation; any `Fn(http::Request<Vec<u8>>) -> impl Future<...>` closure is one
//! too, so embedders can bring their own HTTP stack and tests can answer with canned responses.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::sync::Semaphore;

use crate::error::{BoxError, TransportError, TransportErrorKind};

/// A boxed, sendable future, as returned by [`HttpTransport::call`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one HTTP request and returns the whole response.
///
/// Implementations must not follow redirects (a 3xx is a response like any other) and should
/// bound the size of the body they read. The client adds `Authorization`, `User-Agent` and
/// `x-ms-client-request-id` before calling, sends each try through
/// [`call_with_timeout`](Self::call_with_timeout) with its per-try timeout, and refuses to
/// hand a bearer token to a foreign or insecure target before the call.
///
/// Only [`call`](Self::call) must be written. A transport that enforces a deadline of its own
/// may also override [`call_with_timeout`](Self::call_with_timeout) (see there).
///
/// Closures implement it:
///
/// ```
/// use adu_transport::{HttpTransport, TransportError};
///
/// let transport = |request: http::Request<Vec<u8>>| async move {
///     assert_eq!(request.method(), http::Method::GET);
///     Ok::<_, TransportError>(http::Response::builder().status(204).body(Vec::new()).unwrap())
/// };
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let response = transport
///     .call(http::Request::get("https://example.invalid/").body(Vec::new()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(response.status(), 204);
/// # });
/// ```
pub trait HttpTransport: Send + Sync {
    /// Sends `request` (with an absolute URI) and returns the response with its whole body.
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>>;

    /// Like [`call`](Self::call), but gives up after `timeout` at the latest, with a
    /// [`TransportErrorKind::TimedOut`] error. [`DeviceUpdateClient`](crate::DeviceUpdateClient)
    /// sends every try through this method, with its per-try timeout.
    ///
    /// The default puts a timer around [`call`](Self::call), which is right for closures and
    /// any transport without a timeout. [`HyperTransport`] overrides it to apply the earlier of
    /// `timeout` and its own. A wrapper around another transport should forward this method
    /// to the inner one, so the inner transport's timeout error (not the wrapper's
    /// cancellation) is what the wrapper sees.
    ///
    /// ```
    /// use std::time::Duration;
    /// use adu_transport::{HttpTransport, TransportError, TransportErrorKind};
    ///
    /// // A transport that never answers: the default timer ends the call.
    /// let stalled = |_request: http::Request<Vec<u8>>| async move {
    ///     std::future::pending::<Result<http::Response<Vec<u8>>, TransportError>>().await
    /// };
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # rt.block_on(async {
    /// let request = http::Request::get("https://example.invalid/").body(Vec::new()).unwrap();
    /// let error = stalled
    ///     .call_with_timeout(request, Duration::from_millis(10))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.kind(), TransportErrorKind::TimedOut);
    /// # });
    /// ```
    fn call_with_timeout(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        let call = self.call(request);
        Box::pin(async move {
            match tokio::time::timeout(timeout, call).await {
                Ok(result) => result,
                Err(_) => Err(TransportError::timed_out(timeout)),
            }
        })
    }
}

impl<F, Fut> HttpTransport for F
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + 'static,
{
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        Box::pin(self(request))
    }
}

impl<T: HttpTransport + ?Sized> HttpTransport for Arc<T> {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        (**self).call(request)
    }

    fn call_with_timeout(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        (**self).call_with_timeout(request, timeout)
    }
}

/// An idle timeout this long or longer is taken as "never" (a century).
const NEVER_IDLE_OUT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The largest root certificate file read: 4 MiB (a system's whole bundle is about 200 KiB).
const MAX_PEM_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The default body cap: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The default per-try timeout (connect, send, headers and the whole body): 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default connect timeout: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default cap on API requests in flight at once through one transport: 64.
///
/// Without a cap, every request that finds no idle connection opens one, so thousands of
/// concurrent waits would open thousands of sockets and overflow accept backlogs and
/// file-descriptor limits. A request takes its slot before it asks the pool for a
/// connection, and the pool keeps at most this many idle connections per origin, so over
/// HTTP/1.1 the connections stay near the cap; excess requests queue (inside the per-try
/// timeout) for a free slot. Over HTTP/2 the requests share one connection per origin.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;

type HyperClient = Client<HttpsConnector<Connector>, Full<Bytes>>;

/// The default [`HttpTransport`]: hyper-util's pooled client over rustls (aws-lc-rs).
///
/// - HTTP/1.1; HTTP/2 is also offered through ALPN when the `http2` feature is on and
///   [`HyperTransportBuilder::http2`] is set. Token requests made through the
///   [`oauth2::AsyncHttpClient`] implementation always use HTTP/1.1.
/// - Idle connections are reused for requests to their own origin and closed after
///   [`HyperTransportBuilder::pool_idle_timeout`]. An HTTP/1.1 connection is reused only once
///   its last response was read to the end.
/// - Roots: the operating system's store (feature `native-roots`, default), the Mozilla store
///   (feature `webpki-roots`), plus any certificates added with
///   [`HyperTransportBuilder::add_root_certificates_pem`].
/// - The timeout covers waiting for an in-flight slot, connecting, sending, the response head
///   *and* the body: a server that stalls mid-body cannot hold the caller. Through
///   [`HttpTransport::call_with_timeout`] (as [`DeviceUpdateClient`](crate::DeviceUpdateClient)
///   calls it) the earlier of that timeout and the caller's applies.
/// - Bodies larger than the cap are refused with [`TransportErrorKind::BodyTooLarge`].
/// - Redirects are never followed.
/// - Proxies: `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are honoured unless
///   [`HyperTransportBuilder::proxy_from_env`] turns them off, or
///   [`HyperTransportBuilder::proxy`] names a proxy instead. A proxied request goes through a
///   CONNECT tunnel, so TLS stays end to end; loopback and link-local destinations are never
///   proxied. API and token requests alike.
///
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct HyperTransport {
    api: HyperClient,
    /// HTTP/1.1 only: the identity platform refuses HTTP/2.
    token: HyperClient,
    timeout: Duration,
    max_body_bytes: usize,
    /// Permits for API requests in flight (see [`DEFAULT_MAX_CONCURRENT_REQUESTS`]).
    in_flight: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field(
                "max_concurrent_requests",
                &self.in_flight.as_ref().map(|s| s.available_permits()),
            )
            .finish_non_exhaustive()
    }
}

/// Configures a [`HyperTransport`].
#[derive(Debug, Clone)]
pub struct HyperTransportBuilder {
    timeout: Duration,
    connect_timeout: Duration,
    max_body_bytes: usize,
    pool_idle_timeout: Duration,
    extra_roots: Vec<CertificateDer<'static>>,
    native_roots: bool,
    webpki_roots: bool,
    http2: bool,
    max_concurrent_requests: Option<usize>,
    proxy: ProxyChoice,
    /// Host names (lowercase) answered with these addresses instead of the system resolver's.
    pinned: Vec<(String, IpAddr)>,
}

/// Where a transport's proxy settings come from.
#[derive(Clone)]
enum ProxyChoice {
    None,
    Env,
    Explicit {
        matcher: Arc<Matcher>,
        /// The proxy's URL with any credentials hidden.
        shown: String,
    },
}

/// Shows where the settings come from, and an explicit proxy without its credentials.
impl std::fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyChoice::None => f.write_str("None"),
            ProxyChoice::Env => f.write_str("Env"),
            ProxyChoice::Explicit { shown, .. } => write!(f, "Explicit({shown})"),
        }
    }
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            pool_idle_timeout: Duration::from_secs(90),
            extra_roots: Vec::new(),
            native_roots: cfg!(feature = "native-roots"),
            webpki_roots: cfg!(feature = "webpki-roots"),
            http2: false,
            max_concurrent_requests: Some(DEFAULT_MAX_CONCURRENT_REQUESTS),
            proxy: ProxyChoice::Env,
            pinned: Vec::new(),
        }
    }
}

impl HyperTransportBuilder {
    /// Per-request timeout covering the wait for an in-flight slot, connect, send, response
    /// head and body (default 30 s). A shorter timeout passed to
    /// [`HttpTransport::call_with_timeout`] wins for that call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout for establishing a TCP connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Largest response body accepted, in bytes (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// How long an idle pooled connection is kept for reuse (default 90 s); then it is
    /// closed. A timeout of a century or more (`Duration::MAX`, say) keeps idle connections
    /// until the server closes them.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Whether to trust the operating system's root store (default: on when the
    /// `native-roots` feature is enabled; ignored without it).
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.native_roots = enabled;
        self
    }

    /// Whether to trust the compiled-in Mozilla root store (default: on when the
    /// `webpki-roots` feature is enabled; ignored without it).
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// Offer HTTP/2 beside HTTP/1.1 through ALPN for API requests (default off; needs the
    /// `http2` feature, ignored without it). Token requests always use HTTP/1.1.
    ///
    /// Off by default: over HTTP/2 every request in flight shares one connection, so one
    /// reset fails them all, while HTTP/1.1 under the in-flight cap already keeps the
    /// connections few.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// The most API requests in flight at once (default
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`]); `None` removes the cap. It also bounds the idle
    /// connections kept per origin (see [`DEFAULT_MAX_CONCURRENT_REQUESTS`]). Requests over
    /// the cap wait for a free slot, and that wait counts toward the timeout. Token requests
    /// are not counted.
    pub fn max_concurrent_requests(mut self, limit: Option<usize>) -> Self {
        self.max_concurrent_requests = limit.map(|n| n.max(1));
        self
    }

    /// Whether to honour the proxy environment variables, as Azure's own tools do (default
    /// on): `HTTPS_PROXY` for https destinations, `HTTP_PROXY` for plain http ones (`ALL_PROXY`
    /// for either when unset), and `NO_PROXY` for the hosts reached directly (a comma-separated
    /// list of host names, each matching itself and its subdomains, IP addresses, CIDR ranges,
    /// or `*` for all), each in upper or lower case. They are read once, by
    /// [`build`](Self::build). `true` also replaces a proxy set with [`proxy`](Self::proxy);
    /// `false` turns proxies off.
    ///
    /// Whatever the settings, loopback (`localhost`, `127.0.0.0/8`, `::1`) and link-local
    /// (`169.254.0.0/16`, `fe80::/10`, so the managed-identity endpoint IMDS) destinations are
    /// never proxied: a proxy would reach its own machine, or no such address at all.
    ///
    /// A proxied request goes through an HTTP `CONNECT` tunnel, plain http ones too (there are
    /// none in practice: this crate sends tokens over plain http only to loopback), so TLS
    /// stays end to end and the proxy sees neither the token nor the request. Credentials in
    /// the proxy URL (`http://user:password@proxy:3128`) are sent as `Proxy-Authorization:
    /// Basic` and shown as `http://***@proxy:3128`. Only `http://` proxy URLs are supported;
    /// a request whose proxy is `https://` or `socks5://` fails with
    /// [`TransportErrorKind::InvalidConfiguration`]. A proxy that refuses the tunnel (407,
    /// 403, 502...) or cannot be reached fails the request with
    /// [`TransportErrorKind::Connect`], naming the proxy and what to check.
    ///
    /// ```
    /// // Ignore HTTPS_PROXY and the others: always connect directly.
    /// let builder = adu_transport::HyperTransport::builder().proxy_from_env(false);
    /// assert!(format!("{builder:?}").contains("proxy: None"));
    /// ```
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.proxy = match enabled {
            true => ProxyChoice::Env,
            false => ProxyChoice::None,
        };
        self
    }

    /// Sends requests through the HTTP proxy at `url` (`http://host:port`, with
    /// `user:password@` when the proxy asks for credentials, percent-encoded), except to the
    /// hosts in `no_proxy` (written as `NO_PROXY` is, `""` for none), instead of following
    /// the environment. Otherwise as [`proxy_from_env`](Self::proxy_from_env) describes:
    /// loopback and link-local destinations are never proxied, and a later
    /// `proxy_from_env` replaces this proxy.
    ///
    /// Fails with [`TransportErrorKind::InvalidConfiguration`] when `url` is not an `http://`
    /// URL with a host.
    ///
    /// ```
    /// # fn main() -> Result<(), adu_transport::TransportError> {
    /// let builder = adu_transport::HyperTransport::builder()
    ///     .proxy("http://user:secret@proxy.contoso.com:3128", "contoso.com, 10.0.0.0/8")?;
    /// assert!(format!("{builder:?}").contains("http://***@proxy.contoso.com:3128"));
    /// assert!(!format!("{builder:?}").contains("secret"));
    /// # Ok(()) }
    /// ```
    pub fn proxy(mut self, url: &str, no_proxy: &str) -> Result<Self, TransportError> {
        // The probe is on no list, so any proxy URL hyper-util can read intercepts it.
        let probe = http::Uri::from_static("https://probe.invalid/");
        let Some(intercept) = Matcher::builder()
            .all(url)
            .build()
            .intercept(&probe)
            .filter(|i| i.uri().scheme() == Some(&http::uri::Scheme::HTTP))
        else {
            // The URL is not shown: it may hold a password in a form that cannot be parsed.
            return Err(TransportError::new(
                TransportErrorKind::InvalidConfiguration,
                "the proxy url is not an http:// url with a host; write it as \
                 http://proxy:3128 or http://user:password@proxy:3128",
            ));
        };
        self.proxy = ProxyChoice::Explicit {
            matcher: Arc::new(Matcher::builder().all(url).no(no_proxy).build()),
            shown: shown_proxy(&intercept),
        };
        Ok(self)
    }

    /// Connects to `host` at `addr` (and the URL's port) instead of asking the system
    /// resolver, as curl's `--resolve` does; TLS still checks the certificate for `host`.
    /// For reaching a private endpoint by its public name, and for tests. A proxied request
    /// is resolved by its proxy, so this applies only to direct connections (and to the
    /// proxy's own host name).
    ///
    /// ```
    /// let builder = adu_transport::HyperTransport::builder()
    ///     .resolve("contoso.api.adu.microsoft.com", [10, 1, 2, 3].into());
    /// # let _ = builder;
    /// ```
    pub fn resolve(mut self, host: &str, addr: IpAddr) -> Self {
        self.pinned.push((host.to_ascii_lowercase(), addr));
        self
    }

    /// Also trust every certificate in `pem` (one or more `BEGIN CERTIFICATE` blocks).
    ///
    /// Fails with [`TransportErrorKind::InvalidConfiguration`] if the text holds no
    /// certificate or a malformed one.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, TransportError> {
        let mut found = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                TransportError::with_source(
                    TransportErrorKind::InvalidConfiguration,
                    "malformed pem certificate",
                    e,
                )
            })?;
            self.extra_roots.push(cert);
            found += 1;
        }
        if found == 0 {
            return Err(TransportError::new(
                TransportErrorKind::InvalidConfiguration,
                "no certificate found in the pem text",
            ));
        }
        Ok(self)
    }

    /// Also trust every certificate in the PEM file at `path`.
    ///
    /// Only a regular file (symlinks are followed) of at most 4 MiB is read, through
    /// [`adu_auth::file::read_bounded`]; anything else (a directory, FIFO or device, or a
    /// larger file) fails with [`TransportErrorKind::InvalidConfiguration`] without being read.
    pub fn add_root_certificates_pem_file(
        self,
        path: impl AsRef<Path>,
    ) -> Result<Self, TransportError> {
        use adu_auth::file::{read_bounded, FileError};
        let path = path.as_ref();
        let refused = |what: String| {
            TransportError::new(
                TransportErrorKind::InvalidConfiguration,
                format!(
                    "root certificate file {} {what}; pass a PEM file with the certificates to \
                     trust",
                    path.display()
                ),
            )
        };
        let pem = match read_bounded(path, MAX_PEM_FILE_BYTES) {
            Ok((pem, _metadata)) => pem,
            Err(FileError::NotAFile) => return Err(refused("is not a regular file".into())),
            Err(FileError::TooLarge { max_bytes }) => {
                return Err(refused(format!("is larger than {max_bytes} bytes (4 MiB)")))
            }
            Err(FileError::Io(e)) => {
                return Err(TransportError::with_source(
                    TransportErrorKind::InvalidConfiguration,
                    format!("cannot read root certificate file {}", path.display()),
                    e,
                ))
            }
            Err(other) => {
                return Err(TransportError::with_source(
                    TransportErrorKind::InvalidConfiguration,
                    format!("cannot read root certificate file {}", path.display()),
                    other,
                ))
            }
        };
        self.add_root_certificates_pem(&pem)
    }

    /// Also trust one DER-encoded certificate.
    pub fn add_root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(CertificateDer::from(der.into()));
        self
    }

    /// Builds the transport. Must be called inside a tokio runtime only when used, not when built.
    ///
    /// Fails with [`TransportErrorKind::InvalidConfiguration`] when no trusted root is left
    /// (for example native roots only, on a machine without any), or when a root is malformed.
    pub fn build(self) -> Result<HyperTransport, TransportError> {
        let roots = self.root_store()?;
        let http2 = self.http2 && cfg!(feature = "http2");
        let proxies = match &self.proxy {
            ProxyChoice::None => None,
            ProxyChoice::Env => Some(Arc::new(Matcher::from_env())),
            ProxyChoice::Explicit { matcher, .. } => Some(matcher.clone()),
        };
        let mut tcp = HttpConnector::new_with_resolver(Resolver {
            pinned: self.pinned.clone().into(),
            system: GaiResolver::new(),
        });
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(self.connect_timeout));
        tcp.set_nodelay(true);
        let connector = Connector { tcp, proxies };
        Ok(HyperTransport {
            api: self.client(
                connector.clone(),
                roots.clone(),
                http2,
                self.max_concurrent_requests,
            )?,
            token: self.client(connector, roots, false, None)?,
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            in_flight: self
                .max_concurrent_requests
                .map(|n| Arc::new(Semaphore::new(n))),
        })
    }

    fn root_store(&self) -> Result<Arc<rustls::RootCertStore>, TransportError> {
        let mut roots = rustls::RootCertStore::empty();
        #[cfg(feature = "native-roots")]
        if self.native_roots {
            // Unreadable individual certificates are skipped, as browsers do; an empty
            // store is reported below if nothing at all is trusted.
            let loaded = rustls_native_certs::load_native_certs();
            if !loaded.errors.is_empty() {
                tracing::debug!(
                    errors = loaded.errors.len(),
                    "some native roots failed to load"
                );
            }
            let (_added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        }
        #[cfg(feature = "webpki-roots")]
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in &self.extra_roots {
            roots.add(cert.clone()).map_err(|e| {
                TransportError::with_source(
                    TransportErrorKind::InvalidConfiguration,
                    "invalid extra root certificate",
                    e,
                )
            })?;
        }
        if roots.is_empty() {
            return Err(TransportError::new(
                TransportErrorKind::InvalidConfiguration,
                "no trusted root certificates: enable native or webpki roots, or add a pem file",
            ));
        }
        Ok(Arc::new(roots))
    }

    /// A pooled client offering HTTP/2 through ALPN if `http2`, keeping at most `max_idle`
    /// idle connections per origin.
    fn client(
        &self,
        tcp: Connector,
        roots: Arc<rustls::RootCertStore>,
        http2: bool,
        max_idle: Option<usize>,
    ) -> Result<HyperClient, TransportError> {
        // The crypto provider is chosen here, explicitly, rather than from a process default.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                TransportError::with_source(
                    TransportErrorKind::InvalidConfiguration,
                    "tls protocol versions",
                    e,
                )
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        #[cfg(feature = "http2")]
        let connector = if http2 {
            https.enable_all_versions().wrap_connector(tcp)
        } else {
            https.enable_http1().wrap_connector(tcp)
        };
        #[cfg(not(feature = "http2"))]
        let connector = {
            let _ = http2;
            https.enable_http1().wrap_connector(tcp)
        };
        Ok(Client::builder(TokioExecutor::new())
            // hyper-util adds the timeout to clock readings unchecked and panics in its pool
            // task on one too long to add; such a timeout means "never", which it spells `None`.
            .pool_idle_timeout(
                (self.pool_idle_timeout <= NEVER_IDLE_OUT).then_some(self.pool_idle_timeout),
            )
            .pool_max_idle_per_host(max_idle.unwrap_or(usize::MAX))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector))
    }
}

/// The system resolver, with the names pinned by [`HyperTransportBuilder::resolve`] answered
/// first.
#[derive(Clone)]
struct Resolver {
    pinned: Arc<[(String, IpAddr)]>,
    system: GaiResolver,
}

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.system.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        // Port 0: the connector puts the URL's port in.
        let pinned: Vec<SocketAddr> = self
            .pinned
            .iter()
            .filter(|(host, _)| host.eq_ignore_ascii_case(name.as_str()))
            .map(|&(_, ip)| SocketAddr::new(ip, 0))
            .collect();
        if !pinned.is_empty() {
            return Box::pin(std::future::ready(Ok(pinned.into_iter())));
        }
        let lookup = self.system.call(name);
        Box::pin(async move { Ok(lookup.await?.collect::<Vec<_>>().into_iter()) })
    }
}

/// Connects to a destination directly, or through an HTTP `CONNECT` tunnel at the proxy the
/// settings give it; TLS, when the destination is https, then runs inside the tunnel.
#[derive(Clone)]
struct Connector {
    tcp: HttpConnector<Resolver>,
    proxies: Option<Arc<Matcher>>,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = <HttpConnector<Resolver> as tower_service::Service<http::Uri>>::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let proxy = self.proxies.as_deref().and_then(|p| proxy_for(p, &dst));
        let Some(proxy) = proxy else {
            let connecting = self.tcp.call(dst);
            return Box::pin(async move { Ok(connecting.await?) });
        };
        let shown = shown_proxy(&proxy);
        if proxy.uri().scheme() != Some(&http::uri::Scheme::HTTP) {
            return Box::pin(std::future::ready(Err(ProxyError::Unsupported {
                proxy: shown,
            }
            .into())));
        }
        // hyper-util's tunnel asks for port 443 when the destination names none, plain http
        // included, so the scheme's default port is written out.
        let host = dst.host().unwrap_or_default();
        let port = dst.port_u16().unwrap_or(match dst.scheme() {
            Some(scheme) if *scheme == http::uri::Scheme::HTTP => 80,
            _ => 443,
        });
        let target = format!("{host}:{port}");
        let mut tunnel = Tunnel::new(proxy.uri().clone(), self.tcp.clone());
        if let Some(auth) = proxy.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        Box::pin(async move {
            let uri = http::Uri::builder()
                .scheme("http")
                .authority(target.as_str())
                .path_and_query("/")
                .build()?;
            std::future::poll_fn(|cx| tunnel.poll_ready(cx))
                .await
                .map_err(|e| ProxyError::new(shown.clone(), target.clone(), &e))?;
            tunnel
                .call(uri)
                .await
                .map_err(|e| ProxyError::new(shown, target, &e).into())
        })
    }
}

/// The proxy `proxies` give `dst`, unless `dst` is never proxied (see [`never_proxied`]).
fn proxy_for(proxies: &Matcher, dst: &http::Uri) -> Option<Intercept> {
    match dst.host() {
        Some(host) if !never_proxied(host) => proxies.intercept(dst),
        _ => None,
    }
}

/// Whether `host` is loopback (`localhost`, `127.0.0.0/8`, `::1`) or link-local
/// (`169.254.0.0/16`, `fe80::/10`), also as an IPv4-mapped IPv6 address or with a zone.
/// Such destinations are never proxied: a proxy would reach its own machine, or no such
/// address at all.
fn never_proxied(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    // An IPv6 zone (`[fe80::1%25eth0]`, RFC 6874) is left out: std does not parse one.
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    let ip = ip.split_once('%').map_or(ip, |(ip, _zone)| ip);
    match ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(v4)) => v4.is_loopback() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => v6.is_loopback() || v6.is_unicast_link_local(),
        Err(_) => false,
    }
}

/// The proxy's URL as errors and `Debug` show it: `http://***@proxy:3128` when it carries
/// credentials, as `adu_model` shows URLs with user information. hyper-util has already
/// taken the credentials out of the URL, so only the marker is added.
fn shown_proxy(proxy: &Intercept) -> String {
    let credentials = proxy.basic_auth().is_some() || proxy.raw_auth().is_some();
    format!(
        "{}://{}{}",
        proxy.uri().scheme_str().unwrap_or("http"),
        if credentials { "***@" } else { "" },
        proxy.uri().authority().map_or("", |a| a.as_str()),
    )
}

/// Why a request could not go through its proxy, with what to check.
#[derive(Debug, thiserror::Error)]
enum ProxyError {
    /// The proxy answered the `CONNECT` with another status than 200 (407, 403, 502...), or
    /// closed the connection instead.
    #[error(
        "the proxy {proxy} refused to open a tunnel to {target} ({detail}); check the user and \
         password in the proxy url, that the proxy lets this host through, or list the host in \
         NO_PROXY"
    )]
    Refused {
        proxy: String,
        target: String,
        detail: String,
    },
    /// No connection to the proxy.
    #[error(
        "cannot reach the proxy {proxy} for {target} ({detail}); check the proxy settings \
         (HTTPS_PROXY, HTTP_PROXY), or list the host in NO_PROXY"
    )]
    Unreachable {
        proxy: String,
        target: String,
        detail: String,
    },
    /// A proxy URL of another scheme than http.
    #[error(
        "the proxy {proxy} is not an http:// url; only http proxies are supported, so set the \
         proxy url to http://host:port"
    )]
    Unsupported { proxy: String },
}

impl ProxyError {
    /// hyper-util's tunnel error, whose type it does not export: one with a cause failed to
    /// reach the proxy, one without was refused by it.
    fn new(proxy: String, target: String, error: &(dyn std::error::Error + 'static)) -> Self {
        let detail = std::iter::successors(Some(error), |e| e.source())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        match error.source() {
            None => ProxyError::Refused {
                proxy,
                target,
                detail,
            },
            Some(_) => ProxyError::Unreachable {
                proxy,
                target,
                detail,
            },
        }
    }
}

impl HyperTransport {
    /// A builder with the defaults (see [`HyperTransportBuilder`]).
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
    }

    /// A transport with every default.
    pub fn new() -> Result<Self, TransportError> {
        Self::builder().build()
    }

    /// The largest response body this transport accepts.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One exchange through `client`, bounded by `timeout` (covering the wait for an
    /// in-flight slot, connecting, sending, the response head and the whole body).
    async fn exchange(
        &self,
        client: &HyperClient,
        request: http::Request<Vec<u8>>,
        in_flight: Option<&Semaphore>,
        timeout: Duration,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        check_request(&request)?;
        let head = request.method() == http::Method::HEAD;
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let exchange = async {
            // Taken before the pool is asked for a connection and held until the body is
            // read, so at most `cap` requests hold or open a connection at a time. The
            // semaphore is never closed; a closed one would just mean no cap.
            let _permit = match in_flight {
                Some(semaphore) => semaphore.acquire().await.ok(),
                None => None,
            };
            let response = client.request(request).await.map_err(|error| {
                let connecting = error.is_connect();
                classify_failure(error, connecting)
            })?;
            let (parts, body) = response.into_parts();
            read_capped(parts, body, self.max_body_bytes, head).await
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(TransportError::timed_out(timeout)))
    }
}

impl HttpTransport for HyperTransport {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        self.call_with_timeout(request, self.timeout)
    }

    /// The earlier of `timeout` and this transport's own timeout applies.
    fn call_with_timeout(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        let timeout = timeout.min(self.timeout);
        Box::pin(self.exchange(&self.api, request, self.in_flight.as_deref(), timeout))
    }
}

/// Token requests from `oauth2` go through a client with the same timeout, body cap and TLS
/// settings, over HTTP/1.1 and outside the in-flight cap.
impl<'c> oauth2::AsyncHttpClient<'c> for HyperTransport {
    type Error = TransportError;
    type Future = BoxFuture<'c, Result<oauth2::HttpResponse, TransportError>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.exchange(&self.token, request, None, self.timeout))
    }
}

/// Adapts any shared [`HttpTransport`] to [`oauth2::AsyncHttpClient`], so credentials that call
/// a token endpoint can use a custom transport. Each token request is bounded by
/// [`DEFAULT_TIMEOUT`] through [`HttpTransport::call_with_timeout`], as the client bounds
/// every API try.
#[derive(Clone)]
pub struct OAuth2HttpClient(pub Arc<dyn HttpTransport>);

impl std::fmt::Debug for OAuth2HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OAuth2HttpClient(..)")
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuth2HttpClient {
    type Error = TransportError;
    type Future = BoxFuture<'c, Result<oauth2::HttpResponse, TransportError>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        self.0.call_with_timeout(request, DEFAULT_TIMEOUT)
    }
}

/// Refuses a relative URI, one with a scheme other than http and https, and a request of an
/// HTTP version other than 1.0 and 1.1 (the transport picks HTTP/2 itself, through ALPN).
fn check_request(request: &http::Request<Vec<u8>>) -> Result<(), TransportError> {
    let uri = request.uri();
    if !matches!(
        request.version(),
        http::Version::HTTP_10 | http::Version::HTTP_11
    ) {
        return Err(TransportError::new(
            TransportErrorKind::InvalidRequest,
            "only HTTP/1.0 and HTTP/1.1 requests are sent; HTTP/2 is negotiated",
        ));
    }
    if !matches!(uri.scheme_str(), Some("https" | "http")) {
        return Err(TransportError::new(
            TransportErrorKind::InvalidRequest,
            "the request uri must be absolute, with an http or https scheme",
        ));
    }
    if uri.authority().is_none() {
        return Err(TransportError::new(
            TransportErrorKind::InvalidRequest,
            "the request uri has no host",
        ));
    }
    Ok(())
}

/// Reads the body of a response with head `parts` (the answer to a HEAD request if `head`),
/// refusing more than `limit` bytes.
async fn read_capped(
    parts: http::response::Parts,
    body: hyper::body::Incoming,
    limit: usize,
    head: bool,
) -> Result<http::Response<Vec<u8>>, TransportError> {
    // Refuse early when the server announces a body over the cap. An answer to HEAD, and a
    // 1xx, 204 or 304, has no body whatever its Content-Length says (RFC 9110 §8.6).
    let bodiless = head
        || parts.status.is_informational()
        || parts.status == http::StatusCode::NO_CONTENT
        || parts.status == http::StatusCode::NOT_MODIFIED;
    let announced = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|_| !bodiless);
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(TransportError::body_too_large(limit));
    }
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| match error.is::<LengthLimitError>() {
            true => TransportError::body_too_large(limit),
            false => TransportError::with_source(
                TransportErrorKind::Connection,
                "the connection failed while reading the response body",
                error,
            ),
        })?;
    Ok(http::Response::from_parts(parts, body.to_bytes().into()))
}

/// A failed exchange as a [`TransportError`]: [`TransportErrorKind::Tls`] when a rustls error
/// is anywhere in its chain, else [`TransportErrorKind::Connect`] if it happened while
/// `connecting`, else [`TransportErrorKind::Connection`].
fn classify_failure(error: hyper_util::client::legacy::Error, connecting: bool) -> TransportError {
    let proxy = std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
    .find_map(|e| e.downcast_ref::<ProxyError>());
    if let Some(proxy) = proxy {
        // The proxy error says it all; the chain below it holds nothing more.
        let kind = match proxy {
            ProxyError::Unsupported { .. } => TransportErrorKind::InvalidConfiguration,
            _ => TransportErrorKind::Connect,
        };
        return TransportError::new(kind, proxy.to_string());
    }
    let (kind, message) = if chain_has_tls_error(&error) {
        (
            TransportErrorKind::Tls,
            "the tls handshake with the server failed",
        )
    } else if connecting {
        (TransportErrorKind::Connect, "cannot connect to the server")
    } else {
        (
            TransportErrorKind::Connection,
            "the connection failed before a complete response arrived",
        )
    };
    TransportError::with_source(kind, message, error)
}

fn chain_has_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<rustls::Error>() {
            return true;
        }
        // `io::Error::source` skips the wrapped error itself, so look inside explicitly
        // (hyper-rustls nests the rustls error in two io errors).
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if chain_has_tls_error(inner) {
                    return true;
                }
            }
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_link_local_hosts_are_never_proxied() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "169.254.169.254",
            "[fe80::1]",
            "[febf::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:169.254.169.254]",
        ] {
            assert!(never_proxied(host), "{host}");
        }
        for host in [
            "contoso.api.adu.microsoft.com",
            "login.microsoftonline.com",
            "localhost.contoso.com",
            "10.0.0.1",
            "169.255.0.1",
            "[fec0::1]",
            "[2001:db8::1]",
            "[::ffff:10.0.0.1]",
        ] {
            assert!(!never_proxied(host), "{host}");
        }
    }

    #[test]
    fn a_proxy_is_shown_without_its_credentials() {
        let probe = http::Uri::from_static("https://adu.test/");
        for (url, shown) in [
            ("http://user:pa55@proxy:3128", "http://***@proxy:3128"),
            ("http://user@proxy:3128", "http://***@proxy:3128"),
            ("http://proxy:3128", "http://proxy:3128"),
            ("socks5://user:pa55@proxy:1080", "socks5://***@proxy:1080"),
        ] {
            let intercept = Matcher::builder().all(url).build().intercept(&probe);
            assert_eq!(shown_proxy(&intercept.unwrap()), shown, "{url}");
        }
    }

    #[test]
    fn identity_endpoints_on_the_machine_are_never_proxied() {
        let proxies = Matcher::builder().all("http://proxy:3128").no("").build();
        for url in [
            "http://169.254.169.254/metadata/identity/oauth2/token",
            "http://localhost:42356/msi/token",
            "http://127.0.0.1:40342/metadata/identity/oauth2/token",
            "https://[fe80::1%25eth0]/",
        ] {
            let uri = url.parse::<http::Uri>().unwrap();
            // The matcher alone would proxy them.
            assert!(proxies.intercept(&uri).is_some(), "{url}");
            assert!(proxy_for(&proxies, &uri).is_none(), "{url}");
        }
        let service = http::Uri::from_static("https://contoso.api.adu.microsoft.com/x");
        let proxy = proxy_for(&proxies, &service).unwrap();
        assert_eq!(proxy.uri(), "http://proxy:3128/");
    }
}
