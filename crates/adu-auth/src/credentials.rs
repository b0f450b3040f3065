//! The credentials that talk to a token endpoint: client credentials,
//! password, and the result of an interactive sign-in.

use std::fmt;
use std::sync::Mutex;

use crate::authority::Authority;
use crate::cache::{TokenCache, TokenCacheOptions};
use crate::credential::{BoxFuture, TokenCredential};
use crate::endpoint::TokenEndpoint;
use crate::error::Error;
use crate::http_client::SharedHttpClient;
use crate::token::AccessToken;

fn owned(scopes: &[&str]) -> Vec<String> {
    scopes.iter().map(|s| (*s).to_owned()).collect()
}

/// The client credentials flow ("application"): a confidential client signs
/// in as itself with its secret, sent in the form body as the Microsoft
/// identity platform documents. Tokens are cached per scope set.
///
/// ```
/// # use std::sync::Arc;
/// use adu_auth::{scopes, Authority, ClientSecretCredential, HttpClientError, TokenCredential};
///
/// // Any `oauth2::AsyncHttpClient` works; here a closure answering like Azure AD.
/// let http = Arc::new(|_request: http::Request<Vec<u8>>| async {
///     Ok::<_, HttpClientError>(
///         http::Response::builder()
///             .status(200)
///             .header("content-type", "application/json")
///             .body(br#"{"access_token":"eyJ0","token_type":"Bearer","expires_in":3599}"#.to_vec())
///             .unwrap(),
///     )
/// });
/// let credential = ClientSecretCredential::new(
///     Authority::new("72f988bf-86f1-41af-91ab-2d7cd011db47")?,
///     "my-client-id",
///     "my-client-secret",
///     http,
/// );
/// let token = futures::executor::block_on(credential.get_token(&[scopes::CURRENT]))?;
/// assert_eq!(token.secret(), "eyJ0");
/// assert!(!format!("{credential:?}").contains("my-client-secret"));
/// # Ok::<(), adu_auth::Error>(())
/// ```
pub struct ClientSecretCredential {
    endpoint: TokenEndpoint,
    cache: TokenCache,
}

impl ClientSecretCredential {
    /// A credential for the application `client_id` with `client_secret`.
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        http: SharedHttpClient,
    ) -> Self {
        ClientSecretCredential {
            endpoint: TokenEndpoint {
                authority,
                client_id: client_id.into(),
                client_secret: Some(oauth2::ClientSecret::new(client_secret.into())),
                http,
            },
            cache: TokenCache::new(TokenCacheOptions::default()),
        }
    }

    /// Replaces the cache options (clock, refresh margin, failure hook).
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache = TokenCache::new(options);
        self
    }

    /// The authority.
    #[must_use]
    pub fn authority(&self) -> &Authority {
        &self.endpoint.authority
    }
}

impl fmt::Debug for ClientSecretCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecretCredential")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl TokenCredential for ClientSecretCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(async move {
            self.cache
                .get_or_fetch(scopes, || async {
                    let clock = &*self.cache.options().clock;
                    Ok(self
                        .endpoint
                        .client_credentials(&owned(scopes), clock)
                        .await?
                        .access)
                })
                .await
        })
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.cache.invalidate(scopes);
    }
}

/// The password flow (resource owner password credentials, "ROPC"): a user's
/// name and password are sent to the token endpoint. The identity platform
/// refuses it on `common` and `consumers` (and for personal or MFA-enabled
/// accounts), so those tenants are refused up front.
pub struct UsernamePasswordCredential {
    endpoint: TokenEndpoint,
    username: oauth2::ResourceOwnerUsername,
    password: oauth2::ResourceOwnerPassword,
    cache: TokenCache,
}

