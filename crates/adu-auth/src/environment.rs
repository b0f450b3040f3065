//! A credential configured by the usual Azure environment variables.

use crate::authority::{Authority, DEFAULT_AUTHORITY_HOST};
use crate::cache::TokenCacheOptions;
use crate::credentials::{ClientSecretCredential, GrantCredential, UsernamePasswordCredential};
use crate::error::Error;
use crate::http_client::SharedHttpClient;

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
/// `AZURE_AUTHORITY_HOST` optionally. Empty values count as missing.
///
/// ```
/// # use std::sync::Arc;
/// use adu_auth::{EnvironmentCredential, Error, HttpClientError};
/// let http = Arc::new(|_r: http::Request<Vec<u8>>| async {
///     Err::<http::Response<Vec<u8>>, _>(HttpClientError::new("offline"))
/// });
/// let err = EnvironmentCredential::from_lookup(|name| match name {
///     "AZURE_TENANT_ID" => Some("contoso.onmicrosoft.com".to_owned()),
///     _ => None,
/// }, http)
/// .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "missing environment variables: AZURE_CLIENT_ID, AZURE_CLIENT_SECRET (or AZURE_USERNAME and AZURE_PASSWORD)"
/// );
/// ```
#[derive(Debug)]
pub struct EnvironmentCredential(pub(crate) GrantCredential);

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
        let tenant = get(AZURE_TENANT_ID);
        let client_id = get(AZURE_CLIENT_ID);
        let secret = get(AZURE_CLIENT_SECRET);
        let username = get(AZURE_USERNAME);
        let password = get(AZURE_PASSWORD);

        let mut missing = Vec::new();
        if tenant.is_none() {
            missing.push(AZURE_TENANT_ID.to_owned());
        }
        if client_id.is_none() {
            missing.push(AZURE_CLIENT_ID.to_owned());
        }
        if secret.is_none() {
            match (&username, &password) {
                (Some(_), Some(_)) => {}
                (Some(_), None) => missing.push(AZURE_PASSWORD.to_owned()),
                (None, Some(_)) => missing.push(AZURE_USERNAME.to_owned()),
                (None, None) => missing.push(format!(
                    "{AZURE_CLIENT_SECRET} (or {AZURE_USERNAME} and {AZURE_PASSWORD})"
                )),
            }
        }
        let (Some(tenant), Some(client_id), true) = (tenant, client_id, missing.is_empty()) else {
            return Err(Error::MissingEnvironment { missing });
        };
        let host = get(AZURE_AUTHORITY_HOST).unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
        let authority = Authority::new(tenant)?.with_host(&host)?;
        let credential = match (secret, username, password) {
            (Some(secret), _, _) => {
                ClientSecretCredential::new(authority, client_id, secret, http).0
            }
            (None, Some(username), Some(password)) => {
                UsernamePasswordCredential::new(authority, client_id, username, password, http)?.0
            }
            // Not reached: the checks above named what is missing.
            _ => {
                return Err(Error::MissingEnvironment {
                    missing: vec![AZURE_CLIENT_SECRET.to_owned()],
                })
            }
        };
        Ok(EnvironmentCredential(credential))
    }

    /// Replaces the cache options (clock, refresh margin, failure hook).
    #[must_use]
    pub fn with_cache_options(self, options: TokenCacheOptions) -> Self {
        EnvironmentCredential(self.0.with_cache_options(options))
    }

    /// Which flow the environment selected: `"client_credentials"` or `"password"`.
    #[must_use]
    pub fn flow(&self) -> &'static str {
        self.0.flow()
    }
}
