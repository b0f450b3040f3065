//! The fuzz targets' logic: one function per target, taking the raw fuzz
//! input and panicking when an invariant breaks.
//!
//! Everything goes through adu-auth's public API, the way a token endpoint's
//! answer, a browser's redirect or a setting reaches it: the token targets
//! drive a real credential whose HTTP client answers with the fuzz input, the
//! redirect targets start a real sign-in and finish it with the fuzz input,
//! and the authority target builds an authority from it as `adu` does from its
//! command line, environment and token cache. No internals are exposed for
//! fuzzing.
//!
//! This file has no libFuzzer dependency on purpose. The binaries in
//! `fuzz_targets/` call these functions under libFuzzer, and
//! `crates/adu-auth/tests/fuzz_smoke.rs` includes this file with `#[path]`
//! and feeds it the seed corpora plus generated inputs in a plain
//! `cargo test`.
//!
//! Input layouts (so seeds can be written by hand):
//! - `token_response`: byte 0 is a set of flags (bit 0: password grant
//!   instead of client credentials; bits 1–2: the `Content-Type`, see
//!   [`CONTENT_TYPES`]; bit 3: v1 endpoints), the rest is the body of a
//!   `200 OK`.
//! - `token_error`: byte 0 as above, bytes 1..3 the status (big-endian; taken
//!   as is when in 100..=999 and not 200, else picked from a table), the rest
//!   is the body.
//! - `implicit_redirect` and `code_redirect`: the whole input is the redirect
//!   (a URL, a path and query, or a bare query or fragment); every
//!   [`STATE_PLACEHOLDER`] in it is replaced with the sign-in's real `state`
//!   before it is handed to `finish`.
//! - `authority`: byte 0 is a set of flags (bit 0: the text is an authority
//!   host for `Authority::with_host` instead of a tenant for `Authority::new`;
//!   bit 1: v1 endpoints), the rest is the text (invalid UTF-8 replaced, as a
//!   lossy `OsStr` from the environment would be).

#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_auth::{
    scopes, AccessToken, Authority, AuthorizationCodeFlow, ClientSecretCredential, Clock,
    EndpointVersion, Error, HttpClientError, ImplicitFlow, SharedHttpClient, TokenCacheOptions,
    TokenCredential, UsernamePasswordCredential, DEFAULT_AUTHORITY_HOST, DEFAULT_EXPIRES_IN,
};

/// The client secret of the client-credentials harness. Seeds and the
/// dictionary contain it, so the fuzzer tries bodies that echo it.
pub const CLIENT_SECRET: &str = "fuzz-client-secret-7Qx";
/// The password of the password-grant harness (echoed the same way).
pub const PASSWORD: &str = "fuzz-password-9Zk";
/// A password the `authority` seeds put in their hosts' user information (and
/// the dictionary holds), so the fuzzer tries hosts carrying it.
pub const HOST_PASSWORD: &str = "fuzz-host-pw-4Rt";
/// Replaced with the sign-in's `state` in the redirect targets' input.
pub const STATE_PLACEHOLDER: &str = "{state}";
/// The `Content-Type` picked by bits 1–2 of the flags byte (`None`: no header).
pub const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json; charset=utf-8"),
    Some("application/json"),
    None,
    Some("text/html; charset=utf-8"),
];

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CODE_REDIRECT_URI: &str = "http://localhost:8400/cb";
const IMPLICIT_REDIRECT_URI: &str = "http://localhost:8400/";
/// The token the code exchange's fake endpoint issues.
const EXCHANGED_TOKEN: &str = "exchanged-access-token";

/// Statuses picked when the input's two status bytes are not a valid error status.
const ERROR_STATUSES: [u16; 12] = [400, 401, 403, 404, 429, 500, 502, 503, 504, 302, 204, 418];

/// 2023-11-14T22:13:20Z, the fixed "now" of every harness.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[derive(Debug)]
struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        now()
    }
}

fn cache_options() -> TokenCacheOptions {
    TokenCacheOptions::default().with_clock(Arc::new(FixedClock))
}

struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Polls a future that never waits on anything (the fake HTTP clients answer
/// at once) to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..64 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("a credential's future stayed pending though its HTTP client answers at once");
}

type Request = http::Request<Vec<u8>>;
type Response = http::Response<Vec<u8>>;

