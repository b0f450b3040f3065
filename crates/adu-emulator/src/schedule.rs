//! The life of an operation as a pure function of its creation time, the
//! current time and its timings, so it is tested without sleeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_model::models::OperationStatus;
use adu_model::ETag;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::{Outcome, Timings};

/// Where an operation is at some instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The status the API reports.
    pub status: OperationStatus,
    /// 0 NotStarted, 1 Running, 2 finished: changes exactly when the operation does.
    pub stage: u8,
    /// When the current stage began (the operation's `lastActionDateTime`).
    pub since: SystemTime,
}

impl Progress {
    /// Whether the operation reached its outcome.
    pub fn is_finished(&self) -> bool {
        self.stage == 2
    }
}

/// The operation's progress at `now`: NotStarted for `timings.not_started`
/// after `created`, then Running for `timings.running`, then its outcome.
/// A `now` before `created` counts as `created`.
pub(crate) fn progress(
    created: SystemTime,
    now: SystemTime,
    timings: &Timings,
    outcome: Outcome,
) -> Progress {
    let elapsed = now.duration_since(created).unwrap_or(Duration::ZERO);
    let running_at = timings.not_started;
    let done_at = timings.not_started.saturating_add(timings.running);
    let at = |offset: Duration| created.checked_add(offset).unwrap_or(now);
    let (status, stage, since) = if elapsed >= done_at {
        let status = match outcome {
            Outcome::Succeeded => OperationStatus::Succeeded,
            Outcome::Failed => OperationStatus::Failed,
        };
        (status, 2, at(done_at))
    } else if elapsed >= running_at {
        (OperationStatus::Running, 1, at(running_at))
    } else {
        (OperationStatus::NotStarted, 0, created)
    };
    Progress {
        status,
        stage,
        since,
    }
}

/// `Retry-After` in whole seconds (delay-seconds, RFC 9110 §10.2.3), at least 1.
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The ETag of an operation at a stage, quoted, in the UUID-like form the service uses
/// (`"a0f7b6f2-3f6c-4eb6-8a59-2f5411c23888"`): a stable digest of the operation's id, creation
/// time and stage, so it changes exactly when the stage does.
pub(crate) fn etag(operation_id: &str, created: SystemTime, stage: u8) -> ETag {
    let created = created.duration_since(UNIX_EPOCH).unwrap_or_default();
    // The id comes first and the other parts have fixed lengths: no two inputs run together.
    let digest = Sha256::new()
        .chain_update(operation_id)
        .chain_update(created.as_nanos().to_le_bytes())
        .chain_update([stage])
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ETag::new(&format!("\"{}\"", Uuid::from_bytes(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
    }

    #[test]
    fn walks_through_the_stages_on_time() {
        let timings = Timings::new(Duration::from_millis(500), Duration::from_millis(3000));
        let created = t(0);
        let p = progress(created, t(0), &timings, Outcome::Succeeded);
        assert_eq!(
            (p.status, p.stage, p.since),
            (OperationStatus::NotStarted, 0, t(0))
        );
        let p = progress(created, t(499), &timings, Outcome::Succeeded);
        assert_eq!(p.status, OperationStatus::NotStarted);
        let p = progress(created, t(500), &timings, Outcome::Succeeded);
        assert_eq!(
            (p.status, p.stage, p.since),
            (OperationStatus::Running, 1, t(500))
        );
        let p = progress(created, t(3499), &timings, Outcome::Succeeded);
        assert_eq!(p.status, OperationStatus::Running);
        let p = progress(created, t(3500), &timings, Outcome::Succeeded);
        assert_eq!(
            (p.status, p.stage, p.since),
            (OperationStatus::Succeeded, 2, t(3500))
        );
        let p = progress(created, t(99_999), &timings, Outcome::Failed);
        assert_eq!(
            (p.status.clone(), p.since),
            (OperationStatus::Failed, t(3500))
        );
        assert!(p.is_finished());
    }

    #[test]
    fn immediate_timings_finish_at_creation_and_clock_skew_counts_as_creation() {
        let p = progress(t(10), t(10), &Timings::immediate(), Outcome::Failed);
        assert_eq!((p.status, p.since), (OperationStatus::Failed, t(10)));
        let timings = Timings::default();
        let p = progress(t(10), t(0), &timings, Outcome::Succeeded);
        assert_eq!((p.status, p.since), (OperationStatus::NotStarted, t(10)));
    }

    #[test]
    fn huge_timings_do_not_overflow() {
        let timings = Timings::new(Duration::MAX, Duration::MAX);
        let p = progress(t(0), t(5), &timings, Outcome::Succeeded);
        assert_eq!(p.status, OperationStatus::NotStarted);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let base = Timings::default();
        assert_eq!(retry_after_secs(base.retry_after), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(5)), 5);
    }

    #[test]
    fn etag_is_quoted_uuid_shaped_and_changes_with_stage() {
        let a = etag("op", t(7), 0);
        assert_eq!(a.len(), 38);
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_eq!(a.matches('-').count(), 4);
        assert_eq!(a, etag("op", t(7), 0));
        assert_ne!(a, etag("op", t(7), 1));
        assert_ne!(a, etag("op", t(8), 0));
        assert_ne!(a, etag("op2", t(7), 0));
    }

    proptest! {
        #[test]
        fn stage_never_goes_back_and_since_is_not_after_now(
            ns in 0u64..10_000, run in 0u64..10_000, a in 0u64..30_000, b in 0u64..30_000,
        ) {
            let timings = Timings::new(Duration::from_millis(ns), Duration::from_millis(run));
            let (early, late) = (a.min(b), a.max(b));
            let p1 = progress(t(0), t(early), &timings, Outcome::Succeeded);
            let p2 = progress(t(0), t(late), &timings, Outcome::Succeeded);
            prop_assert!(p1.stage <= p2.stage);
            prop_assert!(p1.since <= t(early));
            prop_assert!(p2.since <= t(late));
            prop_assert_eq!(p2.is_finished(), late >= ns + run);
            if p1.stage == p2.stage {
                prop_assert_eq!(p1.since, p2.since);
            }
        }
    }
}
