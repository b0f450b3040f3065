//! The token `adu login` leaves for later commands: a small JSON file in the user's cache
//! directory (`$ADU_TOKEN_CACHE`, else `<cache dir>/adu/token.json`), created owner-only.
//! After an authorization-code sign-in it also holds the refresh token and where to use it
//! (authority host, tenant, client id), so that later commands can refresh.
//!
//! The file is written to a fresh temporary file created with mode 0600 (never a `chmod`
//! after the secret is written), then renamed over the old one, so the token is never
//! readable by others, not even for a moment, and a reader never sees half a file.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The environment variable that overrides the cache file's path.
pub const TOKEN_CACHE_ENV: &str = "ADU_TOKEN_CACHE";

/// A cached token is not used when it expires within this margin.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// What the cache file holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedToken {
    /// The bearer token.
    pub access_token: String,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The flow that produced it (`auth-code` or `implicit`).
    pub flow: String,
    /// The scope it was asked for.
    pub scope: String,
    /// The refresh token of an authorization-code sign-in: later commands refresh with it
    /// when the access token has expired, and store the new (rotated) one here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Where to refresh: the authority host the sign-in used (with a trailing slash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_host: Option<String>,
    /// The tenant the sign-in used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The application (client) id the sign-in used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("flow", &self.flow)
            .field("scope", &self.scope)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("authority_host", &self.authority_host)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl CachedToken {
    /// The expiry as a time.
    pub fn expires_at_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expires_at)
    }

    /// What a refresh needs (refresh token, tenant, client id), when all of it is there.
    pub fn refreshable(&self) -> Option<(&str, &str, &str)> {
        match (&self.refresh_token, &self.tenant, &self.client_id) {
            (Some(r), Some(t), Some(c)) if !r.is_empty() => Some((r, t, c)),
            _ => None,
        }
    }

    /// Whether the token can still be used at `now` (with [`EXPIRY_MARGIN`] to spare).
    pub fn is_usable_at(&self, now: SystemTime) -> bool {
        now.checked_add(EXPIRY_MARGIN)
            .is_some_and(|later| later < self.expires_at_time())
    }
}

/// Seconds since the epoch for `time` (0 before the epoch).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Errors of the token cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither `ADU_TOKEN_CACHE` nor a user cache directory is available.
    #[error("no cache directory: set {TOKEN_CACHE_ENV} to a file path")]
    NoCacheDir,
    /// Reading or writing the file failed.
    #[error("cannot {action} the token cache {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a token cache.
    #[error("the token cache {} is not valid; run `adu login` again", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
    },
}

/// The cache file: `$ADU_TOKEN_CACHE` if set and not empty, else `<cache dir>/adu/token.json`.
pub fn cache_path() -> Result<PathBuf, Error> {
    cache_path_from(
        std::env::var_os(TOKEN_CACHE_ENV).map(PathBuf::from),
        dirs::cache_dir(),
    )
}

/// [`cache_path`] from explicit inputs.
pub fn cache_path_from(
    overridden: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
) -> Result<PathBuf, Error> {
    match overridden.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => Ok(path),
        None => cache_dir
            .map(|dir| dir.join("adu").join("token.json"))
            .ok_or(Error::NoCacheDir),
    }
}

/// Reads the cache; `Ok(None)` when there is no file.
pub fn read(path: &Path) -> Result<Option<CachedToken>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                action: "read",
                path: path.to_owned(),
                source,
            })
        }
    };
    warn_if_shared(path);
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| Error::Invalid {
            path: path.to_owned(),
        })
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the token cache is readable by other users");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

/// Writes the cache, owner-only, replacing any previous one.
pub fn write(path: &Path, token: &CachedToken) -> Result<(), Error> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(io("create the directory of", path))?;
    }
    let json = serde_json::to_vec_pretty(token).map_err(|_| Error::Invalid {
        path: path.to_owned(),
    })?;
    // Unique per process and per write, so that concurrent writers never share a file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut temp_name = path.as_os_str().to_owned();
    temp_name.push(format!(".tmp-{}-{n}", std::process::id()));
    let temp = PathBuf::from(temp_name);
    // A leftover from a crashed run would make `create_new` fail.
    let _ = std::fs::remove_file(&temp);
    let result = (|| {
        let mut file = create_private_file(&temp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(io("write", path))
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    // Files under the user's profile are private to the user by default on Windows.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at: u64) -> CachedToken {
        CachedToken {
            access_token: "eyJ0-secret".into(),
            expires_at,
            flow: "implicit".into(),
            scope: "s".into(),
            refresh_token: None,
            authority_host: None,
            tenant: None,
            client_id: None,
        }
    }

    fn refreshable_token() -> CachedToken {
        CachedToken {
            flow: "auth-code".into(),
            refresh_token: Some("rt-secret-refresh".into()),
            authority_host: Some("http://127.0.0.1:1/".into()),
            tenant: Some("emulator".into()),
            client_id: Some("adu-emulator".into()),
            ..token(42)
        }
    }

    #[test]
    fn refresh_fields_round_trip_and_stay_out_of_debug() {
        let full = refreshable_token();
        assert_eq!(
            full.refreshable(),
            Some(("rt-secret-refresh", "emulator", "adu-emulator"))
        );
        assert!(!format!("{full:?}").contains("rt-secret"));
        let json = serde_json::to_value(&full).unwrap();
        assert_eq!(json["refreshToken"], "rt-secret-refresh");
        assert_eq!(json["authorityHost"], "http://127.0.0.1:1/");
        assert_eq!(json["clientId"], "adu-emulator");
        let back: CachedToken = serde_json::from_value(json).unwrap();
        assert_eq!(back, full);
        // A file written before these fields existed still reads, and is not refreshable.
        let old: CachedToken = serde_json::from_str(
            r#"{"accessToken":"a","expiresAt":1,"flow":"implicit","scope":"s"}"#,
        )
        .unwrap();
        assert_eq!(old.refreshable(), None);
        assert!(!serde_json::to_string(&old)
            .unwrap()
            .contains("refreshToken"));
        let mut partial = full;
        partial.client_id = None;
        assert_eq!(partial.refreshable(), None);
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("adu-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn path_resolution() {
        assert_eq!(
            cache_path_from(Some("/x/t.json".into()), Some("/c".into())).unwrap(),
            PathBuf::from("/x/t.json")
        );
        assert_eq!(
            cache_path_from(Some("".into()), Some("/c".into())).unwrap(),
            PathBuf::from("/c/adu/token.json")
        );
        assert!(matches!(
            cache_path_from(None, None),
            Err(Error::NoCacheDir)
        ));
    }

    #[test]
    fn expiry_margin() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(token(1_000_000 + 3600).is_usable_at(now));
        assert!(!token(1_000_000 + 30).is_usable_at(now));
        assert!(!token(0).is_usable_at(now));
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", token(1)).contains("eyJ0"));
    }

    #[test]
    fn round_trip_owner_only() {
        let dir = temp_dir("cache");
        let path = dir.join("nested").join("token.json");
        assert_eq!(read(&path).unwrap(), None);
        write(&path, &token(42)).unwrap();
        write(&path, &token(43)).unwrap();
        assert_eq!(read(&path).unwrap(), Some(token(43)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        // Concurrent writers (one process refreshing for several requests) never collide.
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || write(&path, &token(100 + i)))
            })
            .collect();
        for w in writers {
            w.join().unwrap().unwrap();
        }
        assert!(read(&path).unwrap().unwrap().expires_at >= 100);
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        std::fs::write(&path, b"not json").unwrap();
        assert!(matches!(read(&path), Err(Error::Invalid { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
