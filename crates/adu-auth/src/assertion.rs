//! Client assertions (RFC 7523 §2.2): the client credentials grant with a JWT
//! in place of a secret. The certificate and workload identity credentials are
//! this grant with an assertion of their own making.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use crate::authority::Authority;
use crate::cache::{TokenCache, TokenCacheOptions};
use crate::certificate::ClientCertificateCredential;
use crate::credentials::{answer_as_grant_credential, owned, BoxFuture, TokenCredential};
use crate::endpoint::{Grant, TokenEndpoint};
use crate::error::Error;
use crate::http_client::SharedHttpClient;
use crate::token::AccessToken;
use crate::workload::WorkloadIdentityCredential;

/// Makes the assertion for one token request, given the time of the request.
pub(crate) type AssertionFn =
    Arc<dyn Fn(SystemTime) -> BoxFuture<'static, Result<String, Error>> + Send + Sync>;

/// The client credentials grant authenticated by an assertion, with its cache.
pub(crate) struct AssertionGrant {
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) assertion: AssertionFn,
    pub(crate) cache: TokenCache,
}

impl AssertionGrant {
    pub(crate) fn new(endpoint: TokenEndpoint, assertion: AssertionFn) -> Self {
        AssertionGrant {
            endpoint,
            assertion,
            cache: TokenCache::new(TokenCacheOptions::default()),
        }
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let clock = &*self.cache.options.clock;
        let assertion = (self.assertion)(clock.now()).await?;
        if assertion.trim().is_empty() {
            return Err(Error::InvalidConfig {
                message: "the client assertion is empty: give the JWT to send".to_owned(),
            });
        }
        let grant = Grant::ClientAssertion(&assertion);
        let issued = self.endpoint.token(grant, &owned(scopes), clock).await?;
        Ok(issued.access)
    }
}

impl fmt::Debug for AssertionGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionGrant")
            .field("endpoint", &self.endpoint)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

answer_as_grant_credential!(
    ClientAssertionCredential,
    ClientCertificateCredential,
    WorkloadIdentityCredential
);

/// The client credentials flow authenticated by a client assertion (a JWT
/// the application obtains elsewhere, for example a federated token from
/// another identity provider), sent as `client_assertion` with
/// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
/// The callback runs once for each token request (tokens are cached per scope
/// set, as for a secret), so it can hand out a fresh assertion each time. The
/// assertion is never shown: `Debug` leaves it out, and errors replace any
/// echo of it with `[redacted]`.
///
/// ```
/// use std::sync::Arc;
/// use adu_auth::{scopes, Authority, ClientAssertionCredential, HttpClientError, TokenCredential};
///
/// let http = Arc::new(|request: http::Request<Vec<u8>>| async move {
///     let body = String::from_utf8(request.into_body()).unwrap();
///     assert!(body.contains("client_assertion=eyJhbGciOi.e30.c2ln"));
///     Ok::<_, HttpClientError>(
///         http::Response::builder()
///             .status(200)
///             .header("content-type", "application/json")
///             .body(br#"{"access_token":"eyJ0","token_type":"Bearer","expires_in":3599}"#.to_vec())
///             .unwrap(),
///     )
/// });
/// let credential = ClientAssertionCredential::new(
///     Authority::new("contoso.onmicrosoft.com")?,
///     "client-id",
///     || async { Ok("eyJhbGciOi.e30.c2ln".to_owned()) },
///     http,
/// );
/// let token = futures::executor::block_on(credential.get_token(&[scopes::CURRENT]))?;
/// assert_eq!(token.secret(), "eyJ0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ClientAssertionCredential(AssertionGrant);

impl ClientAssertionCredential {
    /// A credential for the application `client_id` whose assertion comes
    /// from the async `assertion` callback. An error it returns is the
    /// `get_token` error (for example [`Error::Http`] for a failed download,
    /// or [`Error::InvalidConfig`]).
    pub fn new<F, Fut>(
        authority: Authority,
        client_id: impl Into<String>,
        assertion: F,
        http: SharedHttpClient,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, Error>> + Send + 'static,
    {
        let assertion: AssertionFn = Arc::new(move |_| Box::pin(assertion()));
        let endpoint = TokenEndpoint::new(authority, client_id, http);
        ClientAssertionCredential(AssertionGrant::new(endpoint, assertion))
    }

    /// As [`new`](Self::new), with a callback that returns at once.
    pub fn from_fn(
        authority: Authority,
        client_id: impl Into<String>,
        assertion: impl Fn() -> Result<String, Error> + Send + Sync + 'static,
        http: SharedHttpClient,
    ) -> Self {
        Self::new(
            authority,
            client_id,
            move || std::future::ready(assertion()),
            http,
        )
    }
}
