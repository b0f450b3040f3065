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
//! - `managed_identity_response`: byte 0 is a set of flags (bits 0–1: the source, see
//!   [`IDENTITY_SOURCES`]); the rest is the identity endpoint's answers, in turn, separated
//!   by [`ANSWER_SEPARATOR`] (the last one repeats). An answer is a status as three ASCII
//!   digits (else one picked from a table), then either `\n`, header lines and an empty line
//!   before the body, or the body at once. [`KEY_FILE_PLACEHOLDER`] and
//!   [`TOKEN_FOLDER_PLACEHOLDER`] in a header become the harness's Azure Arc key file and
//!   token folder.
//! - `azure_cli_output`: byte 0 is a set of flags (bits 0–2: the exit code, see
//!   [`CLI_EXIT_CODES`]; bits 3–5: spaces put before standard output, see [`CLI_PADDING`];
//!   bit 6: 70,000 bytes of one line put before standard error); the rest is what a fake `az`
//!   writes: standard output, then standard error after [`STDERR_SEPARATOR`].

#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_auth::{
    scopes, AccessToken, Authority, AuthorizationCodeFlow, AzureCliCredential,
    ClientSecretCredential, Clock, EndpointVersion, Error, HttpClientError, ImplicitFlow,
    ManagedIdentityCredential, ManagedIdentitySource, SharedHttpClient, TokenCacheOptions,
    TokenCredential, UserAssignedId, UsernamePasswordCredential, DEFAULT_AUTHORITY_HOST,
    DEFAULT_EXPIRES_IN,
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

/// App Service's identity header in the `managed_identity_response` harness (seeds and the
/// dictionary carry it, so the fuzzer tries answers echoing it).
pub const IDENTITY_HEADER_SECRET: &str = "fuzz-identity-header-3Hq";
/// The content of the harness's Azure Arc key file (echoed the same way).
pub const ARC_KEY: &str = "fuzz-arc-key-8Wm";
/// The content of a `.key` file outside the token folder, that a link in it points to: it
/// must never be sent.
pub const OUTSIDE_KEY: &str = "fuzz-outside-key-2Pd";
/// Separates the identity endpoint's answers in the input.
pub const ANSWER_SEPARATOR: &str = "\n---\n";
/// Replaced with the path of the harness's Azure Arc key file in a header.
pub const KEY_FILE_PLACEHOLDER: &str = "{keyfile}";
/// Replaced with the path of the harness's Azure Arc token folder in a header.
pub const TOKEN_FOLDER_PLACEHOLDER: &str = "{tokens}";
/// The source picked by bits 0–1 of the flags (`true`: with a user-assigned client id).
pub const IDENTITY_SOURCES: [(ManagedIdentitySource, bool); 4] = [
    (ManagedIdentitySource::AppService, false),
    (ManagedIdentitySource::AzureArc, false),
    (ManagedIdentitySource::Imds, false),
    (ManagedIdentitySource::Imds, true),
];
/// Statuses picked when an answer does not start with three digits.
const IDENTITY_STATUSES: [u16; 10] = [200, 400, 401, 403, 404, 410, 429, 500, 503, 200];
const IDENTITY_URL: &str = "http://127.0.0.1:41741/MSI/token";
const IMDS_URL: &str = "http://127.0.0.1:41742";
const IDENTITY_RESOURCE: &str = "https://api.adu.microsoft.com";
/// The most requests one token may take: the first, the Arc challenge's answer, three
/// transient retries and seven 410 retries.
const MAX_IDENTITY_REQUESTS: usize = 12;

/// The Azure Arc token folder of this process: `arc.key` (the key), `big.key` (over the
/// 4 KiB bound), `notes.txt`, `dir.key/` (a folder), `link.key` (a link to a key outside).
fn arc_folder() -> &'static std::path::Path {
    static FOLDER: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FOLDER.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("adu-auth-fuzz-arc-{}", std::process::id()));
        let tokens = root.join("tokens");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(tokens.join("dir.key")).expect("a temporary folder");
        std::fs::write(tokens.join("arc.key"), format!("{ARC_KEY}\n")).unwrap();
        std::fs::write(tokens.join("big.key"), "k".repeat(5000)).unwrap();
        std::fs::write(tokens.join("notes.txt"), ARC_KEY).unwrap();
        std::fs::write(root.join("outside.key"), OUTSIDE_KEY).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("outside.key"), tokens.join("link.key")).unwrap();
        tokens.canonicalize().unwrap()
    })
}

