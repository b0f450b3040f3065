//! The crate's error type and the actionable service error.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::models::{self, InnerError};
use crate::version::{ApiVersion, OperationKind};

/// Everything that can go wrong while building a request or decoding a response.
///
/// Input errors (`Invalid*`, `ForeignOperationLocation`) are raised before any
/// request exists, so nothing was sent. [`Error::Service`] is the service's
/// own answer; [`Error::Decode`] means the service answered success with a body
/// that is not an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint is not a usable base URL; pass a host name such as
    /// `contoso.api.adu.microsoft.com`, or `http://127.0.0.1:PORT` for local testing.
    #[error("invalid endpoint `{input}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given (bounded).
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The instance id is empty, too long, or a dot segment; use the instance
    /// name shown for the Device Update account.
    #[error("invalid instance id `{input}`: {reason}")]
    InvalidInstanceId {
        /// The instance id as given (bounded).
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The operation id is empty, longer than 256 characters, or a dot segment;
    /// use the id from the import or delete call's `Operation-Location`.
    #[error("invalid operation id `{input}`: {reason}")]
    InvalidOperationId {
        /// The operation id as given (bounded).
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An `Operation-Location` value that is not a usable URL or path.
    #[error("invalid operation location `{input}`: {reason}")]
    InvalidOperationLocation {
        /// The value as given (bounded).
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An `Operation-Location` pointing at another origin than the configured
    /// endpoint; it was refused so no credential goes to that host.
    #[error("operation location points at `{origin}`, not at the configured endpoint `{endpoint}`; refused so the token is not sent there")]
    ForeignOperationLocation {
        /// The origin the location named.
        origin: String,
        /// The configured endpoint's origin.
        endpoint: String,
    },
    /// A list's `nextLink` that is not a usable URL or path, or that names a page read
    /// before (the service loops); the list ends here.
    #[error("invalid nextLink `{input}`: {reason}")]
    InvalidNextLink {
        /// The link as sent (bounded, credentials hidden).
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A list's `nextLink` pointing at another origin than the configured endpoint; it was
    /// refused so no credential goes to that host, and the list ends here.
    #[error("nextLink points at `{origin}`, not at the configured endpoint `{endpoint}`; refused so the token is not sent there")]
    ForeignNextLink {
        /// The origin the link named.
        origin: String,
        /// The configured endpoint's origin.
        endpoint: String,
    },
    /// An `If-None-Match` value that cannot be sent as an HTTP header.
    #[error("invalid If-None-Match value: it must be visible ASCII")]
    InvalidETag,
    /// The API version has no operations of this kind (the legacy API has no
    /// device-management operations); nothing was sent.
    #[error("API version `{version}` has no {kind} operations; use one that has them, such as `{default}`", default = ApiVersion::default())]
    UnsupportedKind {
        /// The kind asked for.
        kind: OperationKind,
        /// The version asked of.
        version: ApiVersion,
    },
    /// An `Operation-Location` or `nextLink` names an `api-version` this crate does not
    /// speak; it is not read as another version.
    #[error("`{input}` names API version `{version}`, which this crate does not speak; use {accepted}", accepted = crate::version::accepted_versions())]
    UnknownApiVersion {
        /// The location or link (bounded, credentials hidden).
        input: String,
        /// The version it names (bounded).
        version: String,
    },
    /// The service answered with an error status.
    #[error(transparent)]
    Service(Box<ServiceError>),
    /// The service answered success, but the body is not the expected operation (or page).
    #[error(transparent)]
    Decode(Box<DecodeError>),
}

impl Error {
    /// The service error, if this is one.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the error comes from the caller's input (nothing was sent).
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Error::InvalidEndpoint { .. }
                | Error::InvalidInstanceId { .. }
                | Error::InvalidOperationId { .. }
                | Error::InvalidOperationLocation { .. }
                | Error::ForeignOperationLocation { .. }
                | Error::InvalidETag
                | Error::UnsupportedKind { .. }
                | Error::UnknownApiVersion { .. }
        )
    }
}

/// How many bytes of a response body an error keeps.
pub const MAX_KEPT_BODY: usize = 64 * 1024;

/// The broad class of a service error, from its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceErrorKind {
    /// 400: the request was malformed (for example a missing or unknown `api-version`).
    BadRequest,
    /// 401: the token is missing, expired or for the wrong audience.
    Unauthorized,
    /// 403: the identity has no role on the Device Update account.
    Forbidden,
    /// 404: no such operation (or instance).
    NotFound,
    /// 429: rate limited; wait for `retry_after`.
    TooManyRequests,
    /// 5xx: the service failed.
    ServerError,
    /// Any other status.
    Other,
}

impl ServiceErrorKind {
    /// The kind for an HTTP status.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            429 => Self::TooManyRequests,
            500..=599 => Self::ServerError,
            _ => Self::Other,
        }
    }

    /// One sentence telling a user what to do about an error of this kind.
    pub fn advice(self) -> &'static str {
        match self {
            Self::BadRequest => "check the API version, instance id and operation id",
            Self::Unauthorized => "check the credential: the token may be expired or issued for another audience (scope https://api.adu.microsoft.com/.default)",
            Self::Forbidden => "grant the identity a Device Update role (for example Device Update Reader) on the account",
            Self::NotFound => "check the operation id and the instance name; operations are kept for a limited time",
            Self::TooManyRequests => "slow down: wait for the Retry-After delay before asking again",
            Self::ServerError => "the service failed; try again later, and quote the trace id to support if it persists",
            Self::Other => "see the status and body the service returned",
        }
    }
}

