//! The emulator's shared state: operations, issued tokens, rate-limit
//! buckets, fault-injection bookkeeping and counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use adu_model::models::{
    DeviceOperation, Error as ServiceError, Operation, UpdateId, UpdateInfo, UpdateOperation,
};
use adu_model::{ETag, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::config::{
    default_device_failure, default_failure, Config, FaultKind, OperationKind, OperationSpec,
    Outcome, Timings, Visibility,
};
use crate::schedule::{self, Progress};

/// One operation the emulator knows.
#[derive(Clone, Debug)]
pub(crate) struct OpRecord {
    pub id: String,
    pub kind: OperationKind,
    /// Its place in the order lists follow: the order the emulator created operations in.
    pub seq: u64,
    pub update_id: UpdateId,
    pub friendly_name: Option<String>,
    pub timings: Timings,
    pub outcome: Outcome,
    pub error: ServiceError,
    pub visible_in: Visibility,
    pub created: SystemTime,
    pub trace_id: String,
}

impl OpRecord {
    pub fn from_spec(
        spec: OperationSpec,
        default_timings: Timings,
        seq: u64,
        now: SystemTime,
    ) -> OpRecord {
        let default_error = match spec.kind {
            OperationKind::Update => default_failure,
            OperationKind::Device => default_device_failure,
        };
        OpRecord {
            id: spec.id.unwrap_or_else(|| Uuid::new_v4().to_string()),
            kind: spec.kind,
            seq,
            update_id: spec.update_id,
            friendly_name: spec.friendly_name,
            timings: spec.timings.unwrap_or(default_timings),
            outcome: spec.outcome.unwrap_or(match spec.error {
                Some(_) => Outcome::Failed,
                None => Outcome::Succeeded,
            }),
            error: spec.error.unwrap_or_else(default_error),
            visible_in: spec.visible_in,
            created: now.checked_sub(spec.created_ago).unwrap_or(now),
            trace_id: Uuid::new_v4().simple().to_string(),
        }
    }

    pub fn progress(&self, now: SystemTime) -> Progress {
        schedule::progress(self.created, now, &self.timings, self.outcome)
    }

    pub fn etag(&self, progress: &Progress) -> ETag {
        schedule::etag(&self.id, self.created, progress.stage)
    }

    /// The 2022-10-01 `UpdateOperation` at `now`, seen through `instance`.
    pub fn render_current(
        &self,
        now: SystemTime,
        instance: &str,
        api_version: &str,
    ) -> UpdateOperation {
        let p = self.progress(now);
        let mut op = UpdateOperation::new(
            self.id.clone(),
            p.status.clone(),
            Timestamp::from_system_time(p.since),
            Timestamp::from_system_time(self.created),
        );
        // Like the service, the update is known once the manifest was read (after NotStarted).
        if p.stage > 0 {
            let mut info = UpdateInfo::new(self.update_id.clone());
            info.friendly_name = self.friendly_name.clone();
            op.update = Some(info);
        }
        if p.is_finished() && self.outcome == Outcome::Succeeded {
            op.resource_location = Some(format!(
                "/deviceUpdate/{instance}/updates/providers/{}/names/{}/versions/{}?api-version={api_version}",
                self.update_id.provider, self.update_id.name, self.update_id.version
            ));
        }
        if p.is_finished() && self.outcome == Outcome::Failed {
            let mut error = self.error.clone();
            let since = Timestamp::from_system_time(p.since);
            error.occurred_date_time.get_or_insert(since);
            op.error = Some(Box::new(error));
        }
        op.trace_id = Some(self.trace_id.clone());
        op.etag = Some(self.etag(&p));
        op
    }

    /// The `DeviceOperation` at `now`: the current one's fields but `update` and
    /// `resourceLocation`.
    pub fn render_device(&self, now: SystemTime) -> DeviceOperation {
        let current = self.render_current(now, "", "");
        let mut op = DeviceOperation::new(
            current.operation_id,
            current.status,
            current.last_action_date_time,
            current.created_date_time,
        );
        op.error = current.error;
        op.trace_id = current.trace_id;
        op.etag = current.etag;
        op
    }

    /// Whether the API at `legacy` (or the current one) shows it.
    pub fn is_visible(&self, legacy: bool) -> bool {
        match (self.kind, self.visible_in, legacy) {
            (OperationKind::Device, _, legacy) => !legacy,
            (_, Visibility::Both, _) => true,
            (_, Visibility::CurrentOnly, legacy) => !legacy,
            (_, Visibility::LegacyOnly, legacy) => legacy,
        }
    }

    /// The legacy `Operation` at `now`: the current one's fields, with the update's id and the
    /// legacy API's resource location.
    pub fn render_legacy(&self, now: SystemTime) -> Operation {
        let current = self.render_current(now, "", "");
        let mut op = Operation::new(
            current.operation_id,
            current.status,
            current.last_action_date_time,
            current.created_date_time,
        );
        op.update_id = current.update.map(|info| info.update_id);
        let id = &self.update_id;
        op.resource_location = current.resource_location.map(|_| {
            let (provider, name, version) = (&id.provider, &id.name, &id.version);
            format!("/v2/updates/providers/{provider}/names/{name}/versions/{version}")
        });
        op.error = current.error;
        op.trace_id = current.trace_id;
        op.etag = current.etag;
        op
    }
}

/// An issued authorization code: single use, short-lived, bound to the
/// client, the redirect URI and the PKCE challenge it was issued for.
#[derive(Clone, Debug)]
pub(crate) struct CodeInfo {
    pub client_id: String,
    pub redirect_uri: String,
    /// `BASE64URL(SHA256(code_verifier))` (RFC 7636 §4.2, S256).
    pub code_challenge: String,
    pub scope: String,
    pub expires: SystemTime,
}

/// Why an authorization code was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeProblem {
    Unknown,
    Redeemed,
    Expired,
}

