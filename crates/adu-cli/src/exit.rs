//! Exit codes, and the [`Failure`] every error becomes before it is printed.
//!
//! Classification is pure: a client error in, an exit code and the facts to print out.

use std::process::ExitCode;

use adu_model::{AnyOperation, ServiceError, ServiceErrorKind};
use adu_transport::{Error as ClientError, TransportErrorKind};

/// What the `--help` text and the README say about exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (`operation show`: the operation was shown, whatever its status;
     `operation wait`: the operation Succeeded)
  1  the operation Failed (`operation wait`, `operation show --exit-status`)
  2  usage or configuration error (bad option, endpoint, id, or no credential;
     a 400 from the service)
  3  authentication failed (the token endpoint refused, no credential configured
     gave a token, or 401/403 from the service)
  4  operation (or instance) not found
  5  timed out (`operation wait --timeout`, `login --timeout`)
  6  service or network error, after retries (5xx, 429, connection, TLS; from the
     service or the token endpoint)

Authentication, the first configured that gives a token (--auth KIND forces one):
  access-token       --access-token (better: ADU_ACCESS_TOKEN)
  environment        AZURE_TENANT_ID + AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, or
                     AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_USERNAME + AZURE_PASSWORD
  workload-identity  AZURE_FEDERATED_TOKEN_FILE (+ AZURE_TENANT_ID, AZURE_CLIENT_ID)
  managed-identity   App Service or Azure Arc (IDENTITY_ENDPOINT); IMDS only if forced
  azure-cli          `az` on PATH, signed in with `az login`
  login              the sign-in cached by `adu login`
AZURE_AUTHORITY_HOST is optional. `adu auth show` tells which one is used here.";

/// The process exit codes of `adu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Exit {
    /// 0: success (for `wait`: the operation Succeeded).
    Success = 0,
    /// 1: the operation Failed.
    OperationFailed = 1,
    /// 2: usage or configuration error.
    Usage = 2,
    /// 3: authentication failed.
    Auth = 3,
    /// 4: the operation (or instance) was not found.
    NotFound = 4,
    /// 5: the wait timed out.
    TimedOut = 5,
    /// 6: service or network error after retries (and any failure not classified otherwise).
    #[default]
    Service = 6,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// As a process exit code.
    pub fn to_exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }

    /// The exit code for a finished (or still running) operation: 1 if it Failed, else 0.
    pub fn for_operation(operation: &AnyOperation) -> Exit {
        if operation.status().as_str() == "Failed" {
            Exit::OperationFailed
        } else {
            Exit::Success
        }
    }
}

/// Everything needed to report an error: the exit code, a sentence, the cause chain, what
/// the service said, and what to do. Rendered by [`crate::output`]; its JSON form (the
/// `error` of `--output json`) is derived here.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The exit code.
    #[serde(rename = "exitCode", serialize_with = "serialize_code")]
    pub exit: Exit,
    /// What went wrong, a lowercase sentence without a final period.
    pub message: String,
    /// The causes, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    /// The HTTP status, when a server answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The service's (or token endpoint's) error code.
    #[serde(rename = "code", skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The service's (or token endpoint's) message.
    #[serde(rename = "serviceMessage", skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The innermost inner error: `code: detail`.
    #[serde(rename = "innermostError", skip_serializing_if = "Option::is_none")]
    pub innermost: Option<String>,
    /// The trace id to quote to support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The last status seen, for a wait that timed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
}

fn serialize_code<S: serde::Serializer>(exit: &Exit, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u8(exit.code())
}

