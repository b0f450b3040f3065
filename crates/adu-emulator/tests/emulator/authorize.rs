//! The authorization endpoint (`GET /{tenant}/oauth2/v2.0/authorize`) and the
//! authorization code grant, over real loopback connections.

use std::collections::HashMap;
use std::time::Duration;

use adu_emulator::{Config, OperationSpec};

use crate::common::*;

const AUTHORIZE_PATH: &str = "/emulator/oauth2/v2.0/authorize";
const TOKEN_PATH: &str = "/emulator/oauth2/v2.0/token";
const SCOPE: &str = "https://api.adu.microsoft.com/.default offline_access";
const REDIRECT: &str = "http://127.0.0.1:51234/callback";
// RFC 7636 Appendix B: a verifier and its S256 challenge, computed independently.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&value[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn authorize_path(params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("{AUTHORIZE_PATH}?{}", query.join("&"))
}

/// Changes to a request: a `None` value removes the parameter.
type Changes = &'static [(&'static str, Option<&'static str>)];

/// The parameters of an authorization code request, with `changes` applied
/// (a `None` value removes the parameter).
fn code_request(
    changes: &[(&'static str, Option<&'static str>)],
) -> Vec<(&'static str, &'static str)> {
    let mut params = vec![
        ("client_id", "adu-emulator"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", SCOPE),
        ("state", "st-123"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("response_mode", "query"),
    ];
    for (name, value) in changes {
        params.retain(|(k, _)| k != name);
        if let Some(v) = value {
            params.push((name, v));
        }
    }
    params
}

async fn authorize(emu: &adu_emulator::RunningEmulator, params: &[(&str, &str)]) -> Answer {
    send_req(
        emu.addr(),
        request("GET", &authorize_path(params), &[], b""),
    )
    .await
    .unwrap()
}

/// The `Location` of a 302, split into the URI before `sep` and its parameters.
fn redirected(a: &Answer, sep: char) -> (String, HashMap<String, String>) {
    assert_eq!(a.status, 302, "{:?}", a.body);
    let location = a.header("location").expect("a Location header");
    let (base, params) = location
        .split_once(sep)
        .unwrap_or_else(|| panic!("no `{sep}` in {location}"));
    let params = params
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect();
    (base.to_owned(), params)
}

fn assert_redirected_error(a: &Answer, sep: char, error: &str, code: u64) {
    let (base, p) = redirected(a, sep);
    assert_eq!(base, REDIRECT);
    assert_eq!(p["error"], error, "{p:?}");
    assert!(
        p["error_description"].starts_with(&format!("AADSTS{code}: ")),
        "{p:?}"
    );
    assert!(p["error_uri"].contains(&format!("code={code}")), "{p:?}");
    assert_eq!(p["state"], "st-123", "the state comes back with the error");
    assert!(!p.contains_key("code") && !p.contains_key("access_token"));
}

fn assert_error_page(a: &Answer, code: u64) {
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(
        a.header("location").is_none(),
        "never redirect to an unchecked URI"
    );
    assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
    let page = std::str::from_utf8(&a.body).unwrap();
    assert!(page.contains(&format!("AADSTS{code}: ")), "{page}");
}

fn code_exchange<'a>(
    code: &'a str,
    verifier: &'a str,
    redirect: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", "adu-emulator"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
        ("scope", SCOPE),
    ]
}

fn assert_invalid_grant(a: &Answer, code: u64) {
    assert_eq!(a.status, 400, "{:?}", a.body);
    let body = a.json();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], code);
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(body.get("access_token").is_none());
}

/// A code issued by the endpoint for the default request.
async fn fresh_code(emu: &adu_emulator::RunningEmulator) -> String {
    let (_, p) = redirected(&authorize(emu, &code_request(&[])).await, '?');
    p["code"].clone()
}

