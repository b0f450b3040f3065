//! The authorization endpoint, in the shape of the Microsoft identity
//! platform's v2.0 endpoint (`GET /{tenant}/oauth2/v2.0/authorize`).
//!
//! An emulator has no user to ask: the sign-in is non-interactive, and the
//! user is implicitly the configured one. What it does check is everything
//! the real endpoint checks before it would show a sign-in page: the client
//! id, the redirect URI (loopback `http` only, any port, as the identity
//! platform allows for native apps), the response type and mode, the scope,
//! and, for the authorization code flow, a PKCE S256 challenge (RFC 7636).
//!
//! Errors follow RFC 6749 §4.1.2.1 / §4.2.2.1: once the redirect URI is known
//! to be acceptable they go back to it (`error`, `error_description`,
//! `error_uri`, `state`); before that (unknown tenant or client, missing or
//! refused redirect URI) they are an HTML page with status 400, since
//! redirecting to an unchecked URI would make the endpoint an open redirector.

use std::net::IpAddr;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, LOCATION};
use http::{Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::routes::{first_value, parse_pairs};
use crate::state::{CodeInfo, State};
use crate::token::{aad_timestamp, no_store};

/// The parameters whose repetition is refused (RFC 6749 §3.1: "Request and
/// response parameters MUST NOT be included more than once").
const SINGLE_VALUED: [&str; 9] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
];

/// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`, RFC 7636 §4.2 (S256).
pub(crate) fn s256_challenge(verifier: &str) -> String {
    let digest = Sha256::digest(verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// What a redirect's parameters escape: everything but RFC 3986's unreserved characters.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Why a redirect URI is refused (the text goes into an AADSTS50011-style message).
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.contains('#') {
        return Err("it has a fragment");
    }
    let parsed: http::Uri = uri.parse().map_err(|_| "it is not an absolute URL")?;
    if parsed.scheme_str() != Some("http") {
        return Err("only http loopback redirect URIs are accepted");
    }
    let authority = parsed.authority().ok_or("it is not an absolute URL")?;
    if authority.as_str().contains('@') {
        return Err("it carries user information");
    }
    let host = authority.host();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err("only loopback hosts (localhost, 127.0.0.1, [::1]) are accepted");
    }
    Ok(())
}

/// The 400 page shown when the error cannot be sent back to the client.
fn error_page(base_url: &str, code: u32, message: &str, now: SystemTime) -> Response<Bytes> {
    let (trace_id, correlation_id) = (Uuid::new_v4(), Uuid::new_v4());
    let timestamp = aad_timestamp(now);
    let message = html_escape(message);
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head>\n<body>\n\
         <h1>Sorry, but we're having trouble signing you in.</h1>\n\
         <p id=\"error\">AADSTS{code}: {message}</p>\n\
         <p>Request Id: {trace_id}<br>Correlation Id: {correlation_id}<br>Timestamp: {timestamp}</p>\n\
         <p><a href=\"{base_url}/error?code={code}\">More details</a></p>\n\
         </body></html>\n"
    );
    no_store(
        StatusCode::BAD_REQUEST,
        Some("text/html; charset=utf-8"),
        Bytes::from(body),
    )
}

/// Where the answer goes: the redirect URI's query or its fragment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Query,
    Fragment,
}

/// A checked redirect URI and how to use it.
struct Redirect<'a> {
    uri: &'a str,
    mode: Mode,
    state: Option<&'a str>,
}

impl Redirect<'_> {
    /// 302 to the redirect URI with `params` (and `state`, when the request had one).
    fn send(&self, params: &[(&str, String)]) -> Response<Bytes> {
        let mut pairs: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, ESCAPED)))
            .collect();
        if let Some(state) = self.state {
            pairs.push(format!("state={}", utf8_percent_encode(state, ESCAPED)));
        }
        let joined = pairs.join("&");
        let location = match self.mode {
            Mode::Fragment => format!("{}#{joined}", self.uri),
            Mode::Query if self.uri.contains('?') => format!("{}&{joined}", self.uri),
            Mode::Query => format!("{}?{joined}", self.uri),
        };
        let mut resp = no_store(StatusCode::FOUND, None, Bytes::new());
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(LOCATION, v);
        }
        resp
    }

    /// An OAuth2 error sent back to the client (RFC 6749 §4.1.2.1), with an
    /// identity-platform style description.
    fn error(
        &self,
        base_url: &str,
        error: &str,
        code: u32,
        description: &str,
        now: SystemTime,
    ) -> Response<Bytes> {
        let (trace_id, correlation_id) = (Uuid::new_v4(), Uuid::new_v4());
        let timestamp = aad_timestamp(now);
        self.send(&[
            ("error", error.to_owned()),
            (
                "error_description",
                format!(
                    "AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
                ),
            ),
            ("error_uri", format!("{base_url}/error?code={code}")),
        ])
    }
}

