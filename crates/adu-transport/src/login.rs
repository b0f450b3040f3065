//! A loopback listener that receives the browser's redirect at the end of an interactive login.
//!
//! `adu-auth` builds the authorize URL and parses what comes back; this module does the I/O in
//! between: it binds `127.0.0.1:0`, tells you the redirect URI to register, and waits for the
//! browser to arrive.
//!
//! - Authorization code flow: the code and state arrive in the query string;
//!   [`LoopbackRedirectListener::receive`] returns `path?query` as the browser requested it.
//! - Implicit flow: the token arrives in the URL *fragment*, which browsers never send to a
//!   server. The listener answers the first request with a tiny page whose script sends
//!   `location.hash` back as a second request; `receive` then returns `path#fragment`.
//!
//! Dropping the future returned by `receive` stops the listener (wrap it in
//! `tokio::time::timeout` to bound the wait).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::error::{TransportError, TransportErrorKind};

/// The largest fragment (or query) accepted back from the browser.
const MAX_CALLBACK_BYTES: usize = 16 * 1024;
/// Suffix of the path the implicit-flow page posts the fragment to.
const FRAGMENT_SUFFIX: &str = "/__fragment";

/// Which flow the browser is completing, and so where its answer arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectMode {
    /// The answer is in the query string (authorization code flow, and errors of any flow).
    Query,
    /// The answer is in the URL fragment (implicit flow with `response_mode=fragment`).
    Fragment,
}

/// A one-shot HTTP listener on `127.0.0.1` for the login redirect.
///
/// ```no_run
/// # async fn demo() -> Result<(), adu_transport::TransportError> {
/// use adu_transport::login::{LoopbackRedirectListener, RedirectMode};
///
/// let listener = LoopbackRedirectListener::bind("/callback").await?;
/// let redirect_uri = listener.redirect_uri(); // e.g. http://127.0.0.1:53123/callback
/// // ... open the authorize URL built by adu-auth with `redirect_uri` in a browser ...
/// let answer = listener.receive(RedirectMode::Query).await?; // "/callback?code=...&state=..."
/// # let _ = (redirect_uri, answer); Ok(()) }
/// ```
#[derive(Debug)]
pub struct LoopbackRedirectListener {
    listener: TcpListener,
    address: SocketAddr,
    path: String,
}

