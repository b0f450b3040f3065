//! `Poller` driven by a plain closure as the service: no runtime, no clock (time is a
//! variable the driver moves forward when the poller asks it to sleep).

use std::time::{Duration, Instant, SystemTime};

use adu_model::http::{self, Request, Response};
use adu_model::models::OperationStatus;
use adu_model::{
    decode_get_operation_response, ApiVersion, Error, GetOperationOutcome, OperationKind,
    OperationResponse, PollAction, PollEvent, PollPolicy, Poller, WaitError,
};
use proptest::prelude::*;

const URI: &str = "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/op1?api-version=2022-10-01";
const MS: fn(u64) -> Duration = Duration::from_millis;
const S: fn(u64) -> Duration = Duration::from_secs;

fn body(status: &str, etag: &str) -> Vec<u8> {
    format!(
        r#"{{"operationId":"op1","status":"{status}","createdDateTime":"2022-01-05T18:24:39Z","lastActionDateTime":"2022-01-05T18:25:01Z","etag":"{}"}}"#,
        etag.replace('"', "\\\"")
    )
    .into_bytes()
}

/// A 200 with `status`, the `ETag` header `etag` and an optional `Retry-After` in seconds.
fn ok(status: &str, etag: &str, retry_after: Option<u64>) -> Response<Vec<u8>> {
    let mut b = Response::builder().status(200).header("etag", etag);
    if let Some(s) = retry_after {
        b = b.header("retry-after", s.to_string());
    }
    b.body(body(status, etag)).unwrap()
}

fn status(code: u16, retry_after: Option<u64>) -> Response<Vec<u8>> {
    let mut b = Response::builder().status(code);
    if let Some(s) = retry_after {
        b = b.header("retry-after", s.to_string());
    }
    b.body(Vec::new()).unwrap()
}

/// What the driver saw.
#[derive(Debug, Default)]
struct Run {
    /// The `If-None-Match` of each request sent, and when it was sent.
    sent: Vec<(Instant, Option<String>)>,
    /// Every sleep asked for, as (from, until).
    sleeps: Vec<(Instant, Instant)>,
    events: Vec<PollEvent>,
}

/// Drives `poller` from `start` with `server` answering each request (an `Err` is a failed
/// exchange, a passing failure), decoding as a real driver does: a retryable service error
/// or a failed exchange is a passing failure, any other error ends the run.
fn drive(
    poller: &mut Poller<String>,
    start: Instant,
    mut server: impl FnMut(&Request<Vec<u8>>, usize) -> Result<Response<Vec<u8>>, String>,
) -> (Result<OperationResponse, WaitError<String>>, Run) {
    let mut now = start;
    let mut run = Run::default();
    for _ in 0..10_000 {
        let action = poller.next_action(now);
        run.events
            .extend(std::iter::from_fn(|| poller.poll_event()));
        match action {
            PollAction::Send(request) => {
                assert_eq!(request.method(), http::Method::GET);
                assert_eq!(request.uri(), URI);
                let inm = request
                    .headers()
                    .get("if-none-match")
                    .map(|v| v.to_str().unwrap().to_owned());
                run.sent.push((now, inm));
                match server(&request, run.sent.len() - 1) {
                    Ok(response) => match decode_get_operation_response(
                        ApiVersion::V2022_10_01,
                        OperationKind::Update,
                        &response,
                        SystemTime::now(),
                    ) {
                        Ok(outcome) => poller.handle_outcome(outcome, now),
                        Err(Error::Service(e)) if e.is_retryable() => {
                            poller.handle_failure(e.to_string(), e.retry_after(), now)
                        }
                        Err(e) => panic!("a final error in a test script: {e}"),
                    },
                    Err(failure) => poller.handle_failure(failure, None, now),
                }
                run.events
                    .extend(std::iter::from_fn(|| poller.poll_event()));
            }
            PollAction::SleepUntil(at) => {
                run.sleeps.push((now, at));
                now = at;
            }
            PollAction::Done(response) => return (Ok(response), run),
            PollAction::Failed(error) => return (Err(error), run),
        }
    }
    panic!("the wait never ended");
}

fn poller(policy: PollPolicy, deadline: Option<Instant>) -> Poller<String> {
    Poller::new(URI.parse().unwrap(), policy, deadline)
}