impl UsernamePasswordCredential {
    /// A credential for the public client `client_id`. Fails with
    /// [`Error::PasswordGrantNotSupported`] on `common` and `consumers`.
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        if !authority.allows_password_grant() {
            return Err(Error::PasswordGrantNotSupported {
                tenant: authority.tenant().to_owned(),
            });
        }
        Ok(UsernamePasswordCredential {
            endpoint: TokenEndpoint {
                authority,
                client_id: client_id.into(),
                client_secret: None,
                http,
            },
            username: oauth2::ResourceOwnerUsername::new(username.into()),
            password: oauth2::ResourceOwnerPassword::new(password.into()),
            cache: TokenCache::new(TokenCacheOptions::default()),
        })
    }

    /// Also sends a client secret (confidential clients).
    #[must_use]
    pub fn with_client_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.endpoint.client_secret = Some(oauth2::ClientSecret::new(client_secret.into()));
        self
    }

    /// Replaces the cache options (clock, refresh margin, failure hook).
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache = TokenCache::new(options);
        self
    }

    /// The user name.
    #[must_use]
    pub fn username(&self) -> &str {
        self.username.as_str()
    }
}

impl fmt::Debug for UsernamePasswordCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsernamePasswordCredential")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username.as_str())
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl TokenCredential for UsernamePasswordCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(async move {
            self.cache
                .get_or_fetch(scopes, || async {
                    let clock = &*self.cache.options().clock;
                    let issued = self
                        .endpoint
                        .password(&self.username, &self.password, &owned(scopes), clock)
                        .await?;
                    Ok(issued.access)
                })
                .await
        })
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.cache.invalidate(scopes);
    }
}

/// The result of an interactive sign-in (authorization code or implicit
/// flow): the token obtained, and for the authorization code flow the
/// refresh token, used (and replaced, as refresh tokens rotate) to get new
/// tokens, also for other scopes. Without a refresh token (implicit flow),
/// an expired token means signing in again ([`Error::LoginExpired`]).
pub struct InteractiveCredential {
    endpoint: Option<TokenEndpoint>,
    refresh: Mutex<Option<oauth2::RefreshToken>>,
    login_scopes: Vec<String>,
    cache: TokenCache,
}

impl InteractiveCredential {
    pub(crate) fn new(
        endpoint: Option<TokenEndpoint>,
        token: AccessToken,
        refresh: Option<oauth2::RefreshToken>,
        scopes: Vec<String>,
        options: TokenCacheOptions,
    ) -> Self {
        let cache = TokenCache::new(options);
        let keys: Vec<&str> = scopes.iter().map(String::as_str).collect();
        cache.insert(&keys, token);
        InteractiveCredential {
            endpoint,
            refresh: Mutex::new(refresh),
            login_scopes: scopes,
            cache,
        }
    }

    /// Whether this sign-in can be refreshed.
    #[must_use]
    pub fn has_refresh_token(&self) -> bool {
        self.refresh.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    /// The scopes the sign-in asked for.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.login_scopes
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let refresh = self.refresh.lock().ok().and_then(|r| r.clone());
        let (Some(endpoint), Some(refresh)) = (&self.endpoint, refresh) else {
            let mut asked = owned(scopes);
            asked.sort();
            asked.dedup();
            let mut login = self.login_scopes.clone();
            login.sort();
            login.dedup();
            return Err(if asked == login {
                Error::LoginExpired
            } else {
                Error::ScopesNotAvailable {
                    scopes: scopes.join(" "),
                }
            });
        };
        let clock = &*self.cache.options().clock;
        let issued = endpoint.refresh(&refresh, &owned(scopes), clock).await?;
        if let Some(rotated) = issued.refresh {
            if let Ok(mut slot) = self.refresh.lock() {
                *slot = Some(rotated);
            }
        }
        Ok(issued.access)
    }
}

impl fmt::Debug for InteractiveCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InteractiveCredential")
            .field("endpoint", &self.endpoint)
            .field(
                "refresh_token",
                &self.has_refresh_token().then_some("[redacted]"),
            )
            .field("scopes", &self.login_scopes)
            .finish_non_exhaustive()
    }
}

impl TokenCredential for InteractiveCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(async move { self.cache.get_or_fetch(scopes, || self.fetch(scopes)).await })
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.cache.invalidate(scopes);
    }
}