/// One answer of the input: status, headers, body.
fn identity_answer(text: &[u8]) -> Response {
    let digits = text.get(..3).and_then(|d| std::str::from_utf8(d).ok());
    let (status, rest) = match digits.and_then(|d| d.parse::<u16>().ok()) {
        Some(s)
            if (100..=999).contains(&s)
                && digits.is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit())) =>
        {
            (s, &text[3..])
        }
        _ => {
            let pick = text.iter().map(|b| usize::from(*b)).sum::<usize>();
            (IDENTITY_STATUSES[pick % IDENTITY_STATUSES.len()], text)
        }
    };
    let mut response = http::Response::builder().status(status);
    let mut body = rest;
    if let Some(head) = rest.strip_prefix(b"\n") {
        if let Some(end) = head.windows(2).position(|w| w == b"\n\n") {
            let folder = arc_folder().display().to_string();
            let key = arc_folder().join("arc.key").display().to_string();
            for line in String::from_utf8_lossy(&head[..end]).lines() {
                if let Some((name, value)) = line.split_once(':') {
                    let value = value
                        .trim()
                        .replace(KEY_FILE_PLACEHOLDER, &key)
                        .replace(TOKEN_FOLDER_PLACEHOLDER, &folder);
                    if let (Ok(n), Ok(v)) = (
                        http::HeaderName::from_bytes(name.trim().as_bytes()),
                        http::HeaderValue::from_str(&value),
                    ) {
                        response = response.header(n, v);
                    }
                }
            }
            body = &head[end + 2..];
        }
    }
    response.body(body.to_vec()).expect("a valid response")
}