/// A device code (RFC 8628): what it was issued for, and when its user is taken to have
/// signed in.
#[derive(Clone, Debug)]
pub(crate) struct DeviceInfo {
    pub client_id: String,
    pub scope: String,
    pub approved_at: SystemTime,
    pub expires: SystemTime,
}

/// Why a device code gives no token (yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceProblem {
    Unknown,
    Pending,
    Redeemed,
    Expired,
}

/// Why a bearer token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    Missing,
    Unknown,
    Expired,
}

/// What fault injection decided for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultDecision {
    pub latency: Duration,
    pub action: Option<FaultKind>,
}

/// Counters of what an emulator has served so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Every request received.
    pub requests: u64,
    /// Get-operation requests (both API versions, both kinds, whatever the answer).
    pub status_requests: u64,
    /// List-operations requests (each page is one; both kinds, whatever the answer).
    pub list_requests: u64,
    /// 304 Not Modified answers.
    pub not_modified: u64,
    /// Requests to the token endpoint.
    pub token_requests: u64,
    /// Requests to the authorization endpoint (`/{tenant}/oauth2/v2.0/authorize`).
    pub authorize_requests: u64,
    /// Authorization codes issued.
    pub codes_issued: u64,
    /// Requests to the managed-identity endpoints (App Service's and the metadata service's).
    pub identity_requests: u64,
    /// Access tokens issued (by the endpoint or
    /// [`RunningEmulator::issue_token`](crate::RunningEmulator::issue_token)).
    pub tokens_issued: u64,
    /// Imports accepted (202).
    pub imports: u64,
    /// Device imports accepted (202).
    pub device_imports: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// 401 answers.
    pub unauthorized: u64,
    /// Requests hit by fault injection.
    pub faults_injected: u64,
    /// Requests that came over HTTP/2 (negotiated with ALPN on https).
    pub http2_requests: u64,
    /// TCP connections accepted (each TLS handshake, on https, is one of them).
    pub connections: u64,
    /// Get-operation answers (200 or 304) per operation id.
    pub polls: BTreeMap<String, u64>,
}

impl Stats {
    /// How many times operation `id` was answered (200 or 304).
    pub fn polls_of(&self, id: &str) -> u64 {
        self.polls.get(id).copied().unwrap_or(0)
    }
}

/// Everything the request handlers share: the config, and what they change under one lock
/// (each holds it for a few map operations).
pub(crate) struct State {
    pub config: Config,
    tables: Mutex<Tables>,
}

struct Tables {
    ops: HashMap<(OperationKind, String), Arc<OpRecord>>,
    /// The same operations in list order.
    order: BTreeMap<(OperationKind, u64), Arc<OpRecord>>,
    /// The next operation's `seq`.
    next_seq: u64,
    /// Access tokens: the client each was issued to, and when it expires.
    tokens: HashMap<String, (String, SystemTime)>,
    /// Refresh tokens (single use: they rotate): the client each was issued to.
    refresh: HashMap<String, String>,
    /// Authorization codes; `None` once redeemed.
    codes: HashMap<String, Option<CodeInfo>>,
    /// Device codes (RFC 8628); `None` once redeemed.
    device_codes: HashMap<String, Option<DeviceInfo>>,
    /// Rate-limit token buckets per client: the tokens left as of an instant.
    buckets: HashMap<String, (f64, Instant)>,
    rng: StdRng,
    /// How many requests each fault rule matched.
    matched: Vec<u64>,
    stats: Stats,
}

