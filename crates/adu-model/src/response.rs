//! Decoding the get-operation-status response into a typed outcome.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Response, StatusCode};
use serde::Serialize;
use serde_json::Value;

use crate::error::{DecodeError, Error, ServiceError, MAX_KEPT_BODY};
use crate::models::{self, DeviceOperation, Operation, OperationStatus, UpdateOperation};
use crate::retry_after::parse_retry_after;
use crate::version::{ApiVersion, OperationKind};
use crate::{ETag, Timestamp};

/// An operation of any API version and kind.
///
/// Serializes exactly as the service's schema names its fields (camelCase),
/// so printing it as JSON shows what the service sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum AnyOperation {
    /// An update operation from the legacy API (`updateId`).
    Legacy(Operation),
    /// An update operation from a current API (`update`).
    Current(UpdateOperation),
    /// A device-management operation (a device import) from a current API: no update and
    /// no resource location.
    Device(DeviceOperation),
}

macro_rules! all {
    ($self:ident, $op:ident => $e:expr) => {
        match $self {
            AnyOperation::Legacy($op) => $e,
            AnyOperation::Current($op) => $e,
            AnyOperation::Device($op) => $e,
        }
    };
}

impl AnyOperation {
    /// The operation id.
    pub fn operation_id(&self) -> &str {
        all!(self, op => &op.operation_id)
    }

    /// The status.
    pub fn status(&self) -> &OperationStatus {
        all!(self, op => &op.status)
    }

    /// The error of a failed operation.
    pub fn error(&self) -> Option<&models::Error> {
        all!(self, op => op.error.as_deref())
    }

    /// The trace id to quote to support.
    pub fn trace_id(&self) -> Option<&str> {
        all!(self, op => op.trace_id.as_deref())
    }

    /// The body's ETag.
    pub fn etag(&self) -> Option<&str> {
        all!(self, op => op.etag.as_deref())
    }

    /// When the status last changed.
    pub fn last_action_date_time(&self) -> &Timestamp {
        all!(self, op => &op.last_action_date_time)
    }

    /// When the operation was created.
    pub fn created_date_time(&self) -> &Timestamp {
        all!(self, op => &op.created_date_time)
    }

    /// Where the imported update is, once the operation succeeded (relative); `None` for
    /// a device-management operation.
    pub fn resource_location(&self) -> Option<&str> {
        match self {
            AnyOperation::Legacy(op) => op.resource_location.as_deref(),
            AnyOperation::Current(op) => op.resource_location.as_deref(),
            AnyOperation::Device(_) => None,
        }
    }

    /// The update the operation is about, if the service named it; `None` for a
    /// device-management operation.
    pub fn update_id(&self) -> Option<&models::UpdateId> {
        match self {
            AnyOperation::Legacy(op) => op.update_id.as_ref(),
            AnyOperation::Current(op) => op.update.as_ref().map(|u| &u.update_id),
            AnyOperation::Device(_) => None,
        }
    }

    /// Which kind of operation this is.
    pub fn kind(&self) -> OperationKind {
        match self {
            AnyOperation::Device(_) => OperationKind::Device,
            _ => OperationKind::Update,
        }
    }

    /// Whether the operation has finished (Succeeded or Failed).
    pub fn is_terminal(&self) -> bool {
        self.status().is_terminal()
    }

    /// The inner-error chain of a failed operation, outermost first.
    pub fn inner_errors(&self) -> impl Iterator<Item = &models::InnerError> + Clone {
        crate::error::inner_chain(self.error())
    }
}

/// A 200 answer: the operation with what the headers said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationResponse {
    /// The operation.
    pub operation: AnyOperation,
    /// The `ETag` header, to send back as `If-None-Match`.
    pub etag: Option<ETag>,
    /// When to ask again, from `Retry-After` (or the ms headers).
    pub retry_after: Option<Duration>,
}

impl OperationResponse {
    /// The ETag to send as `If-None-Match` next time: the header's, else the body's, the
    /// first of them that can be sent ([`ETag::is_sendable`]). `None` when neither can: the
    /// next poll then asks without a condition rather than failing to build.
    pub fn etag_for_next_poll(&self) -> Option<&str> {
        [self.etag.as_deref(), self.operation.etag()]
            .into_iter()
            .flatten()
            .find(|tag| crate::etag::is_sendable(tag))
    }
}