/// The identity endpoint's answers to a real `ManagedIdentityCredential`, for one token;
/// checks the retries stay within their budget, requests keep their path and carry the
/// right secret, the Arc key is read only from the token folder, an issued token is the
/// answer's `access_token` with an expiry as an independent reading says (never past a
/// day), and no error shows a secret that was sent (the identity header, the Arc key).
pub fn managed_identity_response(data: &[u8]) {
    let [flags, rest @ ..] = data else {
        return;
    };
    let (source, user_assigned) = IDENTITY_SOURCES[usize::from(flags & 3)];
    let mut answers: Vec<Response> = Vec::new();
    let mut from = 0;
    while let Some(at) = rest[from..]
        .windows(ANSWER_SEPARATOR.len())
        .position(|w| w == ANSWER_SEPARATOR.as_bytes())
    {
        answers.push(identity_answer(&rest[from..from + at]));
        from += at + ANSWER_SEPARATOR.len();
        if answers.len() == MAX_IDENTITY_REQUESTS {
            break;
        }
    }
    if answers.len() < MAX_IDENTITY_REQUESTS {
        answers.push(identity_answer(&rest[from..]));
    }
    let answers = Arc::new(answers);

    let seen = Arc::new(Mutex::new(Vec::<Request>::new()));
    let log = seen.clone();
    let served = answers.clone();
    let http: SharedHttpClient = Arc::new(move |request: Request| {
        let mut log = log.lock().expect("not poisoned");
        let answer = served[log.len().min(served.len() - 1)].clone();
        log.push(request);
        async move { Ok::<_, HttpClientError>(answer) }
    });
    let pauses = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let paused = pauses.clone();
    let credential = match source {
        ManagedIdentitySource::AppService => {
            ManagedIdentityCredential::app_service(IDENTITY_URL, IDENTITY_HEADER_SECRET, http)
        }
        ManagedIdentitySource::AzureArc => ManagedIdentityCredential::azure_arc(IDENTITY_URL, http)
            .map(|c| c.with_arc_token_folder(arc_folder())),
        _ => ManagedIdentityCredential::imds_at(IMDS_URL, http),
    }
    .expect("a loopback endpoint is accepted");
    let credential = if user_assigned {
        credential
            .with_user_assigned(UserAssignedId::ClientId("fuzz-client-id".to_owned()))
            .expect("IMDS takes a user-assigned id")
    } else {
        credential
    }
    .with_cache_options(cache_options())
    .with_sleep(move |pause| {
        paused.lock().expect("not poisoned").push(pause);
        Box::pin(std::future::ready(()))
    });
    let result = block_on(credential.get_token(&[&format!("{IDENTITY_RESOURCE}/.default")]));

    let requests = seen.lock().expect("not poisoned");
    let pauses = pauses.lock().expect("not poisoned");
    assert!(
        (1..=MAX_IDENTITY_REQUESTS).contains(&requests.len()),
        "{} requests for one token",
        requests.len()
    );
    assert!(pauses
        .iter()
        .all(|p| [1, 2, 4, 10].contains(&p.as_secs()) && p.subsec_nanos() == 0));
    assert!(pauses.iter().sum::<Duration>() <= Duration::from_secs(7 + 70));
    let mut key_sent = false;
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(request.method(), http::Method::GET);
        let path = match source {
            ManagedIdentitySource::Imds => "/metadata/identity/oauth2/token",
            _ => "/MSI/token",
        };
        assert_eq!(request.uri().path(), path);
        assert_eq!(request.uri().host(), Some("127.0.0.1"));
        let headers = request.headers();
        match source {
            ManagedIdentitySource::AppService => {
                assert_eq!(headers["x-identity-header"], IDENTITY_HEADER_SECRET);
            }
            _ => assert_eq!(headers["metadata"], "true"),
        }
        if let Some(auth) = headers.get(http::header::AUTHORIZATION) {
            // Only Azure Arc answers a challenge, with the key file of its token folder, once
            // a 401 asked for it.
            assert_eq!(source, ManagedIdentitySource::AzureArc);
            assert_eq!(
                auth,
                format!("Basic {ARC_KEY}").as_str(),
                "a key from elsewhere was sent"
            );
            assert!(
                answers[..i.min(answers.len())]
                    .iter()
                    .any(|a| a.status() == 401),
                "the key was sent before a challenge"
            );
            key_sent = true;
        }
    }
    let last = &answers[(requests.len() - 1).min(answers.len() - 1)];
    let mut secrets = Vec::new();
    if source == ManagedIdentitySource::AppService {
        secrets.push(IDENTITY_HEADER_SECRET);
    }
    if key_sent {
        secrets.push(ARC_KEY);
    }
    let debug = format!("{credential:?}");
    for secret in [IDENTITY_HEADER_SECRET, ARC_KEY] {
        assert!(!debug.contains(secret), "a secret shows in {debug}");
    }
    match result {
        Ok(token) => {
            assert_eq!(
                last.status(),
                200,
                "a token from a {} answer",
                last.status()
            );
            check_identity_token(&token, last.body());
        }
        Err(error) => {
            assert_no_secret(&error, &secrets);
            match &error {
                Error::IdentityNotAssigned { description, .. } => {
                    assert_eq!(last.status(), 400);
                    assert!(description
                        .as_ref()
                        .is_none_or(|d| d.chars().count() <= 200 && !d.contains('\n')));
                }
                Error::ManagedIdentity {
                    status,
                    identity_source,
                    http,
                    ..
                } => {
                    assert_eq!(*identity_source, source);
                    assert!(http.is_none());
                    assert_eq!(*status, Some(last.status().as_u16()));
                }
                Error::UnsupportedTokenType { token_type } => {
                    assert_eq!(last.status(), 200);
                    assert_ne!(token_type, "bearer");
                }
                other => panic!("unexpected kind of error from an identity endpoint: {other:?}"),
            }
        }
    }
}

