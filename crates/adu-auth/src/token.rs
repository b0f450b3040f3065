//! Access tokens and the injected clock.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    #[must_use]
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When the token stops being valid.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Whether the token is still valid at `now`.
    #[must_use]
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        now < self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expires = self
            .expires_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("expires_at_unix", &expires)
            .finish()
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