/// An HTTP client answering every request with one fixed response, counting
/// and keeping the requests.
fn fake_http(response: Response) -> (SharedHttpClient, Arc<Mutex<Vec<Request>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let http: SharedHttpClient = Arc::new(move |request: Request| {
        log.lock().expect("not poisoned").push(request);
        let answer = response.clone();
        async move { Ok::<_, HttpClientError>(answer) }
    });
    (http, seen)
}

/// Asserts that no secret shows in an error's `Display` or `Debug`, in any
/// ASCII case (a server may echo one lower-cased, as a token type).
fn assert_no_secret(error: &Error, secrets: &[&str]) {
    let text = format!("{error}\n{error:?}").to_ascii_lowercase();
    for secret in secrets {
        if let Some(at) = text.find(&secret.to_ascii_lowercase()) {
            let context: String = text[..at].chars().rev().take(200).collect();
            let context: String = context.chars().rev().collect();
            panic!("a secret shows in the error: ...{context}{secret}");
        }
    }
}

/// How the first JSON value of a body looks to a typed reader.
enum Shape {
    /// An object; only the keys named in the call are kept, unescaped.
    Object(serde_json::Map<String, serde_json::Value>),
    /// An object naming one of those keys twice (typed decoding refuses it).
    Duplicate,
    /// An array: serde's derived decoding reads a struct from an array too,
    /// element by element, so the crate reads `["invalid_client"]` as an
    /// OAuth2 error. Such bodies get only the checks that hold for any body.
    Array,
    /// Anything else, or not JSON.
    Other,
}

/// Reads the body's first JSON value the way the crate (through `oauth2`
/// and serde's derived decoding) does: what follows the first value is
/// ignored, and the values of keys other than `known` are skipped without
/// being checked (serde_json does not check the UTF-8, `\u` escapes or range
/// of what it skips), so only the `known` ones are read, into `Value`s.
fn shape(body: &[u8], known: &'static [&'static str]) -> Shape {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
    struct KnownKeys(&'static [&'static str]);
    impl<'de> Visitor<'de> for KnownKeys {
        type Value = Shape;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
            let mut kept = serde_json::Map::new();
            let mut duplicate = false;
            while let Some(key) = map.next_key::<String>()? {
                if self.0.contains(&key.as_str()) {
                    let value = map.next_value::<serde_json::Value>()?;
                    duplicate |= kept.insert(key, value).is_some();
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(if duplicate {
                Shape::Duplicate
            } else {
                Shape::Object(kept)
            })
        }
    }
    let start = body.iter().position(|b| !b" \t\r\n".contains(b));
    if start.is_some_and(|i| body[i] == b'[') {
        return Shape::Array;
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    deserializer
        .deserialize_map(KnownKeys(known))
        .unwrap_or(Shape::Other)
}

/// The fields the crate reads of a token response (it ignores the others,
/// `scope` and `ext_expires_in` among them).
const TOKEN_FIELDS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "expires_on",
    "refresh_token",
];
const ERROR_FIELDS: &[&str] = &[
    "error",
    "error_description",
    "error_uri",
    "error_codes",
    "timestamp",
    "trace_id",
    "correlation_id",
];

/// Reads a number of seconds as RFC 6749 (a JSON number) or v1 endpoints (a
/// decimal string) send it; `Err` when present but unreadable.
fn reference_seconds(value: Option<&serde_json::Value>) -> Result<Option<u64>, ()> {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(n), _) => Ok(Some(n)),
            (None, Some(f)) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
            _ => Err(()),
        },
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
        Some(_) => Err(()),
    }
}

/// When a token issued at `now` expires: `expires_in` wins, then v1's
/// absolute `expires_on`, then [`DEFAULT_EXPIRES_IN`].
fn reference_expiry(expires_in: Option<u64>, expires_on: Option<u64>) -> SystemTime {
    // No lifetime is believed past a day (the most Azure AD lets a tenant configure).
    let day = now() + Duration::from_secs(24 * 60 * 60);
    if let Some(secs) = expires_in {
        return now()
            .checked_add(Duration::from_secs(secs))
            .map_or(day, |at| at.min(day));
    }
    if let Some(at) = expires_on.and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s))) {
        // An expiry already past means due now.
        return at.clamp(now(), day);
    }
    now() + DEFAULT_EXPIRES_IN
}

