//! A managed identity endpoint on loopback (tokio and hyper, test-only): it records each
//! request and answers what the test says, headers included (Azure Arc's challenge); and
//! the `HttpClient` the credential reaches it with.
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use adu_auth::{BoxFuture, HttpClientError, SharedHttpClient};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// One request as the server read it.
#[derive(Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    /// The body's form fields (Cloud Shell's request is a form).
    pub form: Vec<(String, String)>,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        let found = self.query.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str())
    }
    pub fn field(&self, name: &str) -> Option<&str> {
        let found = self.form.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// What the server answers: status, extra headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

pub fn answer(status: u16, body: impl Into<String>) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}

/// A token answer as IMDS and App Service send it (`expires_on` a string of Unix seconds).
pub fn token(token: &str, expires_on: u64) -> Answer {
    answer(
        200,
        format!(
            r#"{{"access_token":"{token}","expires_on":"{expires_on}","expires_in":"86399","ext_expires_in":"86399","not_before":"1700000000","resource":"https://api.adu.microsoft.com","token_type":"Bearer","client_id":"c1"}}"#
        ),
    )
}

type Handler = Arc<dyn Fn(&Received, usize) -> Answer + Send + Sync>;

/// An identity endpoint listening on 127.0.0.1.
pub struct IdentityServer {
    pub addr: std::net::SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl IdentityServer {
    /// Serves until the runtime ends; `handler` gets each request and its index.
    pub async fn start(
        handler: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, handler) = (log.clone(), handler.clone());
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let (log, handler) = (log.clone(), handler.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let form = url::form_urlencoded::parse(&body).into_owned().collect();
                            let query = url::form_urlencoded::parse(
                                parts.uri.query().unwrap_or_default().as_bytes(),
                            )
                            .into_owned()
                            .collect();
                            let received = Received {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                query,
                                headers: parts.headers,
                                form,
                            };
                            let answer = {
                                let mut log = log.lock().unwrap();
                                let answer = handler(&received, log.len());
                                log.push(received);
                                answer
                            };
                            let mut response = hyper::Response::builder()
                                .status(answer.status)
                                .header("content-type", "application/json; charset=utf-8");
                            for (name, value) in answer.headers {
                                response = response.header(name, value);
                            }
                            let response = response.body(Full::new(Bytes::from(answer.body)));
                            Ok::<_, Infallible>(response.unwrap())
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        IdentityServer { addr, received }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> MutexGuard<'_, Vec<Received>> {
        self.received.lock().unwrap()
    }

    pub fn count(&self) -> usize {
        self.received().len()
    }
}

/// An HTTP/1.1 client over hyper, as the transport's (without TLS).
pub fn http_client() -> SharedHttpClient {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    Arc::new(move |request: http::Request<Vec<u8>>| {
        let client = client.clone();
        async move {
            let request = request.map(|body| Full::new(Bytes::from(body)));
            let response = client
                .request(request)
                .await
                .map_err(HttpClientError::new)?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(HttpClientError::new)?;
            Ok::<_, HttpClientError>(http::Response::from_parts(parts, body.to_bytes().to_vec()))
        }
    })
}

/// A pause that only records how long it was asked to be.
#[derive(Clone, Default)]
pub struct Pauses(Arc<Mutex<Vec<Duration>>>);

impl Pauses {
    pub fn sleep(&self) -> impl Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync + 'static {
        let log = self.0.clone();
        move |d| {
            log.lock().unwrap().push(d);
            Box::pin(std::future::ready(()))
        }
    }
    pub fn secs(&self) -> Vec<u64> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(Duration::as_secs)
            .collect()
    }
}