/// What a get-operation-status answer means.
// The 200 variant is large, but an outcome is made once per response and
// moved straight to the caller: boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetOperationOutcome {
    /// 200: the operation.
    Operation(OperationResponse),
    /// 304: unchanged since the ETag sent in `If-None-Match`.
    NotModified {
        /// The `ETag` header, if the service repeated it.
        etag: Option<ETag>,
        /// When to ask again.
        retry_after: Option<Duration>,
    },
}

/// Decodes a get-operation-status response for an operation of `kind` in `version`.
///
/// 200 gives the operation (an [`AnyOperation`] of the version's and kind's shape), 304 gives [`GetOperationOutcome::NotModified`]
/// (never an error), and any other status gives [`Error::Service`] with
/// everything the service said, whatever the shape of its body.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use adu_model::{decode_get_operation_response, ApiVersion, GetOperationOutcome, OperationKind, http};
///
/// let body = br#"{"operationId":"e4491c53","status":"Running","createdDateTime":"2022-01-05T18:24:39.1234567+00:00","lastActionDateTime":"2022-01-05T18:25:01.5555555+00:00","etag":"\"abc\""}"#;
/// let response = http::Response::builder()
///     .status(200)
///     .header("etag", "\"abc\"")
///     .header("retry-after", "5")
///     .body(body.to_vec())
///     .unwrap();
/// match decode_get_operation_response(ApiVersion::V2022_10_01, OperationKind::Update, &response, SystemTime::now()).unwrap() {
///     GetOperationOutcome::Operation(r) => {
///         assert_eq!(r.operation.status().as_str(), "Running");
///         assert_eq!(r.retry_after, Some(Duration::from_secs(5)));
///         assert_eq!(r.etag.as_deref(), Some("\"abc\""));
///     }
///     GetOperationOutcome::NotModified { .. } => unreachable!(),
/// }
/// ```
pub fn decode_get_operation_response(
    version: ApiVersion,
    kind: OperationKind,
    response: &Response<Vec<u8>>,
    now: SystemTime,
) -> Result<GetOperationOutcome, Error> {
    // A device operation of the legacy API is refused whatever the answer: there is none.
    kind.reads(version)?;
    let status = response.status();
    let headers = response.headers();
    let retry_after = parse_retry_after(headers, now);
    let etag = headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(ETag::new);
    match status {
        StatusCode::OK => {
            let body = response.body();
            let text = utf8(status, body, AN_OPERATION)?;
            let operation = match (version.has_api_version_query(), kind) {
                (false, _) => serde_json::from_str(text).map(AnyOperation::Legacy),
                (true, OperationKind::Update) => {
                    serde_json::from_str(text).map(AnyOperation::Current)
                }
                (true, OperationKind::Device) => {
                    serde_json::from_str(text).map(AnyOperation::Device)
                }
            }
            .map_err(|e| decode_error(status, body, AN_OPERATION, e.to_string()))?;
            Ok(GetOperationOutcome::Operation(OperationResponse {
                operation,
                etag,
                retry_after,
            }))
        }
        StatusCode::NOT_MODIFIED => Ok(GetOperationOutcome::NotModified { etag, retry_after }),
        _ => Err(Error::Service(Box::new(decode_service_error(
            status,
            headers,
            response.body(),
            now,
        )))),
    }
}

