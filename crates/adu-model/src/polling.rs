//! Waiting for an operation to finish: [`Poller`], a sans-IO state machine.
//!
//! The poller keeps everything a wait knows (the last operation, its ETag, the counts of
//! polls that failed or read an unknown status, the deadline) and decides what comes next;
//! its driver sends the requests, decodes the answers, sleeps and reads the clock. It never
//! decodes: the driver hands it a [`GetOperationOutcome`] (of any kind of operation) or a
//! failure of its own type `F`.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use http::{Request, Uri};

use crate::models::OperationStatus;
use crate::request::build_get_request;
use crate::response::{AnyOperation, GetOperationOutcome, OperationResponse};
use crate::ETag;

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

/// What the driver of a [`Poller`] does next.
// Not `#[non_exhaustive]`: a driver must carry out every action, so a new one is a
// breaking change whatever the attribute says.
#[must_use]
#[derive(Debug)]
pub enum PollAction<F> {
    /// Send this request (a GET, with `If-None-Match` from the last ETag), decode the answer
    /// and hand it to [`Poller::handle_outcome`], or a failure to [`Poller::handle_failure`].
    Send(Request<Vec<u8>>),
    /// Sleep until this instant (never past the deadline), then ask again.
    SleepUntil(Instant),
    /// The operation finished (Succeeded or Failed): here it is.
    Done(OperationResponse),
    /// The wait is over without a finished operation.
    Failed(WaitError<F>),
}

/// What happened during a wait, for progress displays and logs; taken with
/// [`Poller::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollEvent {
    /// A poll is being sent: the `poll`th of the wait, counting from 1.
    Polling {
        /// The number of this poll.
        poll: u32,
    },
    /// The operation's status differs from the last one read (or is the first one read).
    StatusChanged(Box<AnyOperation>),
    /// The service answered 304: nothing changed since the last ETag.
    NotModified,
    /// The next poll is planned at this instant, which is before the deadline (none is
    /// announced when the next poll would come after it: the wait then ends at the deadline).
    NextPoll {
        /// When the next poll will be sent.
        at: Instant,
    },
    /// A poll failed for a passing reason (throttled, a busy service, no connection...) and
    /// the wait polls again after `delay`.
    PollFailed {
        /// How many polls in a row have failed, this one included.
        failed_polls: u32,
        /// What went wrong (the failure's `Display`).
        message: String,
        /// The pause before the next poll.
        delay: Duration,
    },
}

/// Why a wait ended without a finished operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError<F> {
    /// The deadline passed before the operation finished, or would have before the next poll
    /// allowed after a failure (then `cause`). Wait again with a later deadline.
    #[error("the deadline passed before the operation finished")]
    DeadlineExceeded {
        /// The last operation read, if any.
        last: Option<Box<AnyOperation>>,
        /// The failed poll after which no other fitted within the deadline, if that is why.
        cause: Option<F>,
    },
    /// More polls in a row failed than the policy allows; `last` is the last failure.
    #[error("{failed_polls} polls in a row failed, the last with: {last}")]
    TooManyFailedPolls {
        /// How many polls in a row failed.
        failed_polls: u32,
        /// The last failure.
        last: F,
    },
    /// The operation kept reporting a status this crate does not know for longer than the
    /// policy allows. Upgrade the crate, or look at the operation yourself.
    #[error("gave up waiting: the operation keeps reporting the unknown status {status:?}")]
    UnknownStatus {
        /// The status text the service sent.
        status: String,
        /// The last operation read.
        last: Box<AnyOperation>,
    },
    /// The wait's end was already handed out by an earlier [`Poller::next_action`]; make a
    /// new poller to wait again.
    #[error("the wait already ended; make a new poller to wait again")]
    AlreadyEnded,
}

/// Where a wait stands.
enum State<F> {
    /// The next poll may be sent at this instant (the first one at once).
    Scheduled(Option<Instant>),
    /// A poll was handed out and its outcome has not come back.
    InFlight,
    /// The operation finished; `last` holds it.
    Finished,
    /// The wait failed.
    Failed(WaitError<F>),
    /// The end was handed out.
    Over,
}

