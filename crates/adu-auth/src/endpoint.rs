//! The token endpoint of one application (client id, optional secret),
//! spoken to through `oauth2` and the [`HttpClient`](crate::HttpClient) seam.

use std::fmt;

use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RedirectUrl,
    StandardRevocableToken, TokenUrl,
};

use crate::authority::Authority;
use crate::error::{Error, HttpClientError};
use crate::http_client::{Adapter, SharedHttpClient};
use crate::redact::Scrubber;
use crate::response::{AzureErrorResponse, AzureTokenResponse, IssuedToken};
use crate::token::Clock;

pub(crate) type AzureClient = oauth2::Client<
    AzureErrorResponse,
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

/// One application registered with an authority.
#[derive(Clone)]
pub(crate) struct TokenEndpoint {
    pub(crate) authority: Authority,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<ClientSecret>,
    pub(crate) http: SharedHttpClient,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("authority", &self.authority)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

type TokenResult =
    Result<AzureTokenResponse, oauth2::RequestTokenError<HttpClientError, AzureErrorResponse>>;

impl TokenEndpoint {
    fn oauth_client(&self, redirect: Option<&url::Url>) -> AzureClient {
        oauth_client(
            &self.authority,
            &self.client_id,
            self.client_secret.as_ref(),
            redirect,
        )
    }

    /// The token, or the error with every secret the request sent (`sent`
    /// and the client secret) scrubbed from what the server said.
    fn finish(
        &self,
        result: TokenResult,
        adapter: &Adapter,
        clock: &dyn Clock,
        sent: &[&str],
    ) -> Result<IssuedToken, Error> {
        let result = match result {
            Ok(response) => response.into_issued(clock.now()),
            Err(error) => Err(adapter.error(error)),
        };
        result.map_err(|error| {
            let mut secrets = sent.to_vec();
            secrets.extend(self.client_secret.as_ref().map(|s| s.secret().as_str()));
            error.scrub(&Scrubber::new(&secrets))
        })
    }

    /// The client credentials grant (RFC 6749 §4.4), secret in the body.
    pub(crate) async fn client_credentials(
        &self,
        scopes: &[String],
        clock: &dyn Clock,
    ) -> Result<IssuedToken, Error> {
        let scope = self.authority.scope_param(scopes)?;
        let client = self.oauth_client(None);
        let mut request = client.exchange_client_credentials();
        if let Some((name, value)) = scope {
            request = request.add_extra_param(name, value);
        }
        let adapter = Adapter::new(&self.http);
        let result = request.request_async(&adapter).await;
        self.finish(result, &adapter, clock, &[])
    }

    /// The resource owner password grant (RFC 6749 §4.3).
    pub(crate) async fn password(
        &self,
        username: &oauth2::ResourceOwnerUsername,
        password: &oauth2::ResourceOwnerPassword,
        scopes: &[String],
        clock: &dyn Clock,
    ) -> Result<IssuedToken, Error> {
        let scope = self.authority.scope_param(scopes)?;
        let client = self.oauth_client(None);
        let mut request = client.exchange_password(username, password);
        if let Some((name, value)) = scope {
            request = request.add_extra_param(name, value);
        }
        let adapter = Adapter::new(&self.http);
        let result = request.request_async(&adapter).await;
        self.finish(result, &adapter, clock, &[password.secret()])
    }

    /// The refresh token grant (RFC 6749 §6).
    pub(crate) async fn refresh(
        &self,
        refresh_token: &oauth2::RefreshToken,
        scopes: &[String],
        clock: &dyn Clock,
    ) -> Result<IssuedToken, Error> {
        let scope = self.authority.scope_param(scopes)?;
        let client = self.oauth_client(None);
        let mut request = client.exchange_refresh_token(refresh_token);
        if let Some((name, value)) = scope {
            request = request.add_extra_param(name, value);
        }
        let adapter = Adapter::new(&self.http);
        let result = request.request_async(&adapter).await;
        self.finish(result, &adapter, clock, &[refresh_token.secret()])
    }

    /// The authorization code exchange (RFC 6749 §4.1.3) with the PKCE
    /// verifier (RFC 7636 §4.5).
    pub(crate) async fn exchange_code(
        &self,
        code: oauth2::AuthorizationCode,
        verifier: oauth2::PkceCodeVerifier,
        redirect: &url::Url,
        scopes: &[String],
        clock: &dyn Clock,
    ) -> Result<IssuedToken, Error> {
        let scope = self.authority.scope_param(scopes)?;
        let client = self.oauth_client(Some(redirect));
        let sent = [code.secret().clone(), verifier.secret().clone()];
        let mut request = client.exchange_code(code).set_pkce_verifier(verifier);
        if let Some((name, value)) = scope {
            request = request.add_extra_param(name, value);
        }
        let adapter = Adapter::new(&self.http);
        let result = request.request_async(&adapter).await;
        self.finish(result, &adapter, clock, &[&sent[0], &sent[1]])
    }
}
