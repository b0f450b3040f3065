//! Request routing and the answers of each route, computed from the request, the shared
//! state and the wall-clock time passed in (no I/O here; the rate limit reads the monotonic
//! clock).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use adu_model::models::{Error as ServiceError, ErrorResponse};
use adu_model::Timestamp;
use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use percent_encoding::utf8_percent_encode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::config::{default_update_id, OperationKind, OperationSpec};
use crate::list::ListRequest;
use crate::schedule::retry_after_secs;
use crate::state::{State, TokenProblem};

const JSON: &str = "application/json; charset=utf-8";
const PROBLEM_JSON: &str = "application/problem+json; charset=utf-8";

/// Decodes one path segment's `%XX` escapes; a `%` not followed by two hex digits stays as
/// it is (`%+6` is not a byte) and invalid UTF-8 is replaced.
pub(crate) fn decode_segment(segment: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy()
}

/// The name-value pairs of a query string or form body, decoded as
/// `application/x-www-form-urlencoded` by `form_urlencoded` (`+` is a space, `%XX` a byte,
/// invalid escapes kept, empty pairs skipped).
pub fn parse_pairs(s: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(s.as_bytes()).collect()
}

/// The first value of `name` in pairs from [`parse_pairs`] (a repeated name's first wins).
pub fn first_value<'a>(pairs: &'a [(Cow<'_, str>, Cow<'_, str>)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| &**v)
}

/// A W3C trace context (`00-{trace id}-{parent id}-{flags}`) with random ids, as the service
/// sends in `traceparent` and in its problem bodies.
fn trace_context(flags: &str) -> String {
    let parent: u64 = rand::random();
    format!("00-{}-{parent:016x}-{flags}", Uuid::new_v4().simple())
}

