//! The token endpoint of one application (client id, optional secret),
//! spoken to through `oauth2` and the [`HttpClient`](crate::HttpClient) seam.

use std::fmt;
use std::time::SystemTime;

use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RedirectUrl,
    StandardRevocableToken, TokenUrl,
};

use crate::authority::{Authority, ScopeParams};
use crate::error::Error;
use crate::http_client::{adapter, map_request_error, Recorder, SharedHttpClient};
use crate::response::{AzureErrorResponse, AzureTokenResponse, IssuedToken};

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

/// Adds the scope parameters the endpoint version wants to a request that
/// has `add_scopes` (v2: `scope`; v1: `resource`).
macro_rules! with_scopes {
    ($request:expr, $params:expr) => {
        match $params {
            ScopeParams::Scopes(scopes) => {
                $request.add_scopes(scopes.iter().map(|s| oauth2::Scope::new(s.clone())))
            }
            ScopeParams::Resource(resource) => {
                $request.add_extra_param("resource", resource.clone())
            }
        }
    };
}

impl TokenEndpoint {
    pub(crate) fn oauth_client(&self, redirect: Option<&url::Url>) -> AzureClient {
        let mut client = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::from_url(self.authority.authorize_url()))
            .set_token_uri(TokenUrl::from_url(self.authority.token_url()));
        if let Some(secret) = &self.client_secret {
            client = client.set_client_secret(secret.clone());
        }
        if let Some(redirect) = redirect {
            client = client.set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
        }
        client
    }

    fn secrets<'a>(&'a self, more: &[&'a str]) -> Vec<&'a str> {
        let mut all: Vec<&str> = more.to_vec();
        if let Some(s) = &self.client_secret {
            all.push(s.secret());
        }
        all
    }

    fn finish(
        &self,
        result: Result<
            AzureTokenResponse,
            oauth2::RequestTokenError<crate::HttpClientError, AzureErrorResponse>,
        >,
        recorder: &Recorder,
        now: SystemTime,
        secrets: &[&str],
    ) -> Result<IssuedToken, Error> {
        match result {
            Ok(response) => response.into_issued(now),
            Err(e) => Err(map_request_error(e, recorder, &self.secrets(secrets))),
        }
    }

    /// The client credentials grant (RFC 6749 §4.4), secret in the body.
    pub(crate) async fn client_credentials(
        &self,
        scopes: &[String],
        clock: &dyn crate::Clock,
    ) -> Result<IssuedToken, Error> {
        let params = self.authority.scope_params(scopes)?;
        let client = self.oauth_client(None);
        let recorder = std::sync::Arc::new(Recorder::default());
        let request = with_scopes!(client.exchange_client_credentials(), &params);
        let result = request.request_async(&adapter(&self.http, &recorder)).await;
        self.finish(result, &recorder, clock.now(), &[])
    }

    /// The resource owner password grant (RFC 6749 §4.3).
    pub(crate) async fn password(
        &self,
        username: &oauth2::ResourceOwnerUsername,
        password: &oauth2::ResourceOwnerPassword,
        scopes: &[String],
        clock: &dyn crate::Clock,
    ) -> Result<IssuedToken, Error> {
        if !self.authority.allows_password_grant() {
            return Err(Error::PasswordGrantNotSupported {
                tenant: self.authority.tenant().to_owned(),
            });
        }
        let params = self.authority.scope_params(scopes)?;
        let client = self.oauth_client(None);
        let recorder = std::sync::Arc::new(Recorder::default());
        let request = with_scopes!(client.exchange_password(username, password), &params);
        let result = request.request_async(&adapter(&self.http, &recorder)).await;
        self.finish(result, &recorder, clock.now(), &[password.secret()])
    }

    /// The refresh token grant (RFC 6749 §6).
    pub(crate) async fn refresh(
        &self,
        refresh_token: &oauth2::RefreshToken,
        scopes: &[String],
        clock: &dyn crate::Clock,
    ) -> Result<IssuedToken, Error> {
        let params = self.authority.scope_params(scopes)?;
        let client = self.oauth_client(None);
        let recorder = std::sync::Arc::new(Recorder::default());
        let request = with_scopes!(client.exchange_refresh_token(refresh_token), &params);
        let result = request.request_async(&adapter(&self.http, &recorder)).await;
        self.finish(result, &recorder, clock.now(), &[refresh_token.secret()])
    }

    /// The authorization code exchange (RFC 6749 §4.1.3) with the PKCE
    /// verifier (RFC 7636 §4.5).
    pub(crate) async fn exchange_code(
        &self,
        code: oauth2::AuthorizationCode,
        verifier: oauth2::PkceCodeVerifier,
        redirect: &url::Url,
        scopes: &[String],
        clock: &dyn crate::Clock,
    ) -> Result<IssuedToken, Error> {
        let params = self.authority.scope_params(scopes)?;
        let client = self.oauth_client(Some(redirect));
        let recorder = std::sync::Arc::new(Recorder::default());
        let code_text = code.secret().clone();
        let verifier_text = verifier.secret().clone();
        // `exchange_code` has no `add_scope`: the scope goes in as a plain parameter.
        let request = client.exchange_code(code).set_pkce_verifier(verifier);
        let request = match &params {
            ScopeParams::Scopes(scopes) => request.add_extra_param("scope", scopes.join(" ")),
            ScopeParams::Resource(resource) => {
                request.add_extra_param("resource", resource.clone())
            }
        };
        let result = request.request_async(&adapter(&self.http, &recorder)).await;
        self.finish(
            result,
            &recorder,
            clock.now(),
            &[&code_text, &verifier_text],
        )
    }
}
