//! The HTTP seam: a one-method async trait, and its default implementation on hyper + rustls.
//!
//! The client never talks to hyper directly: it hands an `http::Request<Vec<u8>>` to an
//! [`HttpTransport`] and gets an `http::Response<Vec<u8>>` back. [`HyperTransport`] is the
//! default implementation; any `Fn(http::Request<Vec<u8>>) -> impl Future<...>` closure is one
//! too, so embedders can bring their own HTTP stack and tests can answer with canned responses.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::task::coop::Unconstrained;

use crate::connector::TcpConnector;
use crate::error::{TransportError, TransportErrorKind};
use crate::pool::Http1Pool;

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
/// should also override [`call_with_timeout`](Self::call_with_timeout), so that each try runs
/// one timer instead of two (see there).
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
    /// The default says "this transport has no deadline of its own": it puts a timer around
    /// [`call`](Self::call). That is right for closures and any transport without a timeout.
    /// A transport that already bounds its calls overrides it to fold `timeout` into its own
    /// deadline, so that one timer runs per try, set to the earlier of the two, instead of its
    /// timer inside the caller's. [`HyperTransport`] does; a wrapper around another transport
    /// should forward this method to the inner one.
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

/// The default body cap: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The default per-try timeout (connect, send, headers and the whole body): 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default connect timeout: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default cap on API requests in flight at once through one transport: 64.
///
/// Without a cap, every request that finds no idle connection opens one: 10,000 concurrent
/// waits used to open thousands of sockets (8,500 file descriptors and 210 MiB of RSS
/// measured by `cargo xtask bench`), overflowing accept backlogs and file-descriptor
/// limits. Over HTTP/1.1 one request holds one connection, and a request hands its
/// connection back to the pool before its slot goes to the next request, so the cap is
/// also the most API connections the transport keeps open (per transport, all origins
/// together: a new connection that would make one more closes the oldest idle one, and a
/// connection that is not reused is closed at once); excess requests queue (inside the
/// per-try timeout) for a free slot. With HTTP/2 offered (the `http2` feature), requests
/// go through hyper-util's pooled client, which puts a connection back from a task of its
/// own a moment later, so a few more connections than the cap may open (when it carried
/// every request, 10,000 waits through a cap of 64 opened 90 to 142 connections over
/// HTTP/1.1; see `docs/benchmarks.md`).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;

type HyperClient = Client<HttpsConnector<TcpConnector>, Full<Bytes>>;

/// What requests go through.
#[derive(Clone)]
enum Stack {
    /// HTTP/1.1 through the transport's own pool (API requests, by default): connections
    /// are handed back before the in-flight slot is released, so they stay within the slots.
    Pool(Arc<Http1Pool>),
    /// hyper-util's client: token requests, and API requests when HTTP/2 is offered through
    /// ALPN (the `http2` feature with [`HyperTransportBuilder::http2`]). Boxed: far larger
    /// than a pointer.
    Client(Box<HyperClient>),
}

