//! `HyperTransport` behind an HTTP proxy: a CONNECT proxy written here, on loopback, in
//! front of the emulator.
//!
//! The proxied path needs a destination that is not loopback (loopback is never proxied), yet
//! every byte must stay on loopback. The destination is named `adu.test` (a reserved name,
//! RFC 6761), and the test proxy resolves that one name to 127.0.0.1, as a real proxy resolves
//! names for its clients; the transport itself never looks it up. TLS for `adu.test` ends at
//! a small front (a certificate for that name, made here) that passes the decrypted bytes to
//! the emulator over plain http, so the proxy carries the TLS records of a real client and
//! server. Where a test connects to `adu.test` directly (NO_PROXY), the transport's
//! `resolve` pins the name to 127.0.0.1.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use adu_emulator::{Config, OperationSpec, RunningEmulator, Timings};
use adu_transport::{
    DeviceUpdateClient, GetOperationOutcome, GetOptions, HttpTransport, HyperTransport,
    HyperTransportBuilder, OAuth2HttpClient, TransportErrorKind,
};
use support::{get, trusting, Reply, Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

const USER: &str = "proxy-user";
const PASSWORD: &str = "s3cret-proxy-pw";

/// What the test proxy does with a CONNECT.
#[derive(Clone, Copy)]
enum Answer {
    /// Opens the tunnel (to `adu.test` only), after checking the credentials if any are
    /// expected (407 when they do not match).
    Tunnel,
    /// Answers with this status and closes.
    Status(u16),
}

/// What the proxy saw.
#[derive(Default)]
struct Log {
    targets: Vec<String>,
    authorizations: Vec<Option<String>>,
    tunnels: usize,
    /// Every byte carried through the tunnels, both ways.
    carried: Vec<u8>,
}

/// A CONNECT proxy on 127.0.0.1.
struct Proxy {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl Proxy {
    /// Bound before it returns. `credentials` is the `Proxy-Authorization` value expected.
    async fn start(answer: Answer, credentials: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = log.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, answer, credentials.clone(), shared.clone()));
            }
        });
        Proxy { addr, log }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn url_with_credentials(&self, password: &str) -> String {
        format!("http://{USER}:{password}@{}", self.addr)
    }

    fn shown_with_credentials(&self) -> String {
        format!("http://***@{}", self.addr)
    }

    fn tunnels(&self) -> usize {
        self.log.lock().unwrap().tunnels
    }

    fn targets(&self) -> Vec<String> {
        self.log.lock().unwrap().targets.clone()
    }

    fn carried(&self, needle: &[u8]) -> bool {
        let log = self.log.lock().unwrap();
        !needle.is_empty() && log.carried.windows(needle.len()).any(|w| w == needle)
    }
}

async fn serve(
    mut client: TcpStream,
    answer: Answer,
    credentials: Option<String>,
    log: Arc<Mutex<Log>>,
) {
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    let mut lines = head.split("\r\n");
    let target = match lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .collect::<Vec<_>>()[..]
    {
        ["CONNECT", target, "HTTP/1.1"] => target.to_owned(),
        _ => return reply(&mut client, 400).await,
    };
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    {
        let mut log = log.lock().unwrap();
        log.targets.push(target.clone());
        log.authorizations.push(authorization.clone());
    }
    let status = match answer {
        Answer::Status(status) => status,
        Answer::Tunnel if credentials.is_some() && authorization != credentials => 407,
        Answer::Tunnel => 200,
    };
    // `adu.test` is this proxy's name for 127.0.0.1; any other name is refused, so nothing
    // leaves loopback.
    let upstream = match (status, target.strip_prefix("adu.test:")) {
        (200, Some(port)) => match port.parse::<u16>() {
            Ok(port) => TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.ok(),
            Err(_) => None,
        },
        _ => None,
    };
    let Some(mut upstream) = upstream else {
        return reply(&mut client, if status == 200 { 502 } else { status }).await;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    log.lock().unwrap().tunnels += 1;
    let mut tapped = Tap { inner: client, log };
    let _ = tokio::io::copy_bidirectional(&mut tapped, &mut upstream).await;
}

/// Reads a request head, up to its blank line and at most 8 KiB (then gives up). One byte at
/// a time, so nothing after the head is taken.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= 8 * 1024 {
            return None;
        }
        head.push(stream.read_u8().await.ok()?);
    }
    String::from_utf8(head).ok()
}