impl Failure {
    /// A failure with an exit code, a message and a hint.
    pub fn new(exit: Exit, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            hint: Some(hint.into()),
            ..Failure::default()
        }
    }

    /// Adds the source chain of `error` as causes.
    pub fn with_sources(mut self, error: &(dyn std::error::Error + 'static)) -> Self {
        for source in std::iter::successors(error.source(), |e| e.source()) {
            let text = source.to_string();
            if !text.is_empty() && !self.causes.contains(&text) {
                self.causes.push(text);
            }
        }
        self
    }

    /// Classifies an error of the client (`adu-transport`).
    pub fn from_client(error: &ClientError) -> Self {
        match error {
            // A link from the service (a list's nextLink, or an Operation-Location naming a
            // version this client does not speak) that is not followed: not the user's input.
            ClientError::InvalidInput(
                inner @ (adu_model::Error::InvalidNextLink { .. }
                | adu_model::Error::ForeignNextLink { .. }
                | adu_model::Error::UnknownApiVersion { .. }),
            ) => Failure::new(
                Exit::Service,
                inner.to_string(),
                "the service sent a link this client will not follow (what came before it was \
                 shown); report it with the output of -vv",
            ),
            ClientError::InvalidInput(inner) => Failure::new(
                Exit::Usage,
                inner.to_string(),
                "fix the value named above; nothing was sent",
            ),
            ClientError::Service(service) => Failure::from_service(service),
            ClientError::Decode(_) => Failure::new(
                Exit::Service,
                error.to_string(),
                "the service (or a proxy in between) sent something that is not an operation; \
                 run again with -vv and report the body",
            )
            .with_sources(error),
            ClientError::Auth(auth) => Failure::from_auth(auth),
            ClientError::Transport(transport) => {
                let (exit, hint) = match transport.kind() {
                    TransportErrorKind::Tls => (
                        Exit::Service,
                        "the server's certificate is not trusted or does not match the endpoint; \
                         for a private certificate (the emulator's), pass it with --ca-file",
                    ),
                    TransportErrorKind::InvalidConfiguration => (
                        Exit::Usage,
                        "fix the transport configuration (for example the --ca-file contents)",
                    ),
                    TransportErrorKind::Connect => (
                        Exit::Service,
                        "check the endpoint and the network (is the host reachable, is the port right?)",
                    ),
                    _ => (
                        Exit::Service,
                        "the network or the service failed after retries; try again later",
                    ),
                };
                Failure::new(exit, error.to_string(), hint).with_sources(error)
            }
            ClientError::ForeignHost { .. } | ClientError::InsecureTransport { .. } => {
                Failure::new(
                    Exit::Usage,
                    error.to_string(),
                    "use the endpoint the operation belongs to, over https",
                )
            }
            ClientError::InvalidConfiguration { .. } => {
                Failure::new(Exit::Usage, error.to_string(), "fix the configuration")
            }
            ClientError::DeadlineExceeded { last, .. } => {
                // A cause (the throttled or failed poll that left no poll within the time)
                // is listed among the causes.
                let mut f = Failure::new(
                    Exit::TimedOut,
                    error.to_string(),
                    "wait again with a longer --timeout, or check the operation later with \
                     `adu operation show`",
                )
                .with_sources(error);
                if let Some(op) = last {
                    f.last_status = Some(op.status().as_str().to_owned());
                    f.trace_id = op.trace_id().map(str::to_owned);
                }
                f
            }
            ClientError::UnknownStatus { last, .. } => {
                let mut f = Failure::new(
                    Exit::Service,
                    error.to_string(),
                    "the service reports a status this version of adu does not know; upgrade adu",
                );
                f.last_status = Some(last.status().as_str().to_owned());
                f.trace_id = last.trace_id().map(str::to_owned);
                f
            }
            _ => Failure::new(Exit::Service, error.to_string(), "try again later")
                .with_sources(error),
        }
    }

    /// Classifies an error status from the service.
    pub fn from_service(service: &ServiceError) -> Self {
        let exit = match service.kind() {
            ServiceErrorKind::Unauthorized | ServiceErrorKind::Forbidden => Exit::Auth,
            ServiceErrorKind::NotFound => Exit::NotFound,
            ServiceErrorKind::BadRequest => Exit::Usage,
            _ => Exit::Service,
        };
        let status = service.status();
        let message = match service.kind() {
            ServiceErrorKind::Unauthorized => "the service refused the credential".to_owned(),
            ServiceErrorKind::Forbidden => {
                "the identity is not allowed to read operations".to_owned()
            }
            // The service's code tells what was missing; a 404 without one (the legacy
            // API's problem details) is about the operation, the only thing asked for.
            ServiceErrorKind::NotFound => match service.code() {
                Some("InstanceNotFound") => "the instance was not found".to_owned(),
                Some("OperationNotFound") | None => "the operation was not found".to_owned(),
                Some(_) => "the service found nothing at this address".to_owned(),
            },
            ServiceErrorKind::BadRequest => {
                "the service refused the request as malformed".to_owned()
            }
            _ => "the service failed".to_owned(),
        };
        let mut f = Failure::new(
            exit,
            format!("{message} (HTTP {})", status.as_u16()),
            service.kind().advice(),
        );
        f.status = Some(status.as_u16());
        f.error_code = service.code().map(str::to_owned);
        f.error_message = service.message().map(str::to_owned);
        f.innermost = service.inner_errors().last().map(|inner| {
            match inner.error_detail.as_deref().or(inner.message.as_deref()) {
                Some(detail) => format!("{}: {detail}", inner.code),
                None => inner.code.clone(),
            }
        });
        f.trace_id = service
            .trace_id()
            .or(service.request_id())
            .map(str::to_owned);
        f
    }

    /// Classifies an error of a credential (`adu-auth`).
    ///
    /// A token endpoint that refused the credential is an authentication failure (3); one
    /// that could not be reached, or failed in a way that asking later may cure (5xx, 429,
    /// `temporarily_unavailable`), is a network or service error (6), as it would be for the
    /// Device Update API itself.
    pub fn from_auth(error: &adu_auth::Error) -> Self {
        let exit = match error {
            adu_auth::Error::InvalidConfig { .. }
            | adu_auth::Error::MissingEnvironment { .. }
            | adu_auth::Error::PasswordGrantNotSupported { .. } => Exit::Usage,
            _ if error.is_transient() => Exit::Service,
            _ => Exit::Auth,
        };
        // What the server said is carried once, in its own fields (code, message, trace
        // id): the headline only says who refused, so nothing is printed twice.
        let message = match (error, error.server_error()) {
            (adu_auth::Error::TokenEndpoint { status, .. }, Some(server)) => {
                match server.correlation_id() {
                    Some(correlation) => format!(
                        "cannot get an access token: the token endpoint refused the request \
                         (HTTP {status}, correlation id {correlation})"
                    ),
                    None => format!(
                        "cannot get an access token: the token endpoint refused the request \
                         (HTTP {status})"
                    ),
                }
            }
            (_, Some(server)) => match server.correlation_id() {
                Some(correlation) => format!(
                    "cannot get an access token: the sign-in was refused (correlation id \
                     {correlation})"
                ),
                None => "cannot get an access token: the sign-in was refused".to_owned(),
            },
            (_, None) => format!("cannot get an access token: {error}"),
        };
        let mut f = Failure::new(exit, message, error.hint()).with_sources(error);
        if f.causes
            .iter()
            .any(|c| c.contains("tls") || c.contains("certificate"))
        {
            f.hint = Some(
                "the token endpoint's certificate is not trusted; for a private certificate \
                 (the emulator's), pass it with --ca-file"
                    .to_owned(),
            );
        }
        f.status = error.status();
        if let Some(server) = error.server_error() {
            f.error_code = Some(server.error().to_owned());
            f.error_message = server
                .error_description()
                .map(|d| match server.trace_id() {
                    Some(_) => description_without_diagnostics(d),
                    None => d.trim(),
                })
                .filter(|d| !d.is_empty())
                .map(str::to_owned);
            f.trace_id = server.trace_id().map(str::to_owned);
        }
        f
    }
}