/// The default [`HttpTransport`]: hyper 1 over rustls (aws-lc-rs).
///
/// - HTTP/1.1 through the transport's own pool of kept-alive connections; HTTP/2 is
///   offered through ALPN (with hyper-util's pooled client) when the `http2` feature is on
///   and [`HyperTransportBuilder::http2`] is set. Token requests made through the
///   [`oauth2::AsyncHttpClient`] implementation always use HTTP/1.1 (hyper-util's client).
/// - Idle connections are reused, newest first, for requests to their own origin, and
///   closed after [`HyperTransportBuilder::pool_idle_timeout`]. A connection is reused only
///   once its last response was read to the end; one the server closed is replaced, and a
///   request a reused connection could not start is sent on another.
/// - Roots: the operating system's store (feature `native-roots`, default), the Mozilla store
///   (feature `webpki-roots`), plus any certificates added with
///   [`HyperTransportBuilder::add_root_certificates_pem`].
/// - The timeout covers waiting for an in-flight slot, connecting, sending, the response head
///   *and* the body: a server that stalls mid-body cannot hold the caller. Through
///   [`HttpTransport::call_with_timeout`] (as [`DeviceUpdateClient`](crate::DeviceUpdateClient)
///   calls it) the earlier of that timeout and the caller's applies, with one timer.
/// - Bodies larger than the cap are refused with [`TransportErrorKind::BodyTooLarge`].
/// - Redirects are never followed.
/// - Responses carry no `HttpInfo` extension (hyper-util's record of the connection's
///   addresses): building and dropping it cost every response an extension map.
///
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct HyperTransport {
    api: Stack,
    /// Always [`Stack::Client`].
    token: Stack,
    timeout: Duration,
    max_body_bytes: usize,
    /// Permits for API requests in flight (see [`DEFAULT_MAX_CONCURRENT_REQUESTS`]).
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
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

    /// Offer HTTP/2 through ALPN for API requests (needs the `http2` feature; ignored
    /// without it). Token requests always use HTTP/1.1.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// The most API requests in flight at once (default
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`]); `None` removes the cap. Over HTTP/1.1 this is
    /// also the most API connections open at once (see
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`]). Requests over the cap wait for a free slot, and
    /// that wait counts toward the timeout. Token requests are not counted.
    pub fn max_concurrent_requests(mut self, limit: Option<usize>) -> Self {
        self.max_concurrent_requests = limit.map(|n| n.max(1));
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
    /// Only a regular file (symlinks are followed) of at most 4 MiB is read; a system's
    /// whole bundle is about 200 KiB. Anything else (a directory, FIFO or device, or a larger
    /// file) fails with [`TransportErrorKind::InvalidConfiguration`] without being read.
    pub fn add_root_certificates_pem_file(
        self,
        path: impl AsRef<Path>,
    ) -> Result<Self, TransportError> {
        use std::io::Read as _;
        const MAX_PEM_FILE_BYTES: u64 = 4 * 1024 * 1024;
        let path = path.as_ref();
        let invalid = |what: &str| {
            TransportError::new(
                TransportErrorKind::InvalidConfiguration,
                format!(
                    "root certificate file {} {what}; pass a PEM file with the certificates to \
                     trust",
                    path.display()
                ),
            )
        };
        let not_a_file = || invalid("is not a regular file");
        let too_large = || {
            invalid(&format!(
                "is larger than {MAX_PEM_FILE_BYTES} bytes (4 MiB)"
            ))
        };
        let cannot_read = |e: std::io::Error| {
            TransportError::with_source(
                TransportErrorKind::InvalidConfiguration,
                format!("cannot read root certificate file {}", path.display()),
                e,
            )
        };
        // The path is checked before it is opened because opening a FIFO blocks until a
        // writer comes; the check of the opened handle is the one that counts, as the file
        // may be swapped in between.
        if !std::fs::metadata(path).map_err(cannot_read)?.is_file() {
            return Err(not_a_file());
        }
        let file = std::fs::File::open(path).map_err(cannot_read)?;
        let meta = file.metadata().map_err(cannot_read)?;
        if !meta.is_file() {
            return Err(not_a_file());
        }
        if meta.len() > MAX_PEM_FILE_BYTES {
            return Err(too_large());
        }
        // The file may grow after the size check; reading one byte past the limit tells.
        let mut pem = Vec::new();
        file.take(MAX_PEM_FILE_BYTES + 1)
            .read_to_end(&mut pem)
            .map_err(cannot_read)?;
        if pem.len() as u64 > MAX_PEM_FILE_BYTES {
            return Err(too_large());
        }
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
        let token = Stack::Client(Box::new(self.client(roots.clone(), false)?));
        let api = if self.http2 && cfg!(feature = "http2") {
            Stack::Client(Box::new(self.client(roots, true)?))
        } else {
            Stack::Pool(Arc::new(Http1Pool::new(
                self.connector(roots, false)?,
                self.pool_idle_timeout,
                self.max_concurrent_requests,
            )))
        };
        Ok(HyperTransport {
            api,
            token,
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            in_flight: self
                .max_concurrent_requests
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
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

    fn client(
        &self,
        roots: Arc<rustls::RootCertStore>,
        http2: bool,
    ) -> Result<HyperClient, TransportError> {
        Ok(Client::builder(TokioExecutor::new())
            // hyper-util adds the timeout to clock readings unchecked and panics in its pool
            // task on one too long to add; such a timeout means "never", which it spells `None`.
            .pool_idle_timeout(
                (self.pool_idle_timeout <= NEVER_IDLE_OUT).then_some(self.pool_idle_timeout),
            )
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(self.connector(roots, http2)?))
    }

    fn connector(
        &self,
        roots: Arc<rustls::RootCertStore>,
        http2: bool,
    ) -> Result<HttpsConnector<TcpConnector>, TransportError> {
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

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        let http = TcpConnector::new(http);

        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1();
        #[cfg(feature = "http2")]
        let connector = if http2 {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.wrap_connector(http)
        };
        #[cfg(not(feature = "http2"))]
        let connector = {
            let _ = http2;
            builder.wrap_connector(http)
        };
        Ok(connector)
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

    /// One exchange through `stack`, bounded by `timeout` (one timer, covering the wait for
    /// an in-flight slot, connecting, sending, the response head and the whole body).
    ///
    /// The exchange's own state (the hyper request, then the body reader, about 900 bytes) is
    /// boxed only once a slot is granted: a request queued behind `in_flight` holds just
    /// itself, the queue entry and the timer. With 10,000 waits at once nearly all of them
    /// queue here (see `docs/benchmarks.md`).
    ///
    /// The returned box holds the timer and [`queued`]'s future side by side ([`Timed`]),
    /// with no `async` block around them: one would keep its own copy of the request next
    /// to the copy inside `queued`, and the box would pass 1 KiB, past the size glibc's
    /// malloc serves from its per-thread cache.
    fn start<'a>(
        &'a self,
        stack: &'a Stack,
        request: http::Request<Vec<u8>>,
        in_flight: Option<&'a tokio::sync::Semaphore>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<http::Response<Vec<u8>>, TransportError>> {
        if let Err(error) = check_request_uri(request.uri()) {
            return Box::pin(std::future::ready(Err(error)));
        }
        let limit = self.max_body_bytes;
        Box::pin(Timed::new(
            queued(stack, request, in_flight, limit),
            timeout,
        ))
    }
}

/// Waits for an in-flight slot (when there is a cap), then runs the exchange through `stack`.
///
/// Not an `async fn`, which would move its arguments into locals and so hold the request
/// twice: the `async` block uses the captured values in place.
#[allow(clippy::manual_async_fn)]
fn queued<'a>(
    stack: &'a Stack,
    request: http::Request<Vec<u8>>,
    in_flight: Option<&'a tokio::sync::Semaphore>,
    limit: usize,
) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + 'a {
    async move {
        // Held until the whole body is read and (over HTTP/1.1) the connection is back in the
        // pool, so the request that gets the slot next finds it idle.
        let permit = match in_flight {
            // A free slot is taken without making and polling an `Acquire` future. Released
            // permits go to queued waiters first, so a slot is free here only when nobody is
            // queued: this does not jump the queue.
            Some(semaphore) => match semaphore.try_acquire() {
                Ok(permit) => Some(permit),
                // The semaphore is never closed; a closed one would just mean no cap.
                Err(tokio::sync::TryAcquireError::Closed) => None,
                Err(tokio::sync::TryAcquireError::NoPermits) => semaphore.acquire().await.ok(),
            },
            None => None,
        };
        // Each path's exchange is boxed on its own, so the box is the size of the one it runs.
        let result = match stack {
            Stack::Pool(pool) => {
                // The prepared request goes straight into the boxed exchange, inside a plain
                // closure: held in a local of this future, it would keep its room here
                // (about 400 bytes) for as long as the exchange runs.
                let sending = crate::pool::prepare(request)
                    .map(|outgoing| Box::pin(pool.send(outgoing, limit)));
                match sending {
                    Ok(exchange) => exchange.await,
                    Err(error) => Err(error),
                }
            }
            Stack::Client(client) => Box::pin(exchange(client, request, limit)).await,
        };
        drop(permit);
        result
    }
}

pin_project_lite::pin_project! {
    /// `inner` bounded by `timeout`, its expiry turned into [`TransportError::timed_out`].
    ///
    /// The timer is made when the future is first polled, as an `async` block would make
    /// it: a future made outside a runtime (where a timer cannot be made) can run inside
    /// one later. It is polled outside tokio's cooperative budget, as `tokio::time::timeout`
    /// polls its own once the future it bounds has used the budget up: an exchange that
    /// keeps using it up still times out. `inner` is dropped as soon as this future is
    /// ready, timed out or not, so a caller that keeps the finished future does not keep
    /// its in-flight slot and its connection.
    struct Timed<F> {
        #[pin]
        inner: Option<F>,
        #[pin]
        timer: Option<Unconstrained<tokio::time::Sleep>>,
        timeout: Duration,
    }
}

impl<F> Timed<F> {
    fn new(inner: F, timeout: Duration) -> Self {
        Timed {
            inner: Some(inner),
            timer: None,
            timeout,
        }
    }
}

impl<F, T> Future for Timed<F>
where
    F: Future<Output = Result<T, TransportError>>,
{
    type Output = Result<T, TransportError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(TransportError::new(
                TransportErrorKind::Other,
                "the request's future was polled again after it had finished",
            )));
        };
        if this.timer.is_none() {
            // The deadline counts from the first poll, before any of the work.
            this.timer
                .set(Some(tokio::task::coop::unconstrained(tokio::time::sleep(
                    *this.timeout,
                ))));
        }
        // The exchange first, as `tokio::time::timeout` does: an answer that is ready is
        // not lost to a timer that expired meanwhile.
        if let Poll::Ready(result) = inner.poll(cx) {
            this.inner.set(None);
            return Poll::Ready(result);
        }
        match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => {
                // Dropped now, not with this future: it holds the in-flight slot and the
                // half-read connection.
                this.inner.set(None);
                Poll::Ready(Err(TransportError::timed_out(*this.timeout)))
            }
            _ => Poll::Pending,
        }
    }
}

