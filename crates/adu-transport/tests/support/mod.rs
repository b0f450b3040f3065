//! Loopback servers for the transport tests: a scripted hyper server, raw TCP servers for
//! misbehaviour, and a TLS server with a self-signed certificate.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use adu_auth::{AccessToken, BoxFuture, TokenCredential};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub uri: http::Uri,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn json(status: u16, body: &str) -> Self {
        Self::new(status)
            .header("content-type", "application/json")
            .body(body)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// A hyper HTTP/1.1 server on 127.0.0.1 answering from a script (the last reply repeats).
/// Bound before `start` returns, so it is ready as soon as it exists. Its task ends with the
/// test's runtime.
pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

impl Server {
    pub async fn start(script: Vec<Reply>) -> Self {
        Self::start_with(move |index, _seen| {
            script
                .get(index)
                .or(script.last())
                .cloned()
                .unwrap_or(Reply::new(500))
        })
        .await
    }

    /// `answer(index, request)` computes the reply for the `index`-th request.
    pub async fn start_with(
        answer: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(answer);
        let (seen2, connections2) = (seen.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                connections2.fetch_add(1, Ordering::SeqCst);
                let seen = seen2.clone();
                let answer = answer.clone();
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    let answer = answer.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes().to_vec());
                        let record = Seen {
                            method: parts.method,
                            uri: parts.uri,
                            version: parts.version,
                            headers: parts.headers,
                            body: body.unwrap_or_default(),
                        };
                        let index = {
                            let mut all = seen.lock().unwrap();
                            all.push(record.clone());
                            all.len() - 1
                        };
                        let reply = answer(index, &record);
                        let mut response = http::Response::new(Full::new(Bytes::from(reply.body)));
                        *response.status_mut() = http::StatusCode::from_u16(reply.status).unwrap();
                        for (name, value) in reply.headers {
                            response.headers_mut().append(
                                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                                http::HeaderValue::from_str(&value).unwrap(),
                            );
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            addr,
            seen,
            connections,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A raw TCP server: `handle` gets each accepted stream. Returns the address and a counter of
/// accepted connections.
pub async fn raw_server<F, Fut>(handle: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let count2 = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            count2.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(stream));
        }
    });
    (addr, count)
}

/// Reads one request head (up to the blank line).
pub async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    head
}

/// Reads the request, then closes the connection without answering.
pub async fn reset_after_request(mut stream: TcpStream) {
    let _ = read_head(&mut stream).await;
    drop(stream);
}

/// Sends a response head announcing 100 bytes and 10 of them, then stalls (until the client
/// closes the connection).
pub async fn stall_mid_body(mut stream: TcpStream) {
    let _ = read_head(&mut stream).await;
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"operati")
        .await;
    let _ = stream.flush().await;
    let mut rest = [0u8; 64];
    // Wait for the client to go away.
    while let Ok(n) = stream.read(&mut rest).await {
        if n == 0 {
            break;
        }
    }
}

/// Reads the request and never answers (until the client closes the connection).
pub async fn never_answer(mut stream: TcpStream) {
    let _ = read_head(&mut stream).await;
    let mut rest = [0u8; 64];
    while let Ok(n) = stream.read(&mut rest).await {
        if n == 0 {
            break;
        }
    }
}

/// A credential that counts its calls and invalidations, and hands out `token-N`.
#[derive(Default)]
pub struct CountingCredential {
    pub calls: AtomicUsize,
    pub invalidations: AtomicUsize,
}

impl CountingCredential {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn invalidations(&self) -> usize {
        self.invalidations.load(Ordering::SeqCst)
    }
}

impl TokenCredential for CountingCredential {
    fn get_token<'a>(
        &'a self,
        _scopes: &'a [&'a str],
    ) -> BoxFuture<'a, Result<AccessToken, adu_auth::Error>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            Ok(AccessToken::new(
                format!("token-{n}"),
                SystemTime::now() + Duration::from_secs(3600),
            ))
        })
    }

    fn invalidate(&self, _scopes: &[&str]) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }
}

/// A `HyperTransport` builder for the plain-http loopback servers of these tests. Plain http
/// needs no root, but a `HyperTransport` refuses an empty root store, so one unrelated
/// self-signed root is added (whatever roots the machine has or lacks).
pub fn plain_http_transport() -> adu_transport::HyperTransportBuilder {
    trusting(&self_signed().0)
}

/// A `HyperTransport` builder that trusts the certificates in `pem` and nothing else.
pub fn trusting(pem: &str) -> adu_transport::HyperTransportBuilder {
    adu_transport::HyperTransport::builder()
        .native_roots(false)
        .add_root_certificates_pem(pem.as_bytes())
        .unwrap()
}