/// Upper bound on remembered tokens and codes; expired ones are dropped past it.
const TOKEN_TABLE_LIMIT: usize = 100_000;

impl State {
    pub fn new(config: Config, now: SystemTime) -> State {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let tables = Tables {
            ops: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            tokens: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            device_codes: HashMap::new(),
            buckets: HashMap::new(),
            rng,
            matched: vec![0; config.faults.len()],
            stats: Stats::default(),
        };
        let state = State {
            config,
            tables: Mutex::new(tables),
        };
        for spec in &state.config.operations {
            state.add_operation(spec.clone(), now);
        }
        state
    }

    /// Locks the tables, recovering them if a panicking thread poisoned the lock (every
    /// critical section leaves them consistent).
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds one to the counter `counter` picks, e.g. `state.count(|s| &mut s.imports)`.
    pub fn count(&self, counter: impl FnOnce(&mut Stats) -> &mut u64) {
        *counter(&mut self.tables().stats) += 1;
    }

    /// Counts an answer (200 or 304) about operation `id`.
    pub fn count_poll(&self, id: &str) {
        *self.tables().stats.polls.entry(id.to_owned()).or_default() += 1;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.tables().stats.clone()
    }

    /// Adds (or replaces, last in list order) an operation; returns its id.
    pub fn add_operation(&self, spec: OperationSpec, now: SystemTime) -> String {
        let mut t = self.tables();
        let rec = OpRecord::from_spec(spec, self.config.default_timings, t.next_seq, now);
        let rec = Arc::new(rec);
        t.next_seq += 1;
        let id = rec.id.clone();
        t.order.insert((rec.kind, rec.seq), rec.clone());
        if let Some(old) = t.ops.insert((rec.kind, id.clone()), rec) {
            t.order.remove(&(old.kind, old.seq));
        }
        id
    }

    pub fn operation(&self, kind: OperationKind, id: &str) -> Option<Arc<OpRecord>> {
        self.tables().ops.get(&(kind, id.to_owned())).cloned()
    }

    /// Up to `n` operations of `kind` that `wanted` accepts, in list order after `seq`
    /// `after` (from the first when `None`), and whether more follow.
    pub fn page(
        &self,
        kind: OperationKind,
        after: Option<u64>,
        n: usize,
        mut wanted: impl FnMut(&OpRecord) -> bool,
    ) -> (Vec<Arc<OpRecord>>, bool) {
        let start = after.map_or(0, |seq| seq.saturating_add(1));
        let t = self.tables();
        let mut found = t
            .order
            .range((kind, start)..=(kind, u64::MAX))
            .map(|(_, rec)| rec)
            .filter(|rec| wanted(rec));
        let page: Vec<_> = found.by_ref().take(n).cloned().collect();
        let more = found.next().is_some();
        (page, more)
    }

    /// Whether some operation imported this update successfully by `now`.
    pub fn update_exists(
        &self,
        provider: &str,
        name: &str,
        version: &str,
        now: SystemTime,
    ) -> Option<Arc<OpRecord>> {
        self.tables()
            .ops
            .values()
            .find(|r| {
                r.kind == OperationKind::Update
                    && r.update_id.provider.eq_ignore_ascii_case(provider)
                    && r.update_id.name.eq_ignore_ascii_case(name)
                    && r.update_id.version == version
                    && r.outcome == Outcome::Succeeded
                    && r.progress(now).is_finished()
            })
            .cloned()
    }

    pub fn issue_token(&self, client_id: &str, now: SystemTime) -> String {
        let token = Uuid::new_v4().simple().to_string();
        let expires = now.checked_add(self.config.token_lifetime).unwrap_or(now);
        let mut t = self.tables();
        if t.tokens.len() >= TOKEN_TABLE_LIMIT {
            t.tokens.retain(|_, (_, expires)| *expires > now);
        }
        t.tokens
            .insert(token.clone(), (client_id.to_owned(), expires));
        t.stats.tokens_issued += 1;
        token
    }

    /// The client a bearer token was issued to, if it is still good at `now`.
    pub fn check_token(&self, token: &str, now: SystemTime) -> Result<String, TokenProblem> {
        match self.tables().tokens.get(token) {
            None => Err(TokenProblem::Unknown),
            Some((_, expires)) if *expires <= now => Err(TokenProblem::Expired),
            Some((client_id, _)) => Ok(client_id.clone()),
        }
    }