fn statuses(events: &[PollEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            PollEvent::StatusChanged(op) => Some(op.status().as_str().to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_wait_walks_statuses_with_etags_and_304s() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), None);
    let (done, run) = drive(&mut p, t0, |_, i| {
        Ok(match i {
            0 => ok("NotStarted", "\"e1\"", Some(2)),
            1 => status(304, None),
            2 => ok("Running", "\"e2\"", None),
            3 => status(304, Some(30)),
            _ => ok("Succeeded", "\"e3\"", None),
        })
    });
    let done = done.unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(done.etag.as_deref(), Some("\"e3\""));
    let inm: Vec<_> = run.sent.iter().map(|(_, t)| t.as_deref()).collect();
    assert_eq!(
        inm,
        [
            None,
            Some("\"e1\""),
            Some("\"e1\""),
            Some("\"e2\""),
            Some("\"e2\"")
        ]
    );
    // Retry-After 2 s; none: the default 5 s; none; 30 s.
    let pauses: Vec<_> = run.sleeps.iter().map(|(from, to)| *to - *from).collect();
    assert_eq!(pauses, [S(2), S(5), S(5), S(30)]);
    assert_eq!(
        statuses(&run.events),
        ["NotStarted", "Running", "Succeeded"]
    );
    let polls: Vec<u32> = run
        .events
        .iter()
        .filter_map(|e| match e {
            PollEvent::Polling { poll } => Some(*poll),
            _ => None,
        })
        .collect();
    assert_eq!(polls, [1, 2, 3, 4, 5]);
    let not_modified = run
        .events
        .iter()
        .filter(|e| **e == PollEvent::NotModified)
        .count();
    assert_eq!(not_modified, 2);
    // Each planned poll is announced with the instant it is then sent at.
    let planned: Vec<Instant> = run
        .events
        .iter()
        .filter_map(|e| match e {
            PollEvent::NextPoll { at } => Some(*at),
            _ => None,
        })
        .collect();
    let sent: Vec<Instant> = run.sent.iter().skip(1).map(|(at, _)| *at).collect();
    assert_eq!(planned, sent);
    assert_eq!(
        p.last_operation().unwrap().status(),
        &OperationStatus::Succeeded
    );
}

#[test]
fn the_events_of_one_poll_come_in_order() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), None);
    let PollAction::Send(_) = p.next_action(t0) else {
        panic!("the first poll is sent at once")
    };
    p.handle_outcome(outcome(ok("Running", "\"e\"", Some(3))), t0);
    let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
    assert!(matches!(events[0], PollEvent::Polling { poll: 1 }));
    assert!(
        matches!(&events[1], PollEvent::StatusChanged(op) if op.status() == &OperationStatus::Running)
    );
    assert_eq!(events[2], PollEvent::NextPoll { at: t0 + S(3) });
    assert_eq!(events.len(), 3);
    assert_eq!(p.poll_event(), None);
}

fn outcome(response: Response<Vec<u8>>) -> GetOperationOutcome {
    decode_get_operation_response(
        ApiVersion::V2022_10_01,
        OperationKind::Update,
        &response,
        SystemTime::now(),
    )
    .unwrap()
}

#[test]
fn retry_after_is_honoured_within_the_policy() {
    let t0 = Instant::now();
    let policy = PollPolicy::default()
        .with_min_interval(S(2))
        .with_max_interval(S(300));
    let mut p = poller(policy, None);
    let (_, run) = drive(&mut p, t0, |_, i| {
        Ok(match i {
            0 => ok("Running", "\"e\"", Some(0)),
            1 => ok("Running", "\"e\"", Some(90)),
            2 => ok("Running", "\"e\"", Some(86_400)),
            3 => ok("Running", "\"e\"", None),
            _ => ok("Failed", "\"e\"", None),
        })
    });
    let pauses: Vec<_> = run.sleeps.iter().map(|(from, to)| *to - *from).collect();
    assert_eq!(pauses, [S(2), S(90), S(300), S(5)]);
}

#[test]
fn a_failed_operation_is_done_too() {
    let mut p = poller(PollPolicy::default(), None);
    let (done, _) = drive(&mut p, Instant::now(), |_, _| {
        Ok(ok("Failed", "\"e\"", None))
    });
    assert_eq!(done.unwrap().operation.status(), &OperationStatus::Failed);
}

