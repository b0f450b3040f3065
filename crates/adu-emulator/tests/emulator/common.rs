//! A small HTTP/1.1 client over real loopback connections, for the tests.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Builds a request; `headers` are (name, value) pairs.
pub fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::copy_from_slice(body))).unwrap()
}

/// Sends one request on a new plain connection and reads the whole answer.
pub async fn send_req(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Answer, BoxError> {
    exchange(tokio::net::TcpStream::connect(addr).await?, req).await
}

/// Sends one request over `io` and reads the whole answer.
async fn exchange<I>(io: I, req: Request<Full<Bytes>>) -> Result<Answer, BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// GET with a bearer token.
pub async fn get(addr: SocketAddr, path: &str, token: &str) -> Answer {
    let auth = format!("Bearer {token}");
    send_req(addr, request("GET", path, &[("authorization", &auth)], b""))
        .await
        .unwrap()
}

/// GET with a bearer token and extra headers.
pub async fn get_with(addr: SocketAddr, path: &str, token: &str, extra: &[(&str, &str)]) -> Answer {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    send_req(addr, request("GET", path, &headers, b""))
        .await
        .unwrap()
}

/// POST a form to the token endpoint.
pub async fn post_form(addr: SocketAddr, path: &str, form: &[(&str, &str)]) -> Answer {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace('%', "%25")
                    .replace('&', "%26")
                    .replace('+', "%2B")
                    .replace(' ', "+")
            )
        })
        .collect();
    let req = request(
        "POST",
        path,
        &[("content-type", "application/x-www-form-urlencoded")],
        body.join("&").as_bytes(),
    );
    send_req(addr, req).await.unwrap()
}

/// Sends one request over TLS, trusting only `pem`, to server name `localhost`.
pub async fn send_tls(
    addr: SocketAddr,
    pem: &str,
    req: Request<Full<Bytes>>,
) -> Result<Answer, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    exchange(tls, req).await
}

/// The current API's path for an operation.
pub fn current_path(op: &str) -> String {
    format!("/deviceUpdate/blue/updates/operations/{op}?api-version=2022-10-01")
}

/// The legacy API's path for an operation.
pub fn legacy_path(op: &str) -> String {
    format!("/deviceupdate/blue/v2/updates/operations/{op}")
}