    pub fn issue_refresh_token(&self, client_id: &str) -> String {
        let token = Uuid::new_v4().simple().to_string();
        let mut t = self.tables();
        if t.refresh.len() >= TOKEN_TABLE_LIMIT {
            t.refresh.clear();
        }
        t.refresh.insert(token.clone(), client_id.to_owned());
        token
    }

    /// Consumes a refresh token (they rotate: each is good once); returns its client.
    pub fn redeem_refresh_token(&self, token: &str) -> Option<String> {
        self.tables().refresh.remove(token)
    }

    /// Issues an authorization code for `info`.
    pub fn issue_code(&self, info: CodeInfo, now: SystemTime) -> String {
        let code = format!("emu-code.{}", Uuid::new_v4().simple());
        let mut t = self.tables();
        if t.codes.len() >= TOKEN_TABLE_LIMIT {
            t.codes
                .retain(|_, c| c.as_ref().is_some_and(|c| c.expires > now));
        }
        t.codes.insert(code.clone(), Some(info));
        t.stats.codes_issued += 1;
        code
    }

    /// Redeems an authorization code. Every attempt spends the code (RFC 6749
    /// §4.1.2: a code is used once), even one that fails a later check, so a
    /// stolen code cannot be tried against many PKCE verifiers. A spent code
    /// is remembered (until the table fills) to answer "already redeemed".
    pub fn redeem_code(&self, code: &str, now: SystemTime) -> Result<CodeInfo, CodeProblem> {
        let mut t = self.tables();
        let entry = t.codes.get_mut(code).ok_or(CodeProblem::Unknown)?;
        let info = entry.take().ok_or(CodeProblem::Redeemed)?;
        if info.expires <= now {
            return Err(CodeProblem::Expired);
        }
        Ok(info)
    }

    /// Issues a device code for `info`.
    pub fn issue_device_code(&self, info: DeviceInfo, now: SystemTime) -> String {
        let code = format!("emu-device.{}", Uuid::new_v4().simple());
        let mut t = self.tables();
        if t.device_codes.len() >= TOKEN_TABLE_LIMIT {
            (t.device_codes).retain(|_, c| c.as_ref().is_some_and(|c| c.expires > now));
        }
        t.device_codes.insert(code.clone(), Some(info));
        code
    }

    /// A poll with a device code: its grant once its user has signed in (the code is then
    /// spent), else why not.
    pub fn poll_device_code(
        &self,
        code: &str,
        now: SystemTime,
    ) -> Result<DeviceInfo, DeviceProblem> {
        let mut t = self.tables();
        let entry = t.device_codes.get_mut(code).ok_or(DeviceProblem::Unknown)?;
        let info = entry.as_ref().ok_or(DeviceProblem::Redeemed)?;
        if info.expires <= now {
            return Err(DeviceProblem::Expired);
        }
        if now < info.approved_at {
            return Err(DeviceProblem::Pending);
        }
        entry.take().ok_or(DeviceProblem::Redeemed)
    }

