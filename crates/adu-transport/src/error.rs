//! Errors: [`Error`] for the client, [`TransportError`] for one HTTP exchange.

use std::time::Duration;

use adu_model::{AnyOperation, ServiceError};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything [`DeviceUpdateClient`](crate::DeviceUpdateClient) can fail with.
///
/// Each variant's documentation says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument or a configuration value is invalid (endpoint, instance id, operation id,
    /// `Operation-Location` value, API version). Fix the input; retrying cannot help.
    #[error("invalid input")]
    InvalidInput(#[source] adu_model::Error),

    /// The service answered with a non-success status (after any retries). Look at
    /// [`ServiceError::kind`], [`ServiceError::code`], [`ServiceError::message`], the inner
    /// errors and the trace id (quote it to support); 401/403 mean the credential or its role
    /// assignment is wrong, 404 an unknown instance or operation, 429/5xx a busy service.
    ///
    /// Displayed as the service's own account: status, code, message, the innermost error's
    /// detail and the trace id.
    #[error(transparent)]
    Service(Box<ServiceError>),

    /// The service answered 200 but the body is not a valid operation. The model error keeps
    /// the raw body; report it, since the service or a proxy sent something unexpected.
    #[error("the service response could not be decoded")]
    Decode(#[source] adu_model::Error),

    /// Getting an access token failed. Check the credential (tenant, client id, secret,
    /// scopes) and the reachability of the token endpoint; the source says more.
    #[error("cannot get an access token")]
    Auth(#[source] adu_auth::Error),

    /// The HTTP exchange failed (connect, TLS, timeout, body too large, reset). See
    /// [`TransportError::kind`]: connection problems and timeouts are transient (they were
    /// already retried), TLS problems mean an untrusted or wrong certificate.
    #[error("the http exchange failed")]
    Transport(#[source] TransportError),

    /// A request would have carried the bearer token to a host other than the configured
    /// endpoint (for example an `Operation-Location` on another host); nothing was sent.
    /// Only poll locations on the endpoint the client was built for.
    #[error("refusing to send a token to {target}, which is not the configured endpoint")]
    ForeignHost {
        /// The refused target (scheme, host and port).
        target: String,
    },

    /// A request would have carried the bearer token over plain http to a non-loopback host;
    /// nothing was sent. Use an https endpoint.
    #[error("refusing to send a token over plain http to {target}")]
    InsecureTransport {
        /// The refused target (scheme, host and port).
        target: String,
    },

    /// The client configuration is unusable (no scopes, a user agent or token that cannot be
    /// sent as a header). Fix the configuration.
    #[error("invalid configuration: {message}")]
    InvalidConfiguration {
        /// What is wrong.
        message: String,
    },

    /// The overall deadline passed before the operation finished, or would have before the
    /// next poll the service allowed. The last operation seen (if any) is attached, and the
    /// failure that left no poll within the deadline (a throttled or busy service), if that is
    /// why; wait again with a longer deadline, or check the operation later.
    #[error("the deadline passed before the operation finished")]
    DeadlineExceeded {
        /// The last operation read before the deadline, if any.
        last: Option<Box<AnyOperation>>,
        /// The failed poll after which no other fitted within the deadline, if any.
        #[source]
        cause: Option<Box<Error>>,
    },

    /// The operation kept reporting a status this crate does not know for longer than the
    /// poll policy allows. Upgrade the crate, or look at the operation yourself.
    #[error("gave up waiting: the operation keeps reporting the unknown status {status:?}")]
    UnknownStatus {
        /// The status text the service sent.
        status: String,
        /// The last operation read.
        last: Box<AnyOperation>,
    },
}

impl Error {
    /// The service error, when the service answered with a non-success status.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(e) => Some(e),
            _ => None,
        }
    }

    /// The transport error, when the HTTP exchange failed.
    pub fn transport(&self) -> Option<&TransportError> {
        match self {
            Error::Transport(e) => Some(e),
            _ => None,
        }
    }

    /// The trace id to quote to support, when the service sent one.
    pub fn trace_id(&self) -> Option<&str> {
        match self {
            Error::Service(e) => e.trace_id(),
            Error::DeadlineExceeded { last: Some(op), .. } => op.trace_id(),
            Error::UnknownStatus { last, .. } => last.trace_id(),
            _ => None,
        }
    }

    pub(crate) fn from_model(error: adu_model::Error) -> Self {
        match error {
            adu_model::Error::Service(e) => Error::Service(e),
            e @ adu_model::Error::Decode(_) => Error::Decode(e),
            adu_model::Error::ForeignOperationLocation { origin, .. } => {
                Error::ForeignHost { target: origin }
            }
            e => Error::InvalidInput(e),
        }
    }
}

/// What kind of failure a [`TransportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (DNS, refused, connect timeout). Transient; retried.
    Connect,
    /// The TLS handshake failed (untrusted or mismatched certificate, protocol). Not retried:
    /// trust the right root (`add_root_certificates_pem`) or fix the endpoint name.
    Tls,
    /// The connection broke after it was made, before a complete response (reset, closed,
    /// malformed response). Transient; retried.
    Connection,
    /// The try did not complete (response head and whole body) in time. Retried.
    TimedOut,
    /// The response body is larger than the configured cap. Not retried.
    BodyTooLarge,
    /// The request cannot be sent as built (relative URI, unsupported scheme). A bug in the
    /// caller; not retried.
    InvalidRequest,
    /// The transport is misconfigured (no trusted roots, malformed PEM). Fix the configuration.
    InvalidConfiguration,
    /// Any other failure reported by a custom transport. Not retried.
    Other,
}

/// The failure of one HTTP exchange; returned by [`HttpTransport`](crate::HttpTransport).
///
/// Custom transports build one with [`TransportError::new`] or
/// [`TransportError::with_source`]; the kind decides whether the client retries.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl TransportError {
    /// A transport error of `kind` with a lowercase message.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A transport error of `kind` caused by `source`.
    pub fn with_source(
        kind: TransportErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A timeout after `after`.
    pub fn timed_out(after: Duration) -> Self {
        Self::new(
            TransportErrorKind::TimedOut,
            format!("no complete response within {after:?}"),
        )
    }

    /// A body over the cap of `limit` bytes.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            TransportErrorKind::BodyTooLarge,
            format!("the response body is larger than the limit of {limit} bytes"),
        )
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether retrying the same request may succeed (connect, connection and timeout).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Connect
                | TransportErrorKind::Connection
                | TransportErrorKind::TimedOut
        )
    }
}
