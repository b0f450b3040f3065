//! The device authorization grant (RFC 8628), for machines without a browser: the user
//! opens a verification URL elsewhere and enters a short code, while this side polls the
//! token endpoint.

use std::fmt;
use std::time::Duration;

use oauth2::{DeviceAuthorizationUrl, StandardDeviceAuthorizationResponse};

use crate::authority::{Authority, EndpointVersion};
use crate::cache::TokenCacheOptions;
use crate::credentials::{owned, BoxFuture, InteractiveCredential};
use crate::endpoint::{Adapter, TokenEndpoint};
use crate::error::{Error, ServerError};
use crate::http_client::SharedHttpClient;
use crate::redact::Scrubber;

/// The longest pause between polls an answer may ask for (the identity platform asks for 5 s).
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// The device authorization grant of RFC 8628 at `/{tenant}/oauth2/v2.0/devicecode`:
/// [`start`](Self::start) gets a user code and a verification URL to show, and
/// [`finish`](Self::finish) polls the token endpoint at the interval the server gave
/// (`authorization_pending` goes on, `slow_down` adds five seconds) until the user has signed
/// in, declined (`authorization_declined`, `access_denied`) or the code expired
/// (`expired_token`). The result refreshes like an authorization-code sign-in.
///
/// ```no_run
/// use std::sync::Arc;
/// use adu_auth::{scopes, Authority, DeviceCodeFlow};
/// # let http: adu_auth::SharedHttpClient = Arc::new(|_: http::Request<Vec<u8>>| async {
/// #     Err::<http::Response<Vec<u8>>, _>(adu_auth::HttpClientError::new("offline")) });
/// let flow = DeviceCodeFlow::new(Authority::new("organizations")?, "client-id", http)?;
/// # futures::executor::block_on(async {
/// let code = flow.start(&[scopes::CURRENT]).await?;
/// println!("Open {} and enter {}", code.verification_uri(), code.user_code());
/// let sign_in = flow
///     .finish(code, |pause| Box::pin(futures_timer_stand_in(pause)))
///     .await?;
/// # Ok::<(), adu_auth::Error>(()) })?;
/// # async fn futures_timer_stand_in(_: std::time::Duration) {}
/// # Ok::<(), adu_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct DeviceCodeFlow {
    endpoint: TokenEndpoint,
    device_url: DeviceAuthorizationUrl,
    cache_options: TokenCacheOptions,
}

/// A started device sign-in: what to show the user. `Debug` never shows the device code.
pub struct DeviceCode {
    response: StandardDeviceAuthorizationResponse,
    scopes: Vec<String>,
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCode")
            .field("user_code", &self.user_code())
            .field("verification_uri", &self.verification_uri())
            .field("expires_in", &self.expires_in())
            .finish_non_exhaustive()
    }
}

impl DeviceCode {
    /// The code the user enters at the verification URL.
    pub fn user_code(&self) -> &str {
        self.response.user_code().secret()
    }

    /// Where the user signs in.
    pub fn verification_uri(&self) -> &str {
        self.response.verification_uri()
    }

    /// How long the codes are good for.
    pub fn expires_in(&self) -> Duration {
        self.response.expires_in()
    }

    /// How long to wait between polls, as the server asked (5 s when it did not say).
    pub fn interval(&self) -> Duration {
        self.response.interval()
    }
}

impl DeviceCodeFlow {
    /// A flow for the public client `client_id` at `authority` (v2.0 endpoints only: the
    /// v1 device code endpoint takes a resource, not scopes).
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        if authority.version() != EndpointVersion::V2 {
            return Err(Error::InvalidConfig {
                message: "the device code flow needs the v2.0 endpoints".to_owned(),
            });
        }
        let mut url = authority.token_url();
        url.path_segments_mut()
            .map_err(|()| Error::InvalidConfig {
                message: "the authority cannot have a device code endpoint".to_owned(),
            })?
            .pop()
            .push("devicecode");
        Ok(DeviceCodeFlow {
            endpoint: TokenEndpoint::new(authority, client_id, http),
            device_url: DeviceAuthorizationUrl::from_url(url),
            cache_options: TokenCacheOptions::default(),
        })
    }

    /// Replaces the options of the resulting credential's cache (clock, refresh margin).
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache_options = options;
        self
    }

    /// Asks the device code endpoint for codes for `scopes` (and `offline_access`, so that
    /// the sign-in comes with a refresh token). An answer asking for more than five minutes
    /// between polls is refused with [`Error::UnexpectedResponse`].
    pub async fn start(&self, scopes: &[&str]) -> Result<DeviceCode, Error> {
        let scopes = owned(scopes);
        let mut requested = scopes.clone();
        requested.push("offline_access".to_owned());
        let scope = self.endpoint.authority.scope_param(&requested)?;
        let client = self
            .endpoint
            .oauth_client(None)
            .set_device_authorization_url(self.device_url.clone());
        let adapter = Adapter::new(self.endpoint.http.clone());
        let response = scope
            .into_iter()
            .fold(client.exchange_device_code(), |r, (name, value)| {
                r.add_extra_param(name, value)
            })
            .request_async(&adapter)
            .await
            .map_err(|error| adapter.error(error))?;
        // `oauth2` adds five seconds to the interval at each `slow_down`, which past
        // `u64::MAX` seconds panics; no endpoint asks for minutes between polls.
        if response.interval() > MAX_POLL_INTERVAL {
            return Err(adapter.unexpected(format!(
                "the device code endpoint asks for {} s between polls, more than {} s",
                response.interval().as_secs(),
                MAX_POLL_INTERVAL.as_secs()
            )));
        }
        Ok(DeviceCode { response, scopes })
    }

    /// Polls the token endpoint until the user has signed in with `code` (pausing with
    /// `sleep` between polls), and returns the sign-in. Errors keep what the server said,
    /// the device code scrubbed.
    pub async fn finish(
        &self,
        code: DeviceCode,
        sleep: impl Fn(Duration) -> BoxFuture<'static, ()>,
    ) -> Result<InteractiveCredential, Error> {
        let client = self.endpoint.oauth_client(None);
        let adapter = Adapter::new(self.endpoint.http.clone());
        let clock = self.cache_options.clock.clone();
        let scrubber = Scrubber::new(&[code.response.device_code().secret().to_owned()]);
        let answer = client
            .exchange_device_access_token(&code.response)
            .request_async(&adapter, sleep, None)
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(error) => return Err(adapter.error(from_device_error(error)).scrub(&scrubber)),
        };
        let issued = response.into_issued(clock.now())?;
        Ok(InteractiveCredential::new(
            Some(self.endpoint.clone()),
            issued.refresh,
            code.scopes,
            self.cache_options.clone(),
        )
        .with_access_token(issued.access))
    }
}

/// `oauth2` reads the polling's errors into its own type; ours keeps the same fields (the
/// identity platform's extra diagnostics are not read on this path).
fn from_device_error<RE: std::error::Error + 'static>(
    error: oauth2::RequestTokenError<RE, oauth2::DeviceCodeErrorResponse>,
) -> oauth2::RequestTokenError<RE, ServerError> {
    use oauth2::RequestTokenError as E;
    match error {
        E::ServerResponse(response) => E::ServerResponse(ServerError {
            error: response.error().as_ref().to_owned(),
            error_description: response.error_description().cloned(),
            error_uri: response.error_uri().cloned(),
            ..ServerError::default()
        }),
        E::Request(error) => E::Request(error),
        E::Parse(error, body) => E::Parse(error, body),
        E::Other(other) => E::Other(other),
    }
}
