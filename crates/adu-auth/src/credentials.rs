//! The credentials that talk to a token endpoint: client credentials,
//! password, and the result of an interactive sign-in.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::authority::Authority;
use crate::cache::{TokenCache, TokenCacheOptions};
use crate::credential::{BoxFuture, TokenCredential};
use crate::endpoint::TokenEndpoint;
use crate::error::Error;
use crate::http_client::SharedHttpClient;
use crate::token::{AccessToken, RefreshTokenSecret};

pub(crate) fn owned(scopes: &[&str]) -> Vec<String> {
    scopes.iter().map(|s| (*s).to_owned()).collect()
}

/// What a [`GrantCredential`] sends to the token endpoint for a token.
enum Grant {
    ClientCredentials,
    Password {
        username: oauth2::ResourceOwnerUsername,
        password: oauth2::ResourceOwnerPassword,
    },
}

/// A credential that asks for tokens with a grant of its own (client
/// credentials or password) and caches them per scope set: what
/// [`ClientSecretCredential`], [`UsernamePasswordCredential`] and
/// [`EnvironmentCredential`](crate::EnvironmentCredential) are.
pub(crate) struct GrantCredential {
    endpoint: TokenEndpoint,
    grant: Grant,
    cache: TokenCache,
}

impl GrantCredential {
    pub(crate) fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache = TokenCache::new(options);
        self
    }

    /// `"client_credentials"` or `"password"`.
    pub(crate) fn flow(&self) -> &'static str {
        match self.grant {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password { .. } => "password",
        }
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let clock = &*self.cache.options().clock;
        let scopes = owned(scopes);
        let issued = match &self.grant {
            Grant::ClientCredentials => self.endpoint.client_credentials(&scopes, clock).await?,
            Grant::Password { username, password } => {
                (self.endpoint)
                    .password(username, password, &scopes, clock)
                    .await?
            }
        };
        Ok(issued.access)
    }
}

impl fmt::Debug for GrantCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("GrantCredential");
        s.field("endpoint", &self.endpoint);
        if let Grant::Password { username, .. } = &self.grant {
            s.field("username", &username.as_str())
                .field("password", &"[redacted]");
        }
        s.finish_non_exhaustive()
    }
}

impl TokenCredential for GrantCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(self.cache.get_or_fetch(scopes, || self.fetch(scopes)))
    }

    fn cached_token(&self, scopes: &[&str]) -> Option<AccessToken> {
        self.cache.peek(scopes)
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.cache.invalidate(scopes);
    }
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
#[derive(Debug)]
pub struct ClientSecretCredential(pub(crate) GrantCredential);

impl ClientSecretCredential {
    /// A credential for the application `client_id` with `client_secret`.
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        http: SharedHttpClient,
    ) -> Self {
        ClientSecretCredential(GrantCredential {
            endpoint: TokenEndpoint {
                authority,
                client_id: client_id.into(),
                client_secret: Some(oauth2::ClientSecret::new(client_secret.into())),
                http,
            },
            grant: Grant::ClientCredentials,
            cache: TokenCache::new(TokenCacheOptions::default()),
        })
    }

    /// Replaces the cache options (clock, refresh margin, failure hook).
    #[must_use]
    pub fn with_cache_options(self, options: TokenCacheOptions) -> Self {
        ClientSecretCredential(self.0.with_cache_options(options))
    }

    /// The authority.
    #[must_use]
    pub fn authority(&self) -> &Authority {
        &self.0.endpoint.authority
    }
}

impl TokenCredential for ClientSecretCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        self.0.get_token(scopes)
    }

    fn cached_token(&self, scopes: &[&str]) -> Option<AccessToken> {
        self.0.cached_token(scopes)
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.0.invalidate(scopes);
    }
}

/// The password flow (resource owner password credentials, "ROPC"): a user's
/// name and password are sent to the token endpoint. The identity platform
/// refuses it on `common` and `consumers` (and for personal or MFA-enabled
/// accounts), so those tenants are refused up front.
#[derive(Debug)]
pub struct UsernamePasswordCredential(pub(crate) GrantCredential);

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
        Ok(UsernamePasswordCredential(GrantCredential {
            endpoint: TokenEndpoint {
                authority,
                client_id: client_id.into(),
                client_secret: None,
                http,
            },
            grant: Grant::Password {
                username: oauth2::ResourceOwnerUsername::new(username.into()),
                password: oauth2::ResourceOwnerPassword::new(password.into()),
            },
            cache: TokenCache::new(TokenCacheOptions::default()),
        }))
    }

    /// Also sends a client secret (confidential clients).
    #[must_use]
    pub fn with_client_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.0.endpoint.client_secret = Some(oauth2::ClientSecret::new(client_secret.into()));
        self
    }

    /// Replaces the cache options (clock, refresh margin, failure hook).
    #[must_use]
    pub fn with_cache_options(self, options: TokenCacheOptions) -> Self {
        UsernamePasswordCredential(self.0.with_cache_options(options))
    }

    /// The user name.
    #[must_use]
    pub fn username(&self) -> &str {
        match &self.0.grant {
            Grant::Password { username, .. } => username.as_str(),
            Grant::ClientCredentials => "",
        }
    }
}

