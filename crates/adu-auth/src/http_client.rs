//! The HTTP seam: an object-safe one-method trait, implemented for every
//! `oauth2::AsyncHttpClient` whose future is `Send` (closures included).

use std::sync::Arc;

use crate::credentials::BoxFuture;
use crate::error::HttpClientError;

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