/// An error status from the service, with everything it said.
///
/// The body may be in the documented `ErrorResponse` shape
/// (`{"error": {"code", "message", ...}}`), in RFC 7807
/// `application/problem+json` (seen from the legacy API), or in no known
/// shape at all; each decodes into a `ServiceError` without a second error.
#[derive(Clone, PartialEq)]
pub struct ServiceError {
    pub(crate) status: StatusCode,
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) error: Option<models::Error>,
    pub(crate) trace_id: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) raw_body: Vec<u8>,
    pub(crate) body_truncated: bool,
}

impl ServiceError {
    /// The HTTP status the service answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The broad class of the error.
    pub fn kind(&self) -> ServiceErrorKind {
        ServiceErrorKind::from_status(self.status)
    }

    /// The service's error code (e.g. `OperationNotFound`), if it sent one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The service's message, if it sent one.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The target of the error, if the service named one.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The decoded error object, when the body was in the documented shape.
    pub fn error(&self) -> Option<&models::Error> {
        self.error.as_ref()
    }

    /// The errors that led to this one (`details`), if any.
    pub fn details(&self) -> &[models::Error] {
        self.error
            .as_ref()
            .and_then(|e| e.details.as_deref())
            .unwrap_or(&[])
    }

    /// The inner-error chain, outermost first.
    pub fn inner_errors(&self) -> impl Iterator<Item = &InnerError> + Clone {
        inner_chain(self.error.as_ref())
    }

    /// The service's trace id: the body's `traceId` (either shape), else the
    /// trace id of the `traceparent` header.
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }

    /// The request id header (`x-ms-request-id`), if the service sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// How long the service asked the client to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The body as received, at most [`MAX_KEPT_BODY`] bytes.
    pub fn raw_body(&self) -> &[u8] {
        &self.raw_body
    }

    /// Whether the kept body was cut at [`MAX_KEPT_BODY`] bytes.
    pub fn body_truncated(&self) -> bool {
        self.body_truncated
    }

    /// Whether asking again may succeed (408, 429 and the retryable 5xx).
    pub fn is_retryable(&self) -> bool {
        crate::retry::is_retryable_status(self.status)
    }
}

impl fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("target", &self.target)
            .field("error", &self.error)
            .field("trace_id", &self.trace_id)
            .field("request_id", &self.request_id)
            .field("retry_after", &self.retry_after)
            .field("raw_body", &String::from_utf8_lossy(&self.raw_body))
            .finish()
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service answered {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(inner) = self.inner_errors().last() {
            if let Some(detail) = inner.error_detail.as_deref().or(inner.message.as_deref()) {
                write!(f, " (innermost: {}: {detail})", inner.code)?;
            }
        }
        if let Some(trace) = &self.trace_id {
            write!(f, " [trace id {trace}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

/// The inner-error chain of `error`, outermost first.
pub(crate) fn inner_chain(
    error: Option<&models::Error>,
) -> impl Iterator<Item = &InnerError> + Clone {
    let first = error.and_then(|e| e.innererror.as_ref());
    std::iter::successors(first, |e| e.inner_error.as_deref())
}

/// A success status whose body is not the expected operation (or page of operations).
#[derive(Clone, PartialEq, thiserror::Error)]
#[error("the service answered {status} with a body that is not {expected}: {reason}")]
pub struct DecodeError {
    pub(crate) status: StatusCode,
    /// What the body should have been: `an operation`, `a page of operations`.
    pub(crate) expected: &'static str,
    pub(crate) reason: String,
    pub(crate) raw_body: Vec<u8>,
}

impl DecodeError {
    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What did not match (the JSON parser's message).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The body as received, at most [`MAX_KEPT_BODY`] bytes.
    pub fn raw_body(&self) -> &[u8] {
        &self.raw_body
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("status", &self.status)
            .field("expected", &self.expected)
            .field("reason", &self.reason)
            .field("raw_body", &String::from_utf8_lossy(&self.raw_body))
            .finish()
    }
}

/// A URL-like input for an error message: bounded, and with everything from the authority's
/// start to the last `@` replaced by `***` (any `user:password@`, whatever it holds), so a
/// password typed into an endpoint or sent in a location never reaches an error, a log or a
/// terminal.
pub(crate) fn shown_url(input: &str) -> String {
    let start = match input.find("://") {
        Some(i) => i + 3,
        None if input.starts_with("//") => 2,
        None => 0,
    };
    // Up to the last `@` of all: a password may hold an unencoded `/`, `?` or `#`, so the
    // authority's end cannot be trusted to find it. A path with an `@` is hidden too, which
    // shows less than it could, never more.
    let rest = &input[start..];
    match rest.rfind('@') {
        Some(at) => bounded(&format!("{}***{}", &input[..start], &rest[at..])),
        None => bounded(input),
    }
}

/// Keeps at most `max` characters of user input for an error message.
pub(crate) fn bounded(input: &str) -> String {
    const MAX: usize = 300;
    if input.len() <= MAX {
        return input.to_owned();
    }
    let mut end = MAX;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &input[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_never_shown() {
        for (input, shown) in [
            (
                "https://user:pa55@host.example/x",
                "https://***@host.example/x",
            ),
            ("user:pa55@host.example", "***@host.example"),
            ("http://a@b@127.0.0.1:80", "http://***@127.0.0.1:80"),
            (
                "https://user:pa/ss@host.example",
                "https://***@host.example",
            ),
            (
                "https://user:p?a#ss@host.example/x",
                "https://***@host.example/x",
            ),
            ("https://host.example/path@x", "https://***@x"),
            ("//user:pa55@host.example?q", "//***@host.example?q"),
            ("plain.example", "plain.example"),
        ] {
            assert_eq!(shown_url(input), shown, "{input}");
        }
    }
}