/// A GET of `url` with an empty body, for calling a transport directly.
pub fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url).body(Vec::new()).unwrap()
}

/// The default retry policy with millisecond backoffs.
pub fn fast_retries() -> adu_transport::RetryPolicy {
    adu_transport::RetryPolicy::default()
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: (cert PEM, cert DER, key DER).
pub fn self_signed() -> (String, Vec<u8>, Vec<u8>) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    (cert.pem(), cert.der().to_vec(), signing_key.serialize_der())
}

/// A TLS server (rustls, ring) with the given certificate, answering every request with
/// `reply` over HTTP/1.1. Returns its address.
pub async fn tls_server(cert_der: Vec<u8>, key_der: Vec<u8>, reply: Reply) -> SocketAddr {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert_der)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |_request: http::Request<hyper::body::Incoming>| {
                    let reply = reply.clone();
                    async move {
                        let mut response = http::Response::new(Full::new(Bytes::from(reply.body)));
                        *response.status_mut() = http::StatusCode::from_u16(reply.status).unwrap();
                        for (name, value) in reply.headers {
                            response.headers_mut().append(
                                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                                http::HeaderValue::from_str(&value).unwrap(),
                            );
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

/// Bodies of the two API versions.
pub fn current_body(id: &str, status: &str, etag: &str) -> String {
    format!(
        r#"{{"operationId":"{id}","status":"{status}","update":{{"updateId":{{"provider":"contoso","name":"toaster","version":"1.0.0"}}}},"resourceLocation":"/deviceUpdate/blue/updates/providers/contoso/names/toaster/versions/1.0.0?api-version=2022-10-01","traceId":"2b0ea0a3b0a1d2c4b4e9b5f6a7c8d9e0","lastActionDateTime":"2022-01-05T18:25:01.5555555+00:00","createdDateTime":"2022-01-05T18:24:39.1234567Z","etag":"\"{etag}\""}}"#
    )
}

pub fn legacy_body(id: &str, status: &str, etag: &str) -> String {
    format!(
        r#"{{"operationId":"{id}","status":"{status}","updateId":{{"provider":"contoso","name":"toaster","version":"1.0.0"}},"resourceLocation":"/deviceupdate/blue/v2/updates/providers/contoso/names/toaster/versions/1.0.0","traceId":"2b0ea0a3b0a1d2c4b4e9b5f6a7c8d9e0","lastActionDateTime":"2022-01-05T18:25:01.5555555+00:00","createdDateTime":"2022-01-05T18:24:39.1234567Z","etag":"\"{etag}\""}}"#
    )
}

pub fn failed_body(id: &str) -> String {
    format!(
        r#"{{"operationId":"{id}","status":"Failed","update":{{"updateId":{{"provider":"contoso","name":"toaster","version":"1.0.0"}}}},"error":{{"code":"ImportFailed","message":"The import failed.","occurredDateTime":"2022-01-05T18:25:01Z","innerError":{{"code":"DownloadFailed","message":"Could not download.","errorDetail":"Storage returned 403 for the blob.","innerError":{{"code":"Forbidden","errorDetail":"AuthorizationPermissionMismatch"}}}}}},"traceId":"feedfacefeedfacefeedfacefeedface","lastActionDateTime":"2022-01-05T18:25:01Z","createdDateTime":"2022-01-05T18:24:39Z","etag":"\"f\""}}"#
    )
}

/// A client builder for instance `blue` of `emulator`, with one of the emulator's tokens.
pub fn emulator_client(
    emulator: &adu_emulator::RunningEmulator,
) -> adu_transport::DeviceUpdateClientBuilder {
    let credential = Arc::new(adu_auth::StaticTokenCredential::from_secret(
        emulator.issue_token(),
    ));
    adu_transport::DeviceUpdateClient::builder(emulator.base_url(), "blue", credential)
}

/// A `HyperTransport` builder that trusts the certificate of `emulator` (serving https).
pub fn trusting_emulator(
    emulator: &adu_emulator::RunningEmulator,
) -> adu_transport::HyperTransportBuilder {
    trusting(
        emulator
            .certificate_pem()
            .expect("a certificate: the emulator serves https"),
    )
}

/// The client-credentials credential of `emulator`'s identity endpoint, asking for tokens
/// through `http`.
pub fn emulator_credential(
    emulator: &adu_emulator::RunningEmulator,
    http: adu_transport::HyperTransport,
) -> adu_auth::ClientSecretCredential {
    adu_auth::ClientSecretCredential::new(
        adu_auth::Authority::new(emulator.credentials().tenant.clone())
            .unwrap()
            .with_host(&emulator.authority_url())
            .unwrap(),
        emulator.credentials().client_id.clone(),
        emulator.credentials().client_secret.clone(),
        Arc::new(http),
    )
}