impl TokenCredential for UsernamePasswordCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        self.0.get_token(scopes)
    }

    fn cached_token(&self, scopes: &[&str]) -> Option<AccessToken> {
        self.0.cached_token(scopes)
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.0.invalidate(scopes);
    }
}

/// Told the new refresh token each time a refresh rotates it (see
/// [`InteractiveCredential::on_refresh_token_rotated`]).
pub type RefreshTokenHook = Arc<dyn Fn(&RefreshTokenSecret) + Send + Sync>;

/// The result of an interactive sign-in (authorization code or implicit
/// flow): the token obtained, and for the authorization code flow the
/// refresh token, used (and replaced, as refresh tokens rotate) to get new
/// tokens, also for other scopes. Without a refresh token (implicit flow),
/// an expired token means signing in again ([`Error::LoginExpired`]).
///
/// # Persisting and restoring a sign-in
/// A sign-in outlives the process through its refresh token:
/// - persist [`refresh_token`](Self::refresh_token) with the
///   [`authority`](Self::authority), [`client_id`](Self::client_id) and
///   [`scopes`](Self::scopes) (and, optionally, the current access token and
///   its expiry, to skip one refresh);
/// - restore with [`from_refresh_token`](Self::from_refresh_token) (and
///   [`with_access_token`](Self::with_access_token)).
///
/// Refresh tokens rotate: a refresh may return a new one and the old one may
/// then be refused. Either re-read [`refresh_token`](Self::refresh_token)
/// after each [`get_token`](TokenCredential::get_token), or register
/// [`on_refresh_token_rotated`](Self::on_refresh_token_rotated), which is
/// called with each new refresh token as soon as it arrives (before
/// `get_token` returns). Refreshes of one credential never overlap, so a
/// refresh token is never sent twice by the same credential; two processes
/// restoring the same refresh token can still race, and the loser gets
/// `invalid_grant` (sign in again).
///
/// The refresh token is stored to be used: treat it like a password (owner-only
/// files, a keychain). `Debug` never shows it.
///
/// ```
/// # use std::sync::{Arc, Mutex};
/// use adu_auth::{
///     scopes, Authority, HttpClientError, InteractiveCredential, RefreshTokenSecret, TokenCredential,
/// };
///
/// // A token endpoint that rotates the refresh token on every refresh.
/// let http = Arc::new(|_request: http::Request<Vec<u8>>| async {
///     Ok::<_, HttpClientError>(
///         http::Response::builder()
///             .status(200)
///             .header("content-type", "application/json")
///             .body(br#"{"access_token":"eyJ0","token_type":"Bearer","expires_in":3599,"refresh_token":"rt-2"}"#.to_vec())
///             .unwrap(),
///     )
/// });
/// let stored = RefreshTokenSecret::new("rt-1"); // read back from owner-only storage
/// let persisted = Arc::new(Mutex::new(None));
/// let sink = persisted.clone();
/// let credential = InteractiveCredential::from_refresh_token(
///     Authority::new("contoso.onmicrosoft.com")?,
///     "my-public-client-id",
///     stored,
///     &[scopes::CURRENT],
///     http,
/// )?
/// .on_refresh_token_rotated(move |rotated| {
///     *sink.lock().unwrap() = Some(rotated.secret().to_owned()); // write it back
/// });
/// let token = futures::executor::block_on(credential.get_token(&[scopes::CURRENT]))?;
/// assert_eq!(token.secret(), "eyJ0");
/// assert_eq!(persisted.lock().unwrap().as_deref(), Some("rt-2"));
/// assert_eq!(credential.refresh_token().unwrap().secret(), "rt-2");
/// assert!(!format!("{credential:?}").contains("rt-2"));
/// # Ok::<(), adu_auth::Error>(())
/// ```
pub struct InteractiveCredential {
    endpoint: Option<TokenEndpoint>,
    refresh: Mutex<Option<oauth2::RefreshToken>>,
    /// Held across a refresh, so that the same refresh token is never sent
    /// twice (different scope sets have separate cache slots).
    refresh_flight: async_lock::Mutex<()>,
    on_rotated: Option<RefreshTokenHook>,
    login_scopes: Vec<String>,
    cache: TokenCache,
}

impl InteractiveCredential {
    /// A sign-in for `scopes`, without a token yet.
    pub(crate) fn new(
        endpoint: Option<TokenEndpoint>,
        refresh: Option<oauth2::RefreshToken>,
        scopes: Vec<String>,
        options: TokenCacheOptions,
    ) -> Self {
        InteractiveCredential {
            endpoint,
            refresh: Mutex::new(refresh),
            refresh_flight: async_lock::Mutex::new(()),
            on_rotated: None,
            login_scopes: scopes,
            cache: TokenCache::new(options),
        }
    }

