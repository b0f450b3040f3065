//! When to ask about an operation again.

use std::time::Duration;

use crate::models::OperationStatus;

impl OperationStatus {
    /// Whether the operation has finished: `Succeeded` or `Failed`.
    ///
    /// ```
    /// use adu_model::models::OperationStatus;
    /// assert!(OperationStatus::Failed.is_terminal());
    /// assert!(!OperationStatus::from_wire("Cancelling").is_terminal());
    /// ```
    pub fn is_terminal(&self) -> bool {
        matches!(self, OperationStatus::Succeeded | OperationStatus::Failed)
    }
}

/// How to pace polls of a running operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollPolicy {
    /// The interval when the service sends no `Retry-After` (default 5 s).
    pub default_interval: Duration,
    /// The shortest interval, whatever the service asks (default 1 s).
    pub min_interval: Duration,
    /// The longest interval, whatever the service asks (default 10 minutes).
    ///
    /// The service's `Retry-After` is honoured up to this; a longer one (from a broken
    /// proxy, say) is not allowed to keep a wait asleep for hours.
    pub max_interval: Duration,
    /// How many polls in a row may return a status this crate does not know
    /// (or `Undefined`) before giving up (default 100).
    pub max_unknown_status_polls: u32,
    /// How many polls in a row may fail for a passing reason (429, a 5xx the service
    /// marks as retryable, no connection, a timeout, a token endpoint that is briefly
    /// down), each after its own retries, before the wait gives up with that failure
    /// (default 5). Between them the wait sleeps as after a running status.
    pub max_failed_polls: u32,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            default_interval: Duration::from_secs(5),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(600),
            max_unknown_status_polls: 100,
            max_failed_polls: 5,
        }
    }
}

impl PollPolicy {
    /// Sets the interval used without `Retry-After`.
    pub fn with_default_interval(mut self, d: Duration) -> Self {
        self.default_interval = d;
        self
    }

    /// Sets the floor.
    pub fn with_min_interval(mut self, d: Duration) -> Self {
        self.min_interval = d;
        self
    }

    /// Sets the ceiling.
    pub fn with_max_interval(mut self, d: Duration) -> Self {
        self.max_interval = d;
        self
    }

    /// Sets the bound on consecutive unknown statuses.
    pub fn with_max_unknown_status_polls(mut self, n: u32) -> Self {
        self.max_unknown_status_polls = n;
        self
    }

    /// Sets the bound on consecutive polls that fail for a passing reason (0: the first
    /// such failure ends the wait).
    pub fn with_max_failed_polls(mut self, n: u32) -> Self {
        self.max_failed_polls = n;
        self
    }

    /// The pause before the next poll when the service asked for `retry_after` (or did not
    /// say): the service's wish within the policy's floor and ceiling.
    fn interval(&self, retry_after: Option<Duration>) -> Duration {
        let floor = self.min_interval.min(self.max_interval);
        retry_after
            .unwrap_or(self.default_interval)
            .clamp(floor, self.max_interval)
    }
}

/// What to do after reading an operation's status.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollDecision {
    /// The operation finished (Succeeded or Failed).
    Finished,
    /// Ask again after this delay.
    PollAfter(Duration),
    /// Too many polls in a row returned a status this crate does not know.
    GiveUp {
        /// The last status, as the service sent it.
        status: String,
    },
}

/// Decides the next step of a wait.
///
/// `unknown_polls` counts the consecutive polls so far (this one included)
/// that returned an unknown or `Undefined` status.
///
/// ```
/// use std::time::Duration;
/// use adu_model::models::OperationStatus;
/// use adu_model::{decide_poll, PollDecision, PollPolicy};
///
/// let policy = PollPolicy::default();
/// assert_eq!(decide_poll(&policy, &OperationStatus::Running, Some(Duration::from_secs(2)), 0), PollDecision::PollAfter(Duration::from_secs(2)));
/// assert_eq!(decide_poll(&policy, &OperationStatus::Running, Some(Duration::ZERO), 0), PollDecision::PollAfter(Duration::from_secs(1)));
/// assert_eq!(decide_poll(&policy, &OperationStatus::Succeeded, None, 0), PollDecision::Finished);
/// ```
pub fn decide_poll(
    policy: &PollPolicy,
    status: &OperationStatus,
    retry_after: Option<Duration>,
    unknown_polls: u32,
) -> PollDecision {
    if status.is_terminal() {
        return PollDecision::Finished;
    }
    let unknown = matches!(
        status,
        OperationStatus::Unknown(_) | OperationStatus::Undefined
    );
    if unknown && unknown_polls > policy.max_unknown_status_polls {
        return PollDecision::GiveUp {
            status: status.as_str().to_owned(),
        };
    }
    PollDecision::PollAfter(policy.interval(retry_after))
}

/// Decides whether a wait goes on after a poll failed for a passing reason (the caller
/// tells which failures those are, and has already retried the request itself).
///
/// `failed_polls` counts the consecutive failed polls, this one included; `retry_after` is
/// the failure's `Retry-After`, if it had one. Gives the pause before the next poll, or
/// `None` when the policy allows no more failures in a row: the wait then ends with the
/// failure.
///
/// ```
/// use std::time::Duration;
/// use adu_model::{decide_failed_poll, PollPolicy};
///
/// let policy = PollPolicy::default();
/// // A 429 asking for 90 s: honoured, although the request's own retries stop at 60 s.
/// assert_eq!(decide_failed_poll(&policy, Some(Duration::from_secs(90)), 1), Some(Duration::from_secs(90)));
/// // No Retry-After: the policy's default interval.
/// assert_eq!(decide_failed_poll(&policy, None, 2), Some(Duration::from_secs(5)));
/// // The sixth failure in a row ends the wait.
/// assert_eq!(decide_failed_poll(&policy, None, 6), None);
/// ```
pub fn decide_failed_poll(
    policy: &PollPolicy,
    retry_after: Option<Duration>,
    failed_polls: u32,
) -> Option<Duration> {
    (failed_polls <= policy.max_failed_polls).then(|| policy.interval(retry_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_failed_poll_waits_as_the_service_asks_within_the_policy() {
        let policy = PollPolicy::default()
            .with_min_interval(S(2))
            .with_max_interval(S(300))
            .with_max_failed_polls(3);
        assert_eq!(decide_failed_poll(&policy, Some(S(0)), 1), Some(S(2)));
        assert_eq!(decide_failed_poll(&policy, Some(S(90)), 1), Some(S(90)));
        assert_eq!(
            decide_failed_poll(&policy, Some(S(86_400)), 1),
            Some(S(300))
        );
        assert_eq!(decide_failed_poll(&policy, None, 3), Some(S(5)));
        assert_eq!(decide_failed_poll(&policy, None, 4), None);
        let strict = PollPolicy::default().with_max_failed_polls(0);
        assert_eq!(decide_failed_poll(&strict, Some(S(1)), 1), None);
    }

    #[test]
    fn a_retry_after_over_a_minute_is_honoured_by_default() {
        let running = OperationStatus::Running;
        let policy = PollPolicy::default();
        assert_eq!(
            decide_poll(&policy, &running, Some(S(120)), 0),
            PollDecision::PollAfter(S(120))
        );
        assert_eq!(
            decide_poll(&policy, &running, Some(S(86_400)), 0),
            PollDecision::PollAfter(policy.max_interval)
        );
    }
}