/// An Azure AD error description without the diagnostics it ends with (`Trace ID: ...
/// Correlation ID: ... Timestamp: ...`, on lines of their own or on the same line): those
/// are reported once, from the response's own fields.
fn description_without_diagnostics(description: &str) -> &str {
    let end = description.find("Trace ID:").unwrap_or(description.len());
    description[..end].trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use adu_transport::http;
    use std::time::SystemTime;

    fn service(status: u16, body: &str) -> ServiceError {
        adu_model::decode_service_error(
            http::StatusCode::from_u16(status).unwrap(),
            &http::HeaderMap::new(),
            body.as_bytes(),
            SystemTime::now(),
        )
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::OperationFailed.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::Auth.code(), 3);
        assert_eq!(Exit::NotFound.code(), 4);
        assert_eq!(Exit::TimedOut.code(), 5);
        assert_eq!(Exit::Service.code(), 6);
        for code in 0..=6 {
            assert!(EXIT_CODES_HELP.contains(&format!("  {code}  ")), "{code}");
        }
    }

    #[test]
    fn service_statuses_map_to_exit_codes() {
        for (status, exit) in [
            (401, Exit::Auth),
            (403, Exit::Auth),
            (404, Exit::NotFound),
            (400, Exit::Usage),
            (429, Exit::Service),
            (500, Exit::Service),
            (503, Exit::Service),
        ] {
            let f = Failure::from_service(&service(status, "{}"));
            assert_eq!(f.exit, exit, "{status}");
            assert_eq!(f.status, Some(status));
        }
    }

    #[test]
    fn a_404_says_what_was_not_found() {
        let headline = |body: &str| Failure::from_service(&service(404, body)).message;
        let coded = |code: &str| format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
        assert_eq!(
            headline(&coded("InstanceNotFound")),
            "the instance was not found (HTTP 404)"
        );
        assert_eq!(
            headline(&coded("OperationNotFound")),
            "the operation was not found (HTTP 404)"
        );
        assert_eq!(
            headline(r#"{"title":"Not Found","status":404}"#),
            "the operation was not found (HTTP 404)"
        );
        assert_eq!(
            headline(&coded("NotFound")),
            "the service found nothing at this address (HTTP 404)"
        );
    }

    #[test]
    fn service_failure_keeps_code_innermost_detail_and_trace_id() {
        let body = r#"{"error":{"code":"UpdateImportFailed","message":"Update import failed.",
            "innerError":{"code":"ImportFailed","innerError":{"code":"FileDownloadFailed",
            "errorDetail":"403 from storage"}}},"traceId":"abc123"}"#;
        let f = Failure::from_service(&service(500, body));
        assert_eq!(f.error_code.as_deref(), Some("UpdateImportFailed"));
        assert_eq!(f.error_message.as_deref(), Some("Update import failed."));
        assert_eq!(
            f.innermost.as_deref(),
            Some("FileDownloadFailed: 403 from storage")
        );
    }

    #[test]
    fn client_errors_map_to_exit_codes() {
        let deadline = ClientError::DeadlineExceeded {
            last: None,
            cause: None,
        };
        assert_eq!(Failure::from_client(&deadline).exit, Exit::TimedOut);
        // A deadline reached because the service asked for a pause past it says so.
        let throttled = ClientError::DeadlineExceeded {
            last: None,
            cause: Some(Box::new(ClientError::Service(Box::new(service(
                429,
                r#"{"error":{"code":"TooManyRequests","message":"Slow down."}}"#,
            ))))),
        };
        let f = Failure::from_client(&throttled);
        assert_eq!(f.exit, Exit::TimedOut);
        assert!(
            f.causes.iter().any(|c| c.contains("TooManyRequests")),
            "{:?}",
            f.causes
        );
        // A nextLink from the service that is not followed is the service's fault, not the
        // user's.
        let looping = ClientError::InvalidInput(adu_model::Error::InvalidNextLink {
            input: "/deviceUpdate/blue/updates/operations".into(),
            reason: "it names a page read before",
        });
        let f = Failure::from_client(&looping);
        assert_eq!(f.exit, Exit::Service);
        assert!(f.message.contains("nextLink"), "{f:?}");
        let foreign = ClientError::ForeignHost {
            target: "https://evil.example".into(),
        };
        assert_eq!(Failure::from_client(&foreign).exit, Exit::Usage);
        let transport = ClientError::Transport(adu_transport::TransportError::new(
            TransportErrorKind::Connect,
            "cannot connect",
        ));
        assert_eq!(Failure::from_client(&transport).exit, Exit::Service);
        let auth = ClientError::Auth(adu_auth::Error::LoginExpired);
        assert_eq!(Failure::from_client(&auth).exit, Exit::Auth);
        let missing = ClientError::Auth(adu_auth::Error::MissingEnvironment {
            missing: vec!["AZURE_CLIENT_ID".into()],
        });
        assert_eq!(Failure::from_client(&missing).exit, Exit::Usage);
    }

    /// The error a client secret credential gets from a token endpoint that answers
    /// `status` with `body` (or, with `None`, cannot be reached).
    fn token_error(answer: Option<(u16, &'static str)>) -> adu_auth::Error {
        use adu_auth::{Authority, ClientSecretCredential, HttpClientError, TokenCredential};
        let http: adu_auth::SharedHttpClient =
            std::sync::Arc::new(move |_: http::Request<Vec<u8>>| async move {
                let (status, body) =
                    answer.ok_or_else(|| HttpClientError::new("connection refused"))?;
                Ok::<_, HttpClientError>(
                    http::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(body.as_bytes().to_vec())
                        .unwrap(),
                )
            });
        let credential = ClientSecretCredential::new(
            Authority::new("contoso").unwrap(),
            "client",
            "wrong-secret",
            http,
        );
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(credential.get_token(&["scope/.default"]))
            .unwrap_err()
    }

    /// What Azure AD answers a wrong client secret: the diagnostics are repeated in the
    /// description, as the identity platform does.
    const INVALID_CLIENT: &str = r#"{"error":"invalid_client","error_description":
        "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: trace-1\r\nCorrelation ID: corr-1\r\nTimestamp: 2026-01-01 00:00:00Z",
        "error_codes":[7000215],"trace_id":"trace-1","correlation_id":"corr-1"}"#;

    #[test]
    fn a_token_endpoint_that_refuses_exits_3_one_that_cannot_be_reached_exits_6() {
        let refused = Failure::from_auth(&token_error(Some((401, INVALID_CLIENT))));
        assert_eq!(refused.exit, Exit::Auth, "{refused:?}");
        let unreachable = token_error(None);
        assert!(
            matches!(unreachable, adu_auth::Error::Http { .. }),
            "{unreachable:?}"
        );
        let unreachable = Failure::from_auth(&unreachable);
        assert_eq!(unreachable.exit, Exit::Service, "{unreachable:?}");
        assert!(unreachable
            .causes
            .iter()
            .any(|c| c.contains("connection refused")));
        let unavailable = Failure::from_auth(&token_error(Some((
            503,
            r#"{"error":"temporarily_unavailable"}"#,
        ))));
        assert_eq!(unavailable.exit, Exit::Service, "{unavailable:?}");
        let wrapped = ClientError::Auth(token_error(None));
        assert_eq!(Failure::from_client(&wrapped).exit, Exit::Service);
    }

    #[test]
    fn a_token_endpoint_error_says_each_fact_once() {
        let f = Failure::from_auth(&token_error(Some((401, INVALID_CLIENT))));
        assert_eq!(
            f.message,
            "cannot get an access token: the token endpoint refused the request \
             (HTTP 401, correlation id corr-1)"
        );
        assert_eq!(f.error_code.as_deref(), Some("invalid_client"));
        assert_eq!(
            f.error_message.as_deref(),
            Some("AADSTS7000215: Invalid client secret provided.")
        );
        assert_eq!(f.trace_id.as_deref(), Some("trace-1"));
        let text = crate::output::failure_text(&f);
        let json = crate::output::failure_json(&f);
        for rendered in [&text, &json] {
            for fact in ["AADSTS7000215", "trace-1", "corr-1", "invalid_client"] {
                assert_eq!(rendered.matches(fact).count(), 1, "{fact} in {rendered}");
            }
            assert!(!rendered.contains("wrong-secret"));
        }
    }
}
