//! Access tokens and the injected clock.

use std::fmt;
use std::time::SystemTime;

/// A bearer token and when it expires. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: String,
    expires_at: SystemTime,
}

impl AccessToken {
    /// A token with the given secret and expiry.
    pub fn new(secret: impl Into<String>, expires_at: SystemTime) -> Self {
        AccessToken {
            secret: secret.into(),
            expires_at,
        }
    }

    /// The token itself, to put after `Bearer ` in the `Authorization` header.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When the token stops being valid.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A refresh token: what lets a sign-in outlive its access token, and what an
/// application persists to restore it (see
/// [`InteractiveCredential`](crate::InteractiveCredential)). As sensitive as a
/// password: `Debug` and `Display` show `[redacted]`, the value is reachable
/// only through [`secret`](Self::secret). Refresh tokens rotate: persist the
/// newest.
#[derive(Clone, Debug)]
pub struct RefreshTokenSecret(pub(crate) oauth2::RefreshToken);

impl RefreshTokenSecret {
    /// Wraps a refresh token (for example one read back from storage).
    pub fn new(secret: impl Into<String>) -> Self {
        RefreshTokenSecret(oauth2::RefreshToken::new(secret.into()))
    }

    /// The token itself, to store or to send to the token endpoint.
    pub fn secret(&self) -> &str {
        self.0.secret()
    }
}

impl fmt::Display for RefreshTokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the credentials read the time: injected so that expiry and refresh
/// decisions can be tested without sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