async fn reply(client: &mut TcpStream, status: u16) {
    let challenge = match status {
        407 => "proxy-authenticate: Basic realm=\"test\"\r\n",
        _ => "",
    };
    let head = format!("HTTP/1.1 {status} No\r\n{challenge}content-length: 0\r\n\r\n");
    let _ = client.write_all(head.as_bytes()).await;
}

/// The client side of a tunnel, recording every byte carried either way.
struct Tap {
    inner: TcpStream,
    log: Arc<Mutex<Log>>,
}

impl AsyncRead for Tap {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let log = &mut this.log.lock().unwrap().carried;
        log.extend_from_slice(&buf.filled()[before..]);
        polled
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            this.log
                .lock()
                .unwrap()
                .carried
                .extend_from_slice(&buf[..n]);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The emulator (plain http) behind a TLS front for `adu.test`.
struct Site {
    emulator: RunningEmulator,
    /// The front's port: `https://adu.test:{port}` is the endpoint.
    port: u16,
    /// The front's certificate, to trust.
    pem: String,
}

impl Site {
    async fn start() -> Self {
        let emulator = adu_emulator::start(Config::default()).await.unwrap();
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["adu.test".to_owned()]).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let backend = emulator.addr();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let (Ok(mut tls), Ok(mut plain)) = (
                        acceptor.accept(stream).await,
                        TcpStream::connect(backend).await,
                    ) else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Site {
            emulator,
            port,
            pem: cert.pem(),
        }
    }

    fn endpoint(&self) -> String {
        format!("https://adu.test:{}", self.port)
    }

    fn target(&self) -> String {
        format!("adu.test:{}", self.port)
    }

    /// A transport builder trusting the front, and no other root.
    fn transport(&self) -> HyperTransportBuilder {
        trusting(&self.pem)
    }

    /// A client for instance `blue` through `transport`, with one of the emulator's tokens.
    fn client(&self, transport: HyperTransport, token: &str) -> DeviceUpdateClient {
        let credential = Arc::new(adu_auth::StaticTokenCredential::from_secret(token));
        DeviceUpdateClient::builder(self.endpoint(), "blue", credential)
            .transport(Arc::new(transport))
            .retry_policy(support::fast_retries())
            .build()
            .unwrap()
    }

    /// Reads one operation through `client`.
    async fn read(&self, client: &DeviceUpdateClient) -> GetOperationOutcome {
        let id = self
            .emulator
            .add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
        client
            .get_operation_status(&id, &GetOptions::default())
            .await
            .unwrap()
    }
}

/// `Proxy-Authorization` for `proxy-user:s3cret-proxy-pw`, encoded by hand (RFC 7617).
const RIGHT: &str = "Basic cHJveHktdXNlcjpzM2NyZXQtcHJveHktcHc=";
/// `Proxy-Authorization` for `proxy-user:wrong-pw`.
const WRONG: &str = "Basic cHJveHktdXNlcjp3cm9uZy1wdw==";

