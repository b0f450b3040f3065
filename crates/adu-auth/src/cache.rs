//! The token cache: per scope set, refreshed a margin before expiry, with at
//! most one token request in flight per scope set (single flight).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::token::{AccessToken, Clock, SystemClock};

/// The default refresh margin: five minutes before expiry, as Azure's own SDKs do.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A function told about a failed refresh while the old token is still used.
type RefreshErrorHook = Arc<dyn Fn(&Error) + Send + Sync>;

/// How a credential caches its tokens.
#[non_exhaustive]
#[derive(Clone)]
pub struct TokenCacheOptions {
    /// Refresh this long before a token expires (default five minutes). For
    /// short-lived tokens the margin is capped at half the token's lifetime.
    pub refresh_margin: Duration,
    /// Where the time is read.
    pub clock: Arc<dyn Clock>,
    /// Told when a refresh fails while the old token is still valid (the old
    /// token is then returned).
    pub on_refresh_error: Option<RefreshErrorHook>,
}

impl Default for TokenCacheOptions {
    fn default() -> Self {
        TokenCacheOptions {
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(SystemClock),
            on_refresh_error: None,
        }
    }
}

impl TokenCacheOptions {
    /// Sets the refresh margin.
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the hook told about refresh failures hidden by a still-valid token.
    #[must_use]
    pub fn on_refresh_error(mut self, hook: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.on_refresh_error = Some(Arc::new(hook));
        self
    }
}

impl fmt::Debug for TokenCacheOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCacheOptions")
            .field("refresh_margin", &self.refresh_margin)
            .field("clock", &self.clock)
            .field("on_refresh_error", &self.on_refresh_error.is_some())
            .finish()
    }
}

/// Whether a token obtained at `obtained` must be refreshed at `now`: once
/// fewer than `margin` (capped at half the lifetime) remain.
fn needs_refresh(
    token: &AccessToken,
    obtained: SystemTime,
    now: SystemTime,
    margin: Duration,
) -> bool {
    let lifetime = token
        .expires_at()
        .duration_since(obtained)
        .unwrap_or(Duration::ZERO);
    let margin = margin.min(lifetime / 2);
    (now.checked_add(margin)).is_none_or(|refresh_at| refresh_at >= token.expires_at())
}

#[derive(Clone, Debug)]
struct Cached {
    token: AccessToken,
    obtained: SystemTime,
}

#[derive(Debug, Default)]
struct SlotState {
    cached: Option<Cached>,
    /// Incremented after every completed fetch attempt.
    generation: u64,
    /// The error of the last attempt, if it failed.
    last_error: Option<Error>,
}

/// The cache of one scope set: its state, and the lock held across a fetch.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
    flight: async_lock::Mutex<()>,
}

/// A token cache keyed by scope set (order and duplicates do not matter).
/// Hand-written: moka's cache coalesces loads, but neither hands out a
/// still-valid token during a refresh nor keeps it when the refresh fails.
#[derive(Debug)]
pub(crate) struct TokenCache {
    pub(crate) options: TokenCacheOptions,
    /// One slot per scope set.
    slots: Mutex<HashMap<BTreeSet<String>, Arc<Slot>>>,
}