impl HttpTransport for HyperTransport {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        self.start(&self.api, request, self.in_flight.as_deref(), self.timeout)
    }

    /// One timer per try: the earlier of `timeout` and this transport's own timeout.
    fn call_with_timeout(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        self.start(
            &self.api,
            request,
            self.in_flight.as_deref(),
            timeout.min(self.timeout),
        )
    }
}

/// Token requests from `oauth2` go through the same stack, with the same timeout, body cap
/// and TLS settings, and always over HTTP/1.1.
impl<'c> oauth2::AsyncHttpClient<'c> for HyperTransport {
    type Error = TransportError;
    type Future = BoxFuture<'c, Result<oauth2::HttpResponse, TransportError>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        self.start(&self.token, request, None, self.timeout)
    }
}

/// Adapts any shared [`HttpTransport`] to [`oauth2::AsyncHttpClient`], so credentials that call
/// a token endpoint can use a custom transport.
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
        self.0.call(request)
    }
}

/// Refuses a relative URI or one with a scheme other than http and https.
fn check_request_uri(uri: &http::Uri) -> Result<(), TransportError> {
    match uri.scheme_str() {
        Some("https") | Some("http") => {}
        _ => {
            return Err(TransportError::new(
                TransportErrorKind::InvalidRequest,
                "the request uri must be absolute, with an http or https scheme",
            ))
        }
    }
    if uri.authority().is_none() {
        return Err(TransportError::new(
            TransportErrorKind::InvalidRequest,
            "the request uri has no host",
        ));
    }
    Ok(())
}

