//! Every flow and error shape against closure fakes of the HTTP client.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_auth::{
    scopes, AccessToken, Authority, AuthorizationCodeFlow, ClientSecretCredential, EndpointVersion,
    EnvironmentCredential, Error, HttpClientError, ImplicitFlow, SharedHttpClient,
    StaticTokenCredential, TokenCacheOptions, TokenCredential, UsernamePasswordCredential,
};
use common::{json_response, Request, Response, TestClock, YieldTimes};
use futures::executor::block_on;

const SECRET: &str = "s3cr3t-client-secret";
const PASSWORD: &str = "hunter2-password";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// A fake token endpoint: records every request and answers with `answer`.
#[derive(Clone)]
struct Fake {
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    fn new(
        answer: impl Fn(&Request, usize) -> Result<Response, HttpClientError> + Send + Sync + 'static,
    ) -> (Self, SharedHttpClient) {
        let fake = Fake {
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let requests = fake.requests.clone();
        let answer = Arc::new(answer);
        let http: SharedHttpClient = Arc::new(move |request: Request| {
            let n = {
                let mut r = requests.lock().unwrap();
                r.push(request.clone());
                r.len() - 1
            };
            let result = answer(&request, n);
            async move {
                // Stay pending a few polls so that concurrent callers overlap.
                YieldTimes(3).await;
                result
            }
        });
        (fake, http)
    }
    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
    fn form(&self, i: usize) -> HashMap<String, String> {
        let r = self.requests.lock().unwrap();
        url::form_urlencoded::parse(r[i].body())
            .into_owned()
            .collect()
    }
    fn request(&self, i: usize) -> (String, http::HeaderMap) {
        let r = self.requests.lock().unwrap();
        (r[i].uri().to_string(), r[i].headers().clone())
    }
}

fn json(status: u16, body: &str) -> Result<Response, HttpClientError> {
    Ok(json_response(status, body))
}

fn token_json(token: &str) -> String {
    format!(
        r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{token}"}}"#
    )
}

fn authority() -> Authority {
    Authority::new(TENANT).unwrap()
}

fn client_credential(http: SharedHttpClient, clock: Arc<TestClock>) -> ClientSecretCredential {
    ClientSecretCredential::new(authority(), "app-id", SECRET, http)
        .with_cache_options(TokenCacheOptions::default().with_clock(clock))
}

#[test]
fn client_credentials_sends_the_secret_in_the_body_and_caches() {
    let (fake, http) = Fake::new(|_, n| json(200, &token_json(&format!("tok{n}"))));
    let clock = TestClock::at(1_000_000);
    let cred = client_credential(http, clock.clone());
    let token = block_on(cred.get_token(&[scopes::CURRENT])).unwrap();
    assert_eq!(token.secret(), "tok0");
    assert_eq!(
        token.expires_at(),
        UNIX_EPOCH + Duration::from_secs(1_000_000 + 3599)
    );
    let (uri, headers) = fake.request(0);
    assert_eq!(
        uri,
        format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
    );
    assert!(headers.get("authorization").is_none(), "no basic auth");
    let form = fake.form(0);
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "app-id");
    assert_eq!(form["client_secret"], SECRET);
    assert_eq!(form["scope"], scopes::CURRENT);
    assert!(!form.contains_key("resource"));