/// An answer with `body` of media type `content_type` and the headers given.
pub(crate) fn answer(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
    headers: &[(HeaderName, &'static str)],
) -> Response<Bytes> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let content_type = content_type.map(|c| (CONTENT_TYPE, c));
    for (name, value) in content_type.into_iter().chain(headers.iter().cloned()) {
        resp.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// An answer of the service's API, with a `traceparent` as the service sends.
fn response(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
) -> Response<Bytes> {
    let mut resp = answer(status, content_type, body, &[]);
    set_header(
        &mut resp,
        HeaderName::from_static("traceparent"),
        &trace_context("01"),
    );
    resp
}

pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Bytes> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    response(status, Some(JSON), Bytes::from(bytes))
}

/// An operation as the service writes it: recorded traffic spells the `Error`'s inner error
/// `innerError`, not the specification's `innererror` (which the model writes).
pub(crate) fn operation_json<T: Serialize>(op: &T) -> serde_json::Value {
    let mut value = serde_json::to_value(op).unwrap_or_default();
    if let Some(error) = value.get_mut("error") {
        inner_error_as_sent(error);
    }
    value
}

/// Renames an `Error`'s `innererror` to `innerError`, in its details too.
fn inner_error_as_sent(error: &mut serde_json::Value) {
    let Some(map) = error.as_object_mut() else {
        return;
    };
    if let Some(inner) = map.remove("innererror") {
        map.insert("innerError".to_owned(), inner);
    }
    if let Some(details) = map.get_mut("details").and_then(|d| d.as_array_mut()) {
        details.iter_mut().for_each(inner_error_as_sent);
    }
}

/// The service's `ErrorResponse` (`{"error": {...}}`).
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    now: SystemTime,
) -> Response<Bytes> {
    let mut error = ServiceError::new(code, message);
    error.occurred_date_time = Some(Timestamp::from_system_time(now));
    json_response(status, &ErrorResponse::new(error))
}

/// Sets a header, unless `value` cannot be one (a control character).
pub(crate) fn set_header(resp: &mut Response<Bytes>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// What a request asks for, by its path (names matched case-insensitively, as the service
/// does).
enum Route<'r> {
    Token,
    DeviceCode,
    Authorize,
    AppServiceIdentity,
    ImdsIdentity,
    CloudShellIdentity,
    Legacy(&'r str),
    LegacyList,
    Current(OperationKind, &'r str),
    List(OperationKind),
    Import,
    DeviceImport,
    Update(&'r str, &'r str, &'r str),
}

/// Routes a request and computes the answer.
pub(crate) fn route(
    state: &State,
    base_url: &str,
    req: &Request<Bytes>,
    peer: SocketAddr,
    now: SystemTime,
) -> Response<Bytes> {
    let segs: Vec<Cow<'_, str>> = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(decode_segment)
        .collect();
    let s: Vec<&str> = segs.iter().map(|seg| &**seg).collect();
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let not_found = || {
        let message = "The requested resource does not exist.";
        error_response(StatusCode::NOT_FOUND, "NotFound", message, now)
    };

    // The tenant of the identity platform's endpoints, the instance of the API's.
    let (first, route) = match s.as_slice() {
        [tenant, o, v, t] if is(o, "oauth2") && is(v, "v2.0") && is(t, "token") => {
            (*tenant, Route::Token)
        }
        [tenant, o, v, d] if is(o, "oauth2") && is(v, "v2.0") && is(d, "devicecode") => {
            (*tenant, Route::DeviceCode)
        }
        [tenant, o, v, a] if is(o, "oauth2") && is(v, "v2.0") && is(a, "authorize") => {
            (*tenant, Route::Authorize)
        }
        // App Service's IDENTITY_ENDPOINT may end with a slash.
        [m, t] | [m, t, ""] if is(m, "msi") && is(t, "token") => ("", Route::AppServiceIdentity),
        [m, i, o, t]
            if is(m, "metadata") && is(i, "identity") && is(o, "oauth2") && is(t, "token") =>
        {
            ("", Route::ImdsIdentity)
        }
        [o, t] if is(o, "oauth2") && is(t, "token") => ("", Route::CloudShellIdentity),
        [d, instance, rest @ ..] if is(d, "deviceupdate") => match rest {
            [v2, u, o, op] if is(v2, "v2") && is(u, "updates") && is(o, "operations") => {
                (*instance, Route::Legacy(op))
            }
            [v2, u, o] if is(v2, "v2") && is(u, "updates") && is(o, "operations") => {
                (*instance, Route::LegacyList)
            }
            [u, o, op] if is(u, "updates") && is(o, "operations") => {
                (*instance, Route::Current(OperationKind::Update, op))
            }
            [m, o, op] if is(m, "management") && is(o, "operations") => {
                (*instance, Route::Current(OperationKind::Device, op))
            }
            [u, o] if is(u, "updates") && is(o, "operations") => {
                (*instance, Route::List(OperationKind::Update))
            }
            [m, o] if is(m, "management") && is(o, "operations") => {
                (*instance, Route::List(OperationKind::Device))
            }
            [ui] if is(ui, "updates:import") => (*instance, Route::Import),
            [m, di] if is(m, "management") && is(di, "devices:import") => {
                (*instance, Route::DeviceImport)
            }
            [u, pr, p, na, n, ve, v]
                if is(u, "updates")
                    && is(pr, "providers")
                    && is(na, "names")
                    && is(ve, "versions") =>
            {
                (*instance, Route::Update(p, n, v))
            }
            _ => return not_found(),
        },
        _ => return not_found(),
    };
    let wanted = match route {
        Route::Token
        | Route::DeviceCode
        | Route::CloudShellIdentity
        | Route::Import
        | Route::DeviceImport => Method::POST,
        _ => Method::GET,
    };
    if req.method() != wanted {
        let message = "The requested resource does not support this HTTP method.";
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            message,
            now,
        );
    }
    let query = req.uri().query().unwrap_or("");
    match route {
        Route::Token => {
            state.count(|s| &mut s.token_requests);
            return crate::token::token_endpoint(state, base_url, first, req.body(), now);
        }
        Route::DeviceCode => {
            return crate::token::device_code_endpoint(state, base_url, first, req.body(), now);
        }
        Route::Authorize => {
            state.count(|s| &mut s.authorize_requests);
            return crate::authorize::authorize_endpoint(state, base_url, first, query, now);
        }
        Route::AppServiceIdentity => {
            state.count(|s| &mut s.identity_requests);
            return crate::identity::app_service(state, req.headers(), query, now);
        }
        Route::ImdsIdentity => {
            state.count(|s| &mut s.identity_requests);
            return crate::identity::imds(state, req.headers(), query, now);
        }
        Route::CloudShellIdentity => {
            state.count(|s| &mut s.identity_requests);
            return crate::identity::cloud_shell(state, req.headers(), req.body(), now);
        }
        Route::Legacy(_) | Route::Current(..) => state.count(|s| &mut s.status_requests),
        Route::LegacyList | Route::List(_) => state.count(|s| &mut s.list_requests),
        Route::Import | Route::DeviceImport | Route::Update(..) => {}
    }

    // Authentication, then the rate limit (per client id, or per peer address).
    let client_key = if state.config.require_auth {
        match bearer(req.headers())
            .ok_or(TokenProblem::Missing)
            .and_then(|t| state.check_token(t, now))
        {
            Ok(client_id) => client_id,
            Err(problem) => return unauthorized(state, base_url, problem, now),
        }
    } else {
        peer.ip().to_string()
    };
    if let Err(wait) = state.rate_limit(&client_key, Instant::now()) {
        state.count(|s| &mut s.rate_limited);
        let message =
            "Too many requests. Please retry after the time given in the Retry-After header.";
        let mut resp = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            message,
            now,
        );
        set_header(&mut resp, RETRY_AFTER, &retry_after_secs(wait).to_string());
        return resp;
    }

    if let Some(known) = &state.config.instances {
        if !known.iter().any(|k| k.eq_ignore_ascii_case(first)) {
            let message = format!("Instance '{first}' was not found.");
            return match route {
                Route::Legacy(..) | Route::LegacyList => problem_not_found(),
                _ => error_response(StatusCode::NOT_FOUND, "InstanceNotFound", &message, now),
            };
        }
    }

    // The current API checks api-version (ASP.NET API versioning's codes).
    let api_version = match (&route, first_value(&parse_pairs(query), "api-version")) {
        (Route::Legacy(_) | Route::LegacyList, _) => String::new(),
        (_, None) => {
            let message =
                "The api-version query parameter (?api-version=) is required for all requests.";
            let code = "MissingApiVersionParameter";
            return error_response(StatusCode::BAD_REQUEST, code, message, now);
        }
        (_, Some(v)) if !state.config.api_versions.iter().any(|k| k == v) => {
            let message = format!(
                "The HTTP resource that matches the request URI '{}' does not support the API version '{v}'.",
                req.uri().path()
            );
            return error_response(
                StatusCode::BAD_REQUEST,
                "UnsupportedApiVersion",
                &message,
                now,
            );
        }
        (_, Some(v)) => v.to_owned(),
    };

    // The instance goes into the locations answered as the one path segment it came as.
    let instance = utf8_percent_encode(first, crate::authorize::ESCAPED).to_string();
    let current = Some((instance.as_str(), api_version.as_str()));
    let list = |kind, current| {
        let path = req.uri().path();
        let list = ListRequest {
            kind,
            current,
            path,
            query,
        };
        crate::list::list(state, base_url, &list, now)
    };
    match route {
        Route::Legacy(op) => get_operation(state, req, OperationKind::Update, op, None, now),
        Route::Current(kind, op) => get_operation(state, req, kind, op, current, now),
        Route::LegacyList => list(OperationKind::Update, None),
        Route::List(kind) => list(kind, current),
        Route::Import => import(state, req, &instance, &api_version, now),
        Route::DeviceImport => import_devices(state, req, &instance, &api_version, now),
        Route::Update(p, n, v) => get_update(state, p, n, v, now),
        // Answered before the API's checks.
        Route::Token
        | Route::DeviceCode
        | Route::Authorize
        | Route::AppServiceIdentity
        | Route::ImdsIdentity
        | Route::CloudShellIdentity => not_found(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn unauthorized(
    state: &State,
    base_url: &str,
    problem: TokenProblem,
    now: SystemTime,
) -> Response<Bytes> {
    state.count(|s| &mut s.unauthorized);
    let tenant = &state.config.credentials.tenant;
    // RFC 6750 §3: the challenge, with error="invalid_token" when a token was sent.
    let mut challenge =
        format!("Bearer authorization_uri=\"{base_url}/{tenant}/oauth2/v2.0/authorize\"");
    let message = match problem {
        TokenProblem::Missing => "Authorization header with a bearer token is required.",
        TokenProblem::Unknown => "The access token is invalid.",
        TokenProblem::Expired => "The access token has expired.",
    };
    if problem != TokenProblem::Missing {
        challenge.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{message}\""
        ));
    }
    let mut resp = error_response(StatusCode::UNAUTHORIZED, "Unauthorized", message, now);
    set_header(&mut resp, WWW_AUTHENTICATE, &challenge);
    resp
}

/// The RFC 7807 body the legacy API was seen to send for an unknown operation.
fn problem_not_found() -> Response<Bytes> {
    let body = json!({
        "type": "https://tools.ietf.org/html/rfc7231#section-6.5.4",
        "title": "Not Found",
        "status": 404,
        "traceId": trace_context("00"),
    });
    response(
        StatusCode::NOT_FOUND,
        Some(PROBLEM_JSON),
        Bytes::from(body.to_string()),
    )
}

/// Whether an `If-None-Match` header matches `etag` (RFC 9110 §13.1.2, weak comparison).
fn if_none_match_hits(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
        })
}

fn get_operation(
    state: &State,
    req: &Request<Bytes>,
    kind: OperationKind,
    id: &str,
    current: Option<(&str, &str)>,
    now: SystemTime,
) -> Response<Bytes> {
    let rec = state
        .operation(kind, id)
        .filter(|r| r.is_visible(current.is_none()));
    let Some(rec) = rec else {
        return match current {
            None => problem_not_found(),
            Some(_) => error_response(
                StatusCode::NOT_FOUND,
                "OperationNotFound",
                &format!("Operation with id '{id}' was not found."),
                now,
            ),
        };
    };
    state.count_poll(&rec.id);
    let progress = rec.progress(now);
    let body = match (kind, current) {
        (OperationKind::Device, _) => operation_json(&rec.render_device(now)),
        (_, Some((inst, api_version))) => {
            operation_json(&rec.render_current(now, inst, api_version))
        }
        (_, None) => operation_json(&rec.render_legacy(now)),
    };
    let mut resp = json_response(StatusCode::OK, &body);
    let etag = rec.etag(&progress);
    if if_none_match_hits(req.headers(), &etag) {
        state.count(|s| &mut s.not_modified);
        resp = response(StatusCode::NOT_MODIFIED, None, Bytes::new());
    }
    set_header(&mut resp, ETAG, &etag);
    if !progress.is_finished() {
        set_header(
            &mut resp,
            RETRY_AFTER,
            &retry_after_secs(rec.timings.retry_after).to_string(),
        );
    }
    resp
}

/// The part of an import request's items the emulator reads: the manifest's URL.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportItem {
    import_manifest: ImportManifest,
}