#[tokio::test]
async fn the_code_flow_with_pkce_issues_tokens_that_open_the_api() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    assert_eq!(
        emu.authorize_url(),
        format!("{}{AUTHORIZE_PATH}", emu.base_url())
    );

    let a = authorize(&emu, &code_request(&[])).await;
    assert_eq!(a.header("cache-control"), Some("no-store, no-cache"));
    let (base, p) = redirected(&a, '?');
    assert_eq!(base, REDIRECT, "any loopback port is accepted");
    assert_eq!(p["state"], "st-123");
    let code = p["code"].clone();
    assert!(code.len() >= 32, "{code}");
    assert!(
        !p.contains_key("access_token"),
        "no token in the code flow's redirect"
    );

    let t = post_form(
        emu.addr(),
        TOKEN_PATH,
        &code_exchange(&code, VERIFIER, REDIRECT),
    )
    .await;
    assert_eq!(t.status, 200, "{:?}", t.body);
    assert_eq!(t.header("cache-control"), Some("no-store, no-cache"));
    let body = t.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], SCOPE);
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(
        get(emu.addr(), &current_path(&id), access).await.status,
        200
    );

    // The refresh token works (once) and rotates.
    let r = post_form(
        emu.addr(),
        TOKEN_PATH,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "adu-emulator"),
            ("refresh_token", refresh),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let rotated = r.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, refresh);

    // A code is good once.
    let again = post_form(
        emu.addr(),
        TOKEN_PATH,
        &code_exchange(&code, VERIFIER, REDIRECT),
    )
    .await;
    assert_invalid_grant(&again, 54005);

    let stats = emu.stats();
    assert_eq!((stats.authorize_requests, stats.codes_issued), (1, 1));
    emu.shutdown().await;
}

