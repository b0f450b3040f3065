//! The one error type of this crate, after smithy's RFC 0022: every variant
//! says what went wrong in a lowercase sentence and has accessors for what a
//! user needs to act on it. No variant ever holds a secret: no variant holds a
//! server's body, and the server fields it does hold are scrubbed (see
//! [`crate::redact`]).

use std::fmt;
use std::sync::Arc;

use crate::managed_identity::ManagedIdentitySource;
use crate::redact::Scrubber;

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
    /// OAuth2 error (HTML, an empty body, JSON of the wrong shape...). Its body
    /// is not kept: it may echo the request, or be a token response.
    #[error(
        "unexpected answer from the token endpoint (HTTP {status}, {}, {body_len} bytes): {detail}",
        content_type.as_deref().unwrap_or("no content type")
    )]
    UnexpectedResponse {
        /// The HTTP status of the answer.
        status: u16,
        /// The answer's media type (`Content-Type` without its parameters).
        content_type: Option<String>,
        /// The length of the body in bytes.
        body_len: usize,
        /// Why it was not understood.
        detail: String,
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
    /// A managed identity endpoint gave no token: unreachable, a refusal other than 400,
    /// an answer that is not a token, or an Azure Arc challenge that was not answered.
    #[error("managed identity ({identity_source}): {reason}")]
    ManagedIdentity {
        /// The endpoint that was asked.
        identity_source: ManagedIdentitySource,
        /// The HTTP status of its last answer, if it answered.
        status: Option<u16>,
        /// What went wrong and what to do.
        reason: String,
        /// The HTTP client's error, when the endpoint could not be reached.
        #[source]
        http: Option<HttpClientError>,
    },
    /// The managed identity endpoint answered 400: no identity matching the request is
    /// assigned to this resource (VM, app or machine), or the user-assigned id is wrong.
    #[error(
        "managed identity ({identity_source}): no identity matching this request is assigned to this resource (HTTP 400{}): assign a managed identity to it, or fix the client, object or resource id",
        description.as_deref().map(|d| format!(", {d}")).unwrap_or_default()
    )]
    IdentityNotAssigned {
        /// The endpoint that was asked.
        identity_source: ManagedIdentitySource,
        /// What the endpoint said, secrets scrubbed.
        description: Option<String>,
    },
    /// The Azure CLI was not found.
    #[error("the Azure CLI is not installed (`{program}` was not found): install it, or choose another credential")]
    AzureCliNotInstalled {
        /// The program that was looked for.
        program: String,
    },
    /// The Azure CLI has nobody signed in.
    #[error("the Azure CLI is not signed in: run `az login`")]
    AzureCliNotSignedIn,
    /// The Azure CLI gave no token (it failed, timed out, or printed something else).
    #[error("the Azure CLI gave no token: {reason}")]
    AzureCli {
        /// What went wrong and what to do.
        reason: String,
    },
    /// An `azure_core` credential (through the `azure-core` feature: any
    /// `azure_identity` credential) gave no token.
    #[error("the Azure SDK credential gave no token: {message}")]
    AzureCore {
        /// What it said (its error's text, as the Azure SDK wrote it).
        message: String,
        /// Whether it failed to connect or to read, so that asking again may help.
        transient: bool,
    },
}

impl Error {
    /// The HTTP status the token endpoint answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::TokenEndpoint { status, .. } | Error::UnexpectedResponse { status, .. } => {
                Some(*status)
            }
            Error::ManagedIdentity { status, .. } => *status,
            Error::IdentityNotAssigned { .. } => Some(400),
            _ => None,
        }
    }

    /// The server's error details (token endpoint or authorization redirect).
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
            Error::AzureCore { transient, .. } => *transient,
            Error::ManagedIdentity { status, http, .. } => {
                http.is_some() || status.is_some_and(|s| s >= 500 || s == 429 || s == 410)
            }
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
                    "check the client id and its secret, certificate or federated token (each may have expired or be unregistered)"
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
            Error::AzureCore { .. } => "read the Azure SDK's message: it names what its credential needs",
            Error::ManagedIdentity { .. } => "read the reason; managed identity works only on Azure resources",
            Error::IdentityNotAssigned { .. } => {
                "assign a managed identity to this resource, or fix the user-assigned id"
            }
            Error::AzureCliNotInstalled { .. } => "install the Azure CLI, or choose another credential",
            Error::AzureCliNotSignedIn => "run `az login`",
            Error::AzureCli { .. } => "check that `az account get-access-token` works in a terminal",
        }
    }

    /// Replaces the secrets a request sent in every text the server gave
    /// (a server may echo the request into any of them).
    pub(crate) fn scrub(mut self, scrubber: &Scrubber) -> Self {
        match &mut self {
            Error::TokenEndpoint { response, .. } | Error::Authorization { response } => {
                let r = &mut **response;
                let optional = [
                    &mut r.error_description,
                    &mut r.error_uri,
                    &mut r.timestamp,
                    &mut r.trace_id,
                    &mut r.correlation_id,
                ];
                for text in optional.into_iter().flatten().chain([&mut r.error]) {
                    scrubber.scrub(text);
                }
            }
            Error::UnexpectedResponse { content_type, .. } => {
                content_type.iter_mut().for_each(|t| scrubber.scrub(t));
            }
            Error::UnsupportedTokenType { token_type } => scrubber.scrub(token_type),
            _ => {}
        }
        self
    }
}