/// What a `200` answer's body says a token is, read independently of the crate.
fn check_identity_token(token: &AccessToken, body: &[u8]) {
    use serde_json::Value;
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        // serde's derived decoding also reads a struct from an array, and an object with
        // keys it does not read may hold what `Value` refuses (lone surrogates): such bodies
        // get only the checks that hold for any.
        assert!(token.expires_at() <= now() + Duration::from_secs(24 * 60 * 60));
        return;
    };
    let Value::Object(map) = value else {
        assert!(value.is_array(), "a token from a JSON {value}");
        return;
    };
    assert_eq!(
        map.get("access_token").and_then(Value::as_str),
        Some(token.secret())
    );
    assert!(!token.secret().is_empty());
    let kind = map.get("token_type").and_then(Value::as_str);
    assert!(
        kind.is_none_or(|k| k.eq_ignore_ascii_case("bearer")),
        "{kind:?}"
    );
    let day = now() + Duration::from_secs(24 * 60 * 60);
    let expires_on = reference_seconds(map.get("expires_on")).expect("expires_on was read");
    let expires_in = reference_seconds(map.get("expires_in")).expect("expires_in was read");
    let want = match (expires_on, expires_in) {
        (Some(on), _) => UNIX_EPOCH.checked_add(Duration::from_secs(on)),
        (None, Some(secs)) => now().checked_add(Duration::from_secs(secs)),
        (None, None) => panic!("a token without expires_on or expires_in"),
    }
    .map_or(day, |at| at.min(day));
    assert_eq!(token.expires_at(), want);
    assert!(token.expires_at() <= day);
}

/// The exit code picked by bits 0–2 of the flags.
pub const CLI_EXIT_CODES: [u8; 8] = [0, 0, 0, 0, 1, 1, 2, 130];
/// How many spaces go before standard output, picked by bits 3–5 of the flags: around the
/// 64 KiB the credential keeps.
pub const CLI_PADDING: [usize; 8] = [0, 0, 0, 0, 65_000, 65_536, 65_537, 1 << 20];
/// Separates standard output from standard error in the input.
pub const STDERR_SEPARATOR: &str = "\n===stderr===\n";
/// The most of a stream the credential keeps.
const CLI_MAX_OUTPUT: usize = 64 * 1024;

