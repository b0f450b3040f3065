//! The emulator's error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong while configuring, starting or running the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot bind the emulator to {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The self-signed certificate could not be generated or installed.
    #[error("cannot set up tls: {detail}")]
    Tls {
        /// What failed.
        detail: String,
    },
    /// A scenario is not JSON, does not have the scenario's shape, or has a value that is not
    /// acceptable.
    #[error("invalid scenario at line {line}, column {column}: {message}")]
    ScenarioSyntax {
        /// The line (1-based) where the problem was found.
        line: usize,
        /// The column (1-based) where the problem was found.
        column: usize,
        /// What is wrong, e.g. ``unknown field `foo`, expected one of ...``.
        message: String,
    },
    /// A scenario cannot be served as it asks (https with nowhere to write the certificate).
    #[error("invalid scenario: {detail}")]
    ScenarioValue {
        /// Which value, and why.
        detail: String,
    },
    /// A certificate or key given for client assertions cannot be used.
    #[error("invalid key or certificate: {detail}")]
    Key {
        /// What is wrong with it.
        detail: String,
    },
    /// A file could not be read or written.
    #[error("cannot access {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for Ctrl-C or SIGTERM failed.
    #[error("cannot listen for shutdown signals")]
    Signal {
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}