#[derive(Deserialize)]
struct ImportManifest {
    url: String,
}

/// Checks the import body: a non-empty JSON array of items, each with an
/// `importManifest` object holding a string `url`. Returns the first manifest URL.
fn check_import_body(body: &[u8]) -> Result<String, String> {
    let items: Vec<ImportItem> = serde_json::from_slice(body).map_err(|e| {
        format!("The request body must be a JSON array of import update items, each with an 'importManifest' object with a 'url' string: {e}.")
    })?;
    let first = items.into_iter().next();
    first
        .map(|item| item.import_manifest.url)
        .ok_or_else(|| "The request body must contain at least one import update item.".to_owned())
}

/// Guesses the update id from a manifest file named the usual way,
/// `{provider}.{name}.{version}.importmanifest.json`.
fn update_id_from_manifest_url(url: &str) -> adu_model::models::UpdateId {
    let file = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("");
    let lower = file.to_ascii_lowercase();
    if let Some(stem) = lower
        .strip_suffix(".importmanifest.json")
        .map(|s| &file[..s.len()])
    {
        let mut parts = stem.splitn(3, '.');
        if let (Some(p), Some(n), Some(v)) = (parts.next(), parts.next(), parts.next()) {
            if !p.is_empty() && !n.is_empty() && !v.is_empty() {
                return adu_model::models::UpdateId::new(p, n, v);
            }
        }
    }
    default_update_id()
}

