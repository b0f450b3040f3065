//! The one bounded read of a file a user names (a token cache, a root certificate, a
//! scenario, and the credentials' files), shared by every crate of the workspace.
//!
//! No crate of the ecosystem does this whole check (regular file, opened without blocking,
//! size capped before and during the read), so it is written here once.

use std::fs::{File, Metadata};
use std::io::Read as _;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be opened or read (missing, no permission, ...).
    #[error("cannot read the file")]
    Io(#[source] std::io::Error),
    /// The path names a directory, FIFO, socket or device, not a regular file.
    #[error("not a regular file")]
    NotAFile,
    /// The file holds more than the bound allows.
    #[error("larger than {max_bytes} bytes, the most this file may hold")]
    TooLarge {
        /// The bound that was passed.
        max_bytes: u64,
    },
}

impl FileError {
    /// Whether the file does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads the regular file at `path` (symbolic links are followed), refusing a directory,
/// FIFO, socket or device and anything larger than `max_bytes`; returns its bytes and the
/// metadata of the handle that was read (for callers that check its owner or mode).
///
/// A path that does not name a regular file is refused before it is opened. On Unix the file
/// is opened with `O_NONBLOCK`, so a FIFO swapped in after that check cannot block the open;
/// the type and size are checked again on the opened handle, so a file swapped after a check
/// is never read. A file that grows after the size check is caught by reading
/// at most one byte past the bound.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("token");
/// std::fs::write(&path, b"eyJ0eXAi")?;
/// let (bytes, _metadata) = adu_auth::file::read_bounded(&path, 64 * 1024)?;
/// assert_eq!(bytes, b"eyJ0eXAi");
/// assert!(matches!(
///     adu_auth::file::read_bounded(&path, 4),
///     Err(adu_auth::file::FileError::TooLarge { max_bytes: 4 })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<(Vec<u8>, Metadata), FileError> {
    // Judged before the open too: opening a device can act on it, and opening a socket fails
    // with an error that would not say what is wrong.
    if !std::fs::metadata(path).map_err(FileError::Io)?.is_file() {
        return Err(FileError::NotAFile);
    }
    let file = open_nonblocking(path).map_err(FileError::Io)?;
    let metadata = file.metadata().map_err(FileError::Io)?;
    if !metadata.is_file() {
        return Err(FileError::NotAFile);
    }
    if metadata.len() > max_bytes {
        return Err(FileError::TooLarge { max_bytes });
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(FileError::TooLarge { max_bytes });
    }
    Ok((bytes, metadata))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // O_NONBLOCK only changes how a FIFO or device opens; reads of a regular file ignore it.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    // Elsewhere a FIFO cannot be named like a file; the handle's type is still checked.
    File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_regular_file_and_refuses_a_larger_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 100]).unwrap();
        let (bytes, meta) = read_bounded(&path, 100).unwrap();
        assert_eq!(bytes.len(), 100);
        assert_eq!(meta.len(), 100);
        assert!(matches!(
            read_bounded(&path, 99),
            Err(FileError::TooLarge { max_bytes: 99 })
        ));
        // A 1 GiB sparse file is refused by its size, before anything is read.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        assert!(matches!(
            read_bounded(&path, 1 << 20),
            Err(FileError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_directories_and_reports_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_bounded(dir.path(), 10),
            Err(FileError::NotAFile)
        ));
        let missing = read_bounded(&dir.path().join("missing"), 10).unwrap_err();
        assert!(missing.is_not_found(), "{missing:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Through a symbolic link too: the link is followed and the FIFO is still refused.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert!(matches!(read_bounded(&fifo, 10), Err(FileError::NotAFile)));
        assert!(matches!(read_bounded(&link, 10), Err(FileError::NotAFile)));
    }

    #[cfg(unix)]
    #[test]
    fn a_socket_is_refused_as_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        // Opening a socket fails (ENXIO): the type is judged before anything is opened.
        let error = read_bounded(&socket, 10).unwrap_err();
        assert!(matches!(error, FileError::NotAFile), "{error:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_that_never_ends_is_refused() {
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 10),
            Err(FileError::NotAFile)
        ));
    }
}
