//! Which credential a command uses, first that applies:
//!
//! 1. `--access-token` / `ADU_ACCESS_TOKEN`: a bearer token obtained elsewhere;
//! 2. the `AZURE_*` variables: client credentials or password ([`EnvironmentCredential`]);
//! 3. the token cached by `adu login`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use adu_auth::{
    AccessToken, EnvironmentCredential, SharedHttpClient, StaticTokenCredential, TokenCredential,
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
        match EnvironmentCredential::from_lookup(&lookup, http) {
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
            Ok(Some(cached)) if cached.is_usable_at(now) => {
                return Ok(Resolved {
                    credential: Arc::new(StaticTokenCredential::new(AccessToken::new(
                        cached.access_token.clone(),
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
            access_token: "cached".into(),
            expires_at: token_cache::unix_seconds(now + Duration::from_secs(3600)),
            flow: "implicit".into(),
            scope: "s".into(),
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
        assert_eq!(failure.exit(), Exit::Usage);
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

    fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }
}
