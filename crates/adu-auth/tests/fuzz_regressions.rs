//! Regression tests for what the fuzz targets (`fuzz/`, run by
//! `cargo xtask fuzz`) found, each with the input that broke an invariant.

use std::sync::Arc;

use adu_auth::{
    scopes, Authority, AuthorizationCodeFlow, ClientSecretCredential, Error, HttpClientError,
    ImplicitFlow, PendingLogin, SharedHttpClient, TokenCredential,
};
use futures::executor::block_on;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SECRET: &str = "fuzz-client-secret-7Qx";

fn answering(status: u16, body: String) -> SharedHttpClient {
    Arc::new(move |_request: http::Request<Vec<u8>>| {
        let response = http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.clone().into_bytes())
            .unwrap();
        async move { Ok::<_, HttpClientError>(response) }
    })
}

fn state_of(url: &url::Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// An implicit sign-in started for the current API: the flow, the pending sign-in and its
/// `state`.
fn implicit_sign_in() -> (ImplicitFlow, PendingLogin, String) {
    let flow = ImplicitFlow::new(
        Authority::new(TENANT).unwrap(),
        "app",
        "http://localhost:8400/",
    )
    .unwrap();
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let state = state_of(pending.authorize_url());
    (flow, pending, state)
}

/// An authorization-code sign-in started for the current API, whose token endpoint
/// answers 200 with an empty body.
fn code_sign_in() -> (AuthorizationCodeFlow, PendingLogin, String) {
    let flow = AuthorizationCodeFlow::new(
        Authority::new(TENANT).unwrap(),
        "app",
        "http://localhost:8400/cb",
        answering(200, String::new()),
    )
    .unwrap();
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let state = state_of(pending.authorize_url());
    (flow, pending, state)
}

/// token_error: an OAuth2 error echoing the client secret in its
/// diagnostics (`trace_id`, `correlation_id`, `timestamp`) shows it in
/// neither the error's `Display` nor its `Debug`: every field the server sent
/// is scrubbed, not only `error`, `error_description` and `error_uri`.
#[test]
fn secret_echoed_in_error_diagnostics_is_redacted() {
    let body = format!(
        r#"{{"error":"invalid_client","error_description":"AADSTS7000215","trace_id":"{SECRET}","correlation_id":"c {SECRET}","timestamp":"{SECRET}"}}"#
    );
    let credential = ClientSecretCredential::new(
        Authority::new(TENANT).unwrap(),
        "app",
        SECRET,
        answering(401, body),
    );
    let error = block_on(credential.get_token(&[scopes::CURRENT])).unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains(SECRET), "{text}");
    let server = error.server_error().unwrap();
    assert_eq!(server.trace_id(), Some("[redacted]"));
    assert_eq!(server.correlation_id(), Some("c [redacted]"));
    assert_eq!(server.timestamp(), Some("[redacted]"));
    assert_eq!(server.error_description(), Some("AADSTS7000215"));
}

