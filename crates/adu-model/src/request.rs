//! Building the requests of the operations family for every API version.

use http::header::{ACCEPT, IF_NONE_MATCH};
use http::{HeaderValue, Request, Uri};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::endpoint::{Endpoint, InstanceId, OperationId};
use crate::error::{bounded, shown_url, Error};
use crate::version::{ApiVersion, OperationKind};

/// RFC 3986 §2.3: everything but the unreserved characters is encoded, so a
/// segment can never contain `/`, `?`, `#` or `%` that the server would read.
pub(crate) const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a value as exactly one URI path segment.
///
/// ```
/// assert_eq!(adu_model::encode_path_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
/// ```
pub fn encode_path_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The path and query of one operation's get request, each id encoded as one segment;
/// [`Error::UnsupportedKind`] when the version has no operations of that kind.
///
/// ```
/// use adu_model::{operation_path, ApiVersion, InstanceId, OperationId, OperationKind};
///
/// let (instance, op) = (InstanceId::new("blue").unwrap(), OperationId::new("a/b").unwrap());
/// let path = operation_path(&instance, &op, OperationKind::Device, ApiVersion::V2026_06_01).unwrap();
/// assert_eq!(path, "/deviceUpdate/blue/management/operations/a%2Fb?api-version=2026-06-01");
/// assert!(operation_path(&instance, &op, OperationKind::Device, ApiVersion::V2).is_err());
/// ```
pub fn operation_path(
    instance: &InstanceId,
    operation: &OperationId,
    kind: OperationKind,
    version: ApiVersion,
) -> Result<String, Error> {
    let template = kind.reads(version)?.get;
    let path = fill(template, instance, Some(operation));
    Ok(with_api_version(path, version))
}

/// `template` with `{instanceId}` and `{operationId}` replaced by encoded segments.
fn fill(template: &str, instance: &InstanceId, operation: Option<&OperationId>) -> String {
    let path = template.replace("{instanceId}", &encode_path_segment(instance.as_str()));
    match operation {
        Some(op) => path.replace("{operationId}", &encode_path_segment(op.as_str())),
        None => path,
    }
}

/// `path` with `?api-version=` appended when the version has the query.
fn with_api_version(mut path: String, version: ApiVersion) -> String {
    if version.has_api_version_query() {
        path.push_str("?api-version=");
        path.push_str(version.as_str());
    }
    path
}

/// Builds `GET` get-operation-status for one operation of `kind`.
///
/// The request has an absolute URI, `Accept: application/json` and, when
/// given, `If-None-Match`. It carries no credential: the transport adds the
/// `Authorization`, `User-Agent` and request-id headers.
///
/// ```
/// use adu_model::{build_get_operation_request, ApiVersion, Endpoint, InstanceId, OperationId, OperationKind};
///
/// let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
/// let instance = InstanceId::new("blue").unwrap();
/// let op = OperationId::new("e4491c53-b1f7-4e3f-9ec5-6a3e1b6b4a4c").unwrap();
///
/// let req = build_get_operation_request(&endpoint, &instance, &op, OperationKind::Update, ApiVersion::V2022_10_01, None).unwrap();
/// assert_eq!(
///     req.uri(),
///     "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/e4491c53-b1f7-4e3f-9ec5-6a3e1b6b4a4c?api-version=2022-10-01"
/// );
///
/// let legacy = build_get_operation_request(&endpoint, &instance, &op, OperationKind::Update, ApiVersion::V2, Some("\"abc\"")).unwrap();
/// assert_eq!(
///     legacy.uri(),
///     "https://contoso.api.adu.microsoft.com/deviceupdate/blue/v2/updates/operations/e4491c53-b1f7-4e3f-9ec5-6a3e1b6b4a4c"
/// );
/// assert_eq!(legacy.headers()["if-none-match"], "\"abc\"");
///
/// let device = build_get_operation_request(&endpoint, &instance, &op, OperationKind::Device, ApiVersion::default(), None).unwrap();
/// assert_eq!(
///     device.uri(),
///     "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/management/operations/e4491c53-b1f7-4e3f-9ec5-6a3e1b6b4a4c?api-version=2026-06-01"
/// );
/// ```
pub fn build_get_operation_request(
    endpoint: &Endpoint,
    instance: &InstanceId,
    operation: &OperationId,
    kind: OperationKind,
    version: ApiVersion,
    if_none_match: Option<&str>,
) -> Result<Request<Vec<u8>>, Error> {
    build_get_request(
        operation_uri(endpoint, instance, operation, kind, version)?,
        if_none_match,
    )
}

/// The absolute URI of one operation's status, as [`build_get_operation_request`] sends it.
///
/// A caller that polls one operation can work the URI out once and hand a clone to
/// [`build_get_request`] for each request.
pub fn operation_uri(
    endpoint: &Endpoint,
    instance: &InstanceId,
    operation: &OperationId,
    kind: OperationKind,
    version: ApiVersion,
) -> Result<Uri, Error> {
    let path = operation_path(instance, operation, kind, version)?;
    format!("{}{path}", endpoint.base_url())
        .parse()
        .map_err(|_| Error::InvalidOperationId {
            input: bounded(operation.as_str()),
            reason: "it does not form a valid URI",
        })
}

