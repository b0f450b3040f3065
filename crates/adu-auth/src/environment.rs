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
/// `AZURE_AUTHORITY_HOST` optionally. Empty values count as missing, and an
/// error names every missing variable.
#[derive(Debug)]
pub struct EnvironmentCredential(pub(crate) GrantCredential);

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
            .filter_map(|(name, value)| value.is_none().then(|| name.to_owned()))
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
        let host = get(AZURE_AUTHORITY_HOST).unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
        let authority = Authority::new(tenant)?.with_host(&host)?;
        Ok(EnvironmentCredential(match flow {
            Flow::Secret(secret) => {
                ClientSecretCredential::new(authority, client_id, secret, http).0
            }
            Flow::Password(username, password) => {
                UsernamePasswordCredential::new(authority, client_id, username, password, http)?.0
            }
        }))
    }

    /// Replaces the cache options (clock, refresh margin, failure hook).
    #[must_use]
    pub fn with_cache_options(self, options: TokenCacheOptions) -> Self {
        EnvironmentCredential(self.0.with_cache_options(options))
    }

    /// Which flow the environment selected: `"client_credentials"` or `"password"`.
    pub fn flow(&self) -> &'static str {
        self.0.flow()
    }
}