fn import(
    state: &State,
    req: &Request<Bytes>,
    instance: &str,
    api_version: &str,
    now: SystemTime,
) -> Response<Bytes> {
    let manifest_url = match check_import_body(req.body()) {
        Ok(url) => url,
        Err(message) => {
            return error_response(StatusCode::BAD_REQUEST, "BadRequest", &message, now)
        }
    };
    let imports = &state.config.imports;
    let spec = OperationSpec {
        update_id: update_id_from_manifest_url(&manifest_url),
        timings: imports.timings,
        outcome: Some(imports.outcome),
        error: imports.error.clone(),
        ..OperationSpec::default()
    };
    let id = state.add_operation(spec, now);
    state.count(|s| &mut s.imports);
    accepted(&format!(
        "/deviceUpdate/{instance}/updates/operations/{id}?api-version={api_version}"
    ))
}

/// A 202 with a (relative) `Operation-Location`, as the service answers a started operation.
fn accepted(location: &str) -> Response<Bytes> {
    let mut resp = response(StatusCode::ACCEPTED, None, Bytes::new());
    set_header(
        &mut resp,
        HeaderName::from_static("operation-location"),
        location,
    );
    resp
}

/// `POST .../management/devices:import`: the body is a JSON string naming what to import.
fn import_devices(
    state: &State,
    req: &Request<Bytes>,
    instance: &str,
    api_version: &str,
    now: SystemTime,
) -> Response<Bytes> {
    let import_type = serde_json::from_slice::<String>(req.body());
    if !matches!(import_type.as_deref(), Ok("Devices" | "Modules" | "All")) {
        let message =
            "The request body must be a JSON string: \"Devices\", \"Modules\" or \"All\".";
        return error_response(StatusCode::BAD_REQUEST, "BadRequest", message, now);
    }
    let imports = &state.config.device_imports;
    let spec = OperationSpec {
        kind: OperationKind::Device,
        timings: imports.timings,
        outcome: Some(imports.outcome),
        error: imports.error.clone(),
        ..OperationSpec::default()
    };
    let id = state.add_operation(spec, now);
    state.count(|s| &mut s.device_imports);
    accepted(&format!(
        "/deviceUpdate/{instance}/management/operations/{id}?api-version={api_version}"
    ))
}

