//! The credential trait the transport calls, and the static credential.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::token::AccessToken;

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
    fn get_token<'a>(
        &'a self,
        _scopes: &'a [&'a str],
    ) -> BoxFuture<'a, Result<AccessToken, Error>> {
        let token = self.token.clone();
        Box::pin(async move { Ok(token) })
    }
}
