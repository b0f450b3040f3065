//! Interop with Azure's Rust crates (the `azure-core` feature): an
//! `azure_core` credential as ours, and ours as an `azure_core` credential.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::credentials::{self as azure, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::time::OffsetDateTime;

use crate::credentials::{BoxFuture, TokenCredential};
use crate::error::Error;
use crate::token::AccessToken;

/// Any `azure_core` credential (so every `azure_identity` credential:
/// `DeveloperToolsCredential`, `ManagedIdentityCredential`,
/// `WorkloadIdentityCredential`...) as a [`TokenCredential`] of this crate.
/// It caches its tokens itself, so [`invalidate`](TokenCredential::invalidate)
/// does nothing here. Its errors become [`Error::AzureCore`] with its text.
///
/// ```
/// use std::sync::Arc;
/// use adu_auth::{AzureCoreCredential, TokenCredential};
/// use azure_core::credentials::{AccessToken, TokenCredential as _, TokenRequestOptions};
///
/// // A stand-in for an `azure_identity` credential.
/// #[derive(Debug)]
/// struct Fixed;
/// #[async_trait::async_trait]
/// impl azure_core::credentials::TokenCredential for Fixed {
///     async fn get_token(&self, _: &[&str], _: Option<TokenRequestOptions<'_>>)
///         -> azure_core::Result<AccessToken> {
///         let expires = azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1);
///         Ok(AccessToken::new("eyJ0", expires))
///     }
/// }
///
/// let credential = AzureCoreCredential::new(Arc::new(Fixed));
/// let token = futures::executor::block_on(credential.get_token(&[adu_auth::scopes::CURRENT]))?;
/// assert_eq!(token.secret(), "eyJ0");
/// # Ok::<(), adu_auth::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AzureCoreCredential(Arc<dyn azure::TokenCredential>);

impl AzureCoreCredential {
    /// Wraps an `azure_core` credential (`azure_identity`'s constructors
    /// return them in an `Arc`).
    pub fn new(credential: Arc<dyn azure::TokenCredential>) -> Self {
        AzureCoreCredential(credential)
    }
}

impl TokenCredential for AzureCoreCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(async move {
            let token = self.0.get_token(scopes, None).await.map_err(|e| {
                let transient = matches!(e.kind(), ErrorKind::Connection | ErrorKind::Io);
                Error::AzureCore {
                    message: e.to_string(),
                    transient,
                }
            })?;
            let expires_at = SystemTime::from(token.expires_on);
            Ok(AccessToken::new(token.token.secret(), expires_at))
        })
    }
}

/// A [`TokenCredential`] of this crate as an `azure_core` credential, for
/// Azure SDK clients (`Arc<dyn azure_core::credentials::TokenCredential>`).
/// Its errors are `azure_core` errors of kind `Credential` wrapping the
/// [`Error`] (reach it with `downcast_ref::<adu_auth::Error>()`).
///
/// ```
/// use std::sync::Arc;
/// use adu_auth::{ForAzureCore, StaticTokenCredential};
///
/// let ours = StaticTokenCredential::from_secret("eyJ0");
/// let theirs: Arc<dyn azure_core::credentials::TokenCredential> =
///     Arc::new(ForAzureCore::new(Arc::new(ours)));
/// let token = futures::executor::block_on(theirs.get_token(&[adu_auth::scopes::CURRENT], None))?;
/// assert_eq!(token.token.secret(), "eyJ0");
/// # Ok::<(), azure_core::Error>(())
/// ```
#[derive(Clone)]
pub struct ForAzureCore(Arc<dyn TokenCredential>);

impl ForAzureCore {
    /// Wraps one of this crate's credentials.
    pub fn new(credential: Arc<dyn TokenCredential>) -> Self {
        ForAzureCore(credential)
    }
}

// `azure_core`'s trait asks for `Debug`, which ours does not.
impl fmt::Debug for ForAzureCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForAzureCore").finish_non_exhaustive()
    }
}

/// The last second `OffsetDateTime` holds by default (9999-12-31T23:59:59Z).
const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

#[async_trait::async_trait]
impl azure::TokenCredential for ForAzureCore {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure::AccessToken> {
        let token = (self.0)
            .get_token(scopes)
            .await
            .map_err(|e| azure_core::Error::new(ErrorKind::Credential, e))?;
        // Clamped: `OffsetDateTime::from(SystemTime)` panics past its range.
        let seconds = (token.expires_at().duration_since(UNIX_EPOCH))
            .map_or(0, |d| d.as_secs())
            .min(MAX_UNIX_SECONDS);
        let expires_on = i64::try_from(seconds)
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Ok(azure::AccessToken::new(
            token.secret().to_owned(),
            expires_on,
        ))
    }
}