/// A scope set's key: the set of its scopes.
pub(crate) fn key(scopes: &[impl AsRef<str>]) -> BTreeSet<String> {
    scopes.iter().map(|s| s.as_ref().to_owned()).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the state inconsistent
    // (every update is a single assignment), so poisoning is ignored.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TokenCache {
    /// An empty cache.
    pub(crate) fn new(options: TokenCacheOptions) -> Self {
        TokenCache {
            options,
            slots: Mutex::default(),
        }
    }

    fn slot(&self, scopes: &[impl AsRef<str>]) -> Arc<Slot> {
        lock(&self.slots).entry(key(scopes)).or_default().clone()
    }

    /// The cached token if it does not need a refresh at `now`.
    fn fresh(&self, state: &SlotState, now: SystemTime) -> Option<AccessToken> {
        let c = state.cached.as_ref()?;
        (!needs_refresh(&c.token, c.obtained, now, self.options.refresh_margin))
            .then(|| c.token.clone())
    }

    /// The cached token if it is still valid at `now`, due for a refresh or not.
    fn valid(state: &SlotState, now: SystemTime) -> Option<AccessToken> {
        let c = state.cached.as_ref()?;
        (now < c.token.expires_at()).then(|| c.token.clone())
    }

    /// Stores a token obtained now (e.g. by an interactive sign-in).
    pub(crate) fn insert(&self, scopes: &[impl AsRef<str>], token: AccessToken) {
        let obtained = self.options.clock.now();
        let slot = self.slot(scopes);
        let mut state = lock(&slot.state);
        state.cached = Some(Cached { token, obtained });
        state.last_error = None;
    }

    /// Forgets the token for these scopes (the service answered 401).
    pub(crate) fn invalidate(&self, scopes: &[&str]) {
        if let Some(slot) = lock(&self.slots).get(&key(scopes)) {
            lock(&slot.state).cached = None;
        }
    }

    /// The cached token for `scopes` if it does not need a refresh yet, or
    /// the result of `fetch`. However many callers ask at once, at most one
    /// `fetch` per scope set runs at a time: the others wait for it and share
    /// its token (or its error), or use the cached token while it is still
    /// valid. If a refresh fails while the cached token is still valid, the
    /// cached token is returned and the failure is given to
    /// [`TokenCacheOptions::on_refresh_error`].
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        scopes: &[&str],
        fetch: F,
    ) -> Result<AccessToken, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, Error>>,
    {
        let slot = self.slot(scopes);
        let (seen_generation, still_valid) = {
            let state = lock(&slot.state);
            let now = self.options.clock.now();
            if let Some(token) = self.fresh(&state, now) {
                return Ok(token);
            }
            (state.generation, Self::valid(&state, now))
        };

        let _flight = match (still_valid, slot.flight.try_lock()) {
            (_, Some(guard)) => guard,
            // Someone is already refreshing and the old token is still good:
            // use it rather than wait.
            (Some(valid), None) => return Ok(valid),
            (None, None) => slot.flight.lock().await,
        };

        // Another caller completed an attempt while we waited: share its outcome.
        {
            let state = lock(&slot.state);
            if state.generation != seen_generation {
                let now = self.options.clock.now();
                if let Some(token) = self.fresh(&state, now) {
                    return Ok(token);
                }
                if let Some(error) = &state.last_error {
                    return Self::valid(&state, now).ok_or_else(|| error.clone());
                }
            }
        }

        let result = fetch().await;
        let now = self.options.clock.now();
        let mut state = lock(&slot.state);
        state.generation = state.generation.wrapping_add(1);
        match result {
            Ok(token) => {
                state.cached = Some(Cached {
                    token: token.clone(),
                    obtained: now,
                });
                state.last_error = None;
                Ok(token)
            }
            Err(error) => {
                state.last_error = Some(error.clone());
                let valid = Self::valid(&state, now);
                drop(state);
                if let (Some(_), Some(hook)) = (&valid, &self.options.on_refresh_error) {
                    hook(&error);
                }
                valid.ok_or(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::UNIX_EPOCH;

    #[derive(Debug)]
    struct FixedClock(Mutex<SystemTime>);
    impl Clock for FixedClock {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
    }
    impl FixedClock {
        fn advance(&self, d: Duration) {
            *self.0.lock().unwrap() += d;
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn refresh_margin_is_capped_at_half_the_lifetime() {
        let tok = AccessToken::new("x", t(3600));
        let m = DEFAULT_REFRESH_MARGIN;
        assert!(!needs_refresh(&tok, t(0), t(3299), m));
        assert!(needs_refresh(&tok, t(0), t(3300), m));
        let short = AccessToken::new("x", t(60));
        assert!(!needs_refresh(&short, t(0), t(29), m));
        assert!(needs_refresh(&short, t(0), t(30), m));
        assert!(needs_refresh(&short, t(0), t(100), m));
    }

    #[test]
    fn scope_sets_match_whatever_the_order_and_duplicates() {
        assert_eq!(
            key(&["b", "a", "a"]).into_iter().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(key(&["b", "a"]), key(&["a", "b", "b"]));
        assert_ne!(key(&["a"]), key(&["a", "b"]));
    }

    #[test]
    fn caches_per_scope_set_and_refreshes_before_expiry() {
        let clock = Arc::new(FixedClock(Mutex::new(t(1_000))));
        let cache = TokenCache::new(TokenCacheOptions::default().with_clock(clock.clone()));
        let calls = AtomicUsize::new(0);
        let fetch = |name: &'static str| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let expires = clock.now() + Duration::from_secs(3600);
            async move { Ok(AccessToken::new(format!("{name}{n}"), expires)) }
        };
        assert_eq!(
            run(cache.get_or_fetch(&["a", "b"], || fetch("t")))
                .unwrap()
                .secret(),
            "t0"
        );
        assert_eq!(
            run(cache.get_or_fetch(&["b", "a", "a"], || fetch("t")))
                .unwrap()
                .secret(),
            "t0"
        );
        assert_eq!(
            run(cache.get_or_fetch(&["c"], || fetch("c")))
                .unwrap()
                .secret(),
            "c1"
        );
        clock.advance(Duration::from_secs(3299));
        assert_eq!(
            run(cache.get_or_fetch(&["a", "b"], || fetch("t")))
                .unwrap()
                .secret(),
            "t0"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            run(cache.get_or_fetch(&["a", "b"], || fetch("t")))
                .unwrap()
                .secret(),
            "t2"
        );
        cache.invalidate(&["a", "b"]);
        assert_eq!(
            run(cache.get_or_fetch(&["a", "b"], || fetch("t")))
                .unwrap()
                .secret(),
            "t3"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn failed_refresh_keeps_a_valid_token_and_reports() {
        let clock = Arc::new(FixedClock(Mutex::new(t(0))));
        let reported = Arc::new(AtomicUsize::new(0));
        let r = reported.clone();
        let cache = TokenCache::new(
            TokenCacheOptions::default()
                .with_clock(clock.clone())
                .on_refresh_error(move |e| {
                    assert!(matches!(e, Error::LoginExpired));
                    r.fetch_add(1, Ordering::SeqCst);
                }),
        );
        cache.insert(&["s"], AccessToken::new("old", t(3600)));
        clock.advance(Duration::from_secs(3400));
        let got = futures::executor::block_on(
            cache.get_or_fetch(&["s"], || async { Err(Error::LoginExpired) }),
        );
        assert_eq!(got.unwrap().secret(), "old");
        assert_eq!(reported.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(200));
        let got = futures::executor::block_on(
            cache.get_or_fetch(&["s"], || async { Err(Error::LoginExpired) }),
        );
        assert!(matches!(got, Err(Error::LoginExpired)));
        assert_eq!(reported.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn callers_use_a_valid_token_while_a_refresh_is_in_flight() {
        use futures::FutureExt;
        let clock = Arc::new(FixedClock(Mutex::new(t(0))));
        let cache = TokenCache::new(TokenCacheOptions::default().with_clock(clock.clone()));
        cache.insert(&["s"], AccessToken::new("old", t(3600)));
        clock.advance(Duration::from_secs(3400));
        let (release, gate) = futures::channel::oneshot::channel::<()>();
        let mut refresher = Box::pin(cache.get_or_fetch(&["s"], || async {
            gate.await.unwrap();
            Ok(AccessToken::new("new", t(7200)))
        }));
        // The refresher takes the flight lock and waits on the gate.
        assert!((&mut refresher).now_or_never().is_none());
        // Meanwhile another caller gets the old, still valid token at once.
        let other = run(cache.get_or_fetch(&["s"], || async { panic!("a second request") }));
        assert_eq!(other.unwrap().secret(), "old");
        release.send(()).unwrap();
        assert_eq!(run(refresher).unwrap().secret(), "new");
        assert_eq!(
            run(cache.get_or_fetch(&["s"], || async { panic!("cached") }))
                .unwrap()
                .secret(),
            "new"
        );
    }
}
