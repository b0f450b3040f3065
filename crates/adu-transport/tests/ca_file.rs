//! `add_root_certificates_pem_file` reads only a bounded, regular file.

use std::path::{Path, PathBuf};

use adu_transport::{HyperTransport, TransportError, TransportErrorKind};

const LIMIT: u64 = 4 * 1024 * 1024;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "adu-transport-ca-file-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pem() -> String {
    rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .unwrap()
        .cert
        .pem()
}

fn load(path: &Path) -> Result<(), TransportError> {
    HyperTransport::builder()
        .native_roots(false)
        .add_root_certificates_pem_file(path)
        .map(|_| ())
}

fn refused(path: &Path, expected: &str) {
    let error = load(path).unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::InvalidConfiguration);
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(expected), "{message}");
    assert!(message.contains("pass a PEM file"), "{message}");
}

#[test]
fn a_bundle_up_to_the_limit_is_read_and_a_larger_file_is_refused_unread() {
    let dir = temp_dir("size");
    let path = dir.join("roots.pem");
    // Text outside the certificate blocks is ignored, so padding keeps the bundle valid.
    let mut bundle = pem().into_bytes();
    bundle.resize(LIMIT as usize, b'\n');
    std::fs::write(&path, &bundle).unwrap();
    load(&path).unwrap();
    // One byte more is refused (adu_auth::file::read_bounded's tests cover huge sparse files).
    bundle.push(b'\n');
    std::fs::write(&path, &bundle).unwrap();
    refused(&path, "is larger than 4194304 bytes");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_is_refused() {
    let dir = temp_dir("dir");
    refused(&dir, "is not a regular file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_file_says_why() {
    let dir = temp_dir("missing");
    let path = dir.join("absent.pem");
    let error = load(&path).unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::InvalidConfiguration);
    assert!(error
        .to_string()
        .contains("cannot read root certificate file"));
    let source = std::error::Error::source(&error)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io error is the source");
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_device_is_refused() {
    // `/dev/zero` would never end; `/dev/null` shows the same check without that risk.
    refused(Path::new("/dev/null"), "is not a regular file");
}