/// A wait for an operation, as a state machine without I/O: feed it `now`, the outcome of
/// each poll it asks for, and the failures; it answers with the next [`PollAction`] and
/// reports [`PollEvent`]s. The same machine drives `adu-transport`'s wait on tokio and
/// waits on any other HTTP stack or runtime (see `examples/blocking_wait.rs`).
///
/// - Polls are paced by the answer's `Retry-After`, within the [`PollPolicy`]'s floor and
///   ceiling (its default interval without one), and made conditional with `If-None-Match`
///   and the last ETag; a 304 keeps the last operation.
/// - A status this crate does not know keeps polling up to
///   [`PollPolicy::max_unknown_status_polls`] in a row, then [`WaitError::UnknownStatus`].
/// - A poll that failed for a passing reason ([`Poller::handle_failure`]) is followed by
///   another after its `Retry-After` (or the default interval), up to
///   [`PollPolicy::max_failed_polls`] in a row, then [`WaitError::TooManyFailedPolls`].
/// - No sleep ends after the deadline: a poll that would come after it is not planned;
///   the wait sleeps until the deadline and ends with [`WaitError::DeadlineExceeded`], at
///   once with the failure as its cause when a failed poll left no time for another.
///
/// `F` is the driver's failure type, handed back in [`WaitError`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use adu_model::{GetOperationOutcome, PollAction, PollEvent, PollPolicy, Poller, http};
///
/// let uri: http::Uri = "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/op1?api-version=2022-10-01".parse().unwrap();
/// let mut poller = Poller::<String>::new(uri, PollPolicy::default(), None);
/// let mut now = Instant::now();
/// let mut statuses = ["Running", "Succeeded"].into_iter();
/// let finished = loop {
///     match poller.next_action(now) {
///         PollAction::Send(request) => {
///             // Send `request` with any HTTP client and decode the answer:
///             let body = format!(r#"{{"operationId":"op1","status":"{}","createdDateTime":"2022-01-05T18:24:39Z","lastActionDateTime":"2022-01-05T18:25:01Z"}}"#, statuses.next().unwrap());
///             let response = http::Response::builder().status(200).body(body.into_bytes()).unwrap();
///             let (version, kind) = (adu_model::ApiVersion::V2022_10_01, adu_model::OperationKind::Update);
///             match adu_model::decode_get_operation_response(version, kind, &response, std::time::SystemTime::now()) {
///                 Ok(outcome) => poller.handle_outcome(outcome, now),
///                 Err(error) => panic!("{error}"), // or `handle_failure` for a passing one
///             }
///         }
///         PollAction::SleepUntil(at) => now = at, // sleep in real life
///         PollAction::Done(response) => break response,
///         PollAction::Failed(error) => panic!("{error}"),
///     }
/// };
/// assert!(finished.operation.is_terminal());
/// let mut events = std::iter::from_fn(|| poller.poll_event());
/// assert!(matches!(events.next(), Some(PollEvent::Polling { poll: 1 })));
/// ```
pub struct Poller<F> {
    uri: Uri,
    policy: PollPolicy,
    deadline: Option<Instant>,
    state: State<F>,
    last: Option<OperationResponse>,
    etag: Option<ETag>,
    polls: u32,
    unknown_polls: u32,
    failed_polls: u32,
    events: VecDeque<PollEvent>,
}

impl<F> fmt::Debug for Poller<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("uri", &self.uri)
            .field("policy", &self.policy)
            .field("deadline", &self.deadline)
            .field("polls", &self.polls)
            .field("unknown_polls", &self.unknown_polls)
            .field("failed_polls", &self.failed_polls)
            .finish_non_exhaustive()
    }
}

impl<F: fmt::Display> Poller<F> {
    /// A wait on the operation at `uri` (an operation URI or a resolved
    /// `Operation-Location`; the driver checks where it points before sending anything),
    /// paced by `policy`, ending at `deadline` if one is given. The first poll is sent at once.
    pub fn new(uri: Uri, policy: PollPolicy, deadline: Option<Instant>) -> Self {
        Poller {
            uri,
            policy,
            deadline,
            state: State::Scheduled(None),
            last: None,
            etag: None,
            polls: 0,
            unknown_polls: 0,
            failed_polls: 0,
            events: VecDeque::new(),
        }
    }

    /// What to do at `now`. Asked again while a poll is in flight (its outcome never handed
    /// in), it takes that poll as lost and sends another.
    pub fn next_action(&mut self, now: Instant) -> PollAction<F> {
        match std::mem::replace(&mut self.state, State::Over) {
            State::Over => PollAction::Failed(WaitError::AlreadyEnded),
            State::Finished => match self.last.clone() {
                Some(response) => PollAction::Done(response),
                None => PollAction::Failed(WaitError::AlreadyEnded),
            },
            State::Failed(error) => PollAction::Failed(error),
            _ if self.deadline.is_some_and(|d| now >= d) => {
                PollAction::Failed(WaitError::DeadlineExceeded {
                    last: self.last_boxed(),
                    cause: None,
                })
            }
            State::Scheduled(Some(at)) if now < at => {
                self.state = State::Scheduled(Some(at));
                PollAction::SleepUntil(self.deadline.map_or(at, |d| at.min(d)))
            }
            State::Scheduled(_) | State::InFlight => {
                self.state = State::InFlight;
                self.polls = self.polls.saturating_add(1);
                self.events
                    .push_back(PollEvent::Polling { poll: self.polls });
                PollAction::Send(self.request())
            }
        }
    }

