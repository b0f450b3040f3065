//! A token endpoint on loopback (tokio and hyper, test-only) that records the
//! requests it receives and answers what the test says, and the `HttpClient`
//! the credentials reach it with.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use adu_auth::{HttpClientError, SharedHttpClient};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// One request as the server read it.
#[derive(Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    /// The form fields in the order sent.
    pub fields: Vec<(String, String)>,
}

impl Received {
    pub fn form(&self) -> HashMap<&str, &str> {
        (self.fields.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
    pub fn field(&self, name: &str) -> &str {
        self.form()
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("no `{name}` field"))
    }
}

type Answer = Arc<dyn Fn(&Received, usize) -> (u16, String) + Send + Sync>;

/// A token endpoint listening on 127.0.0.1.
pub struct TokenServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl TokenServer {
    /// Serves until the runtime ends; `answer` gets each request and its
    /// index and returns the status and the JSON body.
    pub async fn start(
        answer: impl Fn(&Received, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer: Answer = Arc::new(answer);
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, answer) = (log.clone(), answer.clone());
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let (log, answer) = (log.clone(), answer.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let received = Received {
                                method: parts.method.to_string(),
                                path: parts.uri.to_string(),
                                headers: parts.headers,
                                fields: url::form_urlencoded::parse(&body).into_owned().collect(),
                            };
                            let (status, body) = {
                                let mut log = log.lock().unwrap();
                                let answer = answer(&received, log.len());
                                log.push(received);
                                answer
                            };
                            let response = hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json; charset=utf-8")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        TokenServer { addr, received }
    }

    /// The authority host to configure (`http://127.0.0.1:PORT`).
    pub fn host(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> MutexGuard<'_, Vec<Received>> {
        self.received.lock().unwrap()
    }

    pub fn count(&self) -> usize {
        self.received().len()
    }
}

/// A token answer in the v2.0 shape.
pub fn token_json(token: &str) -> String {
    format!(
        r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{token}"}}"#
    )
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
