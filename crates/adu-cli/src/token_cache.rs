//! The token `adu login` leaves for later commands: a small JSON file in the user's cache
//! directory (`$ADU_TOKEN_CACHE`, else `<cache dir>/adu/token.json`), created owner-only.
//! After an authorization-code sign-in it also holds the refresh token and where to use it
//! (authority host, tenant, client id), so that later commands can refresh.
//!
//! The file is written through a temporary file in the same directory, which `tempfile`
//! creates owner-only (0600 on Unix) before the secret is written to it, and which is then
//! renamed over the old one: the token is never readable by others, not even for a moment,
//! and a reader never sees half a file.
//!
//! Reading is bounded ([`adu_auth::file::read_bounded`]): only a regular file of at most
//! [`MAX_CACHE_BYTES`] is read, and on Unix only one owned by the current user (or root), so
//! a FIFO, a device or a huge file at the cache's path cannot hang `adu` or exhaust its
//! memory, and another user cannot plant a sign-in for it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::args::Secret;

/// The environment variable that overrides the cache file's path.
pub const TOKEN_CACHE_ENV: &str = "ADU_TOKEN_CACHE";

/// A cached token is not used when it expires within this margin.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The largest token cache file that is read, in bytes (64 KiB). The file holds one access
/// token, one refresh token and a few short fields: a few KiB, and still well under 32 KiB
/// for access tokens that carry many group claims. A larger file is not one `adu login` wrote.
pub const MAX_CACHE_BYTES: u64 = 64 * 1024;

/// What the cache file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedToken {
    /// The bearer token.
    pub access_token: Secret,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The flow that produced it (`auth-code`, `implicit` or `device-code`).
    pub flow: String,
    /// The scope it was asked for.
    pub scope: String,
    /// The refresh token of an authorization-code sign-in: later commands refresh with it
    /// when the access token has expired, and store the new (rotated) one here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
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