/// The fake `az` of this process, written once: a shell script that prints the files beside
/// the name it was run by (a link per thread, so tests on several threads do not mix) and
/// exits with the code in `code`.
fn fake_az() -> std::path::PathBuf {
    fn script() -> &'static std::path::Path {
        static SCRIPT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
        SCRIPT.get_or_init(|| {
            let root =
                std::env::temp_dir().join(format!("adu-auth-fuzz-az-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).expect("a temporary folder");
            let script = root.join("az.sh");
            std::fs::write(
                &script,
                "#!/bin/sh\nd=\"${0%/*}\"\ncat \"$d/stdout\"\ncat \"$d/stderr\" >&2\nread code < \"$d/code\"\nexit \"$code\"\n",
            )
            .unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                    .unwrap();
            }
            script
        })
    }
    thread_local! {
        static LINK: std::path::PathBuf = {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = script().parent().unwrap().join(format!("t{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            let link = dir.join("az");
            #[cfg(unix)]
            std::os::unix::fs::symlink(script(), &link).unwrap();
            link
        };
    }
    LINK.with(Clone::clone)
}

/// What a fake `az account get-access-token` prints and how it exits, read by a real
/// `AzureCliCredential`; checks a token comes only from a successful run whose whole output
/// (within the 64 KiB bound) is a JSON token, with its `accessToken` and an expiry as
/// `expires_on` says (never past a day), and that no error shows the token or more than a
/// short line of standard error.
pub fn azure_cli_output(data: &[u8]) {
    let [flags, rest @ ..] = data else {
        return;
    };
    let code = CLI_EXIT_CODES[usize::from(flags & 7)];
    let pad = CLI_PADDING[usize::from((flags >> 3) & 7)];
    let (out, err) = match rest
        .windows(STDERR_SEPARATOR.len())
        .position(|w| w == STDERR_SEPARATOR.as_bytes())
    {
        Some(at) => (&rest[..at], &rest[at + STDERR_SEPARATOR.len()..]),
        None => (rest, &[][..]),
    };
    let mut stdout = vec![b' '; pad];
    stdout.extend_from_slice(out);
    let mut stderr = Vec::new();
    if flags & 64 != 0 {
        stderr.extend(std::iter::repeat_n(b'e', 70_000));
        stderr.push(b'\n');
    }
    stderr.extend_from_slice(err);

    let az = fake_az();
    let dir = az.parent().unwrap();
    std::fs::write(dir.join("stdout"), &stdout).unwrap();
    std::fs::write(dir.join("stderr"), &stderr).unwrap();
    std::fs::write(dir.join("code"), format!("{code}\n")).unwrap();
    let credential = AzureCliCredential::new()
        .with_program(&az)
        .with_cache_options(cache_options());
    let result = block_on_thread(credential.get_token(&[scopes::CURRENT]));

    // The token of the output, as far as an independent reading finds one.
    let token_text = serde_json::from_slice::<serde_json::Value>(out)
        .ok()
        .and_then(|v| v.get("accessToken")?.as_str().map(str::to_owned));
    match result {
        Ok(token) => {
            assert_eq!(code, 0, "a token from a failed run");
            assert!(
                stdout.len() <= CLI_MAX_OUTPUT,
                "a token from {} bytes",
                stdout.len()
            );
            let value: serde_json::Value = match serde_json::from_slice(&stdout) {
                Ok(v) => v,
                // Derived decoding skips what `Value` refuses in keys it does not read.
                Err(_) => return,
            };
            let Some(map) = value.as_object() else {
                assert!(value.is_array(), "a token from JSON {value}");
                return;
            };
            assert_eq!(
                map.get("accessToken").and_then(|t| t.as_str()),
                Some(token.secret())
            );
            assert!(!token.secret().is_empty());
            let on = reference_seconds(map.get("expires_on"))
                .expect("expires_on was read")
                .expect("a token without expires_on");
            let day = now() + Duration::from_secs(24 * 60 * 60);
            let want = UNIX_EPOCH
                .checked_add(Duration::from_secs(on))
                .map_or(day, |at| at.min(day));
            assert_eq!(token.expires_at(), want);
        }
        Err(error) => {
            let kept_err = &stderr[..stderr.len().min(CLI_MAX_OUTPUT)];
            let err_text = String::from_utf8_lossy(kept_err);
            match &error {
                Error::AzureCliNotSignedIn => {
                    assert_ne!(code, 0);
                    assert!(err_text.contains("az login") || err_text.contains("az account set"));
                }
                Error::AzureCli { reason } => {
                    // A short line of standard error at most, never the output.
                    assert!(
                        reason.chars().count() <= 300 + 200,
                        "{} chars",
                        reason.len()
                    );
                    if code == 0 && stdout.len() > CLI_MAX_OUTPUT {
                        assert!(reason.contains("larger than 65536 bytes"), "{reason}");
                    }
                    if code != 0 {
                        assert!(reason.contains("failed ("), "{reason}");
                    }
                }
                other => panic!("unexpected kind of error from the Azure CLI: {other:?}"),
            }
            let text = format!("{error}\n{error:?}");
            if let Some(token) = token_text.filter(|t| t.len() >= 4) {
                if !err_text.contains(&token) {
                    assert!(!text.contains(&token), "the token shows in {text}");
                }
            }
            if !err_text.contains(CLI_TOKEN) {
                assert!(!text.contains(CLI_TOKEN), "the token shows in {text}");
            }
        }
    }
}

/// The token the `azure_cli_output` seeds print (the dictionary has it too).
pub const CLI_TOKEN: &str = "fuzz-cli-token-5Gv";

/// Waits for a future whose work runs on another thread (the CLI credential runs `az` on a
/// thread of its own and is woken when it ends).
fn block_on_thread<F: Future>(future: F) -> F::Output {
    struct ThreadWake(std::thread::Thread);
    impl Wake for ThreadWake {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWake(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