/// Decodes any error answer into a [`ServiceError`]; never fails.
///
/// Accepts the documented `{"error": {...}}` shape, a bare error object,
/// RFC 7807 problem details, OAuth's `{"error": "...", "error_description": "..."}`,
/// a lone `message` or `Message`, a JSON string, and anything else: a body of no
/// known shape becomes the message as text, bounded to a short excerpt.
///
/// ```
/// use std::time::SystemTime;
/// use adu_model::{decode_service_error, http::{HeaderMap, StatusCode}};
///
/// let body = br#"{"type":"https://tools.ietf.org/html/rfc7231#section-6.5.4","title":"Not Found","status":404,"traceId":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}"#;
/// let e = decode_service_error(StatusCode::NOT_FOUND, &HeaderMap::new(), body, SystemTime::now());
/// assert_eq!(e.message(), Some("Not Found"));
/// assert_eq!(e.trace_id(), Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"));
/// ```
pub fn decode_service_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> ServiceError {
    let (raw_body, body_truncated) = keep(body);
    let mut e = ServiceError {
        status,
        code: None,
        message: None,
        target: None,
        error: None,
        trace_id: None,
        request_id: header_string(headers, "x-ms-request-id"),
        retry_after: parse_retry_after(headers, now),
        raw_body,
        body_truncated,
    };
    // The whole body is read, not only the kept prefix: a long list of details must not
    // cost the error its code and message. Its texts are then cut short like any excerpt.
    let json: Option<Value> = serde_json::from_slice(body).ok();
    // Whether the body had a shape whose fields were read; if not, its text is the message.
    let mut known_shape = true;
    if let Some(Value::Object(map)) = &json {
        let str_of = |m: &serde_json::Map<String, Value>, k: &str| {
            m.get(k).and_then(Value::as_str).map(str::to_owned)
        };
        if let Some(Value::Object(err)) = map.get("error") {
            // The documented ErrorResponse shape.
            e.code = str_of(err, "code");
            e.message = str_of(err, "message");
            e.target = str_of(err, "target");
            e.error = serde_json::from_value(Value::Object(err.clone())).ok();
            e.trace_id = str_of(map, "traceId").or_else(|| str_of(err, "traceId"));
        } else if map.contains_key("code") && map.contains_key("message") {
            // A bare error object.
            e.code = str_of(map, "code");
            e.message = str_of(map, "message");
            e.target = str_of(map, "target");
            e.error = serde_json::from_value(Value::Object(map.clone())).ok();
            e.trace_id = str_of(map, "traceId");
        } else if map.contains_key("title")
            || map.contains_key("type")
            || map.contains_key("detail")
        {
            // RFC 7807 problem details, as the legacy API sends for 404.
            e.message = str_of(map, "detail").or_else(|| str_of(map, "title"));
            e.code = str_of(map, "code").or_else(|| str_of(map, "errorCode"));
            e.trace_id = str_of(map, "traceId");
        } else if let Some(Value::String(error)) = map.get("error") {
            // OAuth's shape, as a gateway refusing the token may answer.
            e.code = Some(crate::error::bounded(error));
            e.message = str_of(map, "error_description");
        } else {
            // A lone message, as ASP.NET and others send one.
            e.message = str_of(map, "message").or_else(|| str_of(map, "Message"));
            known_shape = map.is_empty();
        }
    } else if let Some(Value::String(text)) = &json {
        // A JSON string is the message itself.
        e.message = Some(crate::error::bounded(text));
    } else {
        known_shape = false;
    }
    if body_truncated {
        for text in [&mut e.code, &mut e.message, &mut e.target, &mut e.trace_id]
            .into_iter()
            .flatten()
        {
            *text = crate::error::bounded(text);
        }
    }
    if e.message.is_none() && !known_shape && !e.raw_body.is_empty() {
        // No known shape: show the text itself (bounded) when it is text, JSON or not.
        if let Ok(text) = std::str::from_utf8(&e.raw_body) {
            let text = text.trim();
            if !text.is_empty() {
                e.message = Some(crate::error::bounded(text));
            }
        }
    }
    if e.trace_id.is_none() {
        e.trace_id = header_string(headers, "traceparent")
            .and_then(|tp| tp.split('-').nth(1).map(str::to_owned))
            .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    e
}

/// What a get's body should be, as a decode error says it.
pub(crate) const AN_OPERATION: &str = "an operation";

/// The body as text: UTF-8 is checked once, up front, so the reason says so when it is
/// not, and serde_json's `from_str` does not check each string again as `from_slice` does.
pub(crate) fn utf8<'b>(
    status: StatusCode,
    body: &'b [u8],
    expected: &'static str,
) -> Result<&'b str, Error> {
    std::str::from_utf8(body).map_err(|e| {
        decode_error(
            status,
            body,
            expected,
            format!("the body is not UTF-8 JSON: {e}"),
        )
    })
}

pub(crate) fn decode_error(
    status: StatusCode,
    body: &[u8],
    expected: &'static str,
    reason: String,
) -> Error {
    Error::Decode(Box::new(DecodeError {
        status,
        expected,
        reason,
        raw_body: keep(body).0,
    }))
}

/// At most [`MAX_KEPT_BODY`] bytes of `body`, and whether it was cut.
fn keep(body: &[u8]) -> (Vec<u8>, bool) {
    let kept = &body[..body.len().min(MAX_KEPT_BODY)];
    (kept.to_vec(), kept.len() < body.len())
}

fn header_string(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