/// What an authorization server said when it refused a request: the fields
/// of RFC 6749 §5.2 and §4.1.2.1, plus the diagnostics the Microsoft identity
/// platform adds. A token endpoint's error body is read straight into it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ServerError {
    pub(crate) error: String,
    pub(crate) error_description: Option<String>,
    pub(crate) error_uri: Option<String>,
    /// Azure AD's numbers; anything else there is ignored rather than hiding
    /// the rest of the error.
    #[serde(default, deserialize_with = "crate::response::lenient_codes")]
    pub(crate) error_codes: Vec<i64>,
    pub(crate) timestamp: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
}

impl oauth2::ErrorResponse for ServerError {}

impl ServerError {
    /// The OAuth2 error code, e.g. `invalid_client`.
    pub fn error(&self) -> &str {
        &self.error
    }
    /// The human-readable description (Azure AD starts it with `AADSTSnnnnn:`).
    pub fn error_description(&self) -> Option<&str> {
        self.error_description.as_deref()
    }
    /// A page about the error.
    pub fn error_uri(&self) -> Option<&str> {
        self.error_uri.as_deref()
    }
    /// Azure AD's numeric `AADSTS` codes.
    pub fn error_codes(&self) -> &[i64] {
        &self.error_codes
    }
    /// When the server produced the error, as it wrote it.
    pub fn timestamp(&self) -> Option<&str> {
        self.timestamp.as_deref()
    }
    /// The server's trace id: quote it to support.
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }
    /// The server's correlation id: quote it to support.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)?;
        // Azure AD descriptions carry the trace id, correlation id and
        // timestamp on extra lines; those are shown from their own fields.
        if let Some(line) = self
            .error_description
            .as_ref()
            .and_then(|d| d.lines().next())
        {
            write!(f, ": {}", line.trim_end())?;
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

/// The error of an [`HttpClient`](crate::HttpClient): wraps whatever the
/// client failed with, which [`source`](std::error::Error::source) (and
/// [`inner`](Self::inner)) hands out as it is, for a caller to downcast.
#[derive(Clone, Debug)]
pub struct HttpClientError {
    inner: Arc<dyn std::error::Error + Send + Sync + 'static>,
}

impl fmt::Display for HttpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HTTP request failed")
    }
}

// By hand: thiserror's `#[source]` would hand out the `Arc`, which no downcast sees through.
impl std::error::Error for HttpClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner)
    }
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
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_client_error_hands_out_what_it_wraps() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = HttpClientError::new(HttpClientError::new(io));
        let source = std::error::Error::source(&error).unwrap();
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert!(error.inner().downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn an_unexpected_answer_is_told_by_status_type_and_length() {
        let error = Error::UnexpectedResponse {
            status: 502,
            content_type: Some("text/html".to_owned()),
            body_len: 1234,
            detail: "the error body is not an OAuth2 error response".to_owned(),
        };
        assert_eq!(
            error.to_string(),
            "unexpected answer from the token endpoint (HTTP 502, text/html, 1234 bytes): \
             the error body is not an OAuth2 error response"
        );
        assert_eq!(error.status(), Some(502));
        assert!(error.is_transient());
    }

    #[test]
    fn scrubbing_reaches_every_server_text() {
        let secret = "s3cr3t-value";
        let response = ServerError {
            error: secret.to_owned(),
            error_description: Some(format!("AADSTS7000215: got {secret}")),
            error_uri: Some(format!("https://h/?{secret}")),
            error_codes: vec![7000215],
            timestamp: Some(secret.to_owned()),
            trace_id: Some(secret.to_owned()),
            correlation_id: Some(secret.to_owned()),
        };
        let scrubber = Scrubber::new(&[secret]);
        for error in [
            Error::TokenEndpoint {
                status: 401,
                response: Box::new(response.clone()),
            },
            Error::Authorization {
                response: Box::new(response),
            },
            Error::UnsupportedTokenType {
                token_type: secret.to_ascii_lowercase(),
            },
            Error::UnexpectedResponse {
                status: 200,
                content_type: Some(format!("text/{secret}")),
                body_len: 0,
                detail: String::new(),
            },
        ] {
            let error = error.scrub(&scrubber);
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }
}
