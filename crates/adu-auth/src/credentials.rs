//! The credential trait the transport calls, and the credentials: a static
//! token, client credentials, password, the two chosen by the usual Azure
//! environment variables, and the result of an interactive sign-in.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::authority::{Authority, DEFAULT_AUTHORITY_HOST};
use crate::cache::{TokenCache, TokenCacheOptions};
use crate::endpoint::{Grant, TokenEndpoint};
use crate::error::Error;
use crate::http_client::SharedHttpClient;
use crate::token::{AccessToken, RefreshTokenSecret};

/// A boxed, `Send` future (object-safe async).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the transport calls for a bearer token. Object safe: clients hold an
/// `Arc<dyn TokenCredential>`.
pub trait TokenCredential: Send + Sync {
    /// A token valid for `scopes` (cached where the credential caches).
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>>;

    /// Forget any cached token for these scopes (the service answered 401).
    /// Default: no-op.
    fn invalidate(&self, _scopes: &[&str]) {}
}

/// A token obtained elsewhere (e.g. `az account get-access-token`), returned
/// as it is for every scope, never refreshed.
#[derive(Clone, Debug)]
pub struct StaticTokenCredential {
    token: AccessToken,
}

impl StaticTokenCredential {
    /// Wraps a token.
    pub fn new(token: AccessToken) -> Self {
        StaticTokenCredential { token }
    }

    /// Wraps a bare token string with a far expiry (the year 2106), for
    /// tokens whose lifetime is not known here.
    pub fn from_secret(secret: impl Into<String>) -> Self {
        let far = UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX));
        StaticTokenCredential::new(AccessToken::new(secret, far))
    }

    /// When the token expires.
    pub fn expires_at(&self) -> SystemTime {
        self.token.expires_at()
    }
}

impl TokenCredential for StaticTokenCredential {
    fn get_token<'a>(&'a self, _: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(std::future::ready(Ok(self.token.clone())))
    }
}

pub(crate) fn owned(scopes: &[&str]) -> Vec<String> {
    scopes.iter().map(|s| (*s).to_owned()).collect()
}

/// A credential that asks for tokens with a grant of its own (client
/// credentials, or password when it holds a user's name and password) and
/// caches them per scope set: what [`ClientSecretCredential`],
/// [`UsernamePasswordCredential`] and
/// [`EnvironmentCredential`] are. `Debug` shows
/// no secret (`oauth2`'s secret types print `[redacted]`).
#[derive(Debug)]
struct GrantCredential {
    endpoint: TokenEndpoint,
    password: Option<Password>,
    cache: TokenCache,
}

type Password = (oauth2::ResourceOwnerUsername, oauth2::ResourceOwnerPassword);

impl GrantCredential {
    fn new(endpoint: TokenEndpoint, password: Option<Password>) -> Self {
        let cache = TokenCache::new(TokenCacheOptions::default());
        GrantCredential {
            endpoint,
            password,
            cache,
        }
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let grant = match &self.password {
            None => Grant::ClientCredentials,
            Some((username, password)) => Grant::Password(username, password),
        };
        let clock = &*self.cache.options.clock;
        let issued = self.endpoint.token(grant, &owned(scopes), clock).await?;
        Ok(issued.access)
    }
}

/// Implements [`TokenCredential`] and `with_cache_options` for the public
/// faces of a [`GrantCredential`].
macro_rules! answer_as_grant_credential {
    ($($name:ty),*) => {$(
        impl $name {
            /// Replaces the cache options (clock, refresh margin, failure hook).
            #[must_use]
            pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
                self.0.cache = TokenCache::new(options);
                self
            }
        }

        impl TokenCredential for $name {
            fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
                Box::pin(self.0.cache.get_or_fetch(scopes, || self.0.fetch(scopes)))
            }
            fn invalidate(&self, scopes: &[&str]) {
                self.0.cache.invalidate(scopes);
            }
        }
    )*};
}
pub(crate) use answer_as_grant_credential;
answer_as_grant_credential!(
    ClientSecretCredential,
    UsernamePasswordCredential,
    EnvironmentCredential
);

