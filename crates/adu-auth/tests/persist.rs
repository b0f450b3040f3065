//! Persisting and restoring an interactive sign-in through its refresh token,
//! against closure fakes of the token endpoint.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use adu_auth::{
    scopes, AccessToken, Authority, AuthorizationCodeFlow, Error, HttpClientError, ImplicitFlow,
    InteractiveCredential, RefreshTokenSecret, SharedHttpClient, TokenCacheOptions,
    TokenCredential,
};
use common::{json_response, Request, Response, TestClock, YieldTimes};
use futures::executor::block_on;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const LEGACY: &str = scopes::LEGACY_USER_IMPERSONATION;

/// A fake token endpoint that records the form of every request.
type Forms = Arc<Mutex<Vec<HashMap<String, String>>>>;

fn fake(
    answer: impl Fn(&HashMap<String, String>, usize) -> Response + Send + Sync + 'static,
) -> (Forms, SharedHttpClient) {
    let forms: Forms = Arc::new(Mutex::new(Vec::new()));
    let seen = forms.clone();
    let http: SharedHttpClient = Arc::new(move |request: Request| {
        let form: HashMap<String, String> = url::form_urlencoded::parse(request.body())
            .into_owned()
            .collect();
        let n = {
            let mut f = seen.lock().unwrap();
            f.push(form.clone());
            f.len() - 1
        };
        let response = answer(&form, n);
        async move {
            YieldTimes(3).await;
            Ok::<_, HttpClientError>(response)
        }
    });
    (forms, http)
}

fn json(status: u16, body: &str) -> Response {
    json_response(status, body)
}