#[tokio::test]
async fn https_goes_through_one_tunnel_with_tls_end_to_end() {
    let site = Site::start().await;
    let proxy = Proxy::start(Answer::Tunnel, None).await;
    let transport = site
        .transport()
        .proxy(&proxy.url(), "")
        .unwrap()
        .build()
        .unwrap();
    let token = site.emulator.issue_token();
    let client = site.client(transport, &token);

    assert!(matches!(
        site.read(&client).await,
        GetOperationOutcome::Operation(_)
    ));
    assert!(matches!(
        site.read(&client).await,
        GetOperationOutcome::Operation(_)
    ));

    // Two requests, one tunnel: the pooled connection to the origin is reused, as without a
    // proxy.
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(proxy.targets(), vec![site.target()]);
    // The proxy carried TLS records only: neither the token nor the request in clear.
    assert!(proxy.carried(b"\x16\x03"), "a TLS handshake went through");
    assert!(!proxy.carried(token.as_bytes()));
    assert!(!proxy.carried(b"Bearer"));
    assert!(!proxy.carried(b"/deviceUpdate/"));
    let stats = site.emulator.stats();
    assert_eq!((stats.status_requests, stats.unauthorized), (2, 0));
}

#[tokio::test]
async fn token_requests_go_through_the_proxy_too() {
    let site = Site::start().await;
    let proxy = Proxy::start(Answer::Tunnel, None).await;
    let transport = site
        .transport()
        .proxy(&proxy.url(), "")
        .unwrap()
        .build()
        .unwrap();
    let authority = adu_auth::Authority::new(site.emulator.credentials().tenant.clone())
        .unwrap()
        .with_host(&site.endpoint())
        .unwrap();
    let secret = site.emulator.credentials().client_secret.clone();
    let through = |http: adu_auth::SharedHttpClient| {
        adu_auth::ClientSecretCredential::new(
            authority.clone(),
            site.emulator.credentials().client_id.clone(),
            secret.clone(),
            http,
        )
    };
    // The transport's own token client, and any transport wrapped for `oauth2`.
    let credentials: [Arc<dyn adu_auth::TokenCredential>; 2] = [
        Arc::new(through(Arc::new(transport.clone()))),
        Arc::new(through(Arc::new(OAuth2HttpClient(Arc::new(
            transport.clone(),
        ))))),
    ];
    for credential in credentials {
        let client = DeviceUpdateClient::builder(site.endpoint(), "blue", credential)
            .transport(Arc::new(transport.clone()))
            .build()
            .unwrap();
        assert!(matches!(
            site.read(&client).await,
            GetOperationOutcome::Operation(_)
        ));
    }

    // The token client keeps its own connection: two tunnels, both to the site.
    assert_eq!(proxy.tunnels(), 2);
    assert!(proxy.targets().iter().all(|t| *t == site.target()));
    assert_eq!(site.emulator.stats().token_requests, 2);
    assert!(!proxy.carried(secret.as_bytes()));
    assert!(!proxy.carried(b"client_secret"));
}

#[tokio::test]
async fn proxy_credentials_are_sent_and_never_shown() {
    let site = Site::start().await;
    let proxy = Proxy::start(Answer::Tunnel, Some(RIGHT.to_owned())).await;
    let builder = site
        .transport()
        .proxy(&proxy.url_with_credentials(PASSWORD), "")
        .unwrap();
    let shown = format!("{builder:?}");
    assert!(shown.contains(&proxy.shown_with_credentials()), "{shown}");
    assert!(
        !shown.contains(PASSWORD) && !shown.contains(USER),
        "{shown}"
    );
    let transport = builder.build().unwrap();
    assert!(!format!("{transport:?}").contains(PASSWORD));

    let client = site.client(transport, &site.emulator.issue_token());
    assert!(matches!(
        site.read(&client).await,
        GetOperationOutcome::Operation(_)
    ));
    assert_eq!(
        proxy.log.lock().unwrap().authorizations,
        vec![Some(RIGHT.to_owned())]
    );
}

