//! Security properties of the client, each proved by a test here (the list, with the test
//! names, is in `docs/reliability.md`):
//!
//! 1. The bearer token never reaches another host: not through a redirect, not through an
//!    `Operation-Location` on another origin, not over plain http to a non-loopback host.
//! 2. Secrets and tokens never appear in `Debug`, `Display`, error messages or captured
//!    `tracing` output, for every credential type, during full flows against the emulator.
//! 3. No input can alter the request path or query (a property test over instance and
//!    operation ids, observed at a loopback server).
//! 4. Response size, header size and time are bounded: an endless body, a huge header and a
//!    slow-drip server cannot hold the client past its deadline.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adu_auth::{
    scopes, Authority, AuthorizationCodeFlow, ClientSecretCredential, EnvironmentCredential,
    ImplicitFlow, StaticTokenCredential, TokenCredential, UsernamePasswordCredential,
};
use adu_emulator::{Config, OperationSpec, Timings};
use adu_transport::{
    ApiVersion, DeviceUpdateClient, Error, GetOperationOutcome, GetOptions, HyperTransport,
    OperationStatus, PollPolicy, RetryPolicy, TransportError, TransportErrorKind, WaitOptions,
};
use proptest::prelude::*;
use support::{
    current_body, fast_retries, plain_http_transport, raw_server, read_head, Reply, Server,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const OP: &str = "e4491c53-6a7e-4b8c-8f44-2d1b3e8e1a01";
const TOKEN: &str = "the-bearer-token-7c1e";

fn fast_polls() -> PollPolicy {
    PollPolicy::default()
        .with_default_interval(Duration::from_millis(50))
        .with_min_interval(Duration::from_millis(10))
        .with_max_interval(Duration::from_millis(100))
}

fn client_for(url: &str) -> DeviceUpdateClient {
    DeviceUpdateClient::builder(
        url,
        "blue",
        Arc::new(StaticTokenCredential::from_secret(TOKEN)),
    )
    .hyper_transport(plain_http_transport())
    .retry_policy(fast_retries())
    .poll_policy(fast_polls())
    .build()
    .unwrap()
}

/// A transport that only counts calls: for checks that must refuse before sending.
fn counting_transport(calls: Arc<AtomicUsize>) -> Arc<dyn adu_transport::HttpTransport> {
    Arc::new(move |_request: http::Request<Vec<u8>>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async {
            Err::<http::Response<Vec<u8>>, _>(TransportError::new(
                TransportErrorKind::Other,
                "this transport never sends",
            ))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// 1. The bearer token never reaches another host.

#[tokio::test]
async fn bearer_token_never_follows_a_redirect_to_another_port() {
    for status in [301u16, 302, 303, 307, 308] {
        let elsewhere =
            Server::start(vec![Reply::json(200, &current_body(OP, "Succeeded", "e"))]).await;
        let location = format!(
            "{}/deviceUpdate/blue/updates/operations/{OP}?api-version=2022-10-01",
            elsewhere.url()
        );
        let server = Server::start(vec![Reply::new(status).header("location", &location)]).await;
        let client = client_for(&server.url());

        let error = client
            .get_operation_status(OP, &GetOptions::default())
            .await
            .unwrap_err();
        assert_eq!(error.service().map(|e| e.status().as_u16()), Some(status));
        let error = client
            .wait_for_operation(
                OP,
                WaitOptions::default().with_timeout(Duration::from_secs(5)),
            )
            .await
            .unwrap_err();
        assert_eq!(error.service().map(|e| e.status().as_u16()), Some(status));

        // The configured endpoint got the token; the redirect target got nothing at all.
        assert_eq!(server.requests(), 2, "{status}: not retried, not followed");
        for seen in server.seen() {
            assert_eq!(
                seen.header("authorization"),
                Some(&*format!("Bearer {TOKEN}"))
            );
        }
        assert_eq!(
            elsewhere.requests(),
            0,
            "{status}: the Location host saw a request"
        );
        assert_eq!(
            elsewhere.connections(),
            0,
            "{status}: the Location host saw a connection"
        );
    }
}

/// The token-guard refusal: another origin, or plain http to a host that is not loopback.
fn assert_refused_origin(error: &Error, location: &str) {
    assert!(
        matches!(
            error,
            Error::ForeignHost { .. } | Error::InsecureTransport { .. }
        ),
        "{location}: {error:?}"
    );
}

#[tokio::test]
async fn an_operation_location_on_another_origin_is_refused_before_sending() {
    let server = Server::start(vec![Reply::json(200, &current_body(OP, "Succeeded", "e"))]).await;
    let other = Server::start(vec![Reply::json(200, &current_body(OP, "Succeeded", "e"))]).await;
    let client = client_for(&server.url());
    let home = server.addr.port();
    let path = format!("/deviceUpdate/blue/updates/operations/{OP}?api-version=2022-10-01");
    let locations = [
        // Another port on the same loopback address.
        format!("{}{path}", other.url()),
        // The same port under another host name, or another scheme.
        format!("http://localhost:{home}{path}"),
        format!("https://127.0.0.1:{home}{path}"),
        // Scheme-relative and foreign hosts.
        format!("//127.0.0.1:{}{path}", other.addr.port()),
        format!("https://evil.example{path}"),
        format!("http://evil.example{path}"),
    ];
    for location in &locations {
        let error = client
            .get_operation_location(location, &GetOptions::default())
            .await
            .expect_err(location);
        assert_refused_origin(&error, location);
        let error = client
            .wait_for_operation_location(location, WaitOptions::default())
            .await
            .expect_err(location);
        assert_refused_origin(&error, location);
    }
    assert_eq!(server.requests(), 0);
    assert_eq!(other.requests(), 0);
    assert_eq!(other.connections(), 0);

    // The same location on the endpoint's own origin is followed (the refusals above are
    // about the origin, not about locations in general).
    let own = format!("{}{path}", server.url());
    let outcome = client
        .get_operation_location(&own, &GetOptions::default())
        .await
        .unwrap();
    assert!(matches!(outcome, GetOperationOutcome::Operation(_)));
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn plain_http_to_a_host_that_is_not_loopback_is_refused() {
    let calls = Arc::new(AtomicUsize::new(0));
    let credential = || Arc::new(StaticTokenCredential::from_secret(TOKEN));
    for endpoint in [
        "http://contoso.api.adu.microsoft.com",
        "http://contoso.api.adu.microsoft.com:80",
        "http://10.1.2.3:8080",
        "http://192.168.0.1",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "http://[2001:db8::1]:8080",
    ] {
        let error = DeviceUpdateClient::builder(endpoint, "blue", credential())
            .transport(counting_transport(calls.clone()))
            .build()
            .expect_err(endpoint);
        assert!(
            matches!(error, Error::InvalidInput(_)),
            "{endpoint}: {error:?}"
        );
    }
    // An https endpoint never downgrades to http for an Operation-Location.
    let client = DeviceUpdateClient::builder("contoso.api.adu.microsoft.com", "blue", credential())
        .transport(counting_transport(calls.clone()))
        .build()
        .unwrap();
    let location = "http://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/x?api-version=2022-10-01";
    let error = client
        .get_operation_location(location, &GetOptions::default())
        .await
        .unwrap_err();
    assert_refused_origin(&error, location);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing was sent");
}

// ---------------------------------------------------------------------------------------------
// 2. Secrets never in Debug, Display, errors or tracing output.

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Everything secret that crossed a token endpoint, and every text a user could see.
#[derive(Default)]
struct Exposure {
    secrets: BTreeSet<String>,
    visible: Vec<String>,
}

impl Exposure {
    fn secret(&mut self, s: impl Into<String>) {
        let s = s.into();
        // Short values (like `Bearer`) would match by accident; every secret here is longer.
        if s.len() >= 8 {
            self.secrets.insert(s);
        }
    }
    fn debug(&mut self, what: &str, value: &dyn std::fmt::Debug) {
        self.visible.push(format!("{what}: {value:?}"));
    }
    fn error(&mut self, what: &str, error: &(dyn std::error::Error + 'static)) {
        let mut text = format!("{what}: {error} / {error:?}");
        let mut source = error.source();
        while let Some(e) = source {
            text.push_str(&format!(" / {e} / {e:?}"));
            source = e.source();
        }
        self.visible.push(text);
    }
    /// Records the secrets of one token exchange: the sensitive form fields sent and the
    /// tokens received.
    fn exchange(&mut self, form: &[u8], response: &[u8]) {
        for (key, value) in url::form_urlencoded::parse(form) {
            if matches!(
                &*key,
                "client_secret" | "password" | "refresh_token" | "code" | "code_verifier"
            ) {
                self.secret(value.into_owned());
            }
        }
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(response) {
            for key in ["access_token", "refresh_token", "id_token"] {
                if let Some(value) = json.get(key).and_then(|v| v.as_str()) {
                    self.secret(value);
                }
            }
        }
    }
}

type Log = Arc<Mutex<Exposure>>;

/// A token-endpoint HTTP client: the real hyper transport, recording each exchange's secrets.
fn recording_http(hyper: HyperTransport, log: Log) -> adu_auth::SharedHttpClient {
    Arc::new(move |request: http::Request<Vec<u8>>| {
        let hyper = hyper.clone();
        let log = log.clone();
        async move {
            let form = request.body().clone();
            let response = oauth2::AsyncHttpClient::call(&hyper, request).await?;
            log.lock().unwrap().exchange(&form, response.body());
            Ok::<_, TransportError>(response)
        }
    })
}

/// Our own authorization server for the authorization code flow (the emulator serves no
/// `/authorize`): it mints access tokens through the emulator and rotates refresh tokens.
async fn code_flow_server(emulator: &Arc<adu_emulator::RunningEmulator>) -> Server {
    let emulator = emulator.clone();
    let rotation = Arc::new(AtomicUsize::new(0));
    Server::start_with(move |_, seen| {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&seen.body)
            .into_owned()
            .collect();
        let n = rotation.fetch_add(1, Ordering::SeqCst);
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code" | "refresh_token") => Reply::json(
                200,
                &serde_json::json!({
                    "access_token": emulator.issue_token(),
                    "refresh_token": format!("rotating-refresh-token-{n}-5b0c9e"),
                    "token_type": "Bearer",
                    "expires_in": 4,
                })
                .to_string(),
            ),
            _ => Reply::json(400, r#"{"error":"unsupported_grant_type"}"#),
        }
    })
    .await
}

async fn secrets_flows(capture: Captured) -> (Exposure, String) {
    const CLIENT_SECRET: &str = "client-secret-Zq93kX1p";
    const PASSWORD: &str = "alice-password-Lm27vQ8w";
    let log: Log = Arc::default();
    // Tokens live 4 s, so a 3 s wait refreshes each cached token once (at half its life).
    let mut config = Config::default().with_token_lifetime(Duration::from_secs(4));
    let credentials = &mut config.credentials;
    credentials.tenant = "contoso".to_owned();
    credentials.client_id = "app-id".to_owned();
    credentials.client_secret = CLIENT_SECRET.to_owned();
    credentials.username = Some("alice@contoso.com".to_owned());
    credentials.password = Some(PASSWORD.to_owned());
    let emulator = Arc::new(adu_emulator::start(config).await.unwrap());
    let hyper = plain_http_transport().build().unwrap();
    let authority = || {
        Authority::new("contoso")
            .unwrap()
            .with_host(&emulator.authority_url())
            .unwrap()
    };
    let http = recording_http(hyper.clone(), log.clone());
    let long_op = || {
        emulator.add_operation(
            OperationSpec::succeeding()
                .with_timings(Timings::new(Duration::ZERO, Duration::from_millis(3_000))),
        )
    };
    let client_with = |credential: Arc<dyn TokenCredential>| {
        DeviceUpdateClient::builder(emulator.base_url(), "blue", credential)
            .transport(Arc::new(hyper.clone()))
            .retry_policy(fast_retries())
            .poll_policy(fast_polls())
            .build()
            .unwrap()
    };
    let wait = Duration::from_secs(30);
    {
        let mut log = log.lock().unwrap();
        log.secret(CLIENT_SECRET);
        log.secret(PASSWORD);
    }

    // Client credentials, through a long wait (one refresh).
    let credential = Arc::new(ClientSecretCredential::new(
        authority(),
        "app-id",
        CLIENT_SECRET,
        http.clone(),
    ));
    let client = client_with(credential.clone());
    let done = client
        .wait_for_operation(&long_op(), WaitOptions::default().with_timeout(wait))
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    log.lock()
        .unwrap()
        .debug("client secret credential", &credential);
    log.lock().unwrap().debug("client", &client);
    log.lock().unwrap().debug("operation", &done);

    // Password, through a long wait.
    let credential = Arc::new(
        UsernamePasswordCredential::new(
            authority(),
            "app-id",
            "alice@contoso.com",
            PASSWORD,
            http.clone(),
        )
        .unwrap(),
    );
    let done = client_with(credential.clone())
        .wait_for_operation(&long_op(), WaitOptions::default().with_timeout(wait))
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    log.lock()
        .unwrap()
        .debug("password credential", &credential);

    // Authorization code with PKCE, then refresh-token rotation during a long wait.
    let code_server = code_flow_server(&emulator).await;
    let flow = AuthorizationCodeFlow::new(
        Authority::new("contoso")
            .unwrap()
            .with_host(&code_server.url())
            .unwrap(),
        "app-id",
        "http://localhost:8400/callback",
        http.clone(),
    )
    .unwrap();
    let pending = flow.start(&[scopes::CURRENT]).unwrap();
    let state = query_param(pending.authorize_url(), "state");
    log.lock().unwrap().secret(state.clone());
    log.lock().unwrap().debug("pending login", &pending);
    log.lock().unwrap().debug("authorization code flow", &flow);
    let code = "authorization-code-Qx81fT";
    log.lock().unwrap().secret(code);
    let credential = Arc::new(
        flow.finish(
            pending,
            &format!("http://localhost:8400/callback?code={code}&state={state}"),
        )
        .await
        .unwrap(),
    );
    let done = client_with(credential.clone())
        .wait_for_operation(&long_op(), WaitOptions::default().with_timeout(wait))
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    let grants: Vec<String> = code_server
        .seen()
        .iter()
        .filter_map(|s| {
            url::form_urlencoded::parse(&s.body)
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert!(
        grants.iter().any(|g| g == "refresh_token"),
        "the wait refreshed the token: {grants:?}"
    );
    log.lock()
        .unwrap()
        .debug("interactive credential", &credential);

    // Implicit flow: the token arrives in the redirect fragment.
    let implicit =
        ImplicitFlow::new(authority(), "app-id", "http://localhost:8400/callback").unwrap();
    let pending = implicit.start(&[scopes::CURRENT]).unwrap();
    let state = query_param(pending.authorize_url(), "state");
    let token = emulator.issue_token();
    {
        let mut log = log.lock().unwrap();
        log.secret(state.clone());
        log.secret(token.clone());
        log.debug("implicit pending", &pending);
        log.debug("implicit flow", &implicit);
    }
    let credential = Arc::new(
        implicit
            .finish(
                pending,
                &format!("http://localhost:8400/callback#access_token={token}&token_type=Bearer&expires_in=600&state={state}"),
            )
            .unwrap(),
    );
    let outcome = client_with(credential.clone())
        .get_operation_status(&long_op(), &GetOptions::default())
        .await
        .unwrap();
    log.lock()
        .unwrap()
        .debug("implicit credential", &credential);
    log.lock().unwrap().debug("outcome", &outcome);

    // Environment (client secret) and a static token.
    let base = emulator.authority_url();
    let environment = Arc::new(
        EnvironmentCredential::from_lookup(
            |name| match name {
                "AZURE_TENANT_ID" => Some("contoso".to_owned()),
                "AZURE_CLIENT_ID" => Some("app-id".to_owned()),
                "AZURE_CLIENT_SECRET" => Some(CLIENT_SECRET.to_owned()),
                "AZURE_AUTHORITY_HOST" => Some(base.clone()),
                _ => None,
            },
            http.clone(),
        )
        .unwrap(),
    );
    let outcome = client_with(environment.clone())
        .get_operation_status(&long_op(), &GetOptions::default())
        .await
        .unwrap();
    assert!(matches!(outcome, GetOperationOutcome::Operation(_)));
    log.lock()
        .unwrap()
        .debug("environment credential", &environment);
    let token = emulator.issue_token();
    log.lock().unwrap().secret(token.clone());
    let static_credential = Arc::new(StaticTokenCredential::from_secret(token));
    let outcome = client_with(static_credential.clone())
        .get_operation_status(&long_op(), &GetOptions::default())
        .await
        .unwrap();
    assert!(matches!(outcome, GetOperationOutcome::Operation(_)));
    log.lock()
        .unwrap()
        .debug("static credential", &static_credential);

    // Failures: a wrong secret, a wrong password, a token the service refuses, and an
    // authorization server that echoes the secrets back in its error.
    let wrong_secret = "wrong-secret-Hd72nB";
    let wrong_password = "wrong-password-Ke49sP";
    let bogus_token = "bogus-token-Vn31cR";
    {
        let mut log = log.lock().unwrap();
        log.secret(wrong_secret);
        log.secret(wrong_password);
        log.secret(bogus_token);
    }
    let failing: Vec<(&str, Arc<dyn TokenCredential>)> = vec![
        (
            "wrong secret",
            Arc::new(ClientSecretCredential::new(
                authority(),
                "app-id",
                wrong_secret,
                http.clone(),
            )),
        ),
        (
            "wrong password",
            Arc::new(
                UsernamePasswordCredential::new(
                    authority(),
                    "app-id",
                    "alice@contoso.com",
                    wrong_password,
                    http.clone(),
                )
                .unwrap(),
            ),
        ),
        (
            "refused token",
            Arc::new(StaticTokenCredential::from_secret(bogus_token)),
        ),
    ];
    for (what, credential) in failing {
        let error = client_with(credential)
            .get_operation_status(&long_op(), &GetOptions::default())
            .await
            .expect_err(what);
        log.lock().unwrap().error(what, &error);
    }
    let echo = Server::start_with(|_, seen| {
        let body = String::from_utf8_lossy(&seen.body).into_owned();
        Reply::json(
            400,
            &serde_json::json!({"error": "invalid_grant", "error_description": format!("AADSTS70000: rejected {body}")})
                .to_string(),
        )
    })
    .await;
    let echo_credential = ClientSecretCredential::new(
        Authority::new("contoso")
            .unwrap()
            .with_host(&echo.url())
            .unwrap(),
        "app-id",
        wrong_secret,
        http.clone(),
    );
    let error = echo_credential
        .get_token(&[scopes::CURRENT])
        .await
        .unwrap_err();
    log.lock().unwrap().error("echoing server", &error);

    // The code-flow server's task holds the emulator until the runtime ends; dropping the
    // last handle then stops it.
    drop(code_server);
    let exposure = std::mem::take(&mut *log.lock().unwrap());
    (exposure, capture.text())
}

fn query_param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[test]
fn secrets_never_reach_debug_display_errors_or_tracing_output() {
    let capture = Captured::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // A current-thread runtime: every task (client, emulator, servers) runs on this thread,
    // where the subscriber is the default.
    let _guard = tracing::subscriber::set_default(subscriber);
    // With one dispatcher registered, tracing caches a callsite's interest from the default
    // of whichever thread reaches it first: a parallel test of this binary (no subscriber)
    // would turn the client's spans off here. A second one makes every interest "sometimes",
    // decided per call by the calling thread's subscriber.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (exposure, traced) = runtime.block_on(secrets_flows(capture));

    // The capture worked, and saw the requests of every flow.
    assert!(traced.contains("adu_request"), "no request span captured");
    assert!(traced.matches("adu_request").count() >= 10);
    // Every secret was recorded (client secret, password, codes, verifiers, states, access
    // and refresh tokens), and none is anywhere a user or a log could see it.
    assert!(
        exposure.secrets.len() >= 15,
        "{} secrets",
        exposure.secrets.len()
    );
    let visible = exposure.visible.join("\n");
    println!(
        "secrets checked: {}, against {} bytes of tracing output ({} adu_request spans) and {} Debug/Display/error texts",
        exposure.secrets.len(),
        traced.len(),
        traced.matches("adu_request").count(),
        exposure.visible.len()
    );
    for secret in &exposure.secrets {
        assert!(
            !traced.contains(secret.as_str()),
            "a secret reached the tracing output"
        );
        assert!(
            !visible.contains(secret.as_str()),
            "a secret reached Debug/Display/an error: {}",
            visible
                .lines()
                .find(|l| l.contains(secret.as_str()))
                .unwrap_or_default()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. No input alters the request path or query.

fn percent_decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn id_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9/?#%&=;:@!$'()*+,. ~_\\\\-]{0,16}",
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("../../admin".to_owned()),
        Just("x?api-version=2020-01-01".to_owned()),
        Just("x#fragment".to_owned()),
        Just("x%2Fy".to_owned()),
        Just("x/y".to_owned()),
        "[\u{0}-\u{1f}a]{1,4}",
    ]
}

struct PathHarness {
    runtime: tokio::runtime::Runtime,
    server: Server,
    transport: HyperTransport,
}

impl PathHarness {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(Server::start(vec![Reply::json(
            200,
            &current_body(OP, "Succeeded", "e"),
        )]));
        let transport = plain_http_transport().build().unwrap();
        PathHarness {
            runtime,
            server,
            transport,
        }
    }

    fn check(&self, instance: &str, operation: &str, legacy: bool) -> Result<(), TestCaseError> {
        let before = self.server.requests();
        let version = if legacy {
            ApiVersion::V2
        } else {
            ApiVersion::V2022_10_01
        };
        let built = DeviceUpdateClient::builder(
            self.server.url(),
            instance,
            Arc::new(StaticTokenCredential::from_secret(TOKEN)),
        )
        .api_version(version)
        .transport(Arc::new(self.transport.clone()))
        .retry_policy(RetryPolicy::no_retries())
        .build();
        let valid = adu_transport::adu_model::InstanceId::new(instance).is_ok()
            && adu_transport::adu_model::OperationId::new(operation).is_ok();
        let result = match built {
            Ok(client) => self
                .runtime
                .block_on(client.get_operation_status(operation, &GetOptions::default())),
            Err(e) => Err(e),
        };
        if !valid {
            prop_assert!(matches!(result, Err(Error::InvalidInput(_))), "{result:?}");
            prop_assert_eq!(self.server.requests(), before, "an invalid id was sent");
            return Ok(());
        }
        prop_assert!(result.is_ok(), "{:?}", result);
        let seen = self.server.seen();
        prop_assert_eq!(seen.len(), before + 1);
        let uri = &seen[before].uri;
        let segments: Vec<&str> = uri.path().split('/').collect();
        let (expected, query): (Vec<&str>, Option<&str>) = if legacy {
            (
                vec![
                    "",
                    "deviceupdate",
                    instance,
                    "v2",
                    "updates",
                    "operations",
                    operation,
                ],
                None,
            )
        } else {
            (
                vec![
                    "",
                    "deviceUpdate",
                    instance,
                    "updates",
                    "operations",
                    operation,
                ],
                Some("api-version=2022-10-01"),
            )
        };
        prop_assert_eq!(segments.len(), expected.len(), "path {}", uri.path());
        for (got, want) in segments.iter().zip(&expected) {
            // Each segment holds only unreserved characters and percent escapes, and decodes
            // back to exactly the input.
            prop_assert!(
                got.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "segment {got:?}"
            );
            prop_assert_eq!(percent_decode(got), Some(want.as_bytes().to_vec()));
        }
        prop_assert_eq!(uri.query(), query);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_input_alters_the_request_path_or_query(
        instance in id_strategy(),
        operation in id_strategy(),
        legacy in any::<bool>(),
    ) {
        thread_local! {
            static HARNESS: PathHarness = PathHarness::new();
        }
        HARNESS.with(|h| h.check(&instance, &operation, legacy))?;
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Size and time are bounded.

/// Sends a head announcing a chunked body, then chunks for as long as the client reads.
async fn endless_body(mut stream: TcpStream) {
    let _ = read_head(&mut stream).await;
    if stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
    while stream.write_all(chunk.as_bytes()).await.is_ok() {}
}

/// Sends a response whose one header is 1 MiB long.
async fn huge_header(mut stream: TcpStream) {
    let _ = read_head(&mut stream).await;
    let head = format!(
        "HTTP/1.1 200 OK\r\nx-huge: {}\r\ncontent-length: 2\r\n\r\n{{}}",
        "a".repeat(1 << 20)
    );
    let _ = stream.write_all(head.as_bytes()).await;
}

/// Sends header lines forever.
async fn endless_headers(mut stream: TcpStream) {
    let _ = read_head(&mut stream).await;
    if stream.write_all(b"HTTP/1.1 200 OK\r\n").await.is_err() {
        return;
    }
    let mut n = 0u64;
    while stream
        .write_all(format!("x-header-{n}: value\r\n").as_bytes())
        .await
        .is_ok()
    {
        n += 1;
    }
}

fn bounded_client(
    addr: std::net::SocketAddr,
    per_try: Duration,
    attempts: u32,
) -> DeviceUpdateClient {
    DeviceUpdateClient::builder(
        format!("http://{addr}"),
        "blue",
        Arc::new(StaticTokenCredential::from_secret(TOKEN)),
    )
    .hyper_transport(
        plain_http_transport()
            .max_body_bytes(64 * 1024)
            .timeout(per_try),
    )
    .per_try_timeout(per_try)
    .retry_policy(fast_retries().with_max_attempts(attempts))
    .build()
    .unwrap()
}

// The timing tests below run on tokio's paused clock: `Instant` is tokio's, and the times
// they check are the runtime's, not the wall's.
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn an_endless_body_is_cut_at_the_cap() {
    let (addr, connections) = raw_server(endless_body).await;
    let client = bounded_client(addr, Duration::from_secs(10), 3);
    let begun = Instant::now();
    let error = client
        .get_operation_status(OP, &GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.transport().map(TransportError::kind),
        Some(TransportErrorKind::BodyTooLarge),
        "{error:?}"
    );
    // Refused, not retried, and long before the 10 s timeout.
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert!(
        begun.elapsed() < Duration::from_secs(5),
        "{:?}",
        begun.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn huge_or_endless_response_headers_are_refused() {
    for (name, server) in [("one 1 MiB header", 0), ("endless header lines", 1)] {
        let (addr, connections) = if server == 0 {
            raw_server(huge_header).await
        } else {
            raw_server(endless_headers).await
        };
        let client = bounded_client(addr, Duration::from_secs(10), 2);
        let begun = Instant::now();
        let error = client
            .get_operation_status(OP, &GetOptions::default())
            .await
            .unwrap_err();
        let kind = error.transport().map(TransportError::kind);
        assert_eq!(
            kind,
            Some(TransportErrorKind::Connection),
            "{name}: {error:?}"
        );
        assert_eq!(
            connections.load(Ordering::SeqCst),
            2,
            "{name}: retried once"
        );
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "{name}: {:?}",
            begun.elapsed()
        );
    }
}

/// Writes a whole valid response one byte every 100 ms (`from` bytes go at once first).
async fn drip(mut stream: TcpStream, from: usize) {
    let _ = read_head(&mut stream).await;
    let body = current_body(OP, "Succeeded", "e");
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let bytes = response.as_bytes();
    let from = from.min(bytes.len());
    if stream.write_all(&bytes[..from]).await.is_err() {
        return;
    }
    for byte in &bytes[from..] {
        if stream.write_all(&[*byte]).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_drip_server_cannot_hold_the_client_past_its_deadline() {
    let slack = Duration::from_millis(500);
    let head_len = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        current_body(OP, "Succeeded", "e").len()
    )
    .len();
    for (phase, from) in [("head", 0usize), ("body", head_len)] {
        // One read: the per-try timeout (1 s) bounds each of the two tries.
        let (addr, connections) = raw_server(move |s| drip(s, from)).await;
        let client = bounded_client(addr, Duration::from_secs(1), 2);
        let begun = Instant::now();
        let error = client
            .get_operation_status(OP, &GetOptions::default())
            .await
            .unwrap_err();
        let elapsed = begun.elapsed();
        println!("slow drip in the {phase}: get returned after {elapsed:?} (2 tries of 1 s)");
        assert_eq!(
            error.transport().map(TransportError::kind),
            Some(TransportErrorKind::TimedOut),
            "{phase}: {error:?}"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        assert!(
            elapsed < Duration::from_secs(2) + slack,
            "{phase}: {elapsed:?}"
        );

        // A wait: its deadline (1.5 s) ends it, even with a per-try timeout of 30 s.
        let (addr, _) = raw_server(move |s| drip(s, from)).await;
        let client = bounded_client(addr, Duration::from_secs(30), 4);
        let deadline = Duration::from_millis(1_500);
        let begun = Instant::now();
        let error = client
            .wait_for_operation(OP, WaitOptions::default().with_timeout(deadline))
            .await
            .unwrap_err();
        let elapsed = begun.elapsed();
        println!(
            "slow drip in the {phase}: wait returned after {elapsed:?} (deadline {deadline:?})"
        );
        assert!(
            matches!(error, Error::DeadlineExceeded { last: None, .. }),
            "{phase}: {error:?}"
        );
        assert!(elapsed >= deadline, "{phase}: {elapsed:?}");
        assert!(elapsed < deadline + slack, "{phase}: {elapsed:?}");
    }
}
