//! Which credential a command uses, first that applies:
//!
//! 1. `--access-token` / `ADU_ACCESS_TOKEN`: a bearer token obtained elsewhere;
//! 2. the `AZURE_*` variables: client credentials or password ([`EnvironmentCredential`]);
//! 3. the token cached by `adu login`: its access token while it is good; after an
//!    authorization-code sign-in, refreshed through the token endpoint when it is not, with the
//!    new access token and the rotated refresh token written back to the cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use adu_auth::{
    AccessToken, Authority, BoxFuture, EnvironmentCredential, InteractiveCredential,
    RefreshTokenSecret, SharedHttpClient, StaticTokenCredential, TokenCredential,
};

use crate::args::Secret;
use crate::exit::{Exit, Failure};
use crate::token_cache;

/// The `AZURE_*` variables that select the environment credential.
const AZURE_VARIABLES: [&str; 5] = [
    adu_auth::AZURE_TENANT_ID,
    adu_auth::AZURE_CLIENT_ID,
    adu_auth::AZURE_CLIENT_SECRET,
    adu_auth::AZURE_USERNAME,
    adu_auth::AZURE_PASSWORD,
];

/// Where the credential came from (for `-v` output; never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--access-token` or `ADU_ACCESS_TOKEN`.
    AccessToken,
    /// The `AZURE_*` variables, with the flow they selected.
    Environment(&'static str),
    /// The file `adu login` wrote.
    Cached(PathBuf),
}