#[tokio::test]
async fn a_proxy_that_refuses_the_tunnel_says_so_and_what_to_check() {
    let site = Site::start().await;
    let wrong_password = Proxy::start(Answer::Tunnel, Some(RIGHT.to_owned())).await;
    let forbidden = Proxy::start(Answer::Status(403), None).await;
    let bad_gateway = Proxy::start(Answer::Status(502), None).await;
    for (proxy, detail) in [
        (&wrong_password, "authorization required"),
        (&forbidden, "unsuccessful"),
        (&bad_gateway, "unsuccessful"),
    ] {
        let transport = site
            .transport()
            .proxy(&proxy.url_with_credentials("wrong-pw"), "")
            .unwrap()
            .build()
            .unwrap();
        let error = transport
            .call(get(&format!("{}/x", site.endpoint())))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert_eq!(error.kind(), TransportErrorKind::Connect, "{message}");
        assert!(message.contains("refused to open a tunnel"), "{message}");
        assert!(
            message.contains(&proxy.shown_with_credentials()),
            "{message}"
        );
        assert!(message.contains(&site.target()), "{message}");
        assert!(message.contains(detail), "{message}");
        assert!(message.contains("user and password"), "{message}");
        assert!(!message.contains("wrong-pw") && !message.contains(USER));
        assert_eq!(proxy.tunnels(), 0);
    }
    assert_eq!(
        wrong_password.log.lock().unwrap().authorizations,
        vec![Some(WRONG.to_owned())]
    );
}

#[tokio::test]
async fn an_unreachable_proxy_is_named() {
    let site = Site::start().await;
    // A port nothing listens on: bound, then closed.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let transport = site
        .transport()
        .proxy(&format!("http://{USER}:{PASSWORD}@{closed}"), "")
        .unwrap()
        .build()
        .unwrap();
    let error = transport
        .call(get(&format!("{}/x", site.endpoint())))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{message}");
    assert!(
        message.contains(&format!("cannot reach the proxy http://***@{closed}")),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");
}

#[tokio::test]
async fn no_proxy_matches_connect_directly() {
    let site = Site::start().await;
    let proxy = Proxy::start(Answer::Tunnel, None).await;
    for no_proxy in ["adu.test", ".test", "test", "*", "contoso.com, adu.test"] {
        let transport = site
            .transport()
            .proxy(&proxy.url(), no_proxy)
            .unwrap()
            .resolve("adu.test", Ipv4Addr::LOCALHOST.into())
            .build()
            .unwrap();
        let client = site.client(transport, &site.emulator.issue_token());
        assert!(matches!(
            site.read(&client).await,
            GetOperationOutcome::Operation(_)
        ));
    }
    // A list that does not match goes through the proxy.
    let transport = site
        .transport()
        .proxy(&proxy.url(), "contoso.com, notadu.test, 10.0.0.0/8")
        .unwrap()
        .resolve("adu.test", Ipv4Addr::LOCALHOST.into())
        .build()
        .unwrap();
    let client = site.client(transport, &site.emulator.issue_token());
    assert!(matches!(
        site.read(&client).await,
        GetOperationOutcome::Operation(_)
    ));
    assert_eq!(proxy.targets(), vec![site.target()]);
}

#[tokio::test]
async fn turning_the_environment_off_replaces_an_explicit_proxy() {
    let site = Site::start().await;
    let proxy = Proxy::start(Answer::Tunnel, None).await;
    let transport = site
        .transport()
        .proxy(&proxy.url(), "")
        .unwrap()
        .proxy_from_env(false)
        .resolve("adu.test", Ipv4Addr::LOCALHOST.into())
        .build()
        .unwrap();
    let client = site.client(transport, &site.emulator.issue_token());
    assert!(matches!(
        site.read(&client).await,
        GetOperationOutcome::Operation(_)
    ));
    assert!(proxy.targets().is_empty());
}

#[tokio::test]
async fn loopback_destinations_are_never_proxied() {
    let proxy = Proxy::start(Answer::Tunnel, None).await;
    let server = Server::start(vec![Reply::new(204)]).await;
    let port = server.addr.port();
    let transport = support::plain_http_transport()
        .proxy(&proxy.url(), "")
        .unwrap()
        .build()
        .unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/a"),
        format!("http://localhost:{port}/b"),
        format!("http://LocalHost:{port}/c"),
    ] {
        let response = transport.call(get(&url)).await.unwrap();
        assert_eq!(response.status(), 204, "{url}");
    }
    assert_eq!(server.requests(), 3);
    assert!(proxy.targets().is_empty());
}

