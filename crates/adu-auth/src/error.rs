//! The one error type of this crate, after smithy's RFC 0022: every variant
//! says what went wrong in a lowercase sentence and has accessors for what a
//! user needs to act on it. No variant ever holds a secret.

use std::fmt;
use std::sync::Arc;

/// At most this many bytes of an unexpected response body are kept.
pub const MAX_BODY_BYTES: usize = 2048;

/// Everything that can go wrong while obtaining a token.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The configuration was rejected before anything was sent.
    #[error("invalid authentication configuration: {message}")]
    InvalidConfig {
        /// What is wrong, naming the setting.
        message: String,
    },
    /// Environment variables needed by the environment credential are missing.
    #[error("missing environment variables: {}", missing.join(", "))]
    MissingEnvironment {
        /// The missing variables (one entry may name alternatives).
        missing: Vec<String>,
    },
    /// The password grant (ROPC) was refused up front: the identity platform
    /// refuses it on `common` and for consumer (personal) accounts.
    #[error("the password grant is not available on tenant `{tenant}`: configure a tenant id or `organizations`")]
    PasswordGrantNotSupported {
        /// The tenant that was configured.
        tenant: String,
    },
    /// The token endpoint answered with an OAuth2 error response.
    #[error("the token endpoint refused the request (HTTP {status}): {response}")]
    TokenEndpoint {
        /// The HTTP status of the answer.
        status: u16,
        /// Everything the server said.
        response: Box<ServerError>,
    },
    /// The token endpoint answered something that is neither a token nor an
    /// OAuth2 error (HTML, an empty body, JSON of the wrong shape...).
    #[error("unexpected answer from the token endpoint (HTTP {status}): {detail}")]
    UnexpectedResponse {
        /// The HTTP status of the answer (0 if none was recorded).
        status: u16,
        /// Why it was not understood.
        detail: String,
        /// The start of the body (at most [`MAX_BODY_BYTES`]), lossily
        /// decoded, with secrets redacted. Empty for a success (2xx) answer,
        /// which would be a token response.
        body: String,
    },
    /// The token endpoint issued a token of a type other than `Bearer`.
    #[error("the token endpoint issued a `{token_type}` token, expected `Bearer`")]
    UnsupportedTokenType {
        /// The type the server sent.
        token_type: String,
    },
    /// The HTTP client failed (connection refused, TLS, timeout...).
    #[error("could not reach the token endpoint")]
    Http {
        /// The HTTP client's error.
        #[source]
        source: HttpClientError,
    },
    /// The authorization server answered the sign-in with an error (in the
    /// redirect's query or fragment).
    #[error("the sign-in was refused: {response}")]
    Authorization {
        /// What the server said.
        response: Box<ServerError>,
    },
    /// The redirect's `state` does not match the one sent: the redirect
    /// does not belong to this sign-in (possible forgery).
    #[error("the redirect's state does not match this sign-in")]
    StateMismatch,
    /// The redirect could not be understood.
    #[error("invalid redirect: {reason}")]
    InvalidRedirect {
        /// What is missing or malformed.
        reason: String,
    },
    /// The interactive sign-in's token expired and there is no refresh token.
    #[error("the sign-in has expired and cannot be refreshed: sign in again")]
    LoginExpired,
    /// A token was asked for scopes this sign-in cannot provide (there is no
    /// refresh token to ask for them).
    #[error("this sign-in has no token for the scopes `{scopes}`: sign in again asking for them")]
    ScopesNotAvailable {
        /// The requested scopes, space separated.
        scopes: String,
    },
}

