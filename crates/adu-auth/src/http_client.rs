//! The HTTP seam: an object-safe one-method trait, implemented for every
//! `oauth2::AsyncHttpClient` whose future is `Send` (closures included), and
//! the adapter that drives `oauth2`'s requests through it.

use std::sync::{Arc, Mutex};

use crate::credential::BoxFuture;
use crate::error::{Error, HttpClientError, ServerError};
use crate::response::TOKEN_FIELDS;

/// An HTTP client for the token endpoint: one request in, one response out.
/// Object safe, so that credentials are not generic and their futures are
/// `Send`; implemented for every `oauth2::AsyncHttpClient` whose future is
/// `Send`, closures included. Implementations must not follow redirects, and
/// should apply a timeout.
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

impl std::fmt::Debug for dyn HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpClient")
    }
}

/// What an error says of an answer it could not read: never its body.
#[derive(Clone, Default)]
struct Seen {
    status: u16,
    content_type: Option<String>,
    body_len: usize,
}

/// The client handed to `oauth2`'s `request_async`: it sends through the
/// [`HttpClient`] and remembers the status and content type of the answer,
/// which `oauth2`'s errors do not keep. It owns what it uses (no lifetime
/// parameter): with a borrowed client, rustc cannot prove the resulting future
/// `Send` for every lifetime.
pub(crate) struct Adapter {
    http: SharedHttpClient,
    seen: Mutex<Seen>,
}

impl Adapter {
    pub(crate) fn new(http: &SharedHttpClient) -> Self {
        Adapter {
            http: http.clone(),
            seen: Mutex::default(),
        }
    }

    /// Turns `oauth2`'s error into ours. Only a parsed OAuth2 error shows what
    /// the server wrote (its fields, for the caller to scrub); any other answer
    /// shows its status, media type and length.
    pub(crate) fn error(
        &self,
        error: oauth2::RequestTokenError<HttpClientError, ServerError>,
    ) -> Error {
        let Seen {
            status,
            content_type,
            body_len,
        } = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let detail = match &error {
            // The path names the field; serde's message is left out because it
            // quotes the offending value. Only our own field names are shown:
            // any other path is the server's text.
            oauth2::RequestTokenError::Parse(parse, _) if status == 200 => {
                match parse.path().to_string() {
                    path if TOKEN_FIELDS.contains(&path.as_str()) => {
                        format!("not a valid token response ({path})")
                    }
                    _ => "not a valid token response".to_owned(),
                }
            }
            // `oauth2` reads only a `200` with a JSON body as a token response.
            _ if status == 200 => "a token response must be a JSON body".to_owned(),
            _ => "neither a token nor an OAuth2 error response".to_owned(),
        };
        match error {
            oauth2::RequestTokenError::ServerResponse(response) => Error::TokenEndpoint {
                status,
                response: Box::new(response),
            },
            oauth2::RequestTokenError::Request(source) => Error::Http { source },
            oauth2::RequestTokenError::Parse(..) | oauth2::RequestTokenError::Other(_) => {
                Error::UnexpectedResponse {
                    status,
                    content_type,
                    body_len,
                    detail,
                }
            }
        }
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Adapter {
    type Error = HttpClientError;
    type Future = BoxFuture<'c, Result<http::Response<Vec<u8>>, HttpClientError>>;

    fn call(&'c self, request: http::Request<Vec<u8>>) -> Self::Future {
        Box::pin(async move {
            let response = self.http.call(request).await?;
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(|v| v.trim().to_owned());
            if let Ok(mut seen) = self.seen.lock() {
                *seen = Seen {
                    status: response.status().as_u16(),
                    content_type,
                    body_len: response.body().len(),
                };
            }
            Ok(response)
        })
    }
}