/// The client credentials flow ("application"): a confidential client signs
/// in as itself with its secret, sent in the form body as the Microsoft
/// identity platform documents. Tokens are cached per scope set. The crate
/// docs show it in use.
#[derive(Debug)]
pub struct ClientSecretCredential(GrantCredential);

impl ClientSecretCredential {
    /// A credential for the application `client_id` with `client_secret`.
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        http: SharedHttpClient,
    ) -> Self {
        let mut endpoint = TokenEndpoint::new(authority, client_id, http);
        endpoint.set_client_secret(client_secret);
        ClientSecretCredential(GrantCredential::new(endpoint, None))
    }
}

/// The password flow (resource owner password credentials, "ROPC"): a user's
/// name and password are sent to the token endpoint. The identity platform
/// refuses it on `common` and `consumers` (and for personal or MFA-enabled
/// accounts), so those tenants are refused up front.
#[derive(Debug)]
pub struct UsernamePasswordCredential(GrantCredential);

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
        let password = (
            oauth2::ResourceOwnerUsername::new(username.into()),
            oauth2::ResourceOwnerPassword::new(password.into()),
        );
        let endpoint = TokenEndpoint::new(authority, client_id, http);
        let credential = GrantCredential::new(endpoint, Some(password));
        Ok(UsernamePasswordCredential(credential))
    }

    /// Also sends a client secret (confidential clients).
    #[must_use]
    pub fn with_client_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.0.endpoint.set_client_secret(client_secret);
        self
    }
}

/// The tenant (`AZURE_TENANT_ID`).
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// The application (`AZURE_CLIENT_ID`).
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// The application's secret: selects the client credentials flow.
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// A user name: with `AZURE_PASSWORD`, selects the password flow.
pub const AZURE_USERNAME: &str = "AZURE_USERNAME";
/// The user's password.
pub const AZURE_PASSWORD: &str = "AZURE_PASSWORD";
/// The authority host (default `https://login.microsoftonline.com`).
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";

/// A credential read from the environment: `AZURE_TENANT_ID` and
/// `AZURE_CLIENT_ID`, then `AZURE_CLIENT_SECRET` (client credentials) or else
/// `AZURE_USERNAME` and `AZURE_PASSWORD` (password flow);
/// `AZURE_AUTHORITY_HOST` optionally. Empty values count as missing, and an
/// error names every missing variable.
#[derive(Debug)]
pub struct EnvironmentCredential(GrantCredential);

/// The authority of `tenant` at `AZURE_AUTHORITY_HOST` (read through `get`), or the public cloud's.
pub(crate) fn env_authority(
    get: &impl Fn(&str) -> Option<String>,
    tenant: String,
) -> Result<Authority, Error> {
    let host = get(AZURE_AUTHORITY_HOST).unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
    Authority::new(tenant)?.with_host(&host)
}

/// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and the variable `third` through `get`, as the
/// authority ([`env_authority`]), the client id and `third`'s value; the error names every
/// variable that is missing.
pub(crate) fn env_tenant_client_and(
    get: &impl Fn(&str) -> Option<String>,
    third: &str,
) -> Result<(Authority, String, String), Error> {
    let names = [AZURE_TENANT_ID, AZURE_CLIENT_ID, third];
    let [tenant, client_id, value] = names.map(get);
    let (Some(tenant), Some(client_id), Some(value)) = (tenant, client_id, value) else {
        let missing = names.into_iter().filter(|n| get(n).is_none());
        return Err(Error::MissingEnvironment {
            missing: missing.map(str::to_owned).collect(),
        });
    };
    Ok((env_authority(get, tenant)?, client_id, value))
}

/// The flow the variables select.
enum Flow {
    Secret(String),
    Password(String, String),
}