#[test]
fn unknown_statuses_keep_polling_up_to_the_bound() {
    let policy = PollPolicy::default().with_max_unknown_status_polls(3);
    let mut p = poller(policy, None);
    let (done, run) = drive(&mut p, Instant::now(), |_, _| {
        Ok(ok("Validating", "\"e\"", None))
    });
    match done.unwrap_err() {
        WaitError::UnknownStatus { status, last } => {
            assert_eq!(status, "Validating");
            assert_eq!(last.operation_id(), "op1");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(run.sent.len(), 4);
    assert_eq!(
        statuses(&run.events),
        ["Validating"],
        "one change, then none"
    );
}

#[test]
fn a_known_status_resets_the_unknown_count() {
    let policy = PollPolicy::default().with_max_unknown_status_polls(1);
    let mut p = poller(policy, None);
    let (done, run) = drive(&mut p, Instant::now(), |_, i| {
        Ok(match i {
            0 | 2 => ok("Validating", "\"e\"", None),
            1 => ok("Running", "\"e\"", None),
            _ => ok("Succeeded", "\"e\"", None),
        })
    });
    assert!(done.is_ok());
    assert_eq!(run.sent.len(), 4);
}

#[test]
fn failed_polls_are_ridden_out_up_to_the_bound() {
    let policy = PollPolicy::default().with_max_failed_polls(2);
    let mut p = poller(policy, None);
    let (done, run) = drive(&mut p, Instant::now(), |_, i| match i {
        0 => Ok(ok("Running", "\"e\"", None)),
        1 => Ok(status(429, Some(90))),
        2 => Err("no connection".into()),
        _ => Ok(status(503, None)),
    });
    match done.unwrap_err() {
        WaitError::TooManyFailedPolls { failed_polls, last } => {
            assert_eq!(failed_polls, 3);
            assert!(last.contains("503"), "{last}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        run.sent.len(),
        4,
        "one success, then three failures in a row"
    );
    let failed: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            PollEvent::PollFailed {
                failed_polls,
                message,
                delay,
            } => Some((*failed_polls, message.clone(), *delay)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "the failure that ends the wait is its error"
    );
    assert_eq!(failed[0].0, 1);
    assert!(failed[0].1.contains("429"), "{}", failed[0].1);
    assert_eq!(failed[0].2, S(90), "the 429's Retry-After");
    assert_eq!(failed[1], (2, "no connection".to_owned(), S(5)));
}

#[test]
fn a_success_resets_the_failure_count() {
    let policy = PollPolicy::default().with_max_failed_polls(1);
    let mut p = poller(policy, None);
    let (done, run) = drive(&mut p, Instant::now(), |_, i| match i {
        0 | 2 => Err("reset".into()),
        1 => Ok(ok("Running", "\"e\"", None)),
        _ => Ok(ok("Succeeded", "\"e\"", None)),
    });
    assert!(done.is_ok());
    assert_eq!(run.sent.len(), 4);
}

#[test]
fn no_failed_poll_is_allowed_with_a_bound_of_zero() {
    let policy = PollPolicy::default().with_max_failed_polls(0);
    let mut p = poller(policy, None);
    let (done, run) = drive(&mut p, Instant::now(), |_, _| Err("down".into()));
    assert!(matches!(
        done,
        Err(WaitError::TooManyFailedPolls {
            failed_polls: 1,
            ..
        })
    ));
    assert_eq!(run.sent.len(), 1);
}

#[test]
fn the_last_sleep_ends_at_the_deadline_and_the_wait_ends_there() {
    let t0 = Instant::now();
    let deadline = t0 + S(12);
    let mut p = poller(PollPolicy::default(), Some(deadline));
    let (done, run) = drive(&mut p, t0, |_, _| Ok(ok("Running", "\"e\"", None)));
    match done.unwrap_err() {
        WaitError::DeadlineExceeded {
            last: Some(last),
            cause: None,
        } => assert_eq!(last.status(), &OperationStatus::Running),
        other => panic!("{other:?}"),
    }
    // Polls at 0, 5 and 10 s; the next would be at 15 s: the sleep ends at 12 s.
    let sent: Vec<_> = run.sent.iter().map(|(at, _)| *at - t0).collect();
    assert_eq!(sent, [S(0), S(5), S(10)]);
    assert_eq!(run.sleeps.last().unwrap().1, deadline);
    assert!(run.sleeps.iter().all(|(_, to)| *to <= deadline));
    // The poll after the deadline is not announced.
    let planned = run
        .events
        .iter()
        .filter(|e| matches!(e, PollEvent::NextPoll { .. }))
        .count();
    assert_eq!(planned, 2);
}

#[test]
fn a_last_poll_is_made_if_time_allows() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), Some(t0 + MS(5001)));
    let (_, run) = drive(&mut p, t0, |_, _| Ok(ok("Running", "\"e\"", None)));
    assert_eq!(run.sent.len(), 2, "a poll at 5 s, just inside the deadline");
}

#[test]
fn a_failure_that_leaves_no_poll_within_the_deadline_ends_the_wait_at_once() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), Some(t0 + S(20)));
    let (done, run) = drive(&mut p, t0, |_, i| {
        Ok(match i {
            0 => ok("Running", "\"e\"", Some(1)),
            _ => status(429, Some(30)),
        })
    });
    match done.unwrap_err() {
        WaitError::DeadlineExceeded {
            last: Some(last),
            cause: Some(cause),
        } => {
            assert_eq!(last.status(), &OperationStatus::Running);
            assert!(cause.contains("429"), "{cause}");
        }
        other => panic!("{other:?}"),
    }
    // Slept once (1 s), not into the deadline.
    assert_eq!(run.sleeps.len(), 1);
    assert_eq!(run.sent.len(), 2);
}

