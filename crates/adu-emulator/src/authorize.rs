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

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use http::header::LOCATION;
use http::{Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::routes::{first_value, parse_pairs, set_header};
use crate::state::{CodeInfo, State};
use crate::token::{aad_timestamp, aadsts, no_store, Refusal};

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

/// Escaped in a redirect's parameters and a location's instance: all but RFC 3986's unreserved.
pub(crate) const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Escapes text for an HTML page (the five characters HTML gives meaning to); five
/// replacements do not call for a templating crate.
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

/// A checked redirect URI and how to use it: the answer goes in its fragment, or its query.
struct Redirect<'a> {
    uri: &'a str,
    fragment: bool,
    state: Option<&'a str>,
}

impl Redirect<'_> {
    /// 302 to the redirect URI with `params` (and `state`, when the request had one).
    fn send(&self, params: &[(&str, String)]) -> Response<Bytes> {
        let state = self.state.map(|state| ("state", state));
        let joined = params
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(state)
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, ESCAPED)))
            .collect::<Vec<_>>()
            .join("&");
        let separator = match (self.fragment, self.uri.contains('?')) {
            (true, _) => '#',
            (false, true) => '&',
            (false, false) => '?',
        };
        let location = format!("{}{separator}{joined}", self.uri);
        let mut resp = no_store(StatusCode::FOUND, None, Bytes::new());
        set_header(&mut resp, LOCATION, &location);
        resp
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
    let params = parse_pairs(query);
    let redirect = match trusted_redirect(state, tenant, &params) {
        Ok(redirect) => redirect,
        Err(Refusal(.., code, message)) => return error_page(base_url, code, &message, now),
    };
    match sign_in(state, &params, now) {
        Ok(answer) => redirect.send(&answer),
        // RFC 6749 §4.1.2.1: the error goes back to the client, described the identity
        // platform's way.
        Err(Refusal(_, error, code, description)) => {
            let (text, _) = aadsts(code, &description, now);
            redirect.send(&[
                ("error", error.to_owned()),
                ("error_description", text),
                ("error_uri", format!("{base_url}/error?code={code}")),
            ])
        }
    }
}

/// The checks made before the redirect URI is trusted (their errors are shown on a page):
/// the tenant, the client, the redirect URI, no repeated parameter. Then where and how the
/// answer goes.
fn trusted_redirect<'p>(
    state: &State,
    tenant: &str,
    params: &'p [(Cow<'_, str>, Cow<'_, str>)],
) -> Result<Redirect<'p>, Refusal> {
    let creds = &state.config.credentials;
    let get = |name: &str| first_value(params, name);
    if !tenant.eq_ignore_ascii_case(&creds.tenant) {
        return Err(Refusal::unknown_tenant(tenant));
    }
    let client_id = get("client_id").ok_or_else(|| Refusal::missing("client_id"))?;
    if client_id != creds.client_id {
        return Err(Refusal::unknown_client(client_id, &creds.tenant));
    }
    let redirect_uri = get("redirect_uri").ok_or_else(|| Refusal::missing("redirect_uri"))?;
    if let Err(why) = check_redirect_uri(redirect_uri) {
        return Err(Refusal::bad("invalid_request", 50011, format!(
            "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}' ({why})."
        )));
    }
    if let Some(name) = SINGLE_VALUED
        .into_iter()
        .find(|name| params.iter().filter(|(k, _)| k == name).count() > 1)
    {
        return Err(Refusal::bad("invalid_request", 9002313, format!("Invalid request. Request is malformed or invalid: the parameter '{name}' appears more than once.")));
    }
    // A token never travels in a query (OAuth 2.0 Multiple Response Type Encoding Practices
    // §5): a `token` request asking for `query` gets its error in the fragment.
    let token = get("response_type") == Some("token");
    Ok(Redirect {
        uri: redirect_uri,
        fragment: token || get("response_mode") == Some("fragment"),
        state: get("state"),
    })
}

/// The sign-in, once the redirect URI is trusted: the parameters of the answer (a token for
/// the implicit flow, a code otherwise), or why not.
fn sign_in(
    state: &State,
    params: &[(Cow<'_, str>, Cow<'_, str>)],
    now: SystemTime,
) -> Result<Vec<(&'static str, String)>, Refusal> {
    let get = |name: &str| first_value(params, name);
    let invalid = |code: u32, description: &str| Refusal::bad("invalid_request", code, description);
    if get("resource").is_some() {
        return Err(Refusal::resource());
    }
    let response_type = get("response_type").ok_or_else(|| Refusal::missing("response_type"))?;
    match response_type {
        "code" | "token" => {}
        // Microsoft's list of error codes: 700054 is for `id_token` alone; any other
        // response type is UnsupportedResponseType (70005).
        "id_token" => {
            return Err(Refusal::bad(
                "unsupported_response_type",
                700054,
                "Response_type 'id_token' isn't enabled for the application.",
            ))
        }
        other => {
            return Err(Refusal::bad(
                "unsupported_response_type",
                70005,
                format!("The response_type '{other}' is not supported."),
            ))
        }
    }
    let asked_mode = get("response_mode");
    if let Some(other) = asked_mode.filter(|m| !matches!(*m, "query" | "fragment")) {
        // Microsoft's list of error codes: UnsupportedResponseMode.
        return Err(invalid(70007, &format!("The response_mode '{other}' is not supported by adu-emulator (use 'query' or 'fragment').")));
    }
    if response_type == "token" && asked_mode == Some("query") {
        return Err(invalid(9002313, "Invalid request. Request is malformed or invalid: response_type 'token' must not use response_mode 'query'."));
    }
    let scope = get("scope")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| Refusal::missing("scope"))?;
    // `trusted_redirect` checked the client id.
    let client_id = &state.config.credentials.client_id;

    if response_type == "token" {
        // The implicit flow (RFC 6749 §4.2.2): the token itself, in the fragment.
        return Ok(vec![
            ("access_token", state.issue_token(client_id, now)),
            ("token_type", "Bearer".to_owned()),
            (
                "expires_in",
                state.config.token_lifetime.as_secs().to_string(),
            ),
            ("scope", scope.to_owned()),
        ]);
    }

    // The authorization code flow, with PKCE S256 required. Requiring it here is the
    // emulator's own policy, stricter than the identity platform, which asks for PKCE only when
    // a single-page app's code is redeemed; 9002325 is its code for that case, the closest
    // real one.
    let challenge = get("code_challenge").ok_or_else(|| invalid(9002325, "Proof Key for Code Exchange is required: send code_challenge and code_challenge_method=S256."))?;
    if get("code_challenge_method") != Some("S256") {
        // Microsoft's list of error codes: InvalidCodeChallengeMethod (50149).
        return Err(invalid(
            50149,
            "Invalid Code_Challenge_method parameter: adu-emulator requires 'S256'.",
        ));
    }
    // An S256 challenge is the unpadded base64url of 32 bytes: 43 characters.
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(invalid(501491, "Invalid size of Code_Challenge parameter."));
    }
    let code = state.issue_code(
        CodeInfo {
            client_id: client_id.clone(),
            redirect_uri: get("redirect_uri").unwrap_or_default().to_owned(),
            code_challenge: challenge.to_owned(),
            scope: scope.to_owned(),
            expires: now
                .checked_add(state.config.authorization_code_lifetime)
                .unwrap_or(now),
        },
        now,
    );
    Ok(vec![("code", code)])
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