/// A credential and where it came from.
pub struct Resolved {
    /// The credential.
    pub credential: Arc<dyn TokenCredential>,
    /// Where it came from.
    pub source: Source,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Picks the credential, reading the process environment and the token cache.
pub fn resolve(access_token: Option<&Secret>, http: SharedHttpClient) -> Result<Resolved, Failure> {
    resolve_from(
        access_token,
        |name| std::env::var(name).ok(),
        http,
        token_cache::cache_path(),
        SystemTime::now(),
    )
}

/// [`resolve`] with its inputs made explicit.
pub fn resolve_from(
    access_token: Option<&Secret>,
    lookup: impl Fn(&str) -> Option<String>,
    http: SharedHttpClient,
    cache_path: Result<PathBuf, token_cache::Error>,
    now: SystemTime,
) -> Result<Resolved, Failure> {
    if let Some(token) = access_token {
        return Ok(Resolved {
            credential: Arc::new(StaticTokenCredential::from_secret(token.expose())),
            source: Source::AccessToken,
        });
    }

    let mut notes: Vec<String> = Vec::new();
    let any_azure = AZURE_VARIABLES
        .iter()
        .any(|name| lookup(name).is_some_and(|v| !v.trim().is_empty()));
    if any_azure {
        match EnvironmentCredential::from_lookup(&lookup, http.clone()) {
            Ok(credential) => {
                let flow = credential.flow();
                return Ok(Resolved {
                    credential: Arc::new(credential),
                    source: Source::Environment(flow),
                });
            }
            Err(error @ adu_auth::Error::MissingEnvironment { .. }) => {
                notes.push(format!("the AZURE_* variables are incomplete ({error})"));
            }
            Err(error) => return Err(Failure::from_auth(&error)),
        }
    }

    match cache_path {
        Ok(path) => match token_cache::read(&path) {
            Ok(Some(cached)) if cached.refreshable().is_some() => {
                let credential = PersistedLogin::restore(&path, cached, http, now)?;
                return Ok(Resolved {
                    credential: Arc::new(credential),
                    source: Source::Cached(path),
                });
            }
            Ok(Some(cached)) if cached.is_usable_at(now) => {
                return Ok(Resolved {
                    credential: Arc::new(StaticTokenCredential::new(AccessToken::new(
                        cached.access_token.expose().to_owned(),
                        cached.expires_at_time(),
                    ))),
                    source: Source::Cached(path),
                });
            }
            Ok(Some(_)) => notes.push(format!(
                "the token cached by `adu login` in {} has expired",
                path.display()
            )),
            Ok(None) => {}
            Err(error) => notes.push(error.to_string()),
        },
        Err(error) => notes.push(error.to_string()),
    }

    let mut message = "no credential".to_owned();
    if !notes.is_empty() {
        message.push_str(": ");
        message.push_str(&notes.join("; "));
    }
    Err(Failure::new(
        Exit::Usage,
        message,
        "authenticate in one of three ways: set ADU_ACCESS_TOKEN (or pass --access-token) to a \
         bearer token; or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or \
         AZURE_USERNAME and AZURE_PASSWORD); or run `adu login`",
    ))
}

/// The sign-in `adu login --flow auth-code` cached, restored: the cached access token while
/// it is good, then refreshes with the cached refresh token. After every token it hands out,
/// it re-reads the credential's refresh token (refresh tokens rotate) and rewrites the cache
/// file (owner-only, temporary file + rename) when the refresh token or the access token for
/// the cached scope changed.
///
/// Two `adu` commands started together may both refresh with the same refresh token; where
/// refresh tokens are single-use, the slower one is refused with `invalid_grant`. It then
/// reads the cache file again and, if the other command saved a newer sign-in there, carries
/// on with that one instead of failing.
struct PersistedLogin {
    /// Replaced when a newer sign-in saved by another command is taken up.
    inner: Mutex<Arc<InteractiveCredential>>,
    path: PathBuf,
    http: SharedHttpClient,
    saved: Mutex<token_cache::CachedToken>,
}

/// A credential for a cached sign-in: its refresh token, at its authority, and its access
/// token while that is still good at `now`.
fn credential_for(
    cached: &token_cache::CachedToken,
    http: SharedHttpClient,
    now: SystemTime,
) -> Result<InteractiveCredential, adu_auth::Error> {
    let Some((refresh, tenant, client_id)) = cached.refreshable() else {
        return Err(adu_auth::Error::InvalidConfig {
            message: "the cached sign-in has no refresh token".to_owned(),
        });
    };
    let mut authority = Authority::new(tenant)?;
    if let Some(host) = cached.authority_host.as_deref() {
        authority = authority.with_host(host)?;
    }
    let mut credential = InteractiveCredential::from_refresh_token(
        authority,
        client_id,
        RefreshTokenSecret::new(refresh),
        &[cached.scope.as_str()],
        http,
    )?;
    if cached.is_usable_at(now) {
        credential = credential.with_access_token(AccessToken::new(
            cached.access_token.expose().to_owned(),
            cached.expires_at_time(),
        ));
    }
    Ok(credential)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PersistedLogin {
    fn restore(
        path: &Path,
        cached: token_cache::CachedToken,
        http: SharedHttpClient,
        now: SystemTime,
    ) -> Result<Self, Failure> {
        let credential = credential_for(&cached, http.clone(), now).map_err(|error| {
            let mut failure = Failure::from_auth(&error);
            failure.message = format!(
                "the sign-in cached in {} cannot be used: {error}",
                path.display()
            );
            failure.hint = Some("run `adu login` again".to_owned());
            failure
        })?;
        Ok(PersistedLogin {
            inner: Mutex::new(Arc::new(credential)),
            path: path.to_owned(),
            http,
            saved: Mutex::new(cached),
        })
    }

    fn current(&self) -> Arc<InteractiveCredential> {
        lock(&self.inner).clone()
    }

    /// The sign-in in the cache file, if another command saved a newer one (another refresh
    /// token) since this one was read or last saved; it replaces this one.
    fn take_up_newer(&self, now: SystemTime) -> Option<Arc<InteractiveCredential>> {
        let latest = match token_cache::read(&self.path) {
            Ok(latest) => latest?,
            Err(error) => {
                // The refusal stands as it is; this says why no newer sign-in was taken up.
                tracing::debug!(path = %self.path.display(), %error, "the token cache could not be read again");
                return None;
            }
        };
        let mut saved = lock(&self.saved);
        if latest.refreshable().is_none() || latest.refresh_token == saved.refresh_token {
            return None;
        }
        let credential = Arc::new(credential_for(&latest, self.http.clone(), now).ok()?);
        tracing::info!(path = %self.path.display(), "took up the sign-in another command saved");
        *lock(&self.inner) = credential.clone();
        *saved = latest;
        Some(credential)
    }

    /// Writes the cache again if `token` (obtained for `scopes` from `credential`) or the
    /// refresh token changed.
    fn persist(&self, credential: &InteractiveCredential, scopes: &[&str], token: &AccessToken) {
        let mut saved = lock(&self.saved);
        let mut next = saved.clone();
        if let Some(refresh) = credential.refresh_token() {
            next.refresh_token = Some(Secret::new(refresh.secret()));
        }
        // Only a token for the cached scope replaces the cached one.
        if scopes == [saved.scope.as_str()] {
            next.access_token = Secret::new(token.secret());
            next.expires_at = token_cache::unix_seconds(token.expires_at());
        }
        if next == *saved {
            return;
        }
        match token_cache::write(&self.path, &next) {
            Ok(()) => {
                tracing::info!(path = %self.path.display(), "refreshed sign-in saved");
                *saved = next;
            }
            Err(error) => {
                // The command itself can go on; the next one will have to sign in again if
                // the old refresh token was spent.
                eprintln!(
                    "adu: warning: {error}; the refreshed sign-in could not be saved, and the \
                     next command may need `adu login` again"
                );
            }
        }
    }
}

impl TokenCredential for PersistedLogin {
    fn get_token<'a>(
        &'a self,
        scopes: &'a [&'a str],
    ) -> BoxFuture<'a, Result<AccessToken, adu_auth::Error>> {
        Box::pin(async move {
            let credential = self.current();
            let token = match credential.get_token(scopes).await {
                Ok(token) => token,
                // Refused refresh token: another command may have spent it first.
                Err(error) if error.error_code() == Some("invalid_grant") => {
                    let Some(newer) = self.take_up_newer(SystemTime::now()) else {
                        return Err(error);
                    };
                    let token = newer.get_token(scopes).await?;
                    self.persist(&newer, scopes, &token);
                    return Ok(token);
                }
                Err(error) => return Err(error),
            };
            self.persist(&credential, scopes, &token);
            Ok(token)
        })
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.current().invalidate(scopes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn offline() -> SharedHttpClient {
        Arc::new(|_r: adu_transport::http::Request<Vec<u8>>| async {
            Err::<adu_transport::http::Response<Vec<u8>>, _>(adu_auth::HttpClientError::new(
                "offline",
            ))
        })
    }

    fn no_cache() -> Result<PathBuf, token_cache::Error> {
        Err(token_cache::Error::NoCacheDir)
    }

    #[test]
    fn the_access_token_comes_first() {
        let secret = Secret::new("tok");
        let resolved = resolve_from(
            Some(&secret),
            |_| Some("set".to_owned()),
            offline(),
            no_cache(),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(resolved.source, Source::AccessToken);
        let token = futures_lite_block_on(resolved.credential.get_token(&["s"])).unwrap();
        assert_eq!(token.secret(), "tok");
    }

    #[test]
    fn then_the_environment() {
        let lookup = |name: &str| match name {
            "AZURE_TENANT_ID" => Some("t".to_owned()),
            "AZURE_CLIENT_ID" => Some("c".to_owned()),
            "AZURE_CLIENT_SECRET" => Some("s".to_owned()),
            _ => None,
        };
        let resolved =
            resolve_from(None, lookup, offline(), no_cache(), SystemTime::now()).unwrap();
        assert_eq!(resolved.source, Source::Environment("client_credentials"));
    }

    #[test]
    fn then_the_cache_and_otherwise_a_usage_error_naming_the_three_ways() {
        let dir = std::env::temp_dir().join(format!("adu-cli-auth-{}", std::process::id()));
        let path = dir.join("token.json");
        let now = SystemTime::now();
        let cached = token_cache::CachedToken {
            access_token: Secret::new("cached"),
            expires_at: token_cache::unix_seconds(now + Duration::from_secs(3600)),
            flow: "implicit".into(),
            scope: "s".into(),
            refresh_token: None,
            authority_host: None,
            tenant: None,
            client_id: None,
        };
        token_cache::write(&path, &cached).unwrap();
        let resolved = resolve_from(None, |_| None, offline(), Ok(path.clone()), now).unwrap();
        assert_eq!(resolved.source, Source::Cached(path.clone()));

        // Expired: not used, and said so.
        let failure = resolve_from(
            None,
            |_| None,
            offline(),
            Ok(path.clone()),
            now + Duration::from_secs(7200),
        )
        .unwrap_err();
        assert_eq!(failure.exit, Exit::Usage);
        assert!(failure.message.contains("expired"), "{}", failure.message);
        let hint = failure.hint.unwrap();
        for way in ["ADU_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "adu login"] {
            assert!(hint.contains(way), "{way}");
        }
        let _ = std::fs::remove_dir_all(&dir);

        // Incomplete AZURE_* variables are named.
        let failure = resolve_from(
            None,
            |name| (name == "AZURE_TENANT_ID").then(|| "t".to_owned()),
            offline(),
            no_cache(),
            now,
        )
        .unwrap_err();
        assert!(
            failure.message.contains("AZURE_CLIENT_ID"),
            "{}",
            failure.message
        );
    }

    /// The (URI, form body) of each request a fake token endpoint received.
    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    /// A refresh that succeeds: `at-new` and the rotated `rt-2`.
    const REFRESHED: &[u8] =
        br#"{"access_token":"at-new","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#;

    /// A fake token endpoint that records each form and answers with `answer(earlier forms,
    /// this form)`: a status and a JSON body.
    fn token_endpoint(
        answer: impl Fn(&[(String, String)], &str) -> (u16, &'static [u8]) + Send + Sync + 'static,
    ) -> (Seen, SharedHttpClient) {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let http: SharedHttpClient = Arc::new(move |r: adu_transport::http::Request<Vec<u8>>| {
            let body = String::from_utf8_lossy(r.body()).into_owned();
            let mut seen = record.lock().unwrap();
            let (status, json) = answer(&seen, &body);
            seen.push((r.uri().to_string(), body));
            async move {
                Ok::<_, adu_auth::HttpClientError>(
                    adu_transport::http::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(json.to_vec())
                        .unwrap(),
                )
            }
        });
        (seen, http)
    }

    /// Answers every refresh with `at-new` and the rotated `rt-2`.
    fn rotating_endpoint() -> (Seen, SharedHttpClient) {
        token_endpoint(|_, _| (200, REFRESHED))
    }

    fn signed_in(expires_at: SystemTime) -> token_cache::CachedToken {
        token_cache::CachedToken {
            access_token: Secret::new("at-old"),
            expires_at: token_cache::unix_seconds(expires_at),
            flow: "auth-code".into(),
            scope: "https://api.adu.microsoft.com/.default".into(),
            refresh_token: Some(Secret::new("rt-1")),
            authority_host: Some("http://127.0.0.1:9/".into()),
            tenant: Some("emulator".into()),
            client_id: Some("adu-emulator".into()),
        }
    }

    #[test]
    fn a_cached_sign_in_is_refreshed_when_expired_and_the_rotation_is_saved() {
        let dir = std::env::temp_dir().join(format!("adu-cli-refresh-{}", std::process::id()));
        let path = dir.join("token.json");
        let now = SystemTime::now();
        let scope = ["https://api.adu.microsoft.com/.default"];

        // Still valid: the cached token, no request, no rewrite.
        token_cache::write(&path, &signed_in(now + Duration::from_secs(3600))).unwrap();
        let (seen, http) = rotating_endpoint();
        let resolved = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();
        assert_eq!(resolved.source, Source::Cached(path.clone()));
        let token = futures_lite_block_on(resolved.credential.get_token(&scope)).unwrap();
        assert_eq!(token.secret(), "at-old");
        assert!(seen.lock().unwrap().is_empty());

        // Expired: a refresh at the cached authority, and the new tokens saved.
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();
        let (seen, http) = rotating_endpoint();
        let resolved = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();
        let token = futures_lite_block_on(resolved.credential.get_token(&scope)).unwrap();
        assert_eq!(token.secret(), "at-new");
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].0, "http://127.0.0.1:9/emulator/oauth2/v2.0/token");
            assert!(
                seen[0].1.contains("grant_type=refresh_token"),
                "{}",
                seen[0].1
            );
            assert!(seen[0].1.contains("refresh_token=rt-1"), "{}", seen[0].1);
            assert!(
                seen[0].1.contains("client_id=adu-emulator"),
                "{}",
                seen[0].1
            );
        }
        let saved = token_cache::read(&path).unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.as_ref().map(Secret::expose),
            Some("rt-2")
        );
        assert_eq!(saved.access_token.expose(), "at-new");
        assert!(saved.is_usable_at(now));
        assert_eq!(saved.tenant.as_deref(), Some("emulator"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // A token for another scope rotates the refresh token but leaves the cached access
        // token (which is for the cached scope) alone.
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();
        let (_, http) = rotating_endpoint();
        let resolved = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();
        let other = ["https://api.adu.microsoft.com/user_impersonation"];
        futures_lite_block_on(resolved.credential.get_token(&other)).unwrap();
        let saved = token_cache::read(&path).unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.as_ref().map(Secret::expose),
            Some("rt-2")
        );
        assert_eq!(saved.access_token.expose(), "at-old");

        // A cache naming an authority that cannot be used is a usage error saying to sign in.
        let mut bad = signed_in(now);
        bad.authority_host = Some("http://login.example.com/".into());
        token_cache::write(&path, &bad).unwrap();
        let (_, http) = rotating_endpoint();
        let failure = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap_err();
        assert_eq!(failure.exit, Exit::Usage);
        assert!(
            failure.message.contains("cannot be used"),
            "{}",
            failure.message
        );
        assert_eq!(failure.hint.as_deref(), Some("run `adu login` again"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Takes each refresh token once, as an identity platform that rotates single-use
    /// refresh tokens does: `rt-1` gets `at-new` and `rt-2`, and any later use of a spent
    /// token is refused with `invalid_grant`.
    fn single_use_endpoint() -> (Seen, SharedHttpClient) {
        token_endpoint(|earlier, form| {
            let first_use = !earlier.iter().any(|(_, seen)| seen == form);
            if first_use && form.contains("refresh_token=rt-1") {
                (200, REFRESHED)
            } else {
                (
                    400,
                    br#"{"error":"invalid_grant","error_description":"AADSTS70008: The refresh token has expired or was already used."}"#,
                )
            }
        })
    }

    #[test]
    fn a_command_refused_a_spent_refresh_token_takes_up_the_sign_in_another_one_saved() {
        let dir = std::env::temp_dir().join(format!("adu-cli-race-{}", std::process::id()));
        let path = dir.join("token.json");
        let now = SystemTime::now();
        let scope = ["https://api.adu.microsoft.com/.default"];
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();

        // Two commands start together and both read `rt-1`.
        let (seen, http) = single_use_endpoint();
        let first = resolve_from(None, |_| None, http.clone(), Ok(path.clone()), now).unwrap();
        let second = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();

        // The first refreshes and saves `at-new` and `rt-2`.
        let token = futures_lite_block_on(first.credential.get_token(&scope)).unwrap();
        assert_eq!(token.secret(), "at-new");
        // The second is refused `rt-1`, finds the saved sign-in and uses its access token.
        let token = futures_lite_block_on(second.credential.get_token(&scope)).unwrap();
        assert_eq!(token.secret(), "at-new");
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 2, "one refresh each, no more");
            assert!(seen
                .iter()
                .all(|(_, form)| form.contains("refresh_token=rt-1")));
        }
        let saved = token_cache::read(&path).unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.as_ref().map(Secret::expose),
            Some("rt-2")
        );

        // When nothing newer was saved, the refusal stands: the command must sign in again.
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();
        let (seen, http) = single_use_endpoint();
        // `rt-1` was spent before, by a command whose save was lost.
        let spent = resolve_from(None, |_| None, http.clone(), Ok(path.clone()), now).unwrap();
        let lone = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();
        futures_lite_block_on(spent.credential.get_token(&scope)).unwrap();
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();
        let error = futures_lite_block_on(lone.credential.get_token(&scope)).unwrap_err();
        assert_eq!(error.error_code(), Some("invalid_grant"));
        assert_eq!(seen.lock().unwrap().len(), 2);
        let saved = token_cache::read(&path).unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.as_ref().map(Secret::expose),
            Some("rt-1")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }
}