/// What an OAuth2 error body (RFC 6749 §5.2, with Azure AD's extras) holds,
/// read independently of the crate: `None` when it is not one.
fn reference_server_error(
    map: &serde_json::Map<String, serde_json::Value>,
) -> Option<[Option<String>; 6]> {
    use serde_json::Value;
    let Some(Value::String(error)) = map.get("error") else {
        return None;
    };
    let mut fields = [Some(error.clone()), None, None, None, None, None];
    let names = [
        "error_description",
        "error_uri",
        "timestamp",
        "trace_id",
        "correlation_id",
    ];
    for (slot, name) in fields[1..].iter_mut().zip(names) {
        match map.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => *slot = Some(s.clone()),
            Some(_) => return None,
        }
    }
    Some(fields)
}

fn redacted(text: &str, secret: &str) -> String {
    text.replace(secret, "[redacted]")
}

/// Whether `got` is `want` with some spans replaced by the redaction marker and nothing else
/// changed: the crate also redacts encoded forms of a secret, which a plain replace does not
/// model.
fn only_redacted(got: &str, want: &str) -> bool {
    let mut pieces = got.split("[redacted]");
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = want.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Asks a credential for a token from a fake endpoint answering `status`,
/// `content_type` and `body`, and checks the outcome.
fn token_endpoint(flags: u8, status: u16, body: &[u8]) {
    let password_grant = flags & 1 != 0;
    let content_type = CONTENT_TYPES[usize::from(flags >> 1) & 3];
    let v1 = flags & 8 != 0;

    let mut response = http::Response::builder().status(status);
    if let Some(ct) = content_type {
        response = response.header("content-type", ct);
    }
    let response = response.body(body.to_vec()).expect("a valid response");
    let (http, seen) = fake_http(response);
    let authority = Authority::new(TENANT).expect("a valid tenant");
    let authority = if v1 {
        authority.with_version(EndpointVersion::V1)
    } else {
        authority
    };
    let scope = scopes::CURRENT;
    let (result, secret) = if password_grant {
        let credential = UsernamePasswordCredential::new(
            authority,
            "app",
            "user@contoso.example",
            PASSWORD,
            http,
        )
        .expect("a tenant id allows the password grant")
        .with_cache_options(cache_options());
        (block_on(credential.get_token(&[scope])), PASSWORD)
    } else {
        let credential = ClientSecretCredential::new(authority, "app", CLIENT_SECRET, http)
            .with_cache_options(cache_options());
        (block_on(credential.get_token(&[scope])), CLIENT_SECRET)
    };
    assert_eq!(
        seen.lock().expect("not poisoned").len(),
        1,
        "one request per token"
    );

    match result {
        Ok(token) => check_issued(&token, status, content_type, body),
        Err(error) => check_refusal(&error, status, content_type, body, secret),
    }
}

fn check_issued(token: &AccessToken, status: u16, content_type: Option<&str>, body: &[u8]) {
    use serde_json::Value;
    assert_eq!(status, 200, "a token from a {status} answer");
    assert!(
        content_type.is_none_or(|ct| ct.starts_with("application/json")),
        "a token from a {content_type:?} answer"
    );
    let map = match shape(body, TOKEN_FIELDS) {
        Shape::Object(map) => map,
        Shape::Array => return,
        Shape::Duplicate | Shape::Other => {
            panic!("a token from a body that is not a JSON object")
        }
    };
    assert_eq!(
        map.get("access_token").and_then(Value::as_str),
        Some(token.secret()),
        "the token is not the body's access_token"
    );
    let token_type = map.get("token_type").and_then(Value::as_str);
    assert_eq!(
        token_type.map(str::to_ascii_lowercase).as_deref(),
        Some("bearer")
    );
    let expires_in = reference_seconds(map.get("expires_in")).expect("expires_in was read");
    let expires_on = reference_seconds(map.get("expires_on")).expect("expires_on was read");
    assert_eq!(token.expires_at(), reference_expiry(expires_in, expires_on));
    assert!(!format!("{token:?}").contains(token.secret()) || token.secret().len() < 4);
}

fn check_refusal(
    error: &Error,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    secret: &str,
) {
    assert_no_secret(error, &[secret]);
    let display = error.to_string();
    assert!(
        display.len() <= body.len() + 400,
        "the message is longer than the body it reports: {} > {}",
        display.len(),
        body.len()
    );
    match error {
        Error::TokenEndpoint {
            status: s,
            response,
        } => {
            assert_eq!(*s, status);
            assert_ne!(status, 200, "a 200 answer read as an error");
            assert_eq!(
                error.is_transient(),
                status >= 500 || status == 429 || response.error() == "temporarily_unavailable"
            );
            let want = match shape(body, ERROR_FIELDS) {
                Shape::Object(map) => reference_server_error(&map),
                Shape::Array => return,
                Shape::Duplicate | Shape::Other => None,
            };
            let want = want.expect("the body is an OAuth2 error");
            let got = [
                Some(response.error()),
                response.error_description(),
                response.error_uri(),
                response.timestamp(),
                response.trace_id(),
                response.correlation_id(),
            ];
            for (got, want) in got.iter().zip(&want) {
                match (got, want.as_deref()) {
                    (Some(got), Some(want)) => assert!(
                        *got == redacted(want, secret) || only_redacted(got, want),
                        "{got:?} is not {want:?} redacted"
                    ),
                    (got, want) => assert_eq!(*got, want),
                }
            }
        }
        Error::UnexpectedResponse {
            status: s,
            content_type: shown_type,
            body_len,
            ..
        } => {
            assert_eq!(*s, status);
            assert_eq!(error.status(), Some(status));
            assert_eq!(error.is_transient(), status >= 500 || status == 429);
            // Only the media type and the length are told of the body, never its text.
            assert_eq!(*body_len, body.len());
            assert_eq!(
                shown_type.as_deref(),
                content_type.map(|ct| ct.split(';').next().unwrap_or_default())
            );
            if status != 200 {
                if let Shape::Object(map) = shape(body, ERROR_FIELDS) {
                    assert!(
                        reference_server_error(&map).is_none(),
                        "an OAuth2 error body was not recognised"
                    );
                }
            }
        }
        Error::UnsupportedTokenType { token_type } => {
            assert_eq!(status, 200);
            assert_ne!(token_type, "bearer");
        }
        other => panic!("unexpected kind of error from a token endpoint answer: {other:?}"),
    }
}

/// A `200 OK` token response of any shape.
pub fn token_response(data: &[u8]) {
    let [flags, body @ ..] = data else {
        return;
    };
    token_endpoint(*flags, 200, body);
}

/// An error answer of the token endpoint, of any status and shape.
pub fn token_error(data: &[u8]) {
    let [flags, hi, lo, body @ ..] = data else {
        return;
    };
    let raw = u16::from_be_bytes([*hi, *lo]);
    let status = if (100..=999).contains(&raw) && raw != 200 {
        raw
    } else {
        ERROR_STATUSES[usize::from(raw) % ERROR_STATUSES.len()]
    };
    token_endpoint(*flags, status, body);
}

fn state_of(url: &url::Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("the authorize URL carries a state")
}

/// The redirect of an implicit-flow sign-in (token in the fragment).
pub fn implicit_redirect(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let flow = ImplicitFlow::new(
        Authority::new(TENANT).expect("a valid tenant"),
        "app",
        IMPLICIT_REDIRECT_URI,
    )
    .expect("a valid redirect URI")
    .with_cache_options(cache_options());
    let pending = flow.start(&[scopes::CURRENT]).expect("the sign-in starts");
    let state = state_of(pending.authorize_url());
    let redirect = text.replace(STATE_PLACEHOLDER, &state);
    match flow.finish(pending, &redirect) {
        Ok(credential) => {
            assert!(
                text.contains(STATE_PLACEHOLDER),
                "a redirect without the sign-in's state was accepted: {redirect:?}"
            );
            // URL parsing drops ASCII tabs and newlines anywhere (WHATWG URL).
            let unwrapped: String = redirect
                .chars()
                .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                .collect();
            match block_on(credential.get_token(&[scopes::CURRENT])) {
                Ok(token) => assert!(token.expires_at() > now()),
                // A token of zero lifetime (`expires_in=0`) is expired at
                // once, and the implicit flow cannot refresh it.
                Err(Error::LoginExpired) => assert!(unwrapped.contains("expires_in")),
                Err(other) => panic!("a fresh implicit token is not served: {other:?}"),
            }
            assert!(unwrapped.contains("access_token"));
            let debug = format!("{credential:?}");
            assert!(!debug.contains(&state), "the state shows in {debug}");
        }
        Err(error) => {
            assert_no_secret(&error, &[&state]);
            if !text.contains(STATE_PLACEHOLDER) {
                assert!(
                    !matches!(error, Error::InvalidConfig { .. } | Error::LoginExpired),
                    "{error:?}"
                );
            }
        }
    }
}

/// The redirect of an authorization-code sign-in (code in the query).
pub fn code_redirect(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let body = format!(
        r#"{{"access_token":"{EXCHANGED_TOKEN}","token_type":"Bearer","expires_in":3599,"refresh_token":"exchanged-refresh-token"}}"#
    );
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.into_bytes())
        .expect("a valid response");
    let (http, seen) = fake_http(response);
    let flow = AuthorizationCodeFlow::new(
        Authority::new(TENANT).expect("a valid tenant"),
        "app",
        CODE_REDIRECT_URI,
        http,
    )
    .expect("a valid redirect URI")
    .with_cache_options(cache_options());
    let pending = flow.start(&[scopes::CURRENT]).expect("the sign-in starts");
    let state = state_of(pending.authorize_url());
    let redirect = text.replace(STATE_PLACEHOLDER, &state);
    let result = block_on(flow.finish(pending, &redirect));
    let requests = seen.lock().expect("not poisoned");
    if !text.contains(STATE_PLACEHOLDER) {
        assert!(
            requests.is_empty(),
            "a code was exchanged from a redirect without the sign-in's state: {redirect:?}"
        );
    }
    assert!(requests.len() <= 1);
    let form: Option<Vec<(String, String)>> = requests
        .first()
        .map(|r| url::form_urlencoded::parse(r.body()).into_owned().collect());
    let param = |name: &str| {
        form.as_ref()
            .and_then(|f| f.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    };
    match result {
        Ok(credential) => {
            assert_eq!(
                requests.len(),
                1,
                "a sign-in finished without a code exchange"
            );
            assert_eq!(param("grant_type").as_deref(), Some("authorization_code"));
            assert_eq!(param("redirect_uri").as_deref(), Some(CODE_REDIRECT_URI));
            let verifier = param("code_verifier").expect("the PKCE verifier is sent");
            assert!((43..=128).contains(&verifier.len()));
            assert!(param("code").is_some());
            assert!(
                param("state").is_none(),
                "the state is sent to the token endpoint"
            );
            let token = block_on(credential.get_token(&[scopes::CURRENT]))
                .expect("the exchanged token is served");
            assert_eq!(token.secret(), EXCHANGED_TOKEN);
            let debug = format!("{credential:?}");
            for secret in [EXCHANGED_TOKEN, &state, &verifier] {
                assert!(!debug.contains(secret), "a secret shows in {debug}");
            }
        }
        Err(error) => {
            let verifier = param("code_verifier");
            let mut secrets = vec![state.as_str()];
            secrets.extend(verifier.as_deref());
            assert_no_secret(&error, &secrets);
            assert!(
                requests.is_empty(),
                "the exchange succeeded but finish failed: {error:?}"
            );
        }
    }
}

/// What a tenant may be, written independently of the crate: a tenant id,
/// a verified domain or one of the well-known names, as one path segment.
fn reference_tenant_ok(tenant: &str) -> bool {
    (1..=256).contains(&tenant.len())
        && tenant != "."
        && tenant != ".."
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// The reasons `Authority::with_host` gives after the text it shows.
const HOST_REFUSALS: [&str; 4] = [
    "is not a URL",
    "must use https (plain http only for loopback hosts)",
    "must be an https URL",
    "must be scheme://host[:port][/path] only",
];
const USERINFO_REFUSAL: &str = "must not carry user information";

/// Builds an authority from the input, a tenant or an authority host; checks
/// the verdict agrees with the documented rules, an accepted authority's
/// endpoints stay on its host, and a refused host's password never shows.
pub fn authority(data: &[u8]) {
    let [flags, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let version = if flags & 2 == 0 {
        EndpointVersion::V2
    } else {
        EndpointVersion::V1
    };
    let authority = if flags & 1 == 0 {
        match Authority::new(text.as_str()) {
            Ok(a) => {
                assert!(reference_tenant_ok(&text), "tenant {text:?} was accepted");
                assert_eq!(a.tenant(), text);
                assert_eq!(a.host().as_str(), format!("{DEFAULT_AUTHORITY_HOST}/"));
                a
            }
            Err(e) => {
                assert!(
                    !reference_tenant_ok(&text),
                    "tenant {text:?} was refused: {e}"
                );
                assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
                return;
            }
        }
    } else {
        let base = Authority::new(TENANT).expect("a valid tenant");
        match base.with_host(&text) {
            Ok(a) => {
                check_accepted_host(&a, &text);
                a
            }
            Err(e) => {
                check_refused_host(&e, &text);
                return;
            }
        }
    }
    .with_version(version);
    // The endpoints are the host, then the tenant as one segment, then the
    // version's fixed path: the tenant never escapes into another segment.
    let suffix = match version {
        EndpointVersion::V2 => "/oauth2/v2.0/",
        _ => "/oauth2/",
    };
    for (url, name) in [
        (authority.token_url(), "token"),
        (authority.authorize_url(), "authorize"),
    ] {
        let want = format!("{}{}{suffix}{name}", authority.host(), authority.tenant());
        assert_eq!(url.as_str(), want);
        assert_eq!(url.scheme(), authority.host().scheme());
        assert_eq!(url.host(), authority.host().host());
        assert_eq!(url.port(), authority.host().port());
        assert!(url.query().is_none() && url.fragment().is_none());
    }
}

fn check_accepted_host(authority: &Authority, text: &str) {
    let host = authority.host();
    let loopback = match host.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    assert!(
        host.scheme() == "https" || (host.scheme() == "http" && loopback),
        "{text:?} was accepted as {host}"
    );
    assert!(host.host().is_some(), "{text:?} has no host");
    assert!(
        host.username().is_empty() && host.password().is_none(),
        "{text:?}"
    );
    assert!(
        host.query().is_none() && host.fragment().is_none(),
        "{text:?}"
    );
    assert!(host.path().ends_with('/'), "{host}");
    assert_eq!(authority.tenant(), TENANT);
    // What it is stored as is accepted again, unchanged: the host can be
    // written to the token cache and read back.
    let again = Authority::new(TENANT)
        .unwrap()
        .with_host(host.as_str())
        .unwrap_or_else(|e| panic!("{text:?} became {host}, which is refused: {e}"));
    assert_eq!(&again, authority);
}

fn check_refused_host(error: &Error, text: &str) {
    let Error::InvalidConfig { message } = error else {
        panic!("{text:?}: not a configuration error: {error:?}");
    };
    // The message is the frame, the text as shown, and one of the reasons.
    let shown = message
        .strip_prefix("authority host `")
        .and_then(|m| {
            HOST_REFUSALS
                .iter()
                .chain([&USERINFO_REFUSAL])
                .find_map(|why| m.strip_suffix(why)?.strip_suffix("` "))
        })
        .unwrap_or_else(|| panic!("{text:?}: unexpected message {message:?}"));
    let parsed = url::Url::parse(text);
    if message.ends_with(USERINFO_REFUSAL) {
        let url = parsed
            .as_ref()
            .expect("only a URL is refused for its user information");
        assert!(!url.username().is_empty() || url.password().is_some());
    }
    // The password (as the URL parser reads it) never shows, when it is
    // written out plainly exactly once in the text (more often, it may be
    // part of the host or path too).
    if let Some(password) = parsed.as_ref().ok().and_then(|u| u.password()) {
        if !password.contains(['*', '@']) && text.matches(password).count() == 1 {
            assert!(
                !shown.contains(password),
                "the password of {text:?} shows in {message:?}"
            );
            assert!(!format!("{error:?}").contains(&format!("{shown}{password}")));
        }
    }
    if text.contains(HOST_PASSWORD) && text.matches(HOST_PASSWORD).count() == 1 {
        if let Some(password) = parsed.as_ref().ok().and_then(|u| u.password()) {
            if password.contains(HOST_PASSWORD) {
                assert!(!message.contains(HOST_PASSWORD), "{message:?}");
                assert!(!error.to_string().contains(HOST_PASSWORD));
                assert!(!format!("{error:?}").contains(HOST_PASSWORD));
            }
        }
    }
}