    /// Applies the rate limit for `client` at `now`: a token bucket refilled at the rate up to
    /// the burst, one token a request. `Err` carries the wait until the next token.
    // governor's keyed limiter does this but reads its own clock rather than the `now` given,
    // and brings dashmap and quanta along: the bucket is a few lines.
    pub fn rate_limit(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.config.rate_limit else {
            return Ok(());
        };
        let (rate, burst) = (limit.requests_per_second, f64::from(limit.burst.max(1)));
        let mut t = self.tables();
        let (tokens, last) = t.buckets.entry(client.to_owned()).or_insert((burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::try_from_secs_f64((1.0 - *tokens) / rate).unwrap_or(Duration::from_secs(1)))
    }

    /// Decides which faults hit a request to `path`.
    pub fn decide_faults(&self, path: &str) -> FaultDecision {
        let mut decision = FaultDecision::default();
        if self.config.faults.is_empty() {
            return decision;
        }
        let mut t = self.tables();
        let Tables { rng, matched, .. } = &mut *t;
        for (rule, count) in self.config.faults.iter().zip(matched.iter_mut()) {
            if let Some(p) = &rule.path_contains {
                if !path.contains(p.as_str()) {
                    continue;
                }
            }
            *count += 1;
            if let Some(first) = rule.first {
                if *count > first {
                    continue;
                }
            }
            // Always draw, so a seeded run is repeatable whatever the outcome.
            let roll: f64 = rng.gen();
            if roll >= rule.probability {
                continue;
            }
            match rule.kind {
                FaultKind::Latency(d) => decision.latency = decision.latency.saturating_add(d),
                other => {
                    decision.action.get_or_insert(other);
                }
            }
        }
        if decision.action.is_some() || decision.latency > Duration::ZERO {
            t.stats.faults_injected += 1;
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FaultRule;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let mut config = Config::default();
        let mut limit = crate::config::RateLimit::per_second(2.0);
        limit.burst = 2;
        config.rate_limit = Some(limit);
        let state = State::new(config, SystemTime::now());
        let take = |at: Instant| state.rate_limit("c", at);
        let t0 = Instant::now();
        assert!(take(t0).is_ok());
        assert!(take(t0).is_ok());
        assert_eq!(take(t0).unwrap_err(), Duration::from_millis(500));
        assert!(take(t0 + Duration::from_millis(500)).is_ok());
        // Refill never exceeds the burst; each client has its own bucket.
        let later = t0 + Duration::from_secs(100);
        assert!(take(later).is_ok());
        assert!(take(later).is_ok());
        assert!(take(later).is_err());
        assert!(state.rate_limit("d", later).is_ok());
    }

    #[test]
    fn seeded_faults_repeat_and_first_n_stops() {
        let mut rule = FaultRule::new(FaultKind::Status(500));
        rule.probability = 0.5;
        let mut config = Config::default().with_fault(rule);
        config.seed = Some(42);
        let a = State::new(config.clone(), SystemTime::now());
        let b = State::new(config, SystemTime::now());
        let run = |s: &State| {
            (0..64)
                .map(|_| s.decide_faults("/y").action)
                .collect::<Vec<_>>()
        };
        let (ra, rb) = (run(&a), run(&b));
        assert_eq!(ra, rb);
        let hits = ra.iter().filter(|x| x.is_some()).count();
        assert!(hits > 10 && hits < 54, "{hits} hits of 64 at p=0.5");
        let only_first = Config::default()
            .with_fault(FaultRule::new(FaultKind::Latency(Duration::from_millis(5))))
            .with_fault(FaultRule::new(FaultKind::Reset).on_path("/x").first(2));
        let c = State::new(only_first, SystemTime::now());
        assert_eq!(c.decide_faults("/y").action, None);
        assert_eq!(c.decide_faults("/y").latency, Duration::from_millis(5));
        let resets = (0..5)
            .map(|_| c.decide_faults("/x").action)
            .filter(|x| *x == Some(FaultKind::Reset))
            .count();
        assert_eq!(resets, 2);
    }

    #[test]
    fn one_operation_moves_through_its_stages_and_its_etag_and_last_action_with_them() {
        let created = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let timings = Timings::new(Duration::from_secs(10), Duration::from_secs(20));
        let rec = OpRecord::from_spec(
            OperationSpec::succeeding().with_timings(timings),
            Timings::default(),
            0,
            created,
        );
        let at = |secs: u64| {
            let op = rec.render_legacy(created + Duration::from_secs(secs));
            (op.status, op.etag.unwrap(), op.last_action_date_time)
        };
        let stages = [at(0), at(10), at(30)];
        let statuses: Vec<_> = stages.iter().map(|s| s.0.clone()).collect();
        use adu_model::models::OperationStatus::{NotStarted, Running, Succeeded};
        assert_eq!(statuses, [NotStarted, Running, Succeeded]);
        for pair in stages.windows(2) {
            assert_ne!(pair[0].1, pair[1].1, "the ETag changes with the stage");
            assert_ne!(pair[0].2, pair[1].2, "so does lastActionDateTime");
        }
        // Within a stage, nothing changes.
        assert_eq!(at(9), stages[0]);
        assert_eq!(at(29), stages[1]);
        assert_eq!(at(1000), stages[2]);
    }

    #[test]
    fn rendering_follows_the_schedule() {
        let now = SystemTime::now();
        let rec = OpRecord::from_spec(
            OperationSpec::failing()
                .with_id("f")
                .with_timings(Timings::immediate()),
            Timings::default(),
            0,
            now,
        );
        let op = rec.render_current(now, "blue", "2022-10-01");
        assert_eq!(op.status, adu_model::models::OperationStatus::Failed);
        let err = op.error.unwrap();
        let inner = err.innererror.unwrap().inner_error.unwrap();
        assert!(inner.error_detail.unwrap().contains("403"));
        assert!(op.resource_location.is_none());
        assert_eq!(op.trace_id.unwrap().len(), 32);
    }
}
