//! Whether to try a request again, and after how long: decisions as data.
//!
//! The transport asks [`decide_retry`] after each failed try and sleeps on
//! the answer; nothing here reads a clock or a random source.

use std::time::Duration;

use http::StatusCode;

/// How hard to retry a single request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Total tries, the first included (default 4). 1 means no retries.
    pub max_attempts: u32,
    /// The backoff before the first retry (default 500 ms); doubles each time.
    pub initial_backoff: Duration,
    /// The largest backoff between tries (default 30 s).
    pub max_backoff: Duration,
    /// No retry starts later than this after the first try (default 60 s).
    pub max_elapsed: Duration,
    /// The longest server-requested wait honoured (default 60 s); a longer
    /// `Retry-After` ends the retries and returns the answer to the caller.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Sets the total number of tries (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the first backoff.
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets the largest backoff.
    pub fn with_max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Sets the time after which no retry starts.
    pub fn with_max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = d;
        self
    }

    /// Sets the longest `Retry-After` honoured.
    pub fn with_max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }
}

/// Why the last try did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryCause {
    /// The server answered with this status.
    Status {
        /// The status.
        status: StatusCode,
        /// What `Retry-After` (or its ms variants) asked for.
        retry_after: Option<Duration>,
    },
    /// The connection could not be made or broke before a full answer.
    ConnectionFailed,
    /// The try took longer than its timeout.
    TimedOut,
}

/// The decision after a failed try.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Give up and return the last result.
    DoNotRetry,
}

/// Statuses worth another try: 408, 429, 500, 502, 503, 504.
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// Decides whether to retry after a failed try.
///
/// `attempts_made` counts the tries already sent (at least 1), `elapsed` is
/// the time since the first try, and `jitter` is a number in `[0, 1)` from
/// the caller's random source. A server's `Retry-After` is honoured exactly
/// (up to [`RetryPolicy::max_retry_after`]); otherwise the delay is
/// exponential backoff with "equal jitter": half the backoff plus a random
/// part of the other half.
///
/// ```
/// use std::time::Duration;
/// use adu_model::{decide_retry, RetryCause, RetryDecision, RetryPolicy};
/// use adu_model::http::StatusCode;
///
/// let policy = RetryPolicy::default();
/// let busy = RetryCause::Status { status: StatusCode::TOO_MANY_REQUESTS, retry_after: Some(Duration::from_secs(2)) };
/// assert_eq!(decide_retry(&policy, &busy, 1, Duration::ZERO, 0.3), RetryDecision::RetryAfter(Duration::from_secs(2)));
///
/// let missing = RetryCause::Status { status: StatusCode::NOT_FOUND, retry_after: None };
/// assert_eq!(decide_retry(&policy, &missing, 1, Duration::ZERO, 0.3), RetryDecision::DoNotRetry);
/// ```
pub fn decide_retry(
    policy: &RetryPolicy,
    cause: &RetryCause,
    attempts_made: u32,
    elapsed: Duration,
    jitter: f64,
) -> RetryDecision {
    if attempts_made >= policy.max_attempts {
        return RetryDecision::DoNotRetry;
    }
    let retry_after = match cause {
        RetryCause::Status {
            status,
            retry_after,
        } => {
            if !is_retryable_status(*status) {
                return RetryDecision::DoNotRetry;
            }
            *retry_after
        }
        RetryCause::ConnectionFailed | RetryCause::TimedOut => None,
    };
    let delay = match retry_after {
        Some(asked) if asked > policy.max_retry_after => return RetryDecision::DoNotRetry,
        Some(asked) => asked,
        None => backoff(policy, attempts_made, jitter),
    };
    match elapsed.checked_add(delay) {
        Some(at) if at <= policy.max_elapsed => RetryDecision::RetryAfter(delay),
        _ => RetryDecision::DoNotRetry,
    }
}

/// The backoff before retry number `attempts_made` (1-based), jittered.
pub fn backoff(policy: &RetryPolicy, attempts_made: u32, jitter: f64) -> Duration {
    let exponent = attempts_made.saturating_sub(1).min(31);
    let base = policy
        .initial_backoff
        .checked_mul(1u32 << exponent)
        .unwrap_or(policy.max_backoff)
        .min(policy.max_backoff);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // `mul_f64` goes through an f64, which rounds for large durations: cap
    // the sum so the jittered delay never exceeds the (capped) base.
    (base / 2)
        .checked_add(base.mul_f64(jitter / 2.0))
        .map_or(base, |d| d.min(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, ra: Option<u64>) -> RetryCause {
        RetryCause::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: ra.map(Duration::from_secs),
        }
    }

    #[test]
    fn retryable_statuses() {
        let p = RetryPolicy::default();
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    decide_retry(&p, &status(code, None), 1, Duration::ZERO, 0.5),
                    RetryDecision::RetryAfter(_)
                ),
                "{code}"
            );
        }
        for code in [200, 304, 400, 401, 403, 404, 409, 501, 505] {
            assert_eq!(
                decide_retry(&p, &status(code, None), 1, Duration::ZERO, 0.5),
                RetryDecision::DoNotRetry,
                "{code}"
            );
        }
        assert!(matches!(
            decide_retry(&p, &RetryCause::ConnectionFailed, 1, Duration::ZERO, 0.5),
            RetryDecision::RetryAfter(_)
        ));
        assert!(matches!(
            decide_retry(&p, &RetryCause::TimedOut, 1, Duration::ZERO, 0.5),
            RetryDecision::RetryAfter(_)
        ));
    }

    #[test]
    fn bounds() {
        let p = RetryPolicy::default();
        assert_eq!(
            decide_retry(&p, &status(503, None), 4, Duration::ZERO, 0.5),
            RetryDecision::DoNotRetry
        );
        assert_eq!(
            decide_retry(&p, &status(503, Some(61)), 1, Duration::ZERO, 0.5),
            RetryDecision::DoNotRetry
        );
        assert_eq!(
            decide_retry(&p, &status(503, Some(10)), 1, Duration::from_secs(55), 0.5),
            RetryDecision::DoNotRetry
        );
        assert_eq!(
            decide_retry(&p, &status(503, Some(10)), 1, Duration::from_secs(50), 0.5),
            RetryDecision::RetryAfter(Duration::from_secs(10))
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(backoff(&p, 1, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(&p, 3, 1.0), Duration::from_millis(2000));
        assert_eq!(backoff(&p, 40, 1.0), Duration::from_secs(30));
        assert_eq!(backoff(&p, 2, f64::NAN), Duration::from_millis(500));
    }
}