fn get_update(state: &State, p: &str, n: &str, v: &str, now: SystemTime) -> Response<Bytes> {
    match state.update_exists(p, n, v, now) {
        Some(rec) => {
            let progress = rec.progress(now);
            let ts = Timestamp::from_system_time(progress.since);
            let mut body = json!({
                "updateId": rec.update_id,
                "isDeployable": true,
                "compatibility": [{ "deviceManufacturer": rec.update_id.provider, "deviceModel": rec.update_id.name }],
                "manifestVersion": "5.0",
                "importedDateTime": ts,
                "createdDateTime": ts,
                "etag": rec.etag(&progress),
            });
            if let (Some(name), Some(map)) = (&rec.friendly_name, body.as_object_mut()) {
                map.insert("friendlyName".to_owned(), json!(name));
            }
            let mut resp = json_response(StatusCode::OK, &body);
            set_header(&mut resp, ETAG, &rec.etag(&progress));
            resp
        }
        None => error_response(
            StatusCode::NOT_FOUND,
            "UpdateNotFound",
            &format!("Update with provider '{p}', name '{n}' and version '{v}' was not found."),
            now,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_and_form_values_decode_only_real_escapes() {
        assert_eq!(decode_segment("a%20b+c"), "a b+c");
        assert_eq!(decode_segment("updates%3Aimport"), "updates:import");
        assert_eq!(decode_segment("100%"), "100%");
        assert_eq!(decode_segment("%zz%4"), "%zz%4");
        // A sign is not a hex digit: `%+6` and `%-6` are not bytes.
        assert_eq!(decode_segment("s%+6"), "s%+6");
        assert_eq!(decode_segment("s%-6x"), "s%-6x");
        assert_eq!(decode_segment("%ff"), "\u{fffd}");
        let p = parse_pairs("code=s%+6&secret=a%2Bb+c&v=%zz");
        assert_eq!(first_value(&p, "code"), Some("s% 6"));
        assert_eq!(first_value(&p, "secret"), Some("a+b c"));
        assert_eq!(first_value(&p, "v"), Some("%zz"));
    }

    #[test]
    fn pairs() {
        let p = parse_pairs("a=1&b=x%2By&c&a=2");
        assert_eq!(first_value(&p, "a"), Some("1"));
        assert_eq!(first_value(&p, "b"), Some("x+y"));
        assert_eq!(first_value(&p, "c"), Some(""));
        assert_eq!(first_value(&p, "d"), None);
    }

    #[test]
    fn import_bodies() {
        assert!(check_import_body(b"not json").is_err());
        assert!(check_import_body(b"{}").is_err());
        assert!(check_import_body(b"[]").is_err());
        assert!(check_import_body(br#"[{"importManifest":{}}]"#).is_err());
        let ok = br#"[{"importManifest":{"url":"https://x/contoso.toaster.2.0.1.importmanifest.json","sizeInBytes":1,"hashes":{}},"files":[]}]"#;
        let url = check_import_body(ok).unwrap();
        let id = update_id_from_manifest_url(&url);
        assert_eq!(
            (id.provider.as_str(), id.name.as_str(), id.version.as_str()),
            ("contoso", "toaster", "2.0.1")
        );
        assert_eq!(
            update_id_from_manifest_url("https://x/manifest.json"),
            default_update_id()
        );
    }

    #[test]
    fn if_none_match() {
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(if_none_match_hits(&h, "\"a\""));
        assert!(if_none_match_hits(&h, "\"b\""));
        assert!(!if_none_match_hits(&h, "\"c\""));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match_hits(&h, "\"c\""));
    }
}