/// Answers `GET /{tenant}/oauth2/v2.0/authorize?{query}`.
pub(crate) fn authorize_endpoint(
    state: &State,
    base_url: &str,
    tenant: &str,
    query: &str,
    now: SystemTime,
) -> Response<Bytes> {
    let creds = &state.config.credentials;
    let params = parse_pairs(query);
    let get = |name: &str| first_value(&params, name);

    // Before the redirect URI is trusted: answer with a page.
    if !tenant.eq_ignore_ascii_case(&creds.tenant) {
        return error_page(
            base_url,
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            now,
        );
    }
    let Some(client_id) = get("client_id") else {
        return error_page(
            base_url,
            900144,
            "The request body must contain the following parameter: 'client_id'.",
            now,
        );
    };
    if client_id != creds.client_id {
        return error_page(
            base_url,
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                creds.tenant
            ),
            now,
        );
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page(
            base_url,
            900144,
            "The request body must contain the following parameter: 'redirect_uri'.",
            now,
        );
    };
    if let Err(why) = check_redirect_uri(redirect_uri) {
        return error_page(
            base_url,
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}' ({why})."
            ),
            now,
        );
    }
    for name in SINGLE_VALUED {
        if params.iter().filter(|(k, _)| k == name).count() > 1 {
            return error_page(
                base_url,
                9002313,
                &format!("Invalid request. Request is malformed or invalid: the parameter '{name}' appears more than once."),
                now,
            );
        }
    }

    // From here on, errors go back to the redirect URI.
    let response_type = get("response_type");
    let asked_mode = get("response_mode");
    let default_mode = match response_type {
        Some("token") => Mode::Fragment,
        _ => Mode::Query,
    };
    // A token never travels in a query (OAuth 2.0 Multiple Response Type
    // Encoding Practices §5): a `token` request asking for `query` gets its
    // error in the fragment.
    let mode = match asked_mode {
        Some("query") if response_type != Some("token") => Mode::Query,
        Some("fragment") => Mode::Fragment,
        _ => default_mode,
    };
    let redirect = Redirect {
        uri: redirect_uri,
        mode,
        state: get("state"),
    };
    let invalid = |code: u32, description: &str| {
        redirect.error(base_url, "invalid_request", code, description, now)
    };

    if get("resource").is_some() {
        return invalid(901002, "The 'resource' request parameter is not supported.");
    }
    let Some(response_type) = response_type else {
        return invalid(
            900144,
            "The request body must contain the following parameter: 'response_type'.",
        );
    };
    if response_type != "code" && response_type != "token" {
        // Microsoft's list of error codes: 700054 is for `id_token` alone; any other
        // response type is UnsupportedResponseType (70005).
        let (code, message) = if response_type == "id_token" {
            (
                700054,
                "Response_type 'id_token' isn't enabled for the application.".to_owned(),
            )
        } else {
            (
                70005,
                format!("The response_type '{response_type}' is not supported."),
            )
        };
        return redirect.error(base_url, "unsupported_response_type", code, &message, now);
    }
    match asked_mode {
        None | Some("query" | "fragment") => {}
        Some(other) => {
            // Microsoft's list of error codes: UnsupportedResponseMode.
            return invalid(
                70007,
                &format!("The response_mode '{other}' is not supported by adu-emulator (use 'query' or 'fragment')."),
            );
        }
    }
    if response_type == "token" && asked_mode == Some("query") {
        return invalid(
            9002313,
            "Invalid request. Request is malformed or invalid: response_type 'token' must not use response_mode 'query'.",
        );
    }
    let Some(scope) = get("scope").filter(|s| !s.trim().is_empty()) else {
        return invalid(
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };

    if response_type == "token" {
        // The implicit flow (RFC 6749 §4.2.2): the token itself, in the fragment.
        let access_token = state.issue_token(client_id, now);
        let lifetime = state.config.token_lifetime.as_secs();
        return redirect.send(&[
            ("access_token", access_token),
            ("token_type", "Bearer".to_owned()),
            ("expires_in", lifetime.to_string()),
            ("scope", scope.to_owned()),
        ]);
    }

    // The authorization code flow, with PKCE S256 required. Requiring it here is the
    // emulator's own policy, stricter than the identity platform, which asks for PKCE only when
    // a single-page app's code is redeemed; 9002325 is its code for that case, the closest
    // real one.
    let Some(challenge) = get("code_challenge") else {
        return invalid(
            9002325,
            "Proof Key for Code Exchange is required: send code_challenge and code_challenge_method=S256.",
        );
    };
    if get("code_challenge_method") != Some("S256") {
        // Microsoft's list of error codes: InvalidCodeChallengeMethod (50149).
        return invalid(
            50149,
            "Invalid Code_Challenge_method parameter: adu-emulator requires 'S256'.",
        );
    }
    // An S256 challenge is the unpadded base64url of 32 bytes: 43 characters.
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return invalid(501491, "Invalid size of Code_Challenge parameter.");
    }
    let code = state.issue_code(
        CodeInfo {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            code_challenge: challenge.to_owned(),
            scope: scope.to_owned(),
            expires: now
                .checked_add(state.config.authorization_code_lifetime)
                .unwrap_or(now),
        },
        now,
    );
    redirect.send(&[("code", code)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn redirect_uris() {
        for ok in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51234/callback",
            "http://localhost:8400",
            "http://LOCALHOST:8400/cb?x=1",
            "http://[::1]:9000/cb",
            "http://127.4.5.6:1/",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "https://127.0.0.1/callback",
            "http://example.com/callback",
            "http://127.0.0.1.example.com/cb",
            "http://user@127.0.0.1/cb",
            "http://127.0.0.1/cb#frag",
            "/callback",
            "",
            "urn:ietf:wg:oauth:2.0:oob",
            "http://10.0.0.1/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encoding_round_trips_through_the_decoder() {
        let text = "a b&c=d/é+%#";
        let encoded = format!("v={}", utf8_percent_encode(text, ESCAPED));
        assert!(encoded[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        let pairs = crate::routes::parse_pairs(&encoded);
        assert_eq!(crate::routes::first_value(&pairs, "v"), Some(text));
    }

    proptest::proptest! {
        #[test]
        fn redirect_uri_check_never_panics(s in ".{0,80}") {
            let _ = check_redirect_uri(&s);
        }
    }
}
