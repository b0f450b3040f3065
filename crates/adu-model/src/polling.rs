//! When to ask about an operation again.

use std::time::Duration;

use crate::models::OperationStatus;

impl OperationStatus {
    /// Whether the operation has finished: `Succeeded` or `Failed`.
    ///
    /// ```
    /// use adu_model::OperationStatus;
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
    /// The longest interval, whatever the service asks (default 60 s).
    pub max_interval: Duration,
    /// How many polls in a row may return a status this crate does not know
    /// (or `Undefined`) before giving up (default 100).
    pub max_unknown_status_polls: u32,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            default_interval: Duration::from_secs(5),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(60),
            max_unknown_status_polls: 100,
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
/// use adu_model::{decide_poll, OperationStatus, PollDecision, PollPolicy};
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
    let floor = policy.min_interval.min(policy.max_interval);
    let interval = retry_after
        .unwrap_or(policy.default_interval)
        .clamp(floor, policy.max_interval);
    PollDecision::PollAfter(interval)
}