impl LoopbackRedirectListener {
    /// Binds `127.0.0.1` on a free port, for redirects to `path` (which must start with `/`).
    pub async fn bind(path: &str) -> Result<Self, TransportError> {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(TransportError::new(
                TransportErrorKind::InvalidConfiguration,
                "the redirect path must start with '/' and have no query or fragment",
            ));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            TransportError::with_source(
                TransportErrorKind::Connect,
                "cannot listen on 127.0.0.1",
                e,
            )
        })?;
        let address = listener.local_addr().map_err(|e| {
            TransportError::with_source(TransportErrorKind::Connect, "no local address", e)
        })?;
        Ok(Self {
            listener,
            address,
            path: path.to_owned(),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The redirect URI to register and to put in the authorize request.
    pub fn redirect_uri(&self) -> String {
        format!("http://{}{}", self.address, self.path)
    }

    /// Waits for the browser and returns what it brought back: `path?query` in
    /// [`RedirectMode::Query`], `path#fragment` in [`RedirectMode::Fragment`] (or `path?query`
    /// if the answer came in the query string anyway, as errors may).
    ///
    /// Requests to other paths get a 404 and are otherwise ignored, and so are requests to
    /// the redirect path that carry no answer (a `HEAD`, or in [`RedirectMode::Query`] a
    /// `GET` without a query). An answer that cannot be read (over 16 KiB, or not UTF-8)
    /// ends the wait with an error of kind [`TransportErrorKind::InvalidRequest`], rather
    /// than leaving it to time out.
    pub async fn receive(self, mode: RedirectMode) -> Result<String, TransportError> {
        let (found_tx, mut found_rx) = mpsc::channel::<Found>(1);
        let path = self.path.clone();
        loop {
            tokio::select! {
                found = found_rx.recv() => {
                    // The sender is kept alive below, so `None` cannot happen; treat it as a bug.
                    return found.unwrap_or_else(|| Err(TransportError::new(TransportErrorKind::Other, "the listener stopped")));
                }
                accepted = self.listener.accept() => {
                    let (stream, _) = accepted.map_err(|e| TransportError::with_source(
                        TransportErrorKind::Connection, "accepting the browser's connection failed", e))?;
                    let found_tx = found_tx.clone();
                    let path = path.clone();
                    let service = service_fn(move |request| {
                        let found_tx = found_tx.clone();
                        let path = path.clone();
                        async move { Ok::<_, Infallible>(handle(request, &path, mode, &found_tx).await) }
                    });
                    // Each connection is served on its own task; dropping `receive` drops the
                    // listener, and connection tasks end when the browser closes them.
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    }
}

/// What the browser brought back, or why it could not be read.
type Found = Result<String, TransportError>;

/// Ends the wait with an answer that could not be read, and tells the browser so.
fn unreadable(
    found: &mpsc::Sender<Found>,
    status: http::StatusCode,
    why: &str,
) -> http::Response<Full<Bytes>> {
    let _ = found.try_send(Err(TransportError::new(
        TransportErrorKind::InvalidRequest,
        format!("the browser's sign-in answer could not be read: {why}"),
    )));
    page(status, DONE_FAILED)
}

async fn handle(
    request: http::Request<Incoming>,
    path: &str,
    mode: RedirectMode,
    found: &mpsc::Sender<Found>,
) -> http::Response<Full<Bytes>> {
    let uri = request.uri().clone();
    let request_path = uri.path();
    let fragment_path = format!("{path}{FRAGMENT_SUFFIX}");
    if request_path == path {
        if request.method() != http::Method::GET {
            return page(http::StatusCode::METHOD_NOT_ALLOWED, "not an answer");
        }
        let query = uri.query().unwrap_or("");
        if !query.is_empty() {
            if query.len() > MAX_CALLBACK_BYTES {
                return unreadable(
                    found,
                    http::StatusCode::URI_TOO_LONG,
                    "its query is over 16 KiB",
                );
            }
            let _ = found.try_send(Ok(format!("{path}?{query}")));
            return page(http::StatusCode::OK, DONE_PAGE);
        }
        if mode == RedirectMode::Query {
            // The identity platform always answers with a query (a code, or an error).
            return page(
                http::StatusCode::BAD_REQUEST,
                "no sign-in answer in this request",
            );
        }
        return page(
            http::StatusCode::OK,
            &FRAGMENT_PAGE.replace("{TARGET}", &fragment_path),
        );
    }
    if mode == RedirectMode::Fragment
        && request_path == fragment_path
        && request.method() == http::Method::POST
    {
        let body = match Limited::new(request.into_body(), MAX_CALLBACK_BYTES)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return unreadable(
                    found,
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "its fragment is over 16 KiB, or the browser stopped sending it",
                )
            }
        };
        let Ok(fragment) = std::str::from_utf8(&body) else {
            return unreadable(
                found,
                http::StatusCode::BAD_REQUEST,
                "its fragment is not UTF-8",
            );
        };
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let _ = found.try_send(Ok(format!("{path}#{fragment}")));
        return page(http::StatusCode::OK, "ok");
    }
    page(http::StatusCode::NOT_FOUND, "not found")
}

fn page(status: http::StatusCode, body: &str) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

const DONE_PAGE: &str = "<!doctype html><html><head><title>Signed in</title></head>\
<body><p>Sign-in complete. You can close this window and return to the terminal.</p></body></html>";

const DONE_FAILED: &str = "<!doctype html><html><head><title>Sign-in failed</title></head>\
<body><p>The sign-in answer could not be read. Return to the terminal.</p></body></html>";

// The fragment never reaches a server, so this page sends it back with a second request.
const FRAGMENT_PAGE: &str = "<!doctype html><html><head><title>Signing in</title></head>\
<body><p id=\"m\">Completing sign-in...</p><script>\
fetch('{TARGET}', {method: 'POST', body: window.location.hash.substring(1)})\
.then(function () { document.getElementById('m').textContent = \
'Sign-in complete. You can close this window and return to the terminal.'; });\
</script></body></html>";