    /// Restores a sign-in from a refresh token persisted earlier (see
    /// [`refresh_token`](Self::refresh_token)): the public client
    /// `client_id` at `authority`, for `scopes` (those of the original
    /// sign-in). No request is sent here; the first
    /// [`get_token`](TokenCredential::get_token) refreshes, unless
    /// [`with_access_token`](Self::with_access_token) gave a token that is
    /// still good.
    ///
    /// Fails with [`Error::InvalidConfig`] for an empty refresh token or
    /// scope list, or scopes the authority cannot express (for example two
    /// resources on v1 endpoints).
    pub fn from_refresh_token(
        authority: Authority,
        client_id: impl Into<String>,
        refresh_token: RefreshTokenSecret,
        scopes: &[&str],
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        if refresh_token.secret().trim().is_empty() {
            return Err(Error::InvalidConfig {
                message: "the refresh token is empty".to_owned(),
            });
        }
        let scopes = owned(scopes);
        if scopes.iter().all(|s| s.trim().is_empty()) {
            return Err(Error::InvalidConfig {
                message: "a restored sign-in needs at least one scope".to_owned(),
            });
        }
        authority.scope_param(&scopes)?;
        let endpoint = TokenEndpoint {
            authority,
            client_id: client_id.into(),
            client_secret: None,
            http,
        };
        let refresh = oauth2::RefreshToken::new(refresh_token.secret().to_owned());
        Ok(Self::new(
            Some(endpoint),
            Some(refresh),
            scopes,
            TokenCacheOptions::default(),
        ))
    }

    /// Seeds the cache with an access token for the sign-in's scopes (for
    /// example one persisted with the refresh token), used until a refresh
    /// margin before it expires, as if it had been obtained now.
    #[must_use]
    pub fn with_access_token(self, token: AccessToken) -> Self {
        let keys: Vec<&str> = self.login_scopes.iter().map(String::as_str).collect();
        self.cache.insert(&keys, token);
        self
    }

    /// Also sends a client secret when refreshing (web apps). No effect on
    /// a sign-in without a token endpoint (implicit flow).
    #[must_use]
    pub fn with_client_secret(mut self, client_secret: impl Into<String>) -> Self {
        if let Some(endpoint) = &mut self.endpoint {
            endpoint.client_secret = Some(oauth2::ClientSecret::new(client_secret.into()));
        }
        self
    }

    /// Replaces the cache options (clock, refresh margin, failure hook),
    /// keeping the tokens already cached.
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache = self.cache.with_options(options);
        self
    }

    /// Calls `hook` with each new refresh token a refresh returns, as soon as
    /// it arrives (before the `get_token` that caused it returns), so that
    /// the persisted copy is replaced. It is not called when the server keeps
    /// the old refresh token. It runs on the task that refreshes: keep it
    /// short (write a file; do not block on a network).
    #[must_use]
    pub fn on_refresh_token_rotated(
        mut self,
        hook: impl Fn(&RefreshTokenSecret) + Send + Sync + 'static,
    ) -> Self {
        self.on_rotated = Some(Arc::new(hook));
        self
    }

    /// The newest refresh token, to persist the sign-in; `None` for the
    /// implicit flow. It changes when a refresh rotates it: read it again
    /// after each [`get_token`](TokenCredential::get_token), or use
    /// [`on_refresh_token_rotated`](Self::on_refresh_token_rotated).
    #[must_use]
    pub fn refresh_token(&self) -> Option<RefreshTokenSecret> {
        self.refresh.lock().ok().and_then(|r| {
            r.as_ref()
                .map(|t| RefreshTokenSecret::new(t.secret().clone()))
        })
    }

    /// Whether this sign-in can be refreshed.
    #[must_use]
    pub fn has_refresh_token(&self) -> bool {
        self.refresh.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    /// The authority the sign-in refreshes at (`None` for the implicit flow).
    #[must_use]
    pub fn authority(&self) -> Option<&Authority> {
        self.endpoint.as_ref().map(|e| &e.authority)
    }

    /// The application (client) id the sign-in refreshes as (`None` for the
    /// implicit flow).
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.endpoint.as_ref().map(|e| e.client_id.as_str())
    }

    /// The scopes the sign-in asked for.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.login_scopes
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let _flight = self.refresh_flight.lock().await;
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
            let changed = rotated.secret() != refresh.secret();
            let secret = RefreshTokenSecret::new(rotated.secret().clone());
            if let Ok(mut slot) = self.refresh.lock() {
                *slot = Some(rotated);
            }
            if changed {
                if let Some(hook) = &self.on_rotated {
                    hook(&secret);
                }
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
            .field("on_refresh_token_rotated", &self.on_rotated.is_some())
            .field("scopes", &self.login_scopes)
            .finish_non_exhaustive()
    }
}

impl TokenCredential for InteractiveCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(async move { self.cache.get_or_fetch(scopes, || self.fetch(scopes)).await })
    }

    fn cached_token(&self, scopes: &[&str]) -> Option<AccessToken> {
        self.cache.peek(scopes)
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.cache.invalidate(scopes);
    }
}