    // Cached until five minutes before expiry.
    clock.advance(3599 - 301);
    assert_eq!(
        block_on(cred.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "tok0"
    );
    assert_eq!(fake.count(), 1);
    clock.advance(2);
    assert_eq!(
        block_on(cred.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "tok1"
    );
    // A 401 from the service: invalidate, then a new token.
    cred.invalidate(&[scopes::CURRENT]);
    assert_eq!(
        block_on(cred.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "tok2"
    );
    assert_eq!(fake.count(), 3);
}

#[test]
fn v1_endpoints_send_resource_and_accept_string_expiry() {
    let (fake, http) = Fake::new(|_, _| {
        json(
            200,
            r#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","expires_on":"1700003599","not_before":"1700000000","resource":"https://api.adu.microsoft.com","access_token":"v1tok"}"#,
        )
    });
    let clock = TestClock::at(1_700_000_000);
    let cred = ClientSecretCredential::new(
        authority().with_version(EndpointVersion::V1),
        "app-id",
        SECRET,
        http,
    )
    .with_cache_options(TokenCacheOptions::default().with_clock(clock));
    let token = block_on(cred.get_token(&[scopes::LEGACY_DEFAULT])).unwrap();
    assert_eq!(token.secret(), "v1tok");
    assert_eq!(
        token.expires_at(),
        UNIX_EPOCH + Duration::from_secs(1_700_003_599)
    );
    let (uri, _) = fake.request(0);
    assert!(uri.ends_with(&format!("/{TENANT}/oauth2/token")), "{uri}");
    let form = fake.form(0);
    assert_eq!(form["resource"], scopes::RESOURCE);
    assert!(!form.contains_key("scope"));
}

#[test]
fn azure_error_keeps_every_field_and_hides_the_secret() {
    let (_, http) = Fake::new(|_, _| {
        json(
            401,
            &format!(
                r#"{{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Got '{SECRET}'.\r\nTrace ID: 0f1e\r\nCorrelation ID: 9a8b\r\nTimestamp: 2024-05-01 10:00:00Z","error_codes":[7000215],"timestamp":"2024-05-01 10:00:00Z","trace_id":"0f1e","correlation_id":"9a8b","error_uri":"https://login.microsoftonline.com/error?code=7000215"}}"#
            ),
        )
    });
    let cred = client_credential(http, TestClock::at(0));
    let err = block_on(cred.get_token(&[scopes::CURRENT])).unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.error_code(), Some("invalid_client"));
    let server = err.server_error().unwrap();
    assert_eq!(server.error_codes(), &[7000215]);
    assert_eq!(server.trace_id(), Some("0f1e"));
    assert_eq!(server.correlation_id(), Some("9a8b"));
    assert_eq!(server.timestamp(), Some("2024-05-01 10:00:00Z"));
    assert!(server.error_uri().unwrap().contains("7000215"));
    assert!(server
        .error_description()
        .unwrap()
        .starts_with("AADSTS7000215"));
    assert!(!err.is_transient());
    assert!(err.hint().contains("secret"));
    let text = format!("{err} {err:?}");
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

/// An answer that is not an OAuth2 error keeps its status, media type and
/// length, and none of its text (it may echo the request).
#[test]
fn non_oauth_error_bodies_keep_status_content_type_and_length() {
    let big = "x".repeat(10_000);
    let cases: Vec<(u16, &str, String)> = vec![
        (
            502,
            "text/html; charset=utf-8",
            "<html>bad gateway</html>".to_owned(),
        ),
        (500, "text/plain", String::new()),
        (
            400,
            "application/problem+json",
            r#"{"type":"about:blank","title":"Bad Request","status":400}"#.to_owned(),
        ),
        (503, "text/plain", big.clone()),
    ];
    for (status, content_type, body) in cases {
        let b = body.clone();
        let (_, http) = Fake::new(move |_, _| {
            Ok(http::Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(b.clone().into_bytes())
                .unwrap())
        });
        let err =
            block_on(client_credential(http, TestClock::at(0)).get_token(&["s"])).unwrap_err();
        match &err {
            Error::UnexpectedResponse {
                status: s,
                content_type: shown_type,
                body_len,
                ..
            } => {
                assert_eq!(*s, status);
                assert_eq!(shown_type.as_deref(), content_type.split(';').next());
                assert_eq!(*body_len, body.len());
            }
            other => panic!("{status}: {other:?}"),
        }
        let text = format!("{err} {err:?}");
        for piece in ["bad gateway", "about:blank", "xxxx"] {
            assert!(!text.contains(piece), "{text}");
        }
        assert!(text.contains(&format!("{} bytes", body.len())), "{text}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.is_transient(), status >= 500);
    }
}

#[test]
fn success_with_wrong_content_or_shape_is_an_error() {
    for (content_type, body) in [
        ("text/html", "<html>login page</html>"),
        ("application/json", r#"{"token_type":"Bearer"}"#),
        (
            "application/json",
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
        ),
        ("application/json", "not json"),
    ] {
        let (_, http) = Fake::new(move |_, _| {
            Ok(http::Response::builder()
                .status(200)
                .header("content-type", content_type)
                .body(body.as_bytes().to_vec())
                .unwrap())
        });
        let err =
            block_on(client_credential(http, TestClock::at(0)).get_token(&["s"])).unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedResponse { status: 200, .. }),
            "{body}: {err:?}"
        );
    }
    let (_, http) = Fake::new(|_, _| json(200, r#"{"access_token":"a","token_type":"mac"}"#));
    let err = block_on(client_credential(http, TestClock::at(0)).get_token(&["s"])).unwrap_err();
    assert!(matches!(err, Error::UnsupportedTokenType { .. }), "{err:?}");
}

#[test]
fn network_failure_is_an_http_error_with_its_source() {
    let (_, http) = Fake::new(|_, _| {
        Err(HttpClientError::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        )))
    });
    let err = block_on(client_credential(http, TestClock::at(0)).get_token(&["s"])).unwrap_err();
    assert!(matches!(err, Error::Http { .. }));
    assert!(err.is_transient());
    let source = std::error::Error::source(&err).unwrap();
    let inner = std::error::Error::source(source).unwrap();
    assert_eq!(inner.to_string(), "refused");
}

#[test]
fn password_grant_is_refused_up_front_on_common_and_consumers() {
    for tenant in ["common", "consumers", "COMMON"] {
        let (fake, http) = Fake::new(|_, _| json(200, &token_json("t")));
        let err = UsernamePasswordCredential::new(
            Authority::new(tenant).unwrap(),
            "app",
            "u@x",
            PASSWORD,
            http,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::PasswordGrantNotSupported { .. }),
            "{tenant}"
        );
        assert!(err.to_string().contains("organizations"));
        assert_eq!(fake.count(), 0);
    }
}

#[test]
fn password_grant_sends_username_and_password() {
    let (fake, http) = Fake::new(|_, _| json(200, &token_json("ropc")));
    let cred = UsernamePasswordCredential::new(
        Authority::new("organizations").unwrap(),
        "app",
        "user@contoso.com",
        PASSWORD,
        http,
    )
    .unwrap()
    .with_cache_options(TokenCacheOptions::default().with_clock(TestClock::at(0)));
    assert_eq!(
        block_on(cred.get_token(&[scopes::LEGACY_USER_IMPERSONATION]))
            .unwrap()
            .secret(),
        "ropc"
    );
    let form = fake.form(0);
    assert_eq!(form["grant_type"], "password");
    assert_eq!(form["username"], "user@contoso.com");
    assert_eq!(form["password"], PASSWORD);
    assert_eq!(form["scope"], scopes::LEGACY_USER_IMPERSONATION);
    assert!(!form.contains_key("client_secret"));
    let debug = format!("{cred:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(debug.contains("user@contoso.com"));
}

#[test]
fn password_errors_never_echo_the_password() {
    let (_, http) = Fake::new(|req, _| {
        let body = String::from_utf8_lossy(req.body()).into_owned();
        Ok(http::Response::builder()
            .status(400)
            .header("content-type", "text/plain")
            .body(format!("bad request: {body}").into_bytes())
            .unwrap())
    });
    let cred = UsernamePasswordCredential::new(authority(), "app", "u", PASSWORD, http).unwrap();
    let err = block_on(cred.get_token(&["s"])).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(PASSWORD), "{text}");
    // A body that is not an OAuth2 error is not shown at all.
    assert!(!text.contains("bad request"), "{text}");
    assert!(text.contains("text/plain"), "{text}");
}

fn query(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[test]
fn authorization_code_flow_with_pkce_state_and_rotating_refresh() {
    let (fake, http) = Fake::new(|req, n| {
        let form: HashMap<String, String> = url::form_urlencoded::parse(req.body())
            .into_owned()
            .collect();
        match form["grant_type"].as_str() {
            "authorization_code" => json(
                200,
                r#"{"access_token":"at0","token_type":"Bearer","expires_in":3600,"refresh_token":"rt0","scope":"https://api.adu.microsoft.com/.default offline_access"}"#,
            ),
            "refresh_token" => json(
                200,
                &format!(
                    r#"{{"access_token":"at{n}","token_type":"bearer","expires_in":"3600","refresh_token":"rt{n}"}}"#
                ),
            ),
            other => panic!("{other}"),
        }
    });
    let clock = TestClock::at(5_000);
    let flow =
        AuthorizationCodeFlow::new(authority(), "app", "http://localhost:8400/callback", http)
            .unwrap()
            .with_cache_options(TokenCacheOptions::default().with_clock(clock.clone()));
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let url = pending.authorize_url().clone();
    assert!(url.as_str().starts_with(&format!(
        "https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize?"
    )));
    let q = query(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "app");
    assert_eq!(q["redirect_uri"], "http://localhost:8400/callback");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(q["scope"], format!("{} offline_access", scopes::CURRENT));
    let state = q["state"].clone();
    assert!(state.len() >= 16);
    let debug = format!("{pending:?}");
    assert!(
        !debug.contains(&state) && !debug.contains(&q["code_challenge"]),
        "{debug}"
    );

    // Another sign-in's state is refused before any request.
    let other = flow.start(&[scopes::CURRENT]).unwrap();
    assert_ne!(query(other.authorize_url())["state"], state);
    let err = block_on(flow.finish(
        other,
        &format!("http://localhost:8400/callback?code=c&state={state}"),
    ))
    .unwrap_err();
    assert!(matches!(err, Error::StateMismatch));
    assert_eq!(fake.count(), 0);

    let redirect = format!("/callback?code=the-code&state={state}&session_state=x");
    let cred = block_on(flow.finish(pending, &redirect)).unwrap();
    assert!(cred.has_refresh_token());
    let form = fake.form(0);
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "the-code");
    assert_eq!(form["redirect_uri"], "http://localhost:8400/callback");
    assert!(form["code_verifier"].len() >= 43);
    assert_eq!(form["scope"], format!("{} offline_access", scopes::CURRENT));
    let debug = format!("{cred:?}");
    assert!(
        !debug.contains("rt0") && !debug.contains("at0") && !debug.contains(&form["code_verifier"]),
        "{debug}"
    );

    assert_eq!(
        block_on(cred.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "at0"
    );
    assert_eq!(fake.count(), 1);
    clock.advance(3400);
    assert_eq!(
        block_on(cred.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "at1"
    );
    assert_eq!(fake.form(1)["refresh_token"], "rt0");
    assert_eq!(fake.form(1)["grant_type"], "refresh_token");
    // Another scope through the refresh token, which has rotated.
    assert_eq!(
        block_on(cred.get_token(&["https://graph.example/.default"]))
            .unwrap()
            .secret(),
        "at2"
    );
    assert_eq!(fake.form(2)["refresh_token"], "rt1");
    assert_eq!(fake.form(2)["scope"], "https://graph.example/.default");
}

#[test]
fn authorization_code_error_redirect_reports_the_server_error() {
    let (fake, http) = Fake::new(|_, _| json(200, &token_json("x")));
    let flow = AuthorizationCodeFlow::new(authority(), "app", "http://localhost/cb", http).unwrap();
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let state = query(pending.authorize_url())["state"].clone();
    let err = block_on(flow.finish(
        pending,
        &format!("http://localhost/cb?error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent.&state={state}"),
    ))
    .unwrap_err();
    let server = err.server_error().unwrap();
    assert_eq!(server.error(), "access_denied");
    assert_eq!(
        server.error_description(),
        Some("AADSTS65004: User declined to consent.")
    );
    assert!(matches!(err, Error::Authorization { .. }));
    assert_eq!(fake.count(), 0);

    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let err = block_on(flow.finish(pending, "http://localhost/cb?code=abc")).unwrap_err();
    assert!(matches!(err, Error::InvalidRedirect { .. }), "{err:?}");
}

#[test]
fn authorization_code_exchange_error_hides_code_and_verifier() {
    let (_, http) = Fake::new(|req, _| {
        let body = String::from_utf8_lossy(req.body()).into_owned();
        json(400, &serde_json::json!({"error": "invalid_grant", "error_description": format!("AADSTS70008: bad {body}")}).to_string())
    });
    let flow = AuthorizationCodeFlow::new(authority(), "app", "http://localhost/cb", http).unwrap();
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let state = query(pending.authorize_url())["state"].clone();
    let err = block_on(flow.finish(pending, &format!("?code=secret-code-123&state={state}")))
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert_eq!(err.error_code(), Some("invalid_grant"));
    assert!(!text.contains("secret-code-123"), "{text}");
}

#[test]
fn implicit_flow_parses_the_fragment() {
    let clock = TestClock::at(10_000);
    let flow = ImplicitFlow::new(
        Authority::new("common").unwrap(),
        "app",
        "http://localhost:8400/",
    )
    .unwrap()
    .with_nonce()
    .with_cache_options(TokenCacheOptions::default().with_clock(clock.clone()));
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let q = query(pending.authorize_url());
    assert_eq!(q["response_type"], "token");
    assert_eq!(q["response_mode"], "fragment");
    assert!(q["nonce"].len() >= 16);
    assert_eq!(q["scope"], scopes::CURRENT);
    assert!(!q.contains_key("code_challenge"));
    let state = q["state"].clone();
    let cred = flow
        .finish(
            pending,
            &format!("http://localhost:8400/#access_token=imp-tok&token_type=Bearer&expires_in=3599&scope=x&state={state}&session_state=s"),
        )
        .unwrap();
    assert!(!cred.has_refresh_token());
    let token = block_on(cred.get_token(&[scopes::CURRENT])).unwrap();
    assert_eq!(token.secret(), "imp-tok");
    assert_eq!(
        token.expires_at(),
        UNIX_EPOCH + Duration::from_secs(10_000 + 3599)
    );
    assert!(!format!("{cred:?}").contains("imp-tok"));
    // Other scopes cannot be had without a refresh token.
    assert!(matches!(
        block_on(cred.get_token(&["other"])),
        Err(Error::ScopesNotAvailable { .. })
    ));
    // Once expired, sign in again (a still-valid token is kept until then).
    clock.advance(3500);
    assert_eq!(
        block_on(cred.get_token(&[scopes::CURRENT]))
            .unwrap()
            .secret(),
        "imp-tok"
    );
    clock.advance(100);
    assert!(matches!(
        block_on(cred.get_token(&[scopes::CURRENT])),
        Err(Error::LoginExpired)
    ));
}

#[test]
fn implicit_flow_rejects_bad_fragments() {
    let flow = ImplicitFlow::new(authority(), "app", "http://localhost/").unwrap();
    let start = || {
        let p = flow.start(&[scopes::CURRENT]).unwrap();
        let s = query(p.authorize_url())["state"].clone();
        (p, s)
    };
    let (p, s) = start();
    let err = flow
        .finish(p, &format!("#error=unsupported_response_type&error_description=AADSTS700051%3A+response_type+%27token%27+is+not+enabled&state={s}"))
        .unwrap_err();
    assert_eq!(err.error_code(), Some("unsupported_response_type"));
    assert!(err.to_string().contains("AADSTS700051"), "{err}");
    let (p, _) = start();
    assert!(matches!(
        flow.finish(p, "#access_token=t&token_type=Bearer&state=forged"),
        Err(Error::StateMismatch)
    ));
    let (p, s) = start();
    assert!(matches!(
        flow.finish(p, &format!("#token_type=Bearer&state={s}")),
        Err(Error::InvalidRedirect { .. })
    ));
    let (p, s) = start();
    assert!(matches!(
        flow.finish(
            p,
            &format!("#access_token=t&token_type=Bearer&expires_in=x&state={s}")
        ),
        Err(Error::InvalidRedirect { .. })
    ));
    let (p, s) = start();
    assert!(matches!(
        flow.finish(p, &format!("#access_token=t&token_type=MAC&state={s}")),
        Err(Error::UnsupportedTokenType { .. })
    ));
    let (p, s) = start();
    let err = flow
        .finish(
            p,
            &format!("#access_token=leaky-token&token_type=Bearer&state={s}&state=again"),
        )
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("leaky-token"));
}

#[test]
fn concurrent_callers_share_one_request() {
    let (fake, http) = Fake::new(|_, n| json(200, &token_json(&format!("shared{n}"))));
    let cred = client_credential(http, TestClock::at(0));
    let tokens = block_on(futures::future::join_all(
        (0..32).map(|_| cred.get_token(&[scopes::CURRENT])),
    ));
    assert_eq!(fake.count(), 1);
    assert!(tokens
        .iter()
        .all(|t| t.as_ref().unwrap().secret() == "shared0"));
}

#[test]
fn concurrent_callers_share_one_failure() {
    let (fake, http) = Fake::new(|_, _| json(400, r#"{"error":"invalid_scope"}"#));
    let cred = client_credential(http, TestClock::at(0));
    let results = block_on(futures::future::join_all(
        (0..16).map(|_| cred.get_token(&["bad"])),
    ));
    assert_eq!(fake.count(), 1);
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap_err().error_code() == Some("invalid_scope")));
    // A later call tries again.
    assert!(block_on(cred.get_token(&["bad"])).is_err());
    assert_eq!(fake.count(), 2);
}

#[test]
fn concurrent_callers_on_a_thread_pool_share_one_request() {
    let (fake, http) = Fake::new(|_, n| json(200, &token_json(&format!("pool{n}"))));
    let cred = Arc::new(client_credential(http, TestClock::at(0)));
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(4)
        .create()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let cred = cred.clone();
            let done = done.clone();
            let (tx, rx) = futures::channel::oneshot::channel();
            pool.spawn_ok(async move {
                let t = cred.get_token(&[scopes::CURRENT]).await.unwrap();
                done.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(t);
            });
            rx
        })
        .collect();
    let tokens: Vec<AccessToken> = block_on(futures::future::join_all(handles))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(done.load(Ordering::SeqCst), 64);
    assert_eq!(fake.count(), 1);
    assert!(tokens.iter().all(|t| t.secret() == "pool0"));
}

#[test]
fn failed_refresh_keeps_the_valid_token_and_reports_it() {
    let (fake, http) = Fake::new(|_, n| {
        if n == 0 {
            json(200, &token_json("first"))
        } else {
            json(503, r#"{"error":"temporarily_unavailable"}"#)
        }
    });
    let clock = TestClock::at(0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let cred = ClientSecretCredential::new(authority(), "app", SECRET, http).with_cache_options(
        TokenCacheOptions::default()
            .with_clock(clock.clone())
            .on_refresh_error(move |e| s.lock().unwrap().push(e.error_code().map(str::to_owned))),
    );
    assert_eq!(block_on(cred.get_token(&["s"])).unwrap().secret(), "first");
    clock.advance(3400);
    assert_eq!(block_on(cred.get_token(&["s"])).unwrap().secret(), "first");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some("temporarily_unavailable".to_owned())]
    );
    assert_eq!(fake.count(), 2);
    clock.advance(200);
    let err = block_on(cred.get_token(&["s"])).unwrap_err();
    assert!(err.is_transient());
}

#[test]
fn environment_credential_selects_the_flow_and_names_what_is_missing() {
    let (_, http) = Fake::new(|_, _| json(200, &token_json("env")));
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let missing =
        |pairs: &'static [(&'static str, &'static str)]| match EnvironmentCredential::from_lookup(
            env(pairs),
            http.clone(),
        ) {
            Err(Error::MissingEnvironment { missing }) => missing,
            other => panic!("{other:?}"),
        };
    assert_eq!(
        missing(&[]),
        vec![
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET (or AZURE_USERNAME and AZURE_PASSWORD)"
        ]
    );
    assert_eq!(
        missing(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_USERNAME", "u")
        ]),
        vec!["AZURE_PASSWORD"]
    );
    assert_eq!(
        missing(&[
            ("AZURE_TENANT_ID", " "),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s")
        ]),
        vec!["AZURE_TENANT_ID"]
    );

    let cred = EnvironmentCredential::from_lookup(
        env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "env-secret-value"),
            ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9"),
        ]),
        http.clone(),
    )
    .unwrap();
    assert_eq!(cred.flow(), "client_credentials");
    assert!(!format!("{cred:?}").contains("env-secret-value"));
    assert_eq!(block_on(cred.get_token(&["s"])).unwrap().secret(), "env");

    let cred = EnvironmentCredential::from_lookup(
        env(&[
            ("AZURE_TENANT_ID", "organizations"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_USERNAME", "u"),
            ("AZURE_PASSWORD", "env-password"),
        ]),
        http.clone(),
    )
    .unwrap();
    assert_eq!(cred.flow(), "password");
    assert!(!format!("{cred:?}").contains("env-password"));

    let err = EnvironmentCredential::from_lookup(
        env(&[
            ("AZURE_TENANT_ID", "common"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_USERNAME", "u"),
            ("AZURE_PASSWORD", "p"),
        ]),
        http.clone(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PasswordGrantNotSupported { .. }));
    let err = EnvironmentCredential::from_lookup(
        env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_AUTHORITY_HOST", "http://evil.example"),
        ]),
        http,
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }));
}

#[test]
fn static_credential_returns_its_token_and_hides_it() {
    let cred = StaticTokenCredential::from_secret("static-token-value");
    assert_eq!(
        block_on(cred.get_token(&["any"])).unwrap().secret(),
        "static-token-value"
    );
    assert!(cred.expires_at() > SystemTime::now() + Duration::from_secs(60 * 60 * 24 * 365 * 50));
    assert!(!format!("{cred:?}").contains("static-token-value"));
    let token = AccessToken::new("tok-value", UNIX_EPOCH);
    assert!(!format!("{token:?}").contains("tok-value"));
    let client = ClientSecretCredential::new(
        authority(),
        "app",
        SECRET,
        Fake::new(|_, _| json(200, "{}")).1,
    );
    assert!(!format!("{client:?}").contains(SECRET));
    // The credentials are usable as trait objects.
    let _objects: Vec<Arc<dyn TokenCredential>> = vec![Arc::new(cred), Arc::new(client)];
}
