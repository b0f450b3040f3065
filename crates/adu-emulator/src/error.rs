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
    /// acceptable (the message says which).
    #[error("invalid scenario at line {line}, column {column}")]
    ScenarioSyntax {
        /// The line (1-based) where the problem was found.
        line: usize,
        /// The column (1-based) where the problem was found.
        column: usize,
        /// What the JSON reader said.
        #[source]
        source: ScenarioSyntaxError,
    },
    /// A scenario cannot be served as it asks (https with nowhere to write the certificate).
    #[error("invalid scenario: {detail}")]
    ScenarioValue {
        /// Which value, and why.
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

/// The JSON reader's description of a malformed scenario (without its position,
/// which [`Error::ScenarioSyntax`] carries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioSyntaxError {
    message: String,
}

impl ScenarioSyntaxError {
    pub(crate) fn from_json(err: &serde_json::Error) -> Self {
        // serde_json appends " at line L column C" to its messages; the
        // position lives in the outer error, so strip it here.
        let full = err.to_string();
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_owned(),
            None => full,
        };
        ScenarioSyntaxError { message }
    }

    /// The description, e.g. ``unknown field `foo`, expected one of ...``.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ScenarioSyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioSyntaxError {}