impl Error {
    /// The HTTP status the token endpoint answered with, if it answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::TokenEndpoint { status, .. } => Some(*status),
            Error::UnexpectedResponse { status, .. } if *status != 0 => Some(*status),
            _ => None,
        }
    }

    /// The server's error details (token endpoint or authorization redirect).
    #[must_use]
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Error::TokenEndpoint { response, .. } | Error::Authorization { response } => {
                Some(response)
            }
            _ => None,
        }
    }

    /// The OAuth2 error code (`invalid_client`, `invalid_grant`...), if the
    /// server sent one.
    #[must_use]
    pub fn error_code(&self) -> Option<&str> {
        self.server_error().map(ServerError::error)
    }

    /// Whether asking again later may succeed (network failures, 5xx, 429).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Http { .. } => true,
            Error::TokenEndpoint { status, response } => {
                *status >= 500 || *status == 429 || response.error() == "temporarily_unavailable"
            }
            Error::UnexpectedResponse { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// A one-line hint telling the user what to do about this error.
    #[must_use]
    pub fn hint(&self) -> &'static str {
        match self {
            Error::InvalidConfig { .. } => "fix the named setting",
            Error::MissingEnvironment { .. } => "set the named environment variables",
            Error::PasswordGrantNotSupported { .. } => {
                "set the tenant to your directory's tenant id (or `organizations`), or use another flow"
            }
            Error::TokenEndpoint { response, .. } => match response.error() {
                "invalid_client" | "unauthorized_client" => {
                    "check the client id and secret (the secret may have expired)"
                }
                "invalid_grant" => "check the credentials, or sign in again",
                "invalid_scope" => "check the requested scopes",
                "interaction_required" | "consent_required" => {
                    "sign in interactively (authorization code flow)"
                }
                _ => "read the server's description; quote the trace and correlation ids to support",
            },
            Error::UnexpectedResponse { .. } => "check the authority host: it does not look like a token endpoint",
            Error::UnsupportedTokenType { .. } => "use an authority that issues bearer tokens",
            Error::Http { .. } => "check the network and the authority host, then retry",
            Error::Authorization { .. } => "read the server's description and sign in again",
            Error::StateMismatch => "start the sign-in again and use its own redirect",
            Error::InvalidRedirect { .. } => "pass the full redirect URL the browser was sent to",
            Error::LoginExpired | Error::ScopesNotAvailable { .. } => "sign in again",
        }
    }

    /// Replaces every occurrence of the given secrets in server-provided text
    /// with `[redacted]`, in case a server echoes a request back: in any
    /// encoding the echo may use, and by parameter name (see
    /// [`crate::redact`]).
    pub(crate) fn redact(mut self, secrets: &[&str]) -> Self {
        let scrub = |text: &mut String| scrub_bounded(text, secrets);
        match &mut self {
            Error::TokenEndpoint { response, .. } | Error::Authorization { response } => {
                scrub(&mut response.error);
                if let Some(d) = response.error_description.as_mut() {
                    scrub(d);
                }
                // Every text the server sent, the diagnostics included: a
                // server may echo the request into any of them.
                for text in [
                    response.error_uri.as_mut(),
                    response.timestamp.as_mut(),
                    response.trace_id.as_mut(),
                    response.correlation_id.as_mut(),
                ]
                .into_iter()
                .flatten()
                {
                    scrub(text);
                }
            }
            // The body was scrubbed before it was cut (see `bounded_text`);
            // scrubbing the cut text again could lengthen it past the bound.
            Error::UnexpectedResponse { detail, .. } => scrub(detail),
            _ => {}
        }
        self
    }
}

/// What an authorization server said when it refused a request: the fields
/// of RFC 6749 §5.2 and §4.1.2.1, plus the diagnostics the Microsoft identity
/// platform adds.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerError {
    pub(crate) error: String,
    pub(crate) error_description: Option<String>,
    pub(crate) error_uri: Option<String>,
    pub(crate) error_codes: Vec<i64>,
    pub(crate) timestamp: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
}

impl ServerError {
    /// The OAuth2 error code, e.g. `invalid_client`.
    #[must_use]
    pub fn error(&self) -> &str {
        &self.error
    }
    /// The human-readable description (Azure AD starts it with `AADSTSnnnnn:`).
    #[must_use]
    pub fn error_description(&self) -> Option<&str> {
        self.error_description.as_deref()
    }
    /// A page about the error.
    #[must_use]
    pub fn error_uri(&self) -> Option<&str> {
        self.error_uri.as_deref()
    }
    /// Azure AD's numeric `AADSTS` codes.
    #[must_use]
    pub fn error_codes(&self) -> &[i64] {
        &self.error_codes
    }
    /// When the server produced the error, as it wrote it.
    #[must_use]
    pub fn timestamp(&self) -> Option<&str> {
        self.timestamp.as_deref()
    }
    /// The server's trace id: quote it to support.
    #[must_use]
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }
    /// The server's correlation id: quote it to support.
    #[must_use]
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)?;
        if let Some(description) = &self.error_description {
            write!(f, ": {}", first_line(description))?;
        }
        if let Some(trace) = &self.trace_id {
            write!(f, " (trace id {trace}")?;
            if let Some(correlation) = &self.correlation_id {
                write!(f, ", correlation id {correlation}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

fn first_line(text: &str) -> &str {
    // Azure AD descriptions carry the trace id, correlation id and timestamp
    // on extra lines; those are shown separately.
    text.lines().next().unwrap_or("").trim_end()
}

/// The error of an [`HttpClient`](crate::HttpClient): wraps whatever the
/// client failed with, reachable through [`source`](std::error::Error::source).
#[derive(Clone)]
pub struct HttpClientError {
    inner: Arc<dyn std::error::Error + Send + Sync + 'static>,
}

impl HttpClientError {
    /// Wraps an HTTP client's error (or a message). An `HttpClientError`
    /// passed in is kept as it is rather than wrapped twice.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        let boxed: Box<dyn std::error::Error + Send + Sync + 'static> = error.into();
        match boxed.downcast::<HttpClientError>() {
            Ok(already) => *already,
            Err(other) => HttpClientError {
                inner: Arc::from(other),
            },
        }
    }

    /// The wrapped error.
    #[must_use]
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }
}

impl fmt::Debug for HttpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HttpClientError").field(&self.inner).finish()
    }
}