impl EnvironmentCredential {
    /// Reads the process environment.
    pub fn new(http: SharedHttpClient) -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok(), http)
    }

    /// Reads the variables through `lookup` (for tests, or other sources).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let (tenant, client_id) = (get(AZURE_TENANT_ID), get(AZURE_CLIENT_ID));
        let mut missing: Vec<String> = [(AZURE_TENANT_ID, &tenant), (AZURE_CLIENT_ID, &client_id)]
            .into_iter()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_owned())
            .collect();
        // A secret selects client credentials; else a user name and a password
        // select the password flow.
        let flow = match (
            get(AZURE_CLIENT_SECRET),
            get(AZURE_USERNAME),
            get(AZURE_PASSWORD),
        ) {
            (Some(secret), _, _) => Some(Flow::Secret(secret)),
            (None, Some(username), Some(password)) => Some(Flow::Password(username, password)),
            (None, username, password) => {
                missing.push(match (username, password) {
                    (Some(_), _) => AZURE_PASSWORD.to_owned(),
                    (_, Some(_)) => AZURE_USERNAME.to_owned(),
                    _ => {
                        format!("{AZURE_CLIENT_SECRET} (or {AZURE_USERNAME} and {AZURE_PASSWORD})")
                    }
                });
                None
            }
        };
        let (Some(tenant), Some(client_id), Some(flow)) = (tenant, client_id, flow) else {
            return Err(Error::MissingEnvironment { missing });
        };
        let authority = env_authority(&get, tenant)?;
        Ok(EnvironmentCredential(match flow {
            Flow::Secret(secret) => {
                ClientSecretCredential::new(authority, client_id, secret, http).0
            }
            Flow::Password(username, password) => {
                UsernamePasswordCredential::new(authority, client_id, username, password, http)?.0
            }
        }))
    }

    /// Which flow the environment selected: `"client_credentials"` or `"password"`.
    pub fn flow(&self) -> &'static str {
        match self.0.password {
            None => "client_credentials",
            Some(_) => "password",
        }
    }
}

/// Told each new refresh token (see [`InteractiveCredential::on_refresh_token_rotated`]).
type RotationHook = Arc<dyn Fn(&RefreshTokenSecret) + Send + Sync>;

/// The result of an interactive sign-in (authorization code or implicit
/// flow): the token obtained, and for the authorization code flow the
/// refresh token, used (and replaced, as refresh tokens rotate) to get new
/// tokens, also for other scopes. Without a refresh token (implicit flow),
/// an expired token means signing in again ([`Error::LoginExpired`]).
///
/// A sign-in outlives the process through its refresh token: see "Persisting
/// and restoring a sign-in" in the crate docs. Refreshes of one credential
/// never overlap, so it never sends a refresh token twice. `Debug` never
/// shows the refresh token.
pub struct InteractiveCredential {
    endpoint: Option<TokenEndpoint>,
    refresh: Mutex<Option<RefreshTokenSecret>>,
    /// Held across a refresh, so that the same refresh token is never sent
    /// twice (different scope sets have separate cache slots).
    refresh_flight: async_lock::Mutex<()>,
    on_rotated: Option<RotationHook>,
    login_scopes: Vec<String>,
    cache: TokenCache,
}

