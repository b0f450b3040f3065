//! The tokio/hyper layer: listening, TLS, connections, fault injection at
//! the connection level, clean shutdown.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use socket2::{SockRef, Socket};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, FaultKind, OperationSpec};
use crate::error::Error;
use crate::routes;
use crate::state::{State, Stats};

/// How long [`RunningEmulator::shutdown`] lets in-flight requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running emulator. Dropping it stops accepting connections; call
/// [`RunningEmulator::shutdown`] to also wait for in-flight requests.
pub struct RunningEmulator {
    addr: SocketAddr,
    base_url: String,
    state: Arc<State>,
    certificate_pem: Option<String>,
    shutdown_tx: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Starts an emulator: binds `config.bind`, generates a certificate when
/// `config.tls`, and serves in the background on the current tokio runtime.
pub async fn start(config: Config) -> Result<RunningEmulator, Error> {
    let bind = async {
        TcpListener::bind(config.bind)
            .await
            .and_then(|l| Ok((l.local_addr()?, l)))
    };
    let (addr, listener) = bind.await.map_err(|source| Error::Bind {
        addr: config.bind,
        source,
    })?;
    let (tls, certificate_pem) = if config.tls {
        let (acceptor, pem) = crate::tls::self_signed()?;
        (Some(acceptor), Some(pem))
    } else {
        (None, None)
    };
    let base_url = base_url_for(addr, config.tls);
    let state = Arc::new(State::new(config, SystemTime::now()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let server = Server {
        state: state.clone(),
        base_url: base_url.clone().into(),
        tls,
    };
    let task = tokio::spawn(server.accept_loop(listener, shutdown_rx));
    tracing::info!(%base_url, "adu-emulator started");
    Ok(RunningEmulator {
        addr,
        base_url,
        state,
        certificate_pem,
        shutdown_tx,
        task: Some(task),
    })
}

fn base_url_for(addr: SocketAddr, tls: bool) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    match (tls, ip) {
        // The certificate names `localhost`, and Microsoft's clients want a host name.
        (true, ip) if ip.is_loopback() => format!("https://localhost:{}", addr.port()),
        (true, ip) => format!("https://{}", SocketAddr::new(ip, addr.port())),
        (false, ip) => format!("http://{}", SocketAddr::new(ip, addr.port())),
    }
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS: the API endpoint.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The authority host (what `AZURE_AUTHORITY_HOST` would be): the same
    /// server; the token endpoint is `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn authority_url(&self) -> String {
        self.base_url.clone()
    }

    /// The authorization endpoint: `{base_url}/{tenant}/oauth2/v2.0/authorize`.
    pub fn authorize_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/authorize",
            self.base_url, self.state.config.credentials.tenant
        )
    }

    /// The token endpoint: `{base_url}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.base_url, self.state.config.credentials.tenant
        )
    }

    /// The App Service managed-identity endpoint, `{base_url}/msi/token`: what
    /// `IDENTITY_ENDPOINT` should be (with `IDENTITY_HEADER` set to
    /// [`ManagedIdentity::identity_header`](crate::ManagedIdentity::identity_header)). The
    /// metadata service's shape is at `{base_url}/metadata/identity/oauth2/token`, so
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` is the base URL.
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.base_url)
    }

    /// The managed identities its identity endpoints issue tokens for.
    pub fn managed_identity(&self) -> &crate::config::ManagedIdentity {
        &self.state.config.managed_identity
    }

    /// The tenant, client id, secret and user the token endpoint accepts.
    pub fn credentials(&self) -> &crate::config::Credentials {
        &self.state.config.credentials
    }

    /// The self-signed certificate (PEM) when serving https.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Writes the certificate (PEM) to `path`; does nothing without TLS.
    pub fn write_certificate(&self, path: &Path) -> Result<(), Error> {
        match &self.certificate_pem {
            Some(pem) => std::fs::write(path, pem).map_err(|source| Error::File {
                path: path.to_path_buf(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// Creates an operation now (its schedule starts now, minus
    /// `spec.created_ago`); returns its id. An existing id is replaced.
    pub fn add_operation(&self, spec: OperationSpec) -> String {
        self.state.add_operation(spec, SystemTime::now())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// A valid bearer token for the configured client, without a trip to
    /// the token endpoint.
    pub fn issue_token(&self) -> String {
        self.state
            .issue_token(&self.state.config.credentials.client_id, SystemTime::now())
    }

    /// Stops accepting connections, lets in-flight requests finish (up to a
    /// few seconds; stalled bodies are cut), and returns when all is closed.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

struct Server {
    state: Arc<State>,
    base_url: Arc<str>,
    tls: Option<TlsAcceptor>,
}

impl Server {
    async fn accept_loop(self, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        this.state.count(|s| &mut s.connections);
                        let _ = stream.set_nodelay(true);
                        conns.spawn(this.clone().connection(stream, peer, shutdown.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
            while conns.try_join_next().is_some() {}
        }
        drop(listener);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while conns.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            conns.shutdown().await;
        }
    }

    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) {
        // A second handle on the socket, to set SO_LINGER 0 when a reset fault hits: the
        // connection then closes with an RST instead of an orderly FIN.
        let resets = self
            .state
            .config
            .faults
            .iter()
            .any(|f| f.kind == FaultKind::Reset);
        let twin = resets.then(|| SockRef::from(&stream).try_clone().ok());
        let ctx = Arc::new(ConnCtx {
            server: self.clone(),
            peer,
            twin: twin.flatten(),
            shutdown: shutdown.clone(),
        });
        match &self.tls {
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                if let Ok(Ok(tls)) = handshake.await {
                    serve_io(TokioIo::new(tls), ctx, shutdown).await;
                }
            }
            None => serve_io(TokioIo::new(stream), ctx, shutdown).await,
        }
    }
}

async fn serve_io<I>(io: I, ctx: Arc<ConnCtx>, mut shutdown: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move { ctx.handle(req).await }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A timer bounds how long a client may take to send its headers.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Resolves once shutdown was asked for (the watch guard is not kept).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The body of an answer: whole, or fed through a channel by the truncate and stall faults
/// (an error on the channel makes hyper cut the connection mid-body).
type Body = Either<Full<Bytes>, Channel<Bytes, io::Error>>;

/// The error that makes hyper drop a connection without an answer, or cut a body.
fn fault_error() -> io::Error {
    io::Error::other("connection cut by fault injection")
}

struct ConnCtx {
    server: Arc<Server>,
    peer: SocketAddr,
    /// The socket's second handle, when the config has reset faults.
    twin: Option<Socket>,
    shutdown: watch::Receiver<bool>,
}

impl ConnCtx {
    /// Answers one request, fault injection included; `Err` drops the connection.
    async fn handle<B>(&self, req: Request<B>) -> Result<Response<Body>, io::Error>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let state = &self.server.state;
        state.count(|s| &mut s.requests);
        if req.version() == http::Version::HTTP_2 {
            state.count(|s| &mut s.http2_requests);
        }
        let decision = state.decide_faults(req.uri().path());
        if decision.latency > Duration::ZERO {
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(decision.latency) => {}
                _ = stopped(&mut shutdown) => {}
            }
        }
        match decision.action {
            Some(FaultKind::Reset) => {
                if let Some(twin) = &self.twin {
                    let _ = twin.set_linger(Some(Duration::ZERO));
                }
                return Err(fault_error());
            }
            Some(FaultKind::Status(status)) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut resp = routes::error_response(
                    status,
                    "InternalServerError",
                    "The service encountered an internal error (injected by adu-emulator).",
                    SystemTime::now(),
                );
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    resp.headers_mut()
                        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                return Ok(resp.map(full));
            }
            _ => {}
        }

        let (parts, body) = req.into_parts();
        let max = state.config.max_body_bytes;
        let body = match Limited::new(body, max).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                let resp = routes::error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLarge",
                    &format!("The request body is larger than {max} bytes."),
                    SystemTime::now(),
                );
                return Ok(resp.map(full));
            }
            // The client went away mid-body.
            Err(_) => return Err(fault_error()),
        };
        let req = Request::from_parts(parts, body);
        let resp = routes::route(
            state,
            &self.server.base_url,
            &req,
            self.peer,
            SystemTime::now(),
        );
        tracing::debug!(method = %req.method(), uri = %req.uri(), status = resp.status().as_u16(), "request");

        match decision.action {
            Some(FaultKind::Truncate) => Ok(self.split_body(resp, None)),
            Some(FaultKind::Stall(d)) => Ok(self.split_body(resp, Some(d))),
            _ => Ok(resp.map(full)),
        }
    }

    /// Sends the headers (with the full `Content-Length`) and the first half
    /// of the body; then either cuts the body (`stall` is `None`: truncated body) or
    /// waits `stall` and sends the rest. Shutdown cuts a stalled body.
    fn split_body(&self, resp: Response<Bytes>, stall: Option<Duration>) -> Response<Body> {
        let (mut parts, bytes) = resp.into_parts();
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        let (mut tx, body) = Channel::new(2);
        let half = bytes.len() / 2;
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            if half > 0 && tx.send_data(bytes.slice(..half)).await.is_err() {
                return;
            }
            let rest_is_due = match stall {
                None => false,
                Some(d) => tokio::select! {
                    _ = tokio::time::sleep(d) => true,
                    _ = stopped(&mut shutdown) => false,
                },
            };
            if rest_is_due {
                let _ = tx.send_data(bytes.slice(half..)).await;
            } else {
                tx.abort(fault_error());
            }
        });
        Response::from_parts(parts, Either::Right(body))
    }
}

/// A whole body.
fn full(bytes: Bytes) -> Body {
    Either::Left(Full::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FaultRule;

    /// A connection's handler for `config`, without a socket; shutdown is asked for when the
    /// returned sender says so (or is dropped).
    fn handler(config: Config) -> (watch::Sender<bool>, ConnCtx) {
        let (stop, shutdown) = watch::channel(false);
        let server = Server {
            state: Arc::new(State::new(config, SystemTime::now())),
            base_url: "http://127.0.0.1:1".into(),
            tls: None,
        };
        let ctx = ConnCtx {
            server: Arc::new(server),
            peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 2)),
            twin: None,
            shutdown,
        };
        (stop, ctx)
    }

    #[tokio::test(start_paused = true)]
    async fn latency_delays_the_answer_by_its_length() {
        let latency = Duration::from_millis(300);
        let mut config = Config::default().with_fault(FaultRule::new(FaultKind::Latency(latency)));
        config.require_auth = false;
        config
            .operations
            .push(OperationSpec::succeeding().with_id("op"));
        let (_stop, ctx) = handler(config);
        let request =
            Request::get("/deviceUpdate/blue/updates/operations/op?api-version=2022-10-01")
                .body(Full::new(Bytes::new()))
                .unwrap();
        let started = tokio::time::Instant::now();
        let answer = ctx.handle(request).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(started.elapsed(), latency);
        assert_eq!(ctx.server.state.stats().faults_injected, 1);
    }

    #[test]
    fn base_urls() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(base_url_for(a, false), "http://127.0.0.1:8080");
        assert_eq!(base_url_for(a, true), "https://localhost:8080");
        let any: SocketAddr = "0.0.0.0:81".parse().unwrap();
        assert_eq!(base_url_for(any, false), "http://127.0.0.1:81");
        let v6: SocketAddr = "[::1]:82".parse().unwrap();
        assert_eq!(base_url_for(v6, false), "http://[::1]:82");
    }
}
