//! The token endpoint of one application (client id, optional secret),
//! spoken to through `oauth2` and the [`HttpClient`](crate::HttpClient) seam.

use std::sync::Mutex;

use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, ResourceOwnerPassword, ResourceOwnerUsername,
    StandardRevocableToken, TokenUrl,
};
use url::Url;

use crate::authority::Authority;
use crate::credentials::BoxFuture;
use crate::error::{Error, HttpClientError, ServerError};
use crate::http_client::SharedHttpClient;
use crate::redact::Scrubber;
use crate::response::{AzureTokenResponse, IssuedToken, TOKEN_FIELDS};
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
    redirect: Option<&Url>,
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
    pub(crate) fn oauth_client(&self, redirect: Option<&Url>) -> AzureClient {
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
    Password(&'a ResourceOwnerUsername, &'a ResourceOwnerPassword),
    /// §6: a refresh token.
    Refresh(&'a RefreshToken),
    /// §4.1.3: an authorization code, with the PKCE verifier (RFC 7636 §4.5)
    /// and the redirect URI the code was sent to.
    Code(AuthorizationCode, PkceCodeVerifier, &'a Url),
    /// §4.4 with a JWT in place of a secret (RFC 7521 §4.2, RFC 7523 §2.2).
    ClientAssertion(&'a str),
}

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
        let grant_secrets: Vec<&str> = match &grant {
            Grant::ClientCredentials => vec![],
            Grant::Password(_, password) => vec![password.secret().as_str()],
            Grant::Refresh(token) => vec![token.secret().as_str()],
            Grant::Code(code, verifier, _) => {
                vec![code.secret().as_str(), verifier.secret().as_str()]
            }
            Grant::ClientAssertion(assertion) => vec![*assertion],
        };
        let secret = self.client_secret.as_ref().map(|s| s.secret().as_str());
        let sent: Vec<String> = (grant_secrets.into_iter().chain(secret))
            .map(str::to_owned)
            .collect();
        let adapter = Adapter::new(self.http.clone());
        // Each grant is its own request type in `oauth2`; this sends any of them.
        macro_rules! send {
            ($request:expr) => {
                (scope.into_iter())
                    .fold($request, |r, (name, value)| r.add_extra_param(name, value))
                    .request_async(&adapter)
                    .await
            };
        }
        let result = match grant {
            Grant::ClientCredentials => send!(client.exchange_client_credentials()),
            Grant::Password(username, password) => {
                send!(client.exchange_password(username, password))
            }
            Grant::Refresh(token) => send!(client.exchange_refresh_token(token)),
            Grant::Code(code, verifier, _) => {
                send!(client.exchange_code(code).set_pkce_verifier(verifier))
            }
            // `oauth2` has no client-assertion authentication: without a client
            // secret it sends only `client_id`, and the two fields ride along.
            Grant::ClientAssertion(assertion) => send!(client
                .exchange_client_credentials()
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion)),
        };
        let result = match result {
            Ok(response) => response.into_issued(clock.now()),
            Err(error) => Err(adapter.error(error)),
        };
        result.map_err(|error| error.scrub(&Scrubber::new(&sent)))
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
    pub(crate) fn new(http: SharedHttpClient) -> Self {
        Adapter {
            http,
            seen: Mutex::default(),
        }
    }

    /// An answer that was read but cannot be used, told by its status, media type and
    /// length, and `detail`.
    pub(crate) fn unexpected(&self, detail: impl Into<String>) -> Error {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        Error::UnexpectedResponse {
            status: seen.status,
            content_type: seen.content_type,
            body_len: seen.body_len,
            detail: detail.into(),
        }
    }

    /// Turns `oauth2`'s error into ours. Only a parsed OAuth2 error shows what
    /// the server wrote (its fields, for the caller to scrub); any other answer
    /// shows its status, media type and length.
    pub(crate) fn error(
        &self,
        error: oauth2::RequestTokenError<HttpClientError, ServerError>,
    ) -> Error {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let status = seen.status;
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
                    content_type: seen.content_type,
                    body_len: seen.body_len,
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
