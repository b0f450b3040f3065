//! The loopback listener that receives the browser's redirect at the end of `adu login`.
//!
//! `adu-auth` builds the authorize URL and parses what comes back; this module does the I/O in
//! between: it binds `127.0.0.1:0`, gives the redirect URI to register, and waits for the
//! browser.
//!
//! - Authorization code flow: the code and state arrive in the query string, and
//!   [`RedirectListener::receive`] returns `/callback?query` as the browser requested it.
//! - Implicit flow: the token arrives in the URL *fragment*, which browsers never send to a
//!   server. The listener answers the first request with a tiny page whose script sends
//!   `location.hash` back as a second request; `receive` then returns `/callback#fragment`.
//!
//! Dropping the future returned by `receive` stops the listener (the caller bounds the wait
//! with `tokio::time::timeout`).

use std::convert::Infallible;

use adu_transport::http::{self, header, HeaderValue, Method, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::args::LoginFlow;
use crate::exit::{Exit, Failure};

/// The path of the redirect URI.
pub const REDIRECT_PATH: &str = "/callback";
/// Where the implicit flow's page posts the fragment.
const FRAGMENT_PATH: &str = "/callback/__fragment";
/// The largest fragment (or query) accepted back from the browser.
const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// The failure to listen on `127.0.0.1` (or to accept the browser's connection).
fn listen_failure(error: std::io::Error) -> Failure {
    Failure::new(
        Exit::Usage,
        format!("cannot listen for the browser's redirect on 127.0.0.1: {error}"),
        "allow listening on 127.0.0.1",
    )
}

/// A one-shot HTTP listener on `127.0.0.1` for the sign-in redirect.
#[derive(Debug)]
pub struct RedirectListener {
    listener: TcpListener,
    redirect_uri: String,
}

impl RedirectListener {
    /// Binds `127.0.0.1` on a free port.
    pub async fn bind() -> Result<Self, Failure> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(listen_failure)?;
        let address = listener.local_addr().map_err(listen_failure)?;
        let redirect_uri = format!("http://{address}{REDIRECT_PATH}");
        Ok(Self {
            listener,
            redirect_uri,
        })
    }

    /// The redirect URI to put in the authorize request: `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the browser and returns what it brought back: `/callback?query` after the
    /// authorization code flow, `/callback#fragment` after the implicit flow (or
    /// `/callback?query` if the answer came in the query string anyway, as errors do).
    ///
    /// Requests to other paths get a 404 and are otherwise ignored, and so are requests to the
    /// redirect path that carry no answer (a `HEAD`, or for the authorization code flow a `GET`
    /// without a query). An answer that cannot be read (over 16 KiB, or not UTF-8) ends the
    /// wait with an authentication failure rather than leaving it to time out.
    pub async fn receive(self, flow: LoginFlow) -> Result<String, Failure> {
        let (found_tx, mut found_rx) = mpsc::channel::<Found>(1);
        loop {
            tokio::select! {
                // `found_tx` lives in this loop, so the channel never closes while it runs.
                Some(found) = found_rx.recv() => return found,
                accepted = self.listener.accept() => {
                    let (stream, _) = accepted.map_err(listen_failure)?;
                    let found_tx = found_tx.clone();
                    let service = service_fn(move |request| {
                        let found_tx = found_tx.clone();
                        async move { Ok::<_, Infallible>(handle(request, flow, &found_tx).await) }
                    });
                    // Each connection is served on its own task, which ends when the browser
                    // closes the connection (every answer says `Connection: close`).
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
type Found = Result<String, Failure>;

type Page = http::Response<Full<Bytes>>;

/// Ends the wait with an answer that could not be read, and tells the browser so.
fn unreadable(found: &mpsc::Sender<Found>, status: StatusCode, why: &'static str) -> Page {
    let _ = found.try_send(Err(Failure::new(
        Exit::Auth,
        format!("the browser's sign-in answer could not be read: {why}"),
        "run `adu login` again",
    )));
    page(status, DONE_FAILED)
}

async fn handle(
    request: http::Request<Incoming>,
    flow: LoginFlow,
    found: &mpsc::Sender<Found>,
) -> Page {
    let path = request.uri().path();
    if path == REDIRECT_PATH {
        if request.method() != Method::GET {
            return page(StatusCode::METHOD_NOT_ALLOWED, "not an answer");
        }
        match request.uri().query().filter(|q| !q.is_empty()) {
            Some(query) if query.len() > MAX_CALLBACK_BYTES => {
                unreadable(found, StatusCode::URI_TOO_LONG, "its query is over 16 KiB")
            }
            Some(query) => {
                let _ = found.try_send(Ok(format!("{REDIRECT_PATH}?{query}")));
                page(StatusCode::OK, DONE_PAGE)
            }
            // The identity platform always answers the code flow with a query (a code or
            // an error).
            None if flow == LoginFlow::AuthCode => {
                page(StatusCode::BAD_REQUEST, "no sign-in answer in this request")
            }
            None => page(StatusCode::OK, FRAGMENT_PAGE),
        }
    } else if flow == LoginFlow::Implicit
        && path == FRAGMENT_PATH
        && request.method() == Method::POST
    {
        let Ok(body) = Limited::new(request.into_body(), MAX_CALLBACK_BYTES)
            .collect()
            .await
        else {
            return unreadable(
                found,
                StatusCode::PAYLOAD_TOO_LARGE,
                "its fragment is over 16 KiB, or the browser stopped sending it",
            );
        };
        let Ok(fragment) = String::from_utf8(body.to_bytes().into()) else {
            return unreadable(found, StatusCode::BAD_REQUEST, "its fragment is not UTF-8");
        };
        let fragment = fragment.strip_prefix('#').unwrap_or(&fragment);
        let _ = found.try_send(Ok(format!("{REDIRECT_PATH}#{fragment}")));
        page(StatusCode::OK, "ok")
    } else {
        page(StatusCode::NOT_FOUND, "not found")
    }
}

fn page(status: StatusCode, body: &'static str) -> Page {
    let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

const DONE_PAGE: &str = "<!doctype html><html><head><title>Signed in</title></head>\
<body><p>Sign-in complete. You can close this window and return to the terminal.</p></body></html>";

const DONE_FAILED: &str = "<!doctype html><html><head><title>Sign-in failed</title></head>\
<body><p>The sign-in answer could not be read. Return to the terminal.</p></body></html>";

// The fragment never reaches a server, so this page sends it back with a second request.
const FRAGMENT_PAGE: &str = "<!doctype html><html><head><title>Signing in</title></head>\
<body><p id=\"m\">Completing sign-in...</p><script>\
fetch('/callback/__fragment', {method: 'POST', body: window.location.hash.substring(1)})\
.then(function () { document.getElementById('m').textContent = \
'Sign-in complete. You can close this window and return to the terminal.'; });\
</script></body></html>";

#[cfg(test)]
mod tests {
    use super::*;
    use adu_transport::{HttpTransport, HyperTransport};

    /// A plain HTTP client playing the browser.
    async fn browser(method: Method, uri: &str, body: &[u8]) -> http::Response<Vec<u8>> {
        let request = http::Request::builder().method(method).uri(uri);
        HyperTransport::builder()
            .build()
            .unwrap()
            .call(request.body(body.to_vec()).unwrap())
            .await
            .unwrap()
    }

    async fn listen(flow: LoginFlow) -> (String, tokio::task::JoinHandle<Result<String, Failure>>) {
        let listener = RedirectListener::bind().await.unwrap();
        let uri = listener.redirect_uri().to_owned();
        (uri, tokio::spawn(listener.receive(flow)))
    }

    #[tokio::test]
    async fn the_authorization_code_arrives_in_the_query() {
        let (uri, waiting) = listen(LoginFlow::AuthCode).await;
        assert!(
            uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"),
            "{uri}"
        );
        // Other paths are answered 404 and ignored.
        let favicon = browser(Method::GET, &uri.replace("/callback", "/favicon.ico"), b"").await;
        assert_eq!(favicon.status(), 404);
        let page = browser(Method::GET, &format!("{uri}?code=abc&state=xyz"), b"").await;
        assert_eq!(page.status(), 200);
        assert!(String::from_utf8_lossy(page.body()).contains("close this window"));
        assert_eq!(
            waiting.await.unwrap().unwrap(),
            "/callback?code=abc&state=xyz"
        );
    }

    #[tokio::test]
    async fn the_implicit_token_comes_back_from_the_fragment_page() {
        let (uri, waiting) = listen(LoginFlow::Implicit).await;
        // The browser drops the fragment; the listener answers with a page that posts it back.
        let page = browser(Method::GET, &uri, b"").await;
        assert_eq!(page.status(), 200);
        let html = String::from_utf8(page.body().clone()).unwrap();
        assert!(html.contains("location.hash"), "{html}");
        assert!(html.contains("/callback/__fragment"), "{html}");
        // What the page's script does.
        let fragment = b"access_token=tok&token_type=Bearer&state=s1&expires_in=3599";
        let posted = browser(Method::POST, &format!("{uri}/__fragment"), fragment).await;
        assert_eq!(posted.status(), 200);
        assert_eq!(
            waiting.await.unwrap().unwrap(),
            "/callback#access_token=tok&token_type=Bearer&state=s1&expires_in=3599"
        );
    }

    #[tokio::test]
    async fn an_error_in_the_query_ends_an_implicit_login_too() {
        let (uri, waiting) = listen(LoginFlow::Implicit).await;
        browser(
            Method::GET,
            &format!("{uri}?error=access_denied&state=s1"),
            b"",
        )
        .await;
        assert_eq!(
            waiting.await.unwrap().unwrap(),
            "/callback?error=access_denied&state=s1"
        );
    }

    #[tokio::test]
    async fn requests_without_an_answer_do_not_end_the_wait() {
        let (uri, waiting) = listen(LoginFlow::AuthCode).await;
        assert_eq!(browser(Method::HEAD, &uri, b"").await.status(), 405);
        assert_eq!(browser(Method::GET, &uri, b"").await.status(), 400);
        // Only the answer below ends the wait, so it is what the wait returns.
        browser(Method::GET, &format!("{uri}?code=c&state=s"), b"").await;
        assert_eq!(waiting.await.unwrap().unwrap(), "/callback?code=c&state=s");
    }

    #[tokio::test]
    async fn an_answer_that_cannot_be_read_ends_the_wait_with_an_error() {
        // A query over the bound.
        let (uri, waiting) = listen(LoginFlow::AuthCode).await;
        let long = format!("{uri}?code={}", "c".repeat(17 * 1024));
        assert_eq!(browser(Method::GET, &long, b"").await.status(), 414);
        let error = waiting.await.unwrap().unwrap_err();
        assert_eq!(error.exit, Exit::Auth);
        assert!(error.message.contains("16 KiB"), "{error:?}");

        // A fragment that is not UTF-8.
        let (uri, waiting) = listen(LoginFlow::Implicit).await;
        let posted = browser(Method::POST, &format!("{uri}/__fragment"), &[0xff, 0xfe]).await;
        assert_eq!(posted.status(), 400);
        let error = waiting.await.unwrap().unwrap_err();
        assert!(error.message.contains("not UTF-8"), "{error:?}");
    }
}
