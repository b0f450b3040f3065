//! The HTTP seam: an object-safe one-method trait, implemented for every
//! `oauth2::AsyncHttpClient` whose future is `Send` (closures included), and
//! the adapter that drives `oauth2`'s requests through it.

use std::sync::{Arc, Mutex};

use crate::credential::BoxFuture;
use crate::error::{bounded_text, Error, HttpClientError, ServerError};
use crate::response::AzureErrorResponse;

/// An HTTP client for the token endpoint: one request in, one response out.
///
/// This is object safe (credentials hold an `Arc<dyn HttpClient>`, so they
/// are not generic and their futures are `Send`). It is implemented for
/// every `oauth2::AsyncHttpClient` whose future is `Send` and whose error is
/// `Send + Sync`, which includes closures such as
/// `|req| async move { Ok::<_, HttpClientError>(response) }`.
///
/// Implementations must not follow redirects, and should speak HTTP/1.1 and
/// apply a timeout.
pub trait HttpClient: Send + Sync {
    /// Sends one request and returns the response, whatever its status.
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpClientError>>;
}

impl<C> HttpClient for C
where
    C: for<'c> oauth2::AsyncHttpClient<'c> + Send + Sync,
    for<'c> <C as oauth2::AsyncHttpClient<'c>>::Future: Send,
    for<'c> <C as oauth2::AsyncHttpClient<'c>>::Error: Send + Sync,
{
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpClientError>> {
        let future = oauth2::AsyncHttpClient::call(self, request);
        Box::pin(async move { future.await.map_err(HttpClientError::new) })
    }
}

/// A shared, type-erased HTTP client.
pub type SharedHttpClient = Arc<dyn HttpClient>;

/// Remembers the status and body of the last response, which `oauth2`'s
/// errors do not keep (a non-JSON error body is reported with its status).
#[derive(Default)]
pub(crate) struct Recorder {
    last: Mutex<Option<(u16, Vec<u8>)>>,
}

impl Recorder {
    fn record(&self, status: u16, body: &[u8]) {
        let keep = &body[..body.len().min(crate::error::MAX_BODY_BYTES + 1)];
        if let Ok(mut last) = self.last.lock() {
            *last = Some((status, keep.to_vec()));
        }
    }

    fn last(&self) -> (u16, Vec<u8>) {
        self.last
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or((0, Vec::new()))
    }
}

/// The adapter handed to `oauth2`'s `request_async`. It owns what it uses
/// (no lifetime parameter): with a borrowed adapter, rustc cannot prove the
/// resulting future `Send` for every lifetime.
pub(crate) struct Adapter {
    http: SharedHttpClient,
    recorder: Arc<Recorder>,
}

pub(crate) fn adapter(http: &SharedHttpClient, recorder: &Arc<Recorder>) -> Adapter {
    Adapter {
        http: http.clone(),
        recorder: recorder.clone(),
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Adapter {
    type Error = HttpClientError;
    type Future = BoxFuture<'c, Result<http::Response<Vec<u8>>, HttpClientError>>;

    fn call(&'c self, request: http::Request<Vec<u8>>) -> Self::Future {
        Box::pin(async move {
            let response = self.http.call(request).await?;
            self.recorder
                .record(response.status().as_u16(), response.body());
            Ok(response)
        })
    }
}

/// Turns `oauth2`'s error into ours, using what the recorder saw.
pub(crate) fn map_request_error(
    error: oauth2::RequestTokenError<HttpClientError, AzureErrorResponse>,
    recorder: &Recorder,
) -> Error {
    let (status, body) = recorder.last();
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => Error::TokenEndpoint {
            status,
            response: Box::new(ServerError::from(response)),
        },
        oauth2::RequestTokenError::Request(source) => Error::Http { source },
        oauth2::RequestTokenError::Parse(parse, _) => Error::UnexpectedResponse {
            status,
            detail: if status == 200 {
                format!("the token response is not valid ({})", parse.path())
            } else {
                "the error body is not an OAuth2 error response".to_owned()
            },
            body: bounded_text(&body),
        },
        oauth2::RequestTokenError::Other(message) => Error::UnexpectedResponse {
            status,
            detail: lowercase_first(&message),
            body: bounded_text(&body),
        },
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