#[test]
fn a_deadline_already_passed_sends_nothing() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), Some(t0));
    assert!(matches!(
        p.next_action(t0),
        PollAction::Failed(WaitError::DeadlineExceeded {
            last: None,
            cause: None
        })
    ));
    assert_eq!(p.poll_event(), None);
}

#[test]
fn a_poll_in_flight_at_the_deadline_ends_the_wait() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), Some(t0 + S(1)));
    let PollAction::Send(_) = p.next_action(t0) else {
        panic!()
    };
    assert!(matches!(
        p.next_action(t0 + S(1)),
        PollAction::Failed(WaitError::DeadlineExceeded { last: None, .. })
    ));
}

#[test]
fn the_end_is_handed_out_once() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), None);
    let (done, _) = drive(&mut p, t0, |_, _| Ok(ok("Succeeded", "\"e\"", None)));
    assert!(done.is_ok());
    assert!(matches!(
        p.next_action(t0),
        PollAction::Failed(WaitError::AlreadyEnded)
    ));
    // Late answers change nothing.
    p.handle_outcome(outcome(ok("Running", "\"x\"", None)), t0);
    p.handle_failure("late".into(), None, t0);
    assert_eq!(p.poll_event(), None);
    assert_eq!(
        p.last_operation().unwrap().status(),
        &OperationStatus::Succeeded
    );
    assert!(matches!(
        p.next_action(t0),
        PollAction::Failed(WaitError::AlreadyEnded)
    ));
}

#[test]
fn a_304_before_any_operation_asks_again_unconditionally_after_the_floor() {
    let t0 = Instant::now();
    let policy = PollPolicy::default().with_min_interval(S(2));
    let mut p = poller(policy, None);
    let (done, run) = drive(&mut p, t0, |_, i| {
        Ok(match i {
            0 => Response::builder()
                .status(304)
                .header("etag", "\"odd\"")
                .body(Vec::new())
                .unwrap(),
            _ => ok("Succeeded", "\"e\"", None),
        })
    });
    assert!(done.is_ok());
    assert_eq!(run.sent[1], (t0 + S(2), None));
}

#[test]
fn a_tag_that_cannot_be_sent_back_is_not_sent() {
    let mut p = poller(PollPolicy::default(), None);
    let (_, run) = drive(&mut p, Instant::now(), |_, i| {
        Ok(match i {
            // Neither the header's tag nor the body's can be a header value.
            0 => Response::builder()
                .status(200)
                .body(body("Running", "bad\u{7f}"))
                .unwrap(),
            // A 304 with an unsendable tag keeps the one that matched.
            1 => ok("Running", "\"e1\"", None),
            2 => Response::builder()
                .status(304)
                .header("etag", "W/\"\t\"")
                .body(Vec::new())
                .unwrap(),
            _ => ok("Succeeded", "\"e2\"", None),
        })
    });
    let inm: Vec<_> = run.sent.iter().map(|(_, t)| t.as_deref()).collect();
    assert_eq!(inm, [None, None, Some("\"e1\""), Some("\"e1\"")]);
}