#[tokio::test]
async fn the_code_exchange_checks_verifier_redirect_uri_and_expiry() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let addr = emu.addr();

    // A wrong verifier is refused, and spends the code: no second guess.
    let code = fresh_code(&emu).await;
    let wrong = "0000000000000000000000000000000000000000000";
    assert_invalid_grant(
        &post_form(addr, TOKEN_PATH, &code_exchange(&code, wrong, REDIRECT)).await,
        501481,
    );
    assert_invalid_grant(
        &post_form(addr, TOKEN_PATH, &code_exchange(&code, VERIFIER, REDIRECT)).await,
        54005,
    );

    // No verifier at all.
    let code = fresh_code(&emu).await;
    let mut no_verifier = code_exchange(&code, VERIFIER, REDIRECT);
    no_verifier.retain(|(k, _)| *k != "code_verifier");
    assert_invalid_grant(&post_form(addr, TOKEN_PATH, &no_verifier).await, 50148);

    // The redirect URI must be the one the code was issued for (the port too).
    let code = fresh_code(&emu).await;
    let other = "http://127.0.0.1:51235/callback";
    assert_invalid_grant(
        &post_form(addr, TOKEN_PATH, &code_exchange(&code, VERIFIER, other)).await,
        500112,
    );

    // An unknown code.
    assert_invalid_grant(
        &post_form(
            addr,
            TOKEN_PATH,
            &code_exchange("forged", VERIFIER, REDIRECT),
        )
        .await,
        70000,
    );

    // Missing parameters are named.
    let code = fresh_code(&emu).await;
    for name in ["code", "redirect_uri"] {
        let mut form = code_exchange(&code, VERIFIER, REDIRECT);
        form.retain(|(k, _)| *k != name);
        let a = post_form(addr, TOKEN_PATH, &form).await;
        assert_eq!(a.status, 400);
        assert_eq!(a.json()["error"], "invalid_request");
        assert_eq!(a.json()["error_codes"][0], 900144);
    }

    // Another client id is refused before the code is looked at.
    let mut other_client = code_exchange(&code, VERIFIER, REDIRECT);
    other_client[1] = ("client_id", "someone-else");
    let a = post_form(addr, TOKEN_PATH, &other_client).await;
    assert_eq!(a.json()["error"], "unauthorized_client");
    // ...so the code is still good for its own client.
    let ok = post_form(addr, TOKEN_PATH, &code_exchange(&code, VERIFIER, REDIRECT)).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);

    assert_eq!(emu.stats().tokens_issued, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn codes_expire() {
    let mut config = Config::default();
    config.authorization_code_lifetime = Duration::ZERO;
    let emu = adu_emulator::start(config).await.unwrap();
    let code = fresh_code(&emu).await;
    assert_invalid_grant(
        &post_form(
            emu.addr(),
            TOKEN_PATH,
            &code_exchange(&code, VERIFIER, REDIRECT),
        )
        .await,
        70008,
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_implicit_flow_puts_the_token_in_the_fragment() {
    let emu = adu_emulator::start(Config::default().with_token_lifetime(Duration::from_secs(600)))
        .await
        .unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    let params = [
        ("client_id", "adu-emulator"),
        ("response_type", "token"),
        ("redirect_uri", "http://localhost:8400/cb"),
        ("scope", "https://api.adu.microsoft.com/user_impersonation"),
        ("state", "st-9"),
        ("response_mode", "fragment"),
        ("nonce", "n-1"),
    ];
    let a = authorize(&emu, &params).await;
    let (base, p) = redirected(&a, '#');
    assert_eq!(base, "http://localhost:8400/cb");
    assert_eq!(p["token_type"], "Bearer");
    assert_eq!(p["expires_in"], "600");
    assert_eq!(p["state"], "st-9");
    assert_eq!(
        p["scope"],
        "https://api.adu.microsoft.com/user_impersonation"
    );
    assert!(
        !p.contains_key("refresh_token"),
        "no refresh token in the implicit flow"
    );
    assert_eq!(
        get(emu.addr(), &current_path(&id), &p["access_token"])
            .await
            .status,
        200
    );
    // Without response_mode, `token` still answers in the fragment.
    let a = authorize(&emu, &params[..6]).await;
    assert!(redirected(&a, '#').1.contains_key("access_token"));
    assert_eq!(emu.stats().codes_issued, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn errors_go_back_to_a_valid_redirect_uri() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let cases: [(Changes, char, &str, u64); 10] = [
        (&[("code_challenge", None)], '?', "invalid_request", 9002325),
        (
            &[("code_challenge_method", None)],
            '?',
            "invalid_request",
            50149,
        ),
        (
            &[("code_challenge_method", Some("plain"))],
            '?',
            "invalid_request",
            50149,
        ),
        (
            &[("code_challenge", Some("short"))],
            '?',
            "invalid_request",
            501491,
        ),
        (&[("scope", None)], '?', "invalid_request", 900144),
        (&[("response_type", None)], '?', "invalid_request", 900144),
        (
            &[("response_type", Some("id_token"))],
            '?',
            "unsupported_response_type",
            700054,
        ),
        (
            &[("response_type", Some("code id_token"))],
            '?',
            "unsupported_response_type",
            70005,
        ),
        (
            &[("response_mode", Some("form_post"))],
            '?',
            "invalid_request",
            70007,
        ),
        (
            &[("resource", Some("https://api.adu.microsoft.com"))],
            '?',
            "invalid_request",
            901002,
        ),
    ];
    for (changes, sep, error, code) in cases {
        let a = authorize(&emu, &code_request(changes)).await;
        assert_redirected_error(&a, sep, error, code);
    }
    // `token` may not answer in the query: the error goes in the fragment.
    let a = authorize(
        &emu,
        &code_request(&[
            ("response_type", Some("token")),
            ("response_mode", Some("query")),
        ]),
    )
    .await;
    assert_redirected_error(&a, '#', "invalid_request", 9002313);
    // A code flow asking for the fragment gets its error there.
    let a = authorize(
        &emu,
        &code_request(&[
            ("response_mode", Some("fragment")),
            ("code_challenge", None),
        ]),
    )
    .await;
    assert_redirected_error(&a, '#', "invalid_request", 9002325);
    let stats = emu.stats();
    assert_eq!((stats.codes_issued, stats.tokens_issued), (0, 0));
    emu.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_redirect_uri_gets_a_page_not_a_redirect() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let cases: [(Changes, u64); 8] = [
        (&[("client_id", None)], 900144),
        (&[("client_id", Some("someone-else"))], 700016),
        (&[("redirect_uri", None)], 900144),
        (
            &[("redirect_uri", Some("https://127.0.0.1/callback"))],
            50011,
        ),
        (
            &[("redirect_uri", Some("http://evil.example/callback"))],
            50011,
        ),
        (
            &[("redirect_uri", Some("http://user@127.0.0.1/callback"))],
            50011,
        ),
        (&[("redirect_uri", Some("/callback"))], 50011),
        (&[("redirect_uri", Some("http://127.0.0.1/cb#x"))], 50011),
    ];
    for (changes, code) in cases {
        assert_error_page(&authorize(&emu, &code_request(changes)).await, code);
    }
    // Markup in a parameter is escaped on the page.
    let a = authorize(
        &emu,
        &code_request(&[("client_id", Some("<script>x</script>"))]),
    )
    .await;
    assert_error_page(&a, 700016);
    assert!(!std::str::from_utf8(&a.body).unwrap().contains("<script>"));
    // A repeated parameter.
    let mut twice = code_request(&[]);
    twice.push(("state", "again"));
    assert_error_page(&authorize(&emu, &twice).await, 9002313);
    // An unknown tenant.
    let path = authorize_path(&code_request(&[])).replacen("/emulator/", "/common/", 1);
    let a = send_req(emu.addr(), request("GET", &path, &[], b""))
        .await
        .unwrap();
    assert_error_page(&a, 90002);
    // Only GET.
    let a = send_req(emu.addr(), request("POST", AUTHORIZE_PATH, &[], b""))
        .await
        .unwrap();
    assert_eq!(a.status, 405);
    assert_eq!(emu.stats().codes_issued, 0);
    emu.shutdown().await;
}
