//! Secrets a token endpoint echoes back, in whatever encoding, never reach
//! an error's `Display` or `Debug`: an OAuth2 error's fields are scrubbed, and
//! any other answer (a success answer that could not be read included) shows
//! none of its body.

use std::sync::Arc;

use adu_auth::{
    scopes, Authority, ClientSecretCredential, Error, HttpClientError, SharedHttpClient,
    TokenCredential, UsernamePasswordCredential,
};
use futures::executor::block_on;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn authority() -> Authority {
    Authority::new(TENANT).unwrap()
}

/// An endpoint answering `status` with `render(request body)`.
fn echoing(
    status: u16,
    content_type: &'static str,
    render: impl Fn(&str) -> String + Send + Sync + 'static,
) -> SharedHttpClient {
    let render = Arc::new(render);
    Arc::new(move |request: http::Request<Vec<u8>>| {
        let body = String::from_utf8(request.body().clone()).unwrap();
        let response = http::Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(render(&body).into_bytes())
            .unwrap();
        async move { Ok::<_, HttpClientError>(response) }
    })
}

/// Renders an echo of a request body.
type Render = fn(&str) -> String;

/// A JSON OAuth2 error whose description quotes `echo`.
fn oauth_error(echo: &str) -> String {
    serde_json::json!({"error": "invalid_request", "error_description": format!("bad body: {echo}")})
        .to_string()
}

/// The password field of a form body, decoded.
fn form_password(body: &str) -> String {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(name, _)| name == "password")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn shown(err: &Error) -> String {
    format!("{err}\n{err:?}")
}

fn client_secret_error(secret: &str, http: SharedHttpClient) -> Error {
    let credential = ClientSecretCredential::new(authority(), "app", secret, http);
    block_on(credential.get_token(&[scopes::CURRENT])).unwrap_err()
}

fn password_error(password: &str, http: SharedHttpClient) -> Error {
    let credential =
        UsernamePasswordCredential::new(authority(), "app", "user", password, http).unwrap();
    block_on(credential.get_token(&[scopes::CURRENT])).unwrap_err()
}

/// Azure AD client secrets contain `~`, which the form body carries as `%7E`.
#[test]
fn form_encoded_client_secret_echo_is_redacted() {
    let secret = "Abc8Q~xyzSECRETvalue_123";
    let text = shown(&client_secret_error(
        secret,
        echoing(400, "application/json", oauth_error),
    ));
    assert!(!text.contains("SECRETvalue"), "{text}");
    assert!(text.contains("client_secret=[redacted]"), "{text}");
    // An echo in a body that is not an OAuth2 error is not shown at all.
    let text = shown(&client_secret_error(
        secret,
        echoing(500, "text/html", |body| {
            format!("<html>echo: {body}</html>")
        }),
    ));
    assert!(
        !text.contains("SECRETvalue") && !text.contains("echo:"),
        "{text}"
    );
    assert!(text.contains("text/html"), "{text}");
}

/// An error body may write its strings with any JSON escapes (here every
/// character as `\uXXXX`): the secret is found in what they decode to.
#[test]
fn a_secret_in_json_escapes_is_redacted() {
    let secret = "Abc8Q~x y@z+&=\"/\\é😀";
    let escaped: String = secret
        .encode_utf16()
        .map(|u| format!("\\u{u:04X}"))
        .collect();
    let http = echoing(401, "application/json", move |_| {
        format!(
            r#"{{"error":"invalid_client","error_description":"AADSTS7000215: got {escaped}","trace_id":"{escaped}"}}"#
        )
    });
    let err = client_secret_error(secret, http);
    let server = err.server_error().unwrap();
    assert_eq!(
        server.error_description(),
        Some("AADSTS7000215: got [redacted]")
    );
    assert_eq!(server.trace_id(), Some("[redacted]"));
    assert!(!shown(&err).contains("Abc8Q"), "{}", shown(&err));
}

/// The echoes a server may make of the password, end to end: the form body as
/// sent (`+` for space, upper-case hex), the raw password, and the raw password
/// inside a JSON string. (Every other encoding the scrub knows, `%20` and
/// lower-case hex among them, is checked on the scrub itself in `redact.rs`.)
#[test]
fn password_with_reserved_characters_is_redacted_in_every_encoding() {
    let password = "p@ss word+&=\"secretPW\\/";
    let renders: Vec<(u16, &str, Render)> = vec![
        (400, "application/json", oauth_error),
        (500, "text/plain", |body| {
            format!("raw password: {}", form_password(body))
        }),
        (500, "text/plain", |body| {
            serde_json::json!({"echo": form_password(body)}).to_string()
        }),
    ];
    for (status, content_type, render) in renders {
        let text = shown(&password_error(
            password,
            echoing(status, content_type, render),
        ));
        assert!(!text.contains("secretPW"), "{text}");
    }
}

/// Secrets too short for free-text replacement are still redacted where a
/// form echo names them.
#[test]
fn short_password_is_redacted_by_parameter_name() {
    let text = shown(&password_error(
        "Zq9",
        echoing(400, "application/json", oauth_error),
    ));
    assert!(!text.contains("Zq9"), "{text}");
    assert!(text.contains("password=[redacted]"), "{text}");
}

/// However long the body and wherever the echo sits in it, no part of an
/// unparsed body is shown, so no prefix of a secret can be.
#[test]
fn an_unparsed_body_shows_nothing_of_an_echo() {
    let secret = "PLAINSECRETabcdefghijklmnop0123456789";
    for pad in [0, 1900, 2040, 70_000] {
        let http = echoing(500, "text/html", move |body| {
            format!("{}<html>echo: {body}</html>", "x".repeat(pad))
        });
        let err = client_secret_error(secret, http);
        let text = shown(&err);
        assert!(
            !text.contains("PLAIN") && !text.contains("xxx"),
            "pad {pad}: {text}"
        );
        assert!(
            matches!(err, Error::UnexpectedResponse { status: 500, .. }),
            "{err:?}"
        );
    }
}

/// A success answer is a token response: when it cannot be read, the error
/// says why without keeping any of it.
#[test]
fn unreadable_success_answer_keeps_no_token() {
    for (content_type, body) in [
        (
            "application/json",
            r#"{"access_token":"AT-SECRET-123","token_type":"Bearer","expires_in":"soon","refresh_token":"RT-SECRET-456"}"#,
        ),
        (
            "text/plain",
            r#"{"access_token":"AT-SECRET-123","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-SECRET-456"}"#,
        ),
    ] {
        let http = echoing(200, content_type, move |_| body.to_owned());
        let err = client_secret_error("client-secret-xyz", http);
        let text = shown(&err);
        assert!(!text.contains("SECRET-"), "{text}");
        match &err {
            Error::UnexpectedResponse {
                status: 200,
                detail,
                body_len,
                ..
            } => {
                assert_eq!(*body_len, body.len());
                assert!(!detail.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
    let http = echoing(200, "application/json", |_| {
        r#"{"access_token":"AT-SECRET-123","token_type":"Bearer","expires_in":"soon"}"#.to_owned()
    });
    let err = client_secret_error("client-secret-xyz", http);
    assert!(err.to_string().contains("expires_in"), "{err}");
}