/// Builds the status request for an `Operation-Location` header value.
///
/// A relative value (`/deviceUpdate/blue/updates/operations/x?api-version=2022-10-01`,
/// as the import call returns) is resolved against the endpoint and keeps its
/// query string as is; an absolute one must be on the endpoint's origin, or
/// it is refused with [`Error::ForeignOperationLocation`] so the token never
/// goes to another host.
///
/// ```
/// use adu_model::{build_operation_location_request, Endpoint, Error};
///
/// let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
/// let req = build_operation_location_request(
///     &endpoint,
///     "/deviceupdate/blue/updates/operations/e852?api-version=2",
///     None,
/// ).unwrap();
/// assert_eq!(req.uri(), "https://contoso.api.adu.microsoft.com/deviceupdate/blue/updates/operations/e852?api-version=2");
///
/// let foreign = build_operation_location_request(&endpoint, "https://evil.example/x", None);
/// assert!(matches!(foreign, Err(Error::ForeignOperationLocation { .. })));
/// ```
pub fn build_operation_location_request(
    endpoint: &Endpoint,
    location: &str,
    if_none_match: Option<&str>,
) -> Result<Request<Vec<u8>>, Error> {
    let uri = resolve_operation_location(endpoint, location)?;
    build_get_request(uri, if_none_match)
}

/// Resolves an `Operation-Location` value against the endpoint (RFC 3986 §5.2
/// for the forms the service sends), refusing other origins.
pub fn resolve_operation_location(endpoint: &Endpoint, location: &str) -> Result<Uri, Error> {
    let fail = |reason| Error::InvalidOperationLocation {
        input: shown_url(location),
        reason,
    };
    let location = location.trim_matches(|c| c == ' ' || c == '\t');
    if location.is_empty() {
        return Err(fail("it is empty"));
    }
    if location
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
    {
        return Err(fail(
            "it contains spaces, backslashes or control characters",
        ));
    }
    if location.contains('#') {
        return Err(fail("it has a fragment"));
    }
    let uri: Uri = absolute_form(location, endpoint.scheme(), &endpoint.base_url())
        .parse()
        .map_err(|_| fail("it is not a valid URI or path"))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(fail("it has credentials in it"));
    }
    if !endpoint.same_origin(&uri) {
        let origin = match (uri.scheme_str(), uri.authority()) {
            // A password may hold an unencoded `/`, which ends the authority a parser finds:
            // what that authority shows could be the password's start.
            _ if location.contains('@') => shown_url(location),
            (Some(s), Some(a)) => format!("{s}://{a}"),
            _ => bounded(location),
        };
        return Err(Error::ForeignOperationLocation {
            origin: bounded(&origin),
            endpoint: endpoint.base_url(),
        });
    }
    // Rebuild on the endpoint's own authority so the request carries exactly
    // the configured host.
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{}{path_and_query}", endpoint.base_url())
        .parse()
        .map_err(|_| fail("it is not a valid URI or path"))
}

/// `location` (trimmed) as absolute URI text (RFC 3986 §5.2, for the forms the service
/// sends): scheme-relative (`//`) takes `scheme`, a path (`/`) and a relative path go
/// under `base_url`, an absolute one stays as it is.
pub(crate) fn absolute_form(location: &str, scheme: &str, base_url: &str) -> String {
    if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{base_url}{location}")
    } else if has_scheme(location) {
        location.to_owned()
    } else {
        format!("{base_url}/{location}")
    }
}

pub(crate) fn has_scheme(s: &str) -> bool {
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
    match s.find(':') {
        Some(i) if i > 0 => {
            let scheme = &s[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        _ => false,
    }
}

/// A `GET` of `uri` with `Accept: application/json` and, when given, `If-None-Match`.
///
/// The request carries no credential, and `uri` is taken as it is: the other builders
/// make the URI (and refuse an `Operation-Location` on another origin); with this one,
/// sending the request only to the endpoint's origin is the caller's to check. Fails with
/// [`Error::InvalidETag`] if `if_none_match` is empty or holds anything but visible ASCII
/// and spaces (exactly the tags [`crate::ETag::is_sendable`] accepts).
///
/// ```
/// use adu_model::{build_get_request, http::Uri, Error};
///
/// let uri: Uri = "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/x?api-version=2022-10-01".parse().unwrap();
/// let request = build_get_request(uri, None).unwrap();
/// assert_eq!(request.method(), "GET");
/// assert_eq!(request.headers()["accept"], "application/json");
/// assert!(request.headers().get("if-none-match").is_none());
/// let bad = build_get_request(request.uri().clone(), Some("\"t\"\n"));
/// assert!(matches!(bad, Err(Error::InvalidETag)));
/// ```
pub fn build_get_request(uri: Uri, if_none_match: Option<&str>) -> Result<Request<Vec<u8>>, Error> {
    // `Request::new` is a GET.
    let mut request = Request::new(Vec::new());
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    if let Some(etag) = if_none_match {
        // Not empty, and visible ASCII and spaces only: `HeaderValue` alone would
        // also let obs-text and an empty value through.
        if !crate::etag::is_sendable(etag) {
            return Err(Error::InvalidETag);
        }
        let value = HeaderValue::from_str(etag).map_err(|_| Error::InvalidETag)?;
        headers.insert(IF_NONE_MATCH, value);
    }
    Ok(request)
}