impl fmt::Display for HttpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HTTP request failed")
    }
}

impl std::error::Error for HttpClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner)
    }
}

/// Keeps at most [`MAX_BODY_BYTES`] of a body, lossily decoded, with the
/// secrets scrubbed first: a cut made before scrubbing could leave the start
/// of a secret that straddles it. `truncated` says whether `body` is itself
/// only the start of what the server sent.
pub(crate) fn bounded_text(body: &[u8], truncated: bool, secrets: &[&str]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    crate::redact::scrub(&mut text, secrets);
    if text.len() > MAX_BODY_BYTES || (truncated && text != crate::redact::NOT_CHECKED) {
        cut_with_marker(&mut text);
    }
    text
}

/// Scrubs a text the server sent (`oauth2` parsed it from a body of up to
/// 4 MiB): a text longer than the bodies the recorder keeps is first cut to
/// that, as the recorder does, so the scrub's work is bounded; what is kept
/// of it is then cut to [`MAX_BODY_BYTES`], so that no start of a secret
/// that straddled the first cut is left.
fn scrub_bounded(text: &mut String, secrets: &[&str]) {
    let limit = MAX_BODY_BYTES + crate::http_client::REDACTION_SLACK;
    let truncated = text.len() > limit;
    if truncated {
        text.truncate(floor_char_boundary(text, limit));
    }
    crate::redact::scrub(text, secrets);
    if truncated && text != crate::redact::NOT_CHECKED {
        cut_with_marker(text);
    }
}

/// Cuts `text` to at most [`MAX_BODY_BYTES`] on a character boundary and
/// appends `...`.
fn cut_with_marker(text: &mut String) {
    text.truncate(floor_char_boundary(text, MAX_BODY_BYTES));
    text.push_str("...");
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    let mut cut = text.len().min(max);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret that straddles the bound is scrubbed whole before the cut:
    /// cutting first would leave its start, which no longer matches.
    #[test]
    fn bounded_text_scrubs_before_cutting() {
        let secret = "PLAINSECRETabcdefghijklmnop";
        for before in MAX_BODY_BYTES - secret.len()..MAX_BODY_BYTES {
            let body = format!("{} {secret} tail", "x".repeat(before - 1));
            let text = bounded_text(body.as_bytes(), false, &[secret]);
            assert!(!text.contains("PLAIN"), "{before}: {text}");
            assert!(text.len() <= MAX_BODY_BYTES + 3);
        }
        // The marker of a body that went on past what was recorded.
        assert_eq!(bounded_text(b"short", true, &[]), "short...");
        assert_eq!(bounded_text(b"short", false, &[]), "short");
    }
    fn token_endpoint_error(description: String) -> Error {
        Error::TokenEndpoint {
            status: 400,
            response: Box::new(ServerError {
                error: "invalid_client".to_owned(),
                error_description: Some(description),
                ..ServerError::default()
            }),
        }
    }

    /// A 4 MiB description is cut before it is scrubbed, and what is shown
    /// is cut to the body bound; a secret before the cut is still redacted.
    #[test]
    fn a_huge_description_is_cut_before_it_is_scrubbed() {
        let secret = "Abc8Q~xyz-0123456789";
        let description = format!("{secret} {}", "a".repeat(4 << 20));
        let error = token_endpoint_error(description).redact(&[secret]);
        let shown = error.server_error().unwrap().error_description().unwrap();
        assert!(shown.starts_with("[redacted] aaa"), "{}", &shown[..40]);
        assert!(shown.ends_with("a..."));
        assert!(shown.len() <= MAX_BODY_BYTES + 3, "{}", shown.len());
    }

    /// The worst case for the free-text search, in a 4 MiB description:
    /// the search gives up within its budget and hides the text.
    #[test]
    fn a_hostile_description_is_hidden() {
        let secret = format!("{}b", "a".repeat(4095));
        let error = token_endpoint_error("a".repeat(4 << 20)).redact(&[&secret]);
        assert_eq!(
            error.server_error().unwrap().error_description(),
            Some(crate::redact::NOT_CHECKED)
        );
    }
}