    /// Takes in the decoded answer to the last poll, read at `now`. Ignored once the wait
    /// has ended.
    pub fn handle_outcome(&mut self, outcome: GetOperationOutcome, now: Instant) {
        if !self.is_running() {
            return;
        }
        self.failed_polls = 0;
        let (current, retry_after) = match outcome {
            GetOperationOutcome::Operation(response) => {
                self.etag = response.etag_for_next_poll().map(ETag::new);
                let changed = self
                    .last
                    .as_ref()
                    .is_none_or(|l| l.operation.status() != response.operation.status());
                if changed {
                    let operation = Box::new(response.operation.clone());
                    self.events.push_back(PollEvent::StatusChanged(operation));
                }
                let retry_after = response.retry_after;
                (response, retry_after)
            }
            GetOperationOutcome::NotModified { etag, retry_after } => {
                self.events.push_back(PollEvent::NotModified);
                // A tag that could not be sent back keeps the one that matched.
                if let Some(etag) = etag.filter(ETag::is_sendable) {
                    self.etag = Some(etag);
                }
                let Some(previous) = self.last.take() else {
                    // A 304 before any operation was read cannot come from a conforming
                    // service (the first poll has no If-None-Match); ask again
                    // unconditionally.
                    self.etag = None;
                    self.schedule(now, self.policy.min_interval);
                    return;
                };
                (previous, retry_after)
            }
        };
        let status = current.operation.status();
        let unknown = matches!(
            status,
            OperationStatus::Unknown(_) | OperationStatus::Undefined
        );
        self.unknown_polls = if unknown {
            self.unknown_polls.saturating_add(1)
        } else {
            0
        };
        if status.is_terminal() {
            self.last = Some(current);
            self.state = State::Finished;
        } else if unknown && self.unknown_polls > self.policy.max_unknown_status_polls {
            let status = status.as_str().to_owned();
            let last = Box::new(current.operation.clone());
            self.last = Some(current);
            self.state = State::Failed(WaitError::UnknownStatus { status, last });
        } else {
            self.last = Some(current);
            self.schedule(now, self.policy.interval(retry_after));
        }
    }

    /// Takes in a poll that failed at `now` for a passing reason (throttled, a busy
    /// service, no connection, a timeout), after the driver's own retries, with the
    /// failure's `Retry-After` if it had one. A failure that polling again cannot mend is
    /// the driver's to return; it does not come here. Ignored once the wait has ended.
    pub fn handle_failure(&mut self, failure: F, retry_after: Option<Duration>, now: Instant) {
        if !self.is_running() {
            return;
        }
        self.failed_polls = self.failed_polls.saturating_add(1);
        if self.failed_polls > self.policy.max_failed_polls {
            self.state = State::Failed(WaitError::TooManyFailedPolls {
                failed_polls: self.failed_polls,
                last: failure,
            });
            return;
        }
        let delay = self.policy.interval(retry_after);
        let at = later(now, delay);
        if self.deadline.is_some_and(|d| at >= d) {
            // The next poll would come after the deadline: the wait ends now, with this
            // failure as the cause, rather than sleeping into a deadline that says nothing
            // of why.
            self.state = State::Failed(WaitError::DeadlineExceeded {
                last: self.last_boxed(),
                cause: Some(failure),
            });
            return;
        }
        self.events.push_back(PollEvent::PollFailed {
            failed_polls: self.failed_polls,
            message: failure.to_string(),
            delay,
        });
        self.schedule(now, delay);
    }

    /// The next event, oldest first; `None` when all were taken.
    pub fn poll_event(&mut self) -> Option<PollEvent> {
        self.events.pop_front()
    }

    /// The last operation read, if any (kept across 304s and failed polls).
    pub fn last_operation(&self) -> Option<&AnyOperation> {
        self.last.as_ref().map(|r| &r.operation)
    }

    fn is_running(&self) -> bool {
        matches!(self.state, State::Scheduled(_) | State::InFlight)
    }

    fn last_boxed(&self) -> Option<Box<AnyOperation>> {
        self.last_operation().cloned().map(Box::new)
    }

    /// Plans the next poll `delay` after `now`, announced if it comes before the deadline.
    fn schedule(&mut self, now: Instant, delay: Duration) {
        let at = later(now, delay);
        if self.deadline.is_none_or(|d| at < d) {
            self.events.push_back(PollEvent::NextPoll { at });
        }
        self.state = State::Scheduled(Some(at));
    }

    /// The next poll's request: a GET of the operation, conditional on the last ETag.
    fn request(&self) -> Request<Vec<u8>> {
        build_get_request(self.uri.clone(), self.etag.as_deref())
            .expect("only a sendable ETag is kept, and nothing else in a GET can fail")
    }
}

/// `now + delay`, or a year from now for a delay `Instant` cannot hold (a policy whose
/// ceiling is `Duration::MAX`).
fn later(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_interval_is_the_service_s_wish_within_the_policy() {
        let policy = PollPolicy::default()
            .with_min_interval(S(2))
            .with_max_interval(S(300));
        assert_eq!(policy.interval(Some(S(0))), S(2));
        assert_eq!(policy.interval(Some(S(90))), S(90));
        assert_eq!(policy.interval(Some(S(86_400))), S(300));
        assert_eq!(policy.interval(None), S(5));
        // A floor above the ceiling gives way to it.
        let odd = PollPolicy::default()
            .with_min_interval(S(20))
            .with_max_interval(S(10));
        assert_eq!(odd.interval(None), S(10));
    }

    #[test]
    fn a_delay_instant_cannot_hold_is_cut() {
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > now);
        assert_eq!(later(now, S(3)), now + S(3));
    }
}