/// implicit_redirect / code_redirect: an error redirect echoing the
/// sign-in's `state` (`#error=access_denied&error_description=state+{state}`)
/// does not show the state in the error.
#[test]
fn state_echoed_in_an_error_redirect_is_redacted() {
    let (flow, pending, state) = implicit_sign_in();
    let error = flow
        .finish(
            pending,
            &format!("#error=access_denied&error_description=state+{state}&trace_id={state}&correlation_id={state}"),
        )
        .unwrap_err();
    assert_eq!(error.error_code(), Some("access_denied"));
    let text = format!("{error} {error:?}");
    assert!(!text.contains(&state), "{text}");
    assert!(text.contains("state [redacted]"), "{text}");

    let (flow, pending, state) = code_sign_in();
    let error = block_on(flow.finish(
        pending,
        &format!(
            "?error=x&error_description={state}&error_uri=http%3A%2F%2Fx%2F{state}&state={state}"
        ),
    ))
    .unwrap_err();
    assert!(matches!(error, Error::Authorization { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(&state), "{text}");
}

/// code_redirect: a redirect repeating a parameter whose *name* is the
/// state (`?{state}&{state}&state={state}`) does not quote that name, and so
/// the state, in the error.
#[test]
fn a_repeated_parameter_of_arbitrary_name_is_not_quoted() {
    let (flow, pending, state) = code_sign_in();
    let error = block_on(flow.finish(pending, &format!("?code=c&{state}&{state}&state={state}")))
        .unwrap_err();
    assert!(matches!(error, Error::InvalidRedirect { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(&state), "{text}");
    assert!(text.contains("appears more than once"), "{text}");
    // OAuth2's own parameters are still named.
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let error = block_on(flow.finish(pending, "?code=a&code=b&state=s")).unwrap_err();
    assert!(error.to_string().contains("`code`"), "{error}");
}

/// token_error: a JSON *array* body (`["et-7Qx","e"]...`, status picked 400
/// by the harness) is read by serde's derived decoding element by element,
/// as an OAuth2 error with `error` = the first element. The crate's answer
/// is still a refusal with the status kept and no secret shown, which is all
/// the harness checks for arrays.
#[test]
fn an_array_shaped_error_body_is_a_refusal_without_secrets() {
    let body = format!(r#"["invalid_client","echo {SECRET}",null,[1],"{SECRET}","{SECRET}"]"#);
    let credential = ClientSecretCredential::new(
        Authority::new(TENANT).unwrap(),
        "app",
        SECRET,
        answering(400, body),
    );
    let error = block_on(credential.get_token(&[scopes::CURRENT])).unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert!(!error.is_transient());
    let text = format!("{error} {error:?}");
    assert!(!text.contains(SECRET), "{text}");
}

/// implicit_redirect: `expires_in=%20 +0` decodes to `"   0"`, a token of
/// zero lifetime. The sign-in finishes, and the token is expired at once:
/// the credential answers `LoginExpired` (the implicit flow has no refresh
/// token), not a token it knows to be expired.
#[test]
fn an_implicit_token_of_zero_lifetime_is_expired_at_once() {
    let (flow, pending, state) = implicit_sign_in();
    let credential = flow
        .finish(
            pending,
            &format!(
                "&access_token=t%2Bx%3D!3D&token_type=B%65arer&state={state}&expires_in=%20 +0"
            ),
        )
        .unwrap();
    assert!(matches!(
        block_on(credential.get_token(&[scopes::CURRENT])),
        Err(Error::LoginExpired)
    ));
}

/// implicit_redirect: carriage returns inside a parameter name
/// (`#acce\r\r…ss_token=&t…`) are dropped by URL parsing (the WHATWG URL
/// standard removes ASCII tabs and newlines anywhere, as browsers do), so
/// the name reads `access_token`.
#[test]
fn newlines_inside_a_redirect_url_are_dropped_as_browsers_do() {
    let (flow, pending, state) = implicit_sign_in();
    let credential = flow
        .finish(
            pending,
            &format!("http://localhost:8400/?state=forged#acce\r\r\rss_token=tok&t&token_type=Bearer&state={state}"),
        )
        .unwrap();
    assert_eq!(
        block_on(credential.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "tok"
    );
}

/// managed_identity_response: an identity endpoint answering 200 with its token type set to
/// the identity header it was sent (`"token_type":"fuzz-identity-header-3Hq"`) had the header
/// shown in the unsupported-token-type error; the type is now scrubbed of the secrets sent,
/// as a token endpoint's is.
#[test]
fn a_managed_identity_token_type_echoing_the_identity_header_is_scrubbed() {
    let header = "fuzz-identity-header-3Hq";
    for echoed in [
        header.to_owned(),
        header.to_ascii_uppercase(),
        format!("x {header} y"),
    ] {
        let body =
            format!(r#"{{"access_token":"t","expires_on":"1700003600","token_type":"{echoed}"}}"#);
        let credential = adu_auth::ManagedIdentityCredential::app_service(
            "http://127.0.0.1:41741/MSI/token",
            header,
            answering(200, body),
        )
        .unwrap();
        let error = block_on(credential.get_token(&["https://api.adu.microsoft.com/.default"]))
            .unwrap_err();
        assert!(
            matches!(&error, Error::UnsupportedTokenType { token_type } if token_type.contains("[redacted]")),
            "{error:?}"
        );
        let text = format!("{error}\n{error:?}").to_ascii_lowercase();
        assert!(!text.contains(header), "{text}");
    }
}