impl InteractiveCredential {
    /// A sign-in for `scopes`, without a token yet.
    pub(crate) fn new(
        endpoint: Option<TokenEndpoint>,
        refresh: Option<RefreshTokenSecret>,
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

    /// Restores a sign-in from a persisted [`refresh_token`](Self::refresh_token):
    /// the public client `client_id` at `authority`, for the original sign-in's
    /// `scopes`. Nothing is sent until a token is needed. Fails with
    /// [`Error::InvalidConfig`] for an empty refresh token or scope list, or
    /// scopes the authority cannot express (two resources on v1 endpoints).
    pub fn from_refresh_token(
        authority: Authority,
        client_id: impl Into<String>,
        refresh_token: RefreshTokenSecret,
        scopes: &[&str],
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        let scopes = owned(scopes);
        if refresh_token.secret().trim().is_empty() || scopes.iter().all(|s| s.trim().is_empty()) {
            return Err(Error::InvalidConfig {
                message: "a restored sign-in needs a refresh token and at least one scope"
                    .to_owned(),
            });
        }
        authority.scope_param(&scopes)?;
        let endpoint = TokenEndpoint::new(authority, client_id, http);
        Ok(Self::new(
            Some(endpoint),
            Some(refresh_token),
            scopes,
            TokenCacheOptions::default(),
        ))
    }

    /// Seeds the cache with an access token for the sign-in's scopes (for
    /// example one persisted with the refresh token), used until a refresh
    /// margin before it expires, as if it had been obtained now.
    #[must_use]
    pub fn with_access_token(self, token: AccessToken) -> Self {
        self.cache.insert(&self.login_scopes, token);
        self
    }

    /// Also sends a client secret when refreshing (web apps). No effect on
    /// a sign-in without a token endpoint (implicit flow).
    #[must_use]
    pub fn with_client_secret(mut self, client_secret: impl Into<String>) -> Self {
        if let Some(endpoint) = &mut self.endpoint {
            endpoint.set_client_secret(client_secret);
        }
        self
    }

    /// Replaces the cache options (clock, refresh margin, failure hook),
    /// keeping the tokens already cached.
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache.options = options;
        self
    }

    /// Calls `hook` with each new refresh token, before the `get_token` that
    /// got it returns, so that the persisted copy is replaced. It runs on the
    /// task that refreshes: keep it short (write a file, no network).
    #[must_use]
    pub fn on_refresh_token_rotated(
        mut self,
        hook: impl Fn(&RefreshTokenSecret) + Send + Sync + 'static,
    ) -> Self {
        self.on_rotated = Some(Arc::new(hook));
        self
    }

    /// The newest refresh token, to persist the sign-in (it changes when a
    /// refresh rotates it); `None` for the implicit flow.
    pub fn refresh_token(&self) -> Option<RefreshTokenSecret> {
        self.refresh.lock().ok().and_then(|r| r.clone())
    }

    /// Whether this sign-in can be refreshed.
    pub fn has_refresh_token(&self) -> bool {
        self.refresh.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    /// The authority the sign-in refreshes at (`None` for the implicit flow).
    pub fn authority(&self) -> Option<&Authority> {
        self.endpoint.as_ref().map(|e| &e.authority)
    }

    /// The application (client) id the sign-in refreshes as (`None` for the
    /// implicit flow).
    pub fn client_id(&self) -> Option<&str> {
        self.endpoint.as_ref().map(|e| e.client_id.as_str())
    }

    /// The scopes the sign-in asked for.
    pub fn scopes(&self) -> &[String] {
        &self.login_scopes
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let _flight = self.refresh_flight.lock().await;
        let (Some(endpoint), Some(refresh)) = (&self.endpoint, self.refresh_token()) else {
            return Err(
                if crate::cache::key(scopes) == crate::cache::key(&self.login_scopes) {
                    Error::LoginExpired
                } else {
                    Error::ScopesNotAvailable {
                        scopes: scopes.join(" "),
                    }
                },
            );
        };
        let clock = &*self.cache.options.clock;
        let grant = Grant::Refresh(&refresh.0);
        let issued = endpoint.token(grant, &owned(scopes), clock).await?;
        if let Some(rotated) = issued.refresh {
            if let Ok(mut slot) = self.refresh.lock() {
                *slot = Some(rotated.clone());
            }
            if rotated.secret() != refresh.secret() {
                if let Some(hook) = &self.on_rotated {
                    hook(&rotated);
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
        Box::pin(self.cache.get_or_fetch(scopes, || self.fetch(scopes)))
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.cache.invalidate(scopes);
    }
}
