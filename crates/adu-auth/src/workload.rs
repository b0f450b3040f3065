//! Workload identity: a federated token that the platform (Kubernetes, a CI
//! system) writes to a file and rotates, exchanged as a client assertion.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::assertion::{AssertionFn, AssertionGrant};
use crate::authority::Authority;
use crate::certificate::file_error;
use crate::credentials::env_tenant_client_and;
use crate::endpoint::TokenEndpoint;
use crate::error::Error;
use crate::http_client::SharedHttpClient;

/// The file holding the federated token (`AZURE_FEDERATED_TOKEN_FILE`).
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";

/// The most a federated token file may hold (such tokens are a few kilobytes).
pub const MAX_FEDERATED_TOKEN_BYTES: u64 = 64 * 1024;

/// How long the file's content is used before it is read again: the platform
/// rotates it, and Azure's libraries re-read it about this often.
pub const FEDERATED_TOKEN_REREAD: Duration = Duration::from_secs(300);

/// The token file and its content with when it was read. `Debug` shows the
/// path only.
struct TokenFile {
    path: PathBuf,
    read: Mutex<Option<(Arc<str>, SystemTime)>>,
}

impl TokenFile {
    /// The file's content, read again once [`FEDERATED_TOKEN_REREAD`] has
    /// passed since the last read (or if the clock went back).
    fn content(&self, now: SystemTime) -> Result<Arc<str>, Error> {
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((content, at)) = &*read {
            if now
                .duration_since(*at)
                .is_ok_and(|age| age < FEDERATED_TOKEN_REREAD)
            {
                return Ok(content.clone());
            }
        }
        let refuse = |why: String| Error::InvalidConfig {
            message: format!(
                "the federated token file {} ({AZURE_FEDERATED_TOKEN_FILE}): {why}",
                self.path.display()
            ),
        };
        let (bytes, _) = crate::file::read_bounded(&self.path, MAX_FEDERATED_TOKEN_BYTES)
            .map_err(|e| refuse(file_error(&e)))?;
        let text = String::from_utf8(bytes).map_err(|_| refuse("not UTF-8 text".to_owned()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(refuse(
                "empty: the platform has not written the token yet".to_owned(),
            ));
        }
        let token: Arc<str> = Arc::from(token);
        *read = Some((token.clone(), now));
        Ok(token)
    }
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Workload identity federation (AKS workload identity, a CI job's OIDC
/// token): the content of a token file the platform keeps fresh is the client
/// assertion of the client credentials flow. The file is read at the first
/// token request and again when a token request comes more than
/// [`FEDERATED_TOKEN_REREAD`] after the last read (the platform rotates it);
/// it must be a regular file of at most [`MAX_FEDERATED_TOKEN_BYTES`]. Tokens
/// are cached per scope set, as for a secret; the federated token is never
/// shown (errors replace any echo of it with `[redacted]`).
///
/// ```
/// # let http: adu_auth::SharedHttpClient = std::sync::Arc::new(
/// #     |_: http::Request<Vec<u8>>| async { Err::<http::Response<Vec<u8>>, _>(adu_auth::HttpClientError::new("offline")) });
/// use adu_auth::WorkloadIdentityCredential;
///
/// let env = |name: &str| match name {
///     "AZURE_TENANT_ID" => Some("contoso.onmicrosoft.com".to_owned()),
///     "AZURE_CLIENT_ID" => Some("client-id".to_owned()),
///     "AZURE_FEDERATED_TOKEN_FILE" => Some("/var/run/secrets/azure/tokens/azure-identity-token".to_owned()),
///     _ => None,
/// };
/// let credential = WorkloadIdentityCredential::from_lookup(env, http)?;
/// assert!(credential.token_file().ends_with("azure-identity-token"));
/// # Ok::<(), adu_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct WorkloadIdentityCredential(pub(crate) AssertionGrant, Arc<TokenFile>);

impl WorkloadIdentityCredential {
    /// A credential for the application `client_id` at `authority` (tenant
    /// and authority host), whose federated token is in `token_file`.
    /// Nothing is read until a token is needed.
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        token_file: impl Into<PathBuf>,
        http: SharedHttpClient,
    ) -> Self {
        let file = Arc::new(TokenFile {
            path: token_file.into(),
            read: Mutex::new(None),
        });
        let reader = file.clone();
        let assertion: AssertionFn = Arc::new(move |now| {
            let content = reader.content(now).map(|c| c.to_string());
            Box::pin(std::future::ready(content))
        });
        let endpoint = TokenEndpoint::new(authority, client_id, http);
        WorkloadIdentityCredential(AssertionGrant::new(endpoint, assertion), file)
    }

    /// Reads the process environment (see [`from_lookup`](Self::from_lookup)).
    pub fn from_env(http: SharedHttpClient) -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok(), http)
    }

    /// Reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE` and optionally `AZURE_AUTHORITY_HOST`
    /// through `lookup` (what the AKS workload identity webhook and Azure's
    /// login actions set). Empty values count as missing; the error names
    /// every missing variable.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let (authority, client_id, file) = env_tenant_client_and(&get, AZURE_FEDERATED_TOKEN_FILE)?;
        Ok(Self::new(authority, client_id, file, http))
    }

    /// The federated token file.
    pub fn token_file(&self) -> &Path {
        &self.1.path
    }
}
