//! Building the "get operation status" request for either API version.

use http::header::{ACCEPT, IF_NONE_MATCH};
use http::{HeaderValue, Request, Uri};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::endpoint::{ApiVersion, Endpoint, InstanceId, OperationId};
use crate::error::{bounded, shown_url, Error};

/// RFC 3986 §2.3: everything but the unreserved characters is encoded, so a
/// segment can never contain `/`, `?`, `#` or `%` that the server would read.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
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

/// The path and query of the get-operation request, each id encoded as one segment.
pub fn operation_path(
    instance: &InstanceId,
    operation: &OperationId,
    version: ApiVersion,
) -> String {
    let instance = encode_path_segment(instance.as_str());
    let operation = encode_path_segment(operation.as_str());
    match version {
        ApiVersion::V2 => format!("/deviceupdate/{instance}/v2/updates/operations/{operation}"),
        ApiVersion::V2022_10_01 => format!(
            "/deviceUpdate/{instance}/updates/operations/{operation}?api-version=2022-10-01"
        ),
    }
}

/// Builds `GET` get-operation-status for one operation.
///
/// The request has an absolute URI, `Accept: application/json` and, when
/// given, `If-None-Match`. It carries no credential: the transport adds the
/// `Authorization`, `User-Agent` and request-id headers.
///
/// ```
/// use adu_model::{build_get_operation_request, ApiVersion, Endpoint, InstanceId, OperationId};
///
/// let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
/// let instance = InstanceId::new("blue").unwrap();
/// let op = OperationId::new("e4491c53-b1f7-4e3f-9ec5-6a3e1b6b4a4c").unwrap();
///
/// let req = build_get_operation_request(&endpoint, &instance, &op, ApiVersion::V2022_10_01, None).unwrap();
/// assert_eq!(
///     req.uri(),
///     "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/e4491c53-b1f7-4e3f-9ec5-6a3e1b6b4a4c?api-version=2022-10-01"
/// );
///
/// let legacy = build_get_operation_request(&endpoint, &instance, &op, ApiVersion::V2, Some("\"abc\"")).unwrap();
/// assert_eq!(
///     legacy.uri(),
///     "https://contoso.api.adu.microsoft.com/deviceupdate/blue/v2/updates/operations/e4491c53-b1f7-4e3f-9ec5-6a3e1b6b4a4c"
/// );
/// assert_eq!(legacy.headers()["if-none-match"], "\"abc\"");
/// ```
pub fn build_get_operation_request(
    endpoint: &Endpoint,
    instance: &InstanceId,
    operation: &OperationId,
    version: ApiVersion,
    if_none_match: Option<&str>,
) -> Result<Request<Vec<u8>>, Error> {
    build_get_request(
        operation_uri(endpoint, instance, operation, version)?,
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
    version: ApiVersion,
) -> Result<Uri, Error> {
    let path = operation_path(instance, operation, version);
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
fn absolute_form(location: &str, scheme: &str, base_url: &str) -> String {
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

fn has_scheme(s: &str) -> bool {
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

/// Which API version an `Operation-Location` (or request path) belongs to:
/// legacy paths start `/deviceupdate/{instance}/v2/`.
pub fn api_version_of_location(location: &str) -> ApiVersion {
    // Read as `resolve_operation_location` reads it, on any origin; text that is not a
    // URI has no legacy path.
    let location = location.trim_matches([' ', '\t']);
    let Ok(uri) = absolute_form(location, "https", "https://h").parse::<Uri>() else {
        return ApiVersion::V2022_10_01;
    };
    let mut segments = uri.path().trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some(first), Some(_instance), Some("v2"))
            if first.eq_ignore_ascii_case("deviceupdate") =>
        {
            ApiVersion::V2
        }
        _ => ApiVersion::V2022_10_01,
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