/// Sends `request` through hyper-util's client and reads the whole response, refusing a body
/// over `limit` bytes.
async fn exchange(
    client: &HyperClient,
    request: http::Request<Vec<u8>>,
    limit: usize,
) -> Result<http::Response<Vec<u8>>, TransportError> {
    let head = request.method() == http::Method::HEAD;
    let request = request.map(|body| Full::new(Bytes::from(body)));
    let response = client
        .request(request)
        .await
        .map_err(classify_client_error)?;
    let (parts, body) = response.into_parts();
    read_capped(parts, body, limit, head).await
}

/// Reads the body of a response with head `parts` (the answer to a HEAD request if `head`),
/// refusing more than `limit` bytes.
///
/// Takes the head and the body apart: given the whole response, this future would hold it
/// and, beside it, the two parts taken out of it.
///
/// Not an `async fn`, which would hold its arguments twice (see [`queued`]).
#[allow(clippy::manual_async_fn)]
pub(crate) fn read_capped(
    parts: http::response::Parts,
    mut body: hyper::body::Incoming,
    limit: usize,
    head: bool,
) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
    async move {
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
        if let Some(length) = announced {
            if length > limit as u64 {
                return Err(TransportError::body_too_large(limit));
            }
        }
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                TransportError::with_source(
                    TransportErrorKind::Connection,
                    "the connection failed while reading the response body",
                    e,
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if bytes.len().saturating_add(data.len()) > limit {
                    return Err(TransportError::body_too_large(limit));
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(http::Response::from_parts(parts, bytes))
    }
}

fn classify_client_error(error: hyper_util::client::legacy::Error) -> TransportError {
    let connecting = error.is_connect();
    classify_failure(error, connecting)
}

/// A failed exchange as a [`TransportError`]: [`TransportErrorKind::Tls`] when a rustls error
/// is anywhere in its chain, else [`TransportErrorKind::Connect`] if it happened while
/// `connecting`, else [`TransportErrorKind::Connection`].
pub(crate) fn classify_failure(
    error: impl Into<crate::error::BoxError>,
    connecting: bool,
) -> TransportError {
    let error = error.into();
    let (kind, message) = if chain_has_tls_error(&*error) {
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

    /// An exchange that uses up tokio's cooperative budget on every poll must not keep its
    /// own timer from firing.
    #[tokio::test]
    async fn the_timer_fires_even_when_the_exchange_uses_up_the_budget() {
        let busy = async {
            loop {
                tokio::task::coop::consume_budget().await;
            }
            #[allow(unreachable_code)]
            Ok::<(), TransportError>(())
        };
        let timed = Timed::new(busy, Duration::from_millis(50));
        // tokio's own timeout is immune to that starvation, so it can stand guard.
        let outcome = tokio::time::timeout(Duration::from_secs(10), timed)
            .await
            .expect("the transport's timer fired first");
        assert_eq!(
            outcome.map_err(|e| e.kind()),
            Err(TransportErrorKind::TimedOut)
        );
    }

    /// A ready answer is taken even if the timer has expired meanwhile.
    #[tokio::test(start_paused = true)]
    async fn a_ready_answer_wins_over_an_expired_timer() {
        let slow_then_ready = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<u8, TransportError>(7)
        };
        // The inner sleep and the timer expire at the same instant; the answer comes first.
        let timed = Timed::new(slow_then_ready, Duration::from_secs(2));
        assert_eq!(timed.await.map_err(|e| e.kind()), Ok(7));
    }
}