#[tokio::test]
async fn plain_http_goes_through_a_tunnel_at_the_default_port() {
    let proxy = Proxy::start(Answer::Tunnel, None).await;
    let server = Server::start(vec![Reply::new(204)]).await;
    let transport = support::plain_http_transport()
        .proxy(&proxy.url(), "")
        .unwrap()
        .build()
        .unwrap();
    let response = transport
        .call(get(&format!("http://adu.test:{}/a", server.addr.port())))
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let seen = server.seen();
    // Inside the tunnel the request is in origin form, as sent to a server.
    assert_eq!(seen[0].uri, "/a");
    assert_eq!(proxy.tunnels(), 1);

    // Without a port, CONNECT names http's (80), which this proxy does not open.
    let error = transport.call(get("http://adu.test/b")).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Connect);
    assert_eq!(
        proxy.targets(),
        vec![
            format!("adu.test:{}", server.addr.port()),
            "adu.test:80".to_owned()
        ]
    );
}

#[test]
fn a_proxy_url_must_be_http_with_a_host() {
    for url in [
        "socks5://proxy:1080",
        "https://proxy:3128",
        "http://",
        "http://user:hunter2@",
        "not a url",
    ] {
        let error = HyperTransport::builder().proxy(url, "").unwrap_err();
        assert_eq!(
            error.kind(),
            TransportErrorKind::InvalidConfiguration,
            "{url}"
        );
        assert!(!error.to_string().contains("hunter2"));
    }
    // No scheme means http, as curl reads it.
    assert!(HyperTransport::builder().proxy("proxy:3128", "").is_ok());
}

/// The variables, upper or lower case, as a default transport reads them. Tests never change
/// their own environment (they run in parallel), so this test runs itself again in a child
/// process with the variables set on the child alone; the child makes one request to the
/// site, and the proxy here counts its tunnels.
#[tokio::test]
async fn the_proxy_variables_are_honoured_by_default() {
    const CHILD: &str = "the_proxy_variables_are_honoured_by_default";
    if let (Ok(url), Ok(pem)) = (
        std::env::var("ADU_PROXY_TEST_URL"),
        std::env::var("ADU_PROXY_TEST_PEM"),
    ) {
        // The child. Direct connections reach `adu.test` through the pin; proxied ones
        // through the proxy, which resolves the name itself.
        let transport = trusting(&pem)
            .resolve("adu.test", Ipv4Addr::LOCALHOST.into())
            .build()
            .unwrap();
        transport.call(get(&url)).await.unwrap();
        return;
    }
    let site = Site::start().await;
    let proxy = Proxy::start(Answer::Tunnel, None).await;
    let cases: [(&[(&str, &str)], bool); 5] = [
        (&[("https_proxy", &proxy.url())], true),
        (&[("HTTPS_PROXY", &proxy.url())], true),
        (&[("ALL_PROXY", &proxy.url())], true),
        (
            &[
                ("HTTPS_PROXY", &proxy.url()),
                ("no_proxy", "contoso.com, .test"),
            ],
            false,
        ),
        // HTTP_PROXY is for plain-http destinations only.
        (&[("HTTP_PROXY", &proxy.url())], false),
    ];
    let mut tunnels = 0;
    for (variables, proxied) in cases {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args(["--exact", CHILD, "--nocapture"]);
        for name in [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
            // hyper-util ignores every proxy variable under CGI.
            "REQUEST_METHOD",
        ] {
            child.env_remove(name);
        }
        child
            .envs(variables.iter().copied())
            .env("ADU_PROXY_TEST_URL", format!("{}/x", site.endpoint()))
            .env("ADU_PROXY_TEST_PEM", &site.pem);
        let output = tokio::task::spawn_blocking(move || child.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            output.status.success(),
            "{variables:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The child ran the test: a filter that matched nothing would pass too.
        assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
        tunnels += usize::from(proxied);
        assert_eq!(proxy.tunnels(), tunnels, "{variables:?}");
    }
}