impl CachedToken {
    /// The expiry as a time.
    ///
    /// An expiry too far off for the clock to hold cannot come from a real sign-in: it is
    /// taken as long expired (the epoch), so the token is refreshed or asked for again.
    pub fn expires_at_time(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(self.expires_at))
            .unwrap_or(UNIX_EPOCH)
    }

    /// What a refresh needs (refresh token, tenant, client id), when all of it is there.
    pub fn refreshable(&self) -> Option<(&str, &str, &str)> {
        match (&self.refresh_token, &self.tenant, &self.client_id) {
            (Some(r), Some(t), Some(c)) if !r.expose().is_empty() => Some((r.expose(), t, c)),
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
    /// The path names a directory, FIFO, socket or device rather than a regular file.
    #[error(
        "the token cache {} is not a regular file; remove it and run `adu login` again, or \
         set {TOKEN_CACHE_ENV} to another file path",
        path.display()
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_CACHE_BYTES`], so it is not a token cache.
    #[error(
        "the token cache {} is larger than {MAX_CACHE_BYTES} bytes, far more than a token \
         cache holds; remove it and run `adu login` again",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file belongs to another user, who could have put any sign-in in it.
    #[cfg(unix)]
    #[error(
        "the token cache {} belongs to another user (uid {owner}), so its sign-in is not \
         trusted; remove it and run `adu login` again",
        path.display()
    )]
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// The uid that owns it.
        owner: u32,
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
///
/// Only a regular file of at most [`MAX_CACHE_BYTES`] is read, and on Unix only one owned
/// by the current user or by root (see [`Error::ForeignOwner`]). Symlinks are followed: one
/// at the path was put there on purpose (`adu login` never makes one), and the checks look
/// at the file actually read, through the metadata of the opened handle.
pub fn read(path: &Path) -> Result<Option<CachedToken>, Error> {
    use adu_auth::file::FileError;
    let path_buf = || path.to_owned();
    let (bytes, _meta) = match adu_auth::file::read_bounded(path, MAX_CACHE_BYTES) {
        Ok(read) => read,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(FileError::NotAFile) => return Err(Error::NotAFile { path: path_buf() }),
        Err(FileError::TooLarge { .. }) => return Err(Error::TooLarge { path: path_buf() }),
        Err(FileError::Io(source)) => return Err(io_error("read", path, source)),
        Err(other) => return Err(io_error("read", path, std::io::Error::other(other))),
    };
    #[cfg(unix)]
    check_owner(path, &_meta)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| Error::Invalid { path: path_buf() })
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Refuses a cache owned by another user, and warns about one others can read.
///
/// Refused rather than warned about: a file readable by others is still the user's own
/// sign-in, and the warning tells them to fix the mode; a file owned by someone else is
/// someone else's sign-in, and its `authorityHost` decides where refresh requests go.
/// `adu login` never writes such a file, so refusing costs a user nothing.
#[cfg(unix)]
fn check_owner(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let owner = meta.uid();
    if !owner_is_trusted(owner, rustix::process::geteuid().as_raw()) {
        return Err(Error::ForeignOwner {
            path: path.to_owned(),
            owner,
        });
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the token cache is readable by other users");
    }
    Ok(())
}

/// Whether a file owned by `owner` may hold the sign-in of the user whose effective uid is
/// `me`: their own, or root's (as OpenSSH accepts its configuration files: root can replace
/// the user's files anyway, so trusting root's adds no one).
#[cfg(unix)]
fn owner_is_trusted(owner: u32, me: u32) -> bool {
    owner == me || owner == 0
}

/// Writes the cache, owner-only, replacing any previous one.
pub fn write(path: &Path, token: &CachedToken) -> Result<(), Error> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            create_private_dir(dir).map_err(|e| io_error("create the directory of", path, e))?;
            dir
        }
        None => Path::new("."),
    };
    let json = serde_json::to_vec_pretty(token).map_err(|_| Error::Invalid {
        path: path.to_owned(),
    })?;
    // A fresh, uniquely named file, so concurrent writers never share one; it is removed if
    // anything fails before the rename.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error("write", path, e))?;
    file.write_all(&json)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| io_error("write", path, e))?;
    file.persist(path)
        .map_err(|e| io_error("write", path, e.error))?;
    Ok(())
}

/// An exclusive lock on the cache, held by one command while it refreshes the sign-in: an
/// advisory `flock` on `<cache>.lock` beside the cache (the cache itself is replaced by each
/// write, so it cannot carry the lock), released when dropped. On systems without `flock`
/// it is always granted, and the refresh relies on reading the cache again after
/// `invalid_grant`.
#[derive(Debug)]
pub struct CacheLock(#[cfg_attr(not(unix), allow(dead_code))] std::fs::File);

impl CacheLock {
    /// Opens (creating it owner-only) the lock file of the cache at `path`. On Unix it must
    /// be a regular file of the user's own (or root's), reached without a symbolic link: in a
    /// shared directory, another user could plant a link there (opening it would create or
    /// open its target), a FIFO (opening it would block for ever) or a lock they hold.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| io_error("lock", path, e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use rustix::fs::OFlags;
            use std::os::unix::fs::OpenOptionsExt as _;
            let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK;
            options.mode(0o600).custom_flags(flags.bits() as i32);
        }
        let file = options
            .open(&lock_path)
            .map_err(|e| io_error("lock", path, e))?;
        #[cfg(unix)]
        {
            let meta = file.metadata().map_err(|e| io_error("lock", path, e))?;
            if !meta.is_file() {
                return Err(Error::NotAFile { path: lock_path });
            }
            check_owner(&lock_path, &meta)?;
        }
        Ok(CacheLock(file))
    }

    /// Takes the lock if no other command holds it: `Ok(false)` when one does.
    pub fn try_lock(&self) -> Result<bool, std::io::Error> {
        #[cfg(unix)]
        {
            use rustix::fs::{flock, FlockOperation};
            match flock(&self.0, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => Ok(true),
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        #[cfg(not(unix))]
        Ok(true)
    }
}

/// Creates `dir` and its missing parents, owner-only (0700) on Unix; elsewhere files under
/// the user's profile are private to the user by default.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at: u64) -> CachedToken {
        CachedToken {
            access_token: Secret::new("eyJ0-secret"),
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
            refresh_token: Some(Secret::new("rt-secret-refresh")),
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
        // A file without these fields (an implicit sign-in's) reads, and is not refreshable.
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
        // A hand-edited or corrupt expiry past what the clock holds is expired, not a panic.
        assert!(!token(u64::MAX).is_usable_at(now));
        assert_eq!(token(u64::MAX).expires_at_time(), UNIX_EPOCH);
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", token(1)).contains("eyJ0"));
    }

    #[test]
    fn round_trip_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
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
    }
    #[test]
    fn the_size_limit_is_inclusive_and_a_larger_file_is_refused_unread() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("token.json");
        // A valid cache padded to exactly the limit is still read.
        let mut json = serde_json::to_vec(&token(42)).unwrap();
        json.resize(MAX_CACHE_BYTES as usize, b' ');
        std::fs::write(&path, &json).unwrap();
        assert_eq!(read(&path).unwrap(), Some(token(42)));
        // One byte more is refused (the size is checked before anything is read, by
        // adu_auth::file::read_bounded, whose tests cover huge sparse files).
        json.push(b' ');
        std::fs::write(&path, &json).unwrap();
        let error = read(&path).unwrap_err();
        assert!(matches!(error, Error::TooLarge { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("65536 bytes"), "{message}");
        assert!(message.contains("run `adu login` again"), "{message}");
    }

    #[test]
    fn a_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let error = read(dir).unwrap_err();
        assert!(matches!(error, Error::NotAFile { .. }), "{error:?}");
        assert!(error.to_string().contains("not a regular file"));
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused() {
        // `/dev/zero` would never end; `/dev/null` shows the same check without that risk.
        let error = read(Path::new("/dev/null")).unwrap_err();
        assert!(matches!(error, Error::NotAFile { .. }), "{error:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_followed_and_the_target_is_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let target = dir.join("elsewhere.json");
        write(&target, &token(42)).unwrap();
        let link = dir.join("token.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read(&link).unwrap(), Some(token(42)));
        let fifo_link = dir.join("to-null.json");
        std::os::unix::fs::symlink("/dev/null", &fifo_link).unwrap();
        assert!(matches!(read(&fifo_link), Err(Error::NotAFile { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_is_a_regular_file_never_a_planted_link_or_fifo() {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // A link at the lock's path would create (or open) its target.
        let target = dir.join("planted");
        std::os::unix::fs::symlink(&target, dir.join("a.json.lock")).unwrap();
        assert!(CacheLock::open(&dir.join("a.json")).is_err());
        assert!(!target.exists(), "the link's target was created");
        // A FIFO would block the open without a reader, and with one be no lock at all.
        let fifo = dir.join("b.json.lock");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&fifo)
            .unwrap();
        let error = CacheLock::open(&dir.join("b.json")).unwrap_err();
        assert!(matches!(error, Error::NotAFile { .. }), "{error:?}");
        // The lock of a cache is created owner-only, and taken.
        let lock = CacheLock::open(&dir.join("c.json")).unwrap();
        assert!(lock.try_lock().unwrap());
        let mode = std::fs::metadata(dir.join("c.json.lock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn only_the_users_own_or_roots_files_are_trusted() {
        assert!(owner_is_trusted(1000, 1000));
        assert!(owner_is_trusted(0, 1000));
        assert!(owner_is_trusted(0, 0));
        assert!(!owner_is_trusted(1001, 1000));
        assert!(!owner_is_trusted(1000, 0));
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_owned_by_another_user_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("token.json");
        write(&path, &token(42)).unwrap();
        // Only root can give a file away; as another user, the decision itself is covered by
        // `only_the_users_own_or_roots_files_are_trusted`.
        if !rustix::process::geteuid().is_root() {
            return;
        }
        std::os::unix::fs::chown(&path, Some(4242), None).unwrap();
        let error = read(&path).unwrap_err();
        assert!(
            matches!(error, Error::ForeignOwner { owner: 4242, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("another user (uid 4242)"));
    }
}
