//! The token endpoint of one application (client id, optional secret),
//! spoken to through `oauth2` and the [`HttpClient`](crate::HttpClient) seam.

use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RedirectUrl,
    StandardRevocableToken, TokenUrl,
};

use crate::authority::Authority;
use crate::error::Error;
use crate::error::ServerError;
use crate::http_client::{Adapter, SharedHttpClient};
use crate::redact::Scrubber;
use crate::response::{AzureTokenResponse, IssuedToken};
use crate::token::Clock;

pub(crate) type AzureClient = oauth2::Client<
    ServerError,
    AzureTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// An `oauth2` client for the application `client_id` at `authority`, sending
/// its secret (if any) in the form body as the identity platform documents.
pub(crate) fn oauth_client(
    authority: &Authority,
    client_id: &str,
    client_secret: Option<&ClientSecret>,
    redirect: Option<&url::Url>,
) -> AzureClient {
    let mut client = oauth2::Client::new(ClientId::new(client_id.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::from_url(authority.authorize_url()))
        .set_token_uri(TokenUrl::from_url(authority.token_url()));
    if let Some(secret) = client_secret {
        client = client.set_client_secret(secret.clone());
    }
    if let Some(redirect) = redirect {
        client = client.set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
    }
    client
}

/// One application registered with an authority. `Debug` shows no secret
/// (`oauth2`'s secret types print `[redacted]`).
#[derive(Clone, Debug)]
pub(crate) struct TokenEndpoint {
    pub(crate) authority: Authority,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<ClientSecret>,
    pub(crate) http: SharedHttpClient,
}

impl TokenEndpoint {
    /// The public client `client_id` at `authority` (add a secret with
    /// [`set_client_secret`](Self::set_client_secret)).
    pub(crate) fn new(
        authority: Authority,
        client_id: impl Into<String>,
        http: SharedHttpClient,
    ) -> Self {
        TokenEndpoint {
            authority,
            client_id: client_id.into(),
            client_secret: None,
            http,
        }
    }

    /// Sends `client_secret` too (confidential clients).
    pub(crate) fn set_client_secret(&mut self, client_secret: impl Into<String>) {
        self.client_secret = Some(ClientSecret::new(client_secret.into()));
    }

    /// An `oauth2` client for this application.
    pub(crate) fn oauth_client(&self, redirect: Option<&url::Url>) -> AzureClient {
        oauth_client(
            &self.authority,
            &self.client_id,
            self.client_secret.as_ref(),
            redirect,
        )
    }
}

/// What a token request exchanges for a token (RFC 6749).
pub(crate) enum Grant<'a> {
    /// §4.4: the client's own credentials (its secret in the body).
    ClientCredentials,
    /// §4.3: a user's name and password.
    Password(
        &'a oauth2::ResourceOwnerUsername,
        &'a oauth2::ResourceOwnerPassword,
    ),
    /// §6: a refresh token.
    Refresh(&'a oauth2::RefreshToken),
    /// §4.1.3: an authorization code, with the PKCE verifier (RFC 7636 §4.5)
    /// and the redirect URI the code was sent to.
    Code(
        oauth2::AuthorizationCode,
        oauth2::PkceCodeVerifier,
        &'a url::Url,
    ),
}

impl TokenEndpoint {
    /// Asks for a token for `scopes`. An error carries what the server said
    /// with every secret the request sent (the grant's and the client secret)
    /// scrubbed.
    pub(crate) async fn token(
        &self,
        grant: Grant<'_>,
        scopes: &[String],
        clock: &dyn Clock,
    ) -> Result<IssuedToken, Error> {
        let scope = self.authority.scope_param(scopes)?;
        let redirect = match &grant {
            Grant::Code(_, _, redirect) => Some(*redirect),
            _ => None,
        };
        let client = self.oauth_client(redirect);
        let mut sent: Vec<String> = self
            .client_secret
            .iter()
            .map(|s| s.secret().clone())
            .collect();
        let adapter = Adapter::new(&self.http);
        // Each grant is its own request type in `oauth2`, so each arm sends its own.
        let result = match grant {
            Grant::ClientCredentials => {
                let request = client.exchange_client_credentials();
                let request = scope
                    .into_iter()
                    .fold(request, |r, (n, v)| r.add_extra_param(n, v));
                request.request_async(&adapter).await
            }
            Grant::Password(username, password) => {
                sent.push(password.secret().clone());
                let request = client.exchange_password(username, password);
                let request = scope
                    .into_iter()
                    .fold(request, |r, (n, v)| r.add_extra_param(n, v));
                request.request_async(&adapter).await
            }
            Grant::Refresh(token) => {
                sent.push(token.secret().clone());
                let request = client.exchange_refresh_token(token);
                let request = scope
                    .into_iter()
                    .fold(request, |r, (n, v)| r.add_extra_param(n, v));
                request.request_async(&adapter).await
            }
            Grant::Code(code, verifier, _) => {
                sent.extend([code.secret().clone(), verifier.secret().clone()]);
                let request = client.exchange_code(code).set_pkce_verifier(verifier);
                let request = scope
                    .into_iter()
                    .fold(request, |r, (n, v)| r.add_extra_param(n, v));
                request.request_async(&adapter).await
            }
        };
        let result = match result {
            Ok(response) => response.into_issued(clock.now()),
            Err(error) => Err(adapter.error(error)),
        };
        result.map_err(|error| error.scrub(&Scrubber::new(&sent)))
    }
}