/// Answers every refresh with `at{n}` and, when `rotate`, a new `rt{n}`.
fn refreshing(rotate: bool) -> (Forms, SharedHttpClient) {
    fake(move |form, n| {
        assert_eq!(form["grant_type"], "refresh_token");
        let refresh = if rotate {
            format!(r#","refresh_token":"rt-{}""#, n + 2)
        } else {
            String::new()
        };
        json(
            200,
            &format!(
                r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":3600{refresh}}}"#
            ),
        )
    })
}

fn authority() -> Authority {
    Authority::new(TENANT).unwrap()
}

fn restored(http: SharedHttpClient, clock: &Arc<TestClock>) -> InteractiveCredential {
    InteractiveCredential::from_refresh_token(
        authority(),
        "public-app",
        RefreshTokenSecret::new("rt-1"),
        &[scopes::CURRENT],
        http,
    )
    .unwrap()
    .with_cache_options(TokenCacheOptions::default().with_clock(clock.clone()))
}

#[test]
fn refresh_token_secret_redacts_and_gives_the_value_only_on_request() {
    let token = RefreshTokenSecret::new("0.AXoA-secret-refresh");
    assert_eq!(token.secret(), "0.AXoA-secret-refresh");
    let shown = format!("{token:?} {token} {:?}", Some(token.clone()));
    assert!(!shown.contains("secret-refresh"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn a_code_sign_in_exposes_its_refresh_token_to_persist() {
    let (_, http) = fake(|form, _| {
        assert_eq!(form["grant_type"], "authorization_code");
        json(
            200,
            r#"{"access_token":"at0","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-from-code"}"#,
        )
    });
    let flow = AuthorizationCodeFlow::new(authority(), "public-app", "http://127.0.0.1:1/cb", http)
        .unwrap();
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let state: String = pending
        .authorize_url()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let credential = block_on(flow.finish(pending, &format!("/cb?code=c&state={state}"))).unwrap();
    assert_eq!(credential.refresh_token().unwrap().secret(), "rt-from-code");
    assert_eq!(credential.client_id(), Some("public-app"));
    assert_eq!(credential.authority().unwrap().tenant(), TENANT);
    assert_eq!(credential.scopes(), [scopes::CURRENT]);
    let debug = format!("{credential:?}");
    assert!(
        !debug.contains("rt-from-code") && !debug.contains("at0"),
        "{debug}"
    );
}

#[test]
fn an_implicit_sign_in_has_nothing_to_persist() {
    let flow = ImplicitFlow::new(authority(), "public-app", "http://127.0.0.1:1/cb").unwrap();
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let state: String = pending
        .authorize_url()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let credential = flow
        .finish(
            pending,
            &format!("#access_token=a&token_type=Bearer&expires_in=3599&state={state}"),
        )
        .unwrap();
    assert!(credential.refresh_token().is_none());
    assert!(credential.authority().is_none() && credential.client_id().is_none());
}

#[test]
fn a_restored_sign_in_uses_its_access_token_then_refreshes_and_rotates() {
    let clock = TestClock::at(10_000);
    let (forms, http) = refreshing(true);
    let rotated = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = rotated.clone();
    let credential = restored(http, &clock)
        .with_access_token(AccessToken::new("persisted-at", clock.plus(3600)))
        .on_refresh_token_rotated(move |t| sink.lock().unwrap().push(t.secret().to_owned()));

    // The persisted access token is used while it is good: no request.
    let token = block_on(credential.get_token(&[scopes::CURRENT])).unwrap();
    assert_eq!(token.secret(), "persisted-at");
    assert_eq!(forms.lock().unwrap().len(), 0);

    // Inside the refresh margin: a refresh with the persisted refresh token.
    clock.advance(3400);
    let token = block_on(credential.get_token(&[scopes::CURRENT])).unwrap();
    assert_eq!(token.secret(), "at-0");
    {
        let forms = forms.lock().unwrap();
        assert_eq!(forms[0]["refresh_token"], "rt-1");
        assert_eq!(forms[0]["client_id"], "public-app");
        assert_eq!(forms[0]["scope"], scopes::CURRENT);
        assert!(!forms[0].contains_key("client_secret"), "a public client");
    }
    // The rotated token is told at once and readable afterwards.
    assert_eq!(*rotated.lock().unwrap(), ["rt-2"]);
    assert_eq!(credential.refresh_token().unwrap().secret(), "rt-2");

    // The next refresh sends the newest token.
    clock.advance(3600);
    assert_eq!(
        block_on(credential.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "at-1"
    );
    assert_eq!(forms.lock().unwrap()[1]["refresh_token"], "rt-2");
    assert_eq!(*rotated.lock().unwrap(), ["rt-2", "rt-3"]);
    assert_eq!(credential.refresh_token().unwrap().secret(), "rt-3");
    let debug = format!("{credential:?}");
    for secret in ["rt-1", "rt-2", "rt-3", "at-0", "at-1", "persisted-at"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn without_an_access_token_the_first_get_token_refreshes() {
    let clock = TestClock::at(10_000);
    let (forms, http) = refreshing(true);
    let credential = restored(http, &clock);
    assert!(credential.has_refresh_token());
    let token = block_on(credential.get_token(&[scopes::CURRENT])).unwrap();
    assert_eq!(token.secret(), "at-0");
    assert_eq!(token.expires_at(), clock.plus(3600));
    // Cached afterwards.
    assert_eq!(
        block_on(credential.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "at-0"
    );
    assert_eq!(forms.lock().unwrap().len(), 1);
}

#[test]
fn a_server_that_keeps_the_refresh_token_does_not_trigger_the_hook() {
    let clock = TestClock::at(10_000);
    let (_, http) = refreshing(false);
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    let credential =
        restored(http, &clock).on_refresh_token_rotated(move |_| *count.lock().unwrap() += 1);
    block_on(credential.get_token(&[scopes::CURRENT])).unwrap();
    assert_eq!(*calls.lock().unwrap(), 0);
    assert_eq!(credential.refresh_token().unwrap().secret(), "rt-1");
}

#[test]
fn refreshes_for_different_scopes_never_send_the_same_refresh_token_twice() {
    let clock = TestClock::at(10_000);
    let (forms, http) = refreshing(true);
    let credential = restored(http, &clock);
    let a = [scopes::CURRENT];
    let b = [LEGACY];
    let (ta, tb) =
        block_on(async { futures::join!(credential.get_token(&a), credential.get_token(&b)) });
    let mut secrets = [
        ta.unwrap().secret().to_owned(),
        tb.unwrap().secret().to_owned(),
    ];
    secrets.sort();
    assert_eq!(secrets, ["at-0", "at-1"]);
    let forms = forms.lock().unwrap();
    assert_eq!(forms.len(), 2);
    assert_eq!(forms[0]["refresh_token"], "rt-1");
    assert_eq!(
        forms[1]["refresh_token"], "rt-2",
        "the second waited for the rotation"
    );
    assert_eq!(credential.refresh_token().unwrap().secret(), "rt-3");
}

#[test]
fn a_refused_refresh_is_the_servers_error_without_the_token() {
    let clock = TestClock::at(10_000);
    let (_, http) = fake(|form, _| {
        // A server echoing the spent token back.
        json(
            400,
            &format!(
                r#"{{"error":"invalid_grant","error_description":"AADSTS70000: Provided grant is invalid or malformed: {}","error_codes":[70000]}}"#,
                form["refresh_token"]
            ),
        )
    });
    let credential = InteractiveCredential::from_refresh_token(
        authority(),
        "public-app",
        RefreshTokenSecret::new("rt-spent-token"),
        &[scopes::CURRENT],
        http,
    )
    .unwrap()
    .with_cache_options(TokenCacheOptions::default().with_clock(clock.clone()));
    let err = block_on(credential.get_token(&[scopes::CURRENT])).unwrap_err();
    assert_eq!(err.error_code(), Some("invalid_grant"));
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.hint(), "check the credentials, or sign in again");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("rt-spent-token"), "{shown}");
    // The refresh token is kept: whether to forget it is the application's call.
    assert_eq!(
        credential.refresh_token().unwrap().secret(),
        "rt-spent-token"
    );
}

#[test]
fn with_cache_options_keeps_a_seeded_token() {
    let (forms, http) = refreshing(true);
    let credential = InteractiveCredential::from_refresh_token(
        authority(),
        "public-app",
        RefreshTokenSecret::new("rt-1"),
        &[scopes::CURRENT],
        http,
    )
    .unwrap()
    .with_access_token(AccessToken::new(
        "seeded",
        SystemTime::now() + Duration::from_secs(3600),
    ))
    .with_cache_options(TokenCacheOptions::default().with_refresh_margin(Duration::ZERO));
    assert_eq!(
        block_on(credential.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "seeded"
    );
    assert_eq!(forms.lock().unwrap().len(), 0);
}

#[test]
fn restoring_checks_its_inputs() {
    let (_, http) = refreshing(true);
    let invalid = |r: Result<InteractiveCredential, Error>| {
        assert!(matches!(r, Err(Error::InvalidConfig { .. })), "{r:?}");
    };
    invalid(InteractiveCredential::from_refresh_token(
        authority(),
        "app",
        RefreshTokenSecret::new("  "),
        &[scopes::CURRENT],
        http.clone(),
    ));
    invalid(InteractiveCredential::from_refresh_token(
        authority(),
        "app",
        RefreshTokenSecret::new("rt"),
        &[],
        http.clone(),
    ));
    // v1 endpoints take one resource: scopes of two resources cannot be expressed.
    invalid(InteractiveCredential::from_refresh_token(
        authority().with_version(adu_auth::EndpointVersion::V1),
        "app",
        RefreshTokenSecret::new("rt"),
        &["https://a.example/.default", "https://b.example/.default"],
        http,
    ));
}