#[test]
fn asked_again_while_a_poll_is_in_flight_it_sends_another() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), None);
    assert!(matches!(p.next_action(t0), PollAction::Send(_)));
    assert!(matches!(p.next_action(t0), PollAction::Send(_)));
    let polls: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
    assert_eq!(
        polls,
        [
            PollEvent::Polling { poll: 1 },
            PollEvent::Polling { poll: 2 }
        ]
    );
}

#[test]
fn woken_early_it_sleeps_again_until_the_same_instant() {
    let t0 = Instant::now();
    let mut p = poller(PollPolicy::default(), None);
    let _ = p.next_action(t0);
    p.handle_outcome(outcome(ok("Running", "\"e\"", Some(10))), t0);
    for now in [t0, t0 + S(3), t0 + S(9)] {
        assert!(matches!(p.next_action(now), PollAction::SleepUntil(at) if at == t0 + S(10)));
    }
    assert!(matches!(p.next_action(t0 + S(10)), PollAction::Send(_)));
}

#[test]
fn every_wait_error_says_what_happened() {
    let last = Box::new(outcome(ok("Validating", "\"e\"", None)));
    let GetOperationOutcome::Operation(last) = *last else {
        panic!()
    };
    let last = Box::new(last.operation);
    let cases: [(WaitError<String>, &str); 4] = [
        (
            WaitError::DeadlineExceeded {
                last: None,
                cause: Some("429".into()),
            },
            "the deadline passed before the operation finished",
        ),
        (
            WaitError::TooManyFailedPolls {
                failed_polls: 6,
                last: "HTTP 503".into(),
            },
            "6 polls in a row failed, the last with: HTTP 503",
        ),
        (
            WaitError::UnknownStatus {
                status: "Validating".into(),
                last,
            },
            "gave up waiting: the operation keeps reporting the unknown status \"Validating\"",
        ),
        (
            WaitError::AlreadyEnded,
            "the wait already ended; make a new poller to wait again",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}

/// One answer of the service in a property test.
#[derive(Debug, Clone)]
enum Step {
    /// 200 with a status (index into `STATUSES`), whether the tag changes, a Retry-After.
    Status(usize, bool, Option<u64>),
    /// 304 with a Retry-After.
    NotModified(Option<u64>),
    /// A passing failure with a Retry-After.
    Failure(Option<u64>),
}

const STATUSES: [&str; 5] = ["NotStarted", "Running", "Validating", "Succeeded", "Failed"];

fn step() -> impl Strategy<Value = Step> {
    let retry_after = proptest::option::of(0u64..40);
    prop_oneof![
        4 => (0..STATUSES.len(), any::<bool>(), retry_after.clone())
            .prop_map(|(s, t, r)| Step::Status(s, t, r)),
        2 => retry_after.clone().prop_map(Step::NotModified),
        3 => retry_after.prop_map(Step::Failure),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_sequence_of_answers_keeps_the_poller_s_promises(
        steps in proptest::collection::vec(step(), 0..40),
        latencies in proptest::collection::vec(0u64..4000, 40),
        min in 0u64..3,
        default in 0u64..8,
        max in 1u64..30,
        max_failed in 0u32..4,
        max_unknown in 0u32..4,
        deadline in proptest::option::of(0u64..120),
    ) {
        let t0 = Instant::now();
        let deadline = deadline.map(|d| t0 + S(d));
        let policy = PollPolicy::default()
            .with_min_interval(S(min))
            .with_default_interval(S(default))
            .with_max_interval(S(max))
            .with_max_failed_polls(max_failed)
            .with_max_unknown_status_polls(max_unknown);
        let mut p = poller(policy, deadline);
        let mut now = t0;
        let mut sent = 0usize;
        let mut failures_in_a_row = 0u32;
        // The status the service last reported (kept across 304s and failures).
        let mut reported: Option<&str> = None;
        let mut shown: Option<String> = None;
        let mut tag = 0u32;
        let ended = loop {
            prop_assert!(sent <= steps.len() + 1, "a poll after the script's end");
            let action = p.next_action(now);
            let mut events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
            match action {
                PollAction::Send(_) => {
                    if let Some(d) = deadline {
                        prop_assert!(now < d, "a poll at or after the deadline");
                    }
                    prop_assert!(failures_in_a_row <= max_failed);
                    let step = steps.get(sent).cloned().unwrap_or(Step::Status(3, true, None));
                    sent += 1;
                    let before = reported;
                    match step {
                        Step::Status(s, changed, r) => {
                            tag += u32::from(changed);
                            p.handle_outcome(outcome(ok(STATUSES[s], &format!("\"{tag}\""), r)), now);
                            reported = Some(STATUSES[s]);
                            failures_in_a_row = 0;
                        }
                        Step::NotModified(r) => {
                            p.handle_outcome(outcome(status(304, r)), now);
                            failures_in_a_row = 0;
                        }
                        Step::Failure(r) => {
                            p.handle_failure("busy".into(), r.map(S), now);
                            failures_in_a_row += 1;
                        }
                    }
                    events.extend(std::iter::from_fn(|| p.poll_event()));
                    // A status change is reported exactly when the status changed.
                    let changes = statuses(&events);
                    if reported != before {
                        prop_assert_eq!(changes, vec![reported.unwrap().to_owned()]);
                    } else {
                        prop_assert!(changes.is_empty(), "{:?}", changes);
                    }
                    for e in &events {
                        match e {
                            PollEvent::StatusChanged(op) => {
                                prop_assert_ne!(shown.as_deref(), Some(op.status().as_str()));
                                shown = Some(op.status().as_str().to_owned());
                            }
                            PollEvent::NextPoll { at } => {
                                prop_assert!(*at >= now);
                                if let Some(d) = deadline {
                                    prop_assert!(*at < d);
                                }
                            }
                            _ => {}
                        }
                    }
                    // Answers take time.
                    now += MS(latencies[sent % latencies.len()]);
                }
                PollAction::SleepUntil(at) => {
                    prop_assert!(at > now, "a sleep that does not move time on");
                    if let Some(d) = deadline {
                        prop_assert!(at <= d, "a sleep past the deadline");
                    }
                    now = at;
                }
                PollAction::Done(response) => {
                    prop_assert!(response.operation.is_terminal());
                    prop_assert_eq!(Some(response.operation.status().as_str()), reported);
                    break None;
                }
                PollAction::Failed(error) => break Some(error),
            }
        };
        match ended {
            None => {}
            Some(WaitError::DeadlineExceeded { cause, .. }) => {
                let d = deadline.expect("a deadline");
                // Either the time is up, or a failure left no poll before it.
                prop_assert!(now >= d || cause.is_some());
            }
            Some(WaitError::TooManyFailedPolls { failed_polls, .. }) => {
                prop_assert_eq!(failed_polls, max_failed + 1);
                prop_assert_eq!(failures_in_a_row, max_failed + 1);
            }
            Some(WaitError::UnknownStatus { status, .. }) => {
                prop_assert_eq!(status, "Validating");
            }
            Some(other) => prop_assert!(false, "{other:?}"),
        }
    }
}

#[test]
fn a_device_management_operation_is_waited_for_the_same_way() {
    // The poller never decodes: the driver decodes a device operation and hands it in.
    let uri = "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/management/operations/op1?api-version=2026-06-01";
    let mut p = Poller::<String>::new(uri.parse().unwrap(), PollPolicy::default(), None);
    let t0 = Instant::now();
    let mut now = t0;
    let mut answers = ["Running", "Succeeded"].into_iter();
    let done = loop {
        match p.next_action(now) {
            PollAction::Send(request) => {
                assert_eq!(request.uri(), uri);
                let response = ok(answers.next().unwrap(), "\"d\"", Some(1));
                let outcome = decode_get_operation_response(
                    ApiVersion::V2026_06_01,
                    OperationKind::Device,
                    &response,
                    SystemTime::now(),
                )
                .unwrap();
                p.handle_outcome(outcome, now);
            }
            PollAction::SleepUntil(at) => now = at,
            PollAction::Done(response) => break response,
            PollAction::Failed(error) => panic!("{error}"),
        }
    };
    assert!(matches!(done.operation, adu_model::AnyOperation::Device(_)));
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(now - t0, S(1));
}
