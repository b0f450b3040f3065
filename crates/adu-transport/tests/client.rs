//! `DeviceUpdateClient` against loopback servers.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use adu_auth::StaticTokenCredential;
use adu_transport::{
    ApiVersion, DeviceUpdateClient, DeviceUpdateClientBuilder, Error, GetOperationOutcome,
    GetOptions, OperationStatus, PollEvent, PollPolicy, RetryPolicy, ServiceErrorKind,
    TransportError, TransportErrorKind, WaitOptions,
};
use support::*;

const OP: &str = "e4491c53-6a7e-4b8c-8f44-2d1b3e8e1a01";

fn fast_polls() -> PollPolicy {
    PollPolicy::default()
        .with_default_interval(Duration::from_millis(5))
        .with_min_interval(Duration::from_millis(1))
}

fn builder_for(
    server: &Server,
    credential: Arc<dyn adu_auth::TokenCredential>,
) -> DeviceUpdateClientBuilder {
    DeviceUpdateClient::builder(server.url(), "blue", credential)
        .hyper_transport(plain_http_transport())
        .retry_policy(fast_retries())
        .poll_policy(fast_polls())
}

fn client_for(server: &Server) -> DeviceUpdateClient {
    builder_for(
        server,
        Arc::new(StaticTokenCredential::from_secret("secret-token")),
    )
    .build()
    .unwrap()
}

async fn get(client: &DeviceUpdateClient) -> Result<GetOperationOutcome, Error> {
    client
        .get_operation_status(OP, &GetOptions::default())
        .await
}

fn operation(outcome: GetOperationOutcome) -> adu_transport::OperationResponse {
    match outcome {
        GetOperationOutcome::Operation(r) => r,
        other => panic!("expected an operation, got {other:?}"),
    }
}

#[tokio::test]
async fn current_api_200_with_every_header() {
    let server = Server::start(vec![Reply::json(200, &current_body(OP, "Running", "e1"))
        .header("etag", "\"e1\"")
        .header("retry-after", "7")])
    .await;
    let client = builder_for(
        &server,
        Arc::new(StaticTokenCredential::from_secret("secret-token")),
    )
    .user_agent("adu-cli/9.9")
    .build()
    .unwrap();
    let response = operation(get(&client).await.unwrap());
    assert_eq!(response.operation.operation_id(), OP);
    assert_eq!(response.operation.status(), &OperationStatus::Running);
    assert_eq!(response.etag.as_deref(), Some("\"e1\""));
    assert_eq!(response.retry_after, Some(Duration::from_secs(7)));

    let seen = &server.seen()[0];
    assert_eq!(seen.method, http::Method::GET);
    assert_eq!(
        seen.uri.path_and_query().unwrap().as_str(),
        format!("/deviceUpdate/blue/updates/operations/{OP}?api-version=2026-06-01")
    );
    assert_eq!(seen.header("authorization"), Some("Bearer secret-token"));
    assert_eq!(
        seen.header("user-agent"),
        Some(format!("adu-cli/9.9 adu-transport/{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let request_id = seen.header("x-ms-client-request-id").unwrap();
    assert_eq!(request_id.len(), 36);
    assert_eq!(seen.header("if-none-match"), None);
}

#[tokio::test]
async fn legacy_api_200() {
    let server = Server::start(vec![Reply::json(200, &legacy_body(OP, "Succeeded", "e1"))]).await;
    let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
        .api_version(ApiVersion::V2)
        .build()
        .unwrap();
    let response = operation(get(&client).await.unwrap());
    assert_eq!(response.operation.status(), &OperationStatus::Succeeded);
    assert!(response.operation.update_id().is_some());
    let seen = &server.seen()[0];
    assert_eq!(
        seen.uri.path_and_query().unwrap().as_str(),
        format!("/deviceupdate/blue/v2/updates/operations/{OP}")
    );
    assert_eq!(
        seen.header("user-agent"),
        Some(adu_transport::USER_AGENT_PRODUCT)
    );
}

#[tokio::test]
async fn not_modified_in_both_versions() {
    for version in [ApiVersion::V2022_10_01, ApiVersion::V2] {
        let server = Server::start(vec![Reply::new(304)
            .header("etag", "\"e1\"")
            .header("retry-after", "3")])
        .await;
        let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
            .api_version(version)
            .build()
            .unwrap();
        let outcome = client
            .get_operation_status(OP, &GetOptions::default().with_if_none_match("\"e1\""))
            .await
            .unwrap();
        match outcome {
            GetOperationOutcome::NotModified { etag, retry_after } => {
                assert_eq!(etag.as_deref(), Some("\"e1\""));
                assert_eq!(retry_after, Some(Duration::from_secs(3)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(server.seen()[0].header("if-none-match"), Some("\"e1\""));
    }
}

#[tokio::test]
async fn not_found_in_the_documented_shape() {
    for version in [ApiVersion::V2022_10_01, ApiVersion::V2] {
        let server = Server::start(vec![Reply::json(
            404,
            r#"{"error":{"code":"OperationNotFound","message":"Operation was not found.","innererror":{"code":"NotFound","errorDetail":"no such id"}}}"#,
        )
        .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")])
        .await;
        let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
            .api_version(version)
            .build()
            .unwrap();
        let error = get(&client).await.unwrap_err();
        let service = error.service().expect("a service error");
        assert_eq!(service.status(), 404);
        assert_eq!(service.kind(), ServiceErrorKind::NotFound);
        assert_eq!(service.code(), Some("OperationNotFound"));
        assert_eq!(service.message(), Some("Operation was not found."));
        assert_eq!(service.inner_errors().count(), 1);
        assert_eq!(error.trace_id(), Some("0af7651916cd43dd8448eb211c80319c"));
        // Printed alone, the error tells the whole of the service's account.
        assert_eq!(
            error.to_string(),
            "service answered 404 Not Found: OperationNotFound: Operation was not found. \
             (innermost: NotFound: no such id) [trace id 0af7651916cd43dd8448eb211c80319c]"
        );
        assert_eq!(server.requests(), 1, "404 is not retried");
    }
}

#[tokio::test]
async fn not_found_as_problem_json() {
    let server = Server::start(vec![Reply::new(404)
        .header("content-type", "application/problem+json")
        .body(r#"{"type":"https://tools.ietf.org/html/rfc7231#section-6.5.4","title":"Not Found","status":404,"traceId":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}"#)])
    .await;
    let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
        .api_version(ApiVersion::V2)
        .build()
        .unwrap();
    let error = get(&client).await.unwrap_err();
    let service = error.service().unwrap();
    assert_eq!(service.kind(), ServiceErrorKind::NotFound);
    assert!(service.trace_id().is_some());
    assert!(!service.raw_body().is_empty());
}

/// A credential with only `get_token` (no token at hand for `cached_token`), as the CLI's
/// signed-in credential is.
struct FetchOnly(&'static str);

impl adu_auth::TokenCredential for FetchOnly {
    fn get_token<'a>(
        &'a self,
        _scopes: &'a [&'a str],
    ) -> adu_auth::BoxFuture<'a, Result<adu_auth::AccessToken, adu_auth::Error>> {
        let token = adu_auth::AccessToken::new(
            self.0,
            std::time::SystemTime::now() + Duration::from_secs(3600),
        );
        Box::pin(async move { Ok(token) })
    }
}

#[tokio::test]
async fn an_error_answer_echoing_the_token_sent_does_not_carry_it_on() {
    const TOKEN: &str = "eyJ0eXAiOiJKV1QifQ.secret-token-4711";
    // With a token at hand for `cached_token`, and with one only `get_token` gives.
    let credentials: [Arc<dyn adu_auth::TokenCredential>; 2] = [
        Arc::new(StaticTokenCredential::from_secret(TOKEN)),
        Arc::new(FetchOnly(TOKEN)),
    ];
    for credential in credentials {
        let body = format!(
            r#"{{"error":{{"code":"BadHeader","message":"rejected header Authorization: Bearer {TOKEN}"}}}}"#
        );
        let server = Server::start(vec![Reply::json(400, &body)]).await;
        let client = builder_for(&server, credential).build().unwrap();
        let error = get(&client).await.unwrap_err();
        let service = error.service().unwrap();
        assert_eq!(
            service.message(),
            Some("rejected header Authorization: Bearer [redacted]")
        );
        for shown in [
            error.to_string(),
            format!("{error:?}"),
            String::from_utf8_lossy(service.raw_body()).into_owned(),
        ] {
            assert!(!shown.contains("secret-token-4711"), "{shown}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_untrusted_token_endpoint_ends_a_wait_at_once() {
    // The token endpoint's certificate is not trusted: no later poll can mend that, so the
    // wait does not ride it out (it would sleep 10 s a time into its deadline).
    let emulator = adu_emulator::start(adu_emulator::Config::default().with_tls(true))
        .await
        .unwrap();
    let server = Server::start(vec![Reply::json(200, &current_body(OP, "Running", "e1"))]).await;
    let transport = plain_http_transport().build().unwrap();
    let credential = support::emulator_credential(&emulator, transport);
    let client = DeviceUpdateClient::builder(server.url(), "blue", Arc::new(credential))
        .hyper_transport(plain_http_transport())
        .retry_policy(fast_retries())
        .poll_policy(fast_polls().with_default_interval(Duration::from_secs(10)))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = client
        .wait_for_operation(
            OP,
            WaitOptions::default().with_timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Auth(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests(), 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn bad_request_and_server_error_with_error_response() {
    let body =
        r#"{"error":{"code":"BadArgument","message":"Bad operation id.","target":"operationId"}}"#;
    let server = Server::start(vec![Reply::json(400, body)]).await;
    let error = get(&client_for(&server)).await.unwrap_err();
    let service = error.service().unwrap();
    assert_eq!(service.kind(), ServiceErrorKind::BadRequest);
    assert_eq!(service.target(), Some("operationId"));
    assert_eq!(server.requests(), 1);

    let body = r#"{"error":{"code":"InternalServerError","message":"Something broke."}}"#;
    let server = Server::start(vec![Reply::json(500, body)]).await;
    let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
        .retry_policy(fast_retries().with_max_attempts(3))
        .build()
        .unwrap();
    let error = get(&client).await.unwrap_err();
    let service = error.service().unwrap();
    assert_eq!(service.kind(), ServiceErrorKind::ServerError);
    assert_eq!(service.code(), Some("InternalServerError"));
    assert_eq!(server.requests(), 3, "500 is retried up to max_attempts");
    // The tries of one call share its request id.
    let ids: std::collections::HashSet<String> = server
        .seen()
        .iter()
        .map(|s| s.header("x-ms-client-request-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn too_many_requests_honours_retry_after_seconds() {
    let server = Server::start(vec![
        Reply::json(
            429,
            r#"{"error":{"code":"TooManyRequests","message":"Slow down."}}"#,
        )
        .header("retry-after", "1"),
        Reply::json(200, &current_body(OP, "Running", "e1")),
    ])
    .await;
    let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
        // A backoff this long would show if Retry-After were ignored.
        .retry_policy(
            RetryPolicy::default()
                .with_initial_backoff(Duration::from_secs(20))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    let response = operation(get(&client).await.unwrap());
    let elapsed = started.elapsed();
    assert_eq!(response.operation.status(), &OperationStatus::Running);
    assert_eq!(server.requests(), 2);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_after_ms_headers_take_precedence() {
    for header in ["retry-after-ms", "x-ms-retry-after-ms"] {
        let server = Server::start(vec![
            Reply::json(503, r#"{"error":{"code":"Busy","message":"Busy."}}"#)
                .header("retry-after", "30")
                .header(header, "150"),
            Reply::json(200, &current_body(OP, "Running", "e1")),
        ])
        .await;
        let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
            .retry_policy(
                RetryPolicy::default()
                    .with_initial_backoff(Duration::from_secs(20))
                    .with_max_backoff(Duration::from_secs(20)),
            )
            .build()
            .unwrap();
        let started = Instant::now();
        operation(get(&client).await.unwrap());
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(150),
            "{header}: {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(8), "{header}: {elapsed:?}");
        assert_eq!(server.requests(), 2);
    }
}

#[tokio::test]
async fn a_retry_after_over_the_policy_limit_is_not_waited_for() {
    let server = Server::start(vec![Reply::json(
        429,
        r#"{"error":{"code":"TooManyRequests","message":"Later."}}"#,
    )
    .header("retry-after", "3600")])
    .await;
    let error = get(&client_for(&server)).await.unwrap_err();
    let service = error.service().unwrap();
    assert_eq!(service.kind(), ServiceErrorKind::TooManyRequests);
    assert_eq!(service.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(server.requests(), 1);
}

/// A server answering 401 and then `then`, and a client without retries whose credential
/// counts its fetches (it has no token at hand, so every try fetches one).
async fn after_a_401(then: Reply) -> (Server, Arc<CountingCredential>, DeviceUpdateClient) {
    let server = Server::start(vec![
        Reply::json(
            401,
            r#"{"error":{"code":"Unauthorized","message":"Expired."}}"#,
        ),
        then,
    ])
    .await;
    let credential = Arc::new(CountingCredential::default());
    let client = builder_for(&server, credential.clone())
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .unwrap();
    (server, credential, client)
}

#[tokio::test]
async fn unauthorized_invalidates_the_token_and_retries_once() {
    let (server, credential, client) =
        after_a_401(Reply::json(200, &current_body(OP, "Succeeded", "e1"))).await;
    let response = operation(get(&client).await.unwrap());
    assert_eq!(response.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(credential.calls(), 2);
    assert_eq!(credential.invalidations(), 1);
    let seen = server.seen();
    assert_eq!(seen[0].header("authorization"), Some("Bearer token-1"));
    assert_eq!(seen[1].header("authorization"), Some("Bearer token-2"));
}

/// With no token at hand the request is built again after the fetch: the condition must
/// survive that, and the retry after a 401 too.
#[tokio::test]
async fn if_none_match_survives_the_token_fetch_and_the_401_retry() {
    let (server, credential, client) = after_a_401(Reply::new(304).header("etag", "\"e1\"")).await;
    let outcome = client
        .get_operation_status(OP, &GetOptions::default().with_if_none_match("\"e1\""))
        .await
        .unwrap();
    assert!(matches!(outcome, GetOperationOutcome::NotModified { .. }));
    assert_eq!(credential.calls(), 2, "both tries fetched a token");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.header("if-none-match"), Some("\"e1\""));
    }
}

/// A body tag that cannot go back as `If-None-Match` (and no `ETag` header) does not end the
/// wait: the next poll asks without a condition.
#[tokio::test]
async fn a_body_etag_that_cannot_be_sent_back_is_not_sent() {
    let odd = current_body(OP, "Running", "e1").replace("\\\"e1\\\"", "\\\"café\\\"");
    assert!(odd.contains("café"), "{odd}");
    let server = Server::start(vec![
        Reply::json(200, &odd).header("retry-after", "0"),
        Reply::json(200, &current_body(OP, "Succeeded", "e2")),
    ])
    .await;
    let client = client_for(&server);
    let done = client
        .wait_for_operation(
            OP,
            WaitOptions::default()
                .with_timeout(Duration::from_secs(20))
                .with_poll_policy(fast_polls()),
        )
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("if-none-match"), None);
}

/// A credential with a cache: `get_token` fetches (counted), `cached_token` hands out the
/// fetched token until `invalidate`.
#[derive(Default)]
struct CachingCredential {
    fetches: std::sync::atomic::AtomicUsize,
    cached: Mutex<Option<adu_auth::AccessToken>>,
}

impl adu_auth::TokenCredential for CachingCredential {
    fn get_token<'a>(
        &'a self,
        _scopes: &'a [&'a str],
    ) -> adu_auth::BoxFuture<'a, Result<adu_auth::AccessToken, adu_auth::Error>> {
        let mut cached = self.cached.lock().unwrap();
        let token = cached
            .get_or_insert_with(|| {
                let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
                adu_auth::AccessToken::new(
                    format!("fetched-{n}"),
                    std::time::SystemTime::now() + Duration::from_secs(3600),
                )
            })
            .clone();
        Box::pin(async move { Ok(token) })
    }

    fn invalidate(&self, _scopes: &[&str]) {
        *self.cached.lock().unwrap() = None;
    }
}

#[tokio::test]
async fn a_cached_token_is_used_until_a_401_invalidates_it() {
    let server = Server::start(vec![
        Reply::json(200, &current_body(OP, "Running", "e1")),
        Reply::json(200, &current_body(OP, "Running", "e1")),
        Reply::json(
            401,
            r#"{"error":{"code":"Unauthorized","message":"Revoked."}}"#,
        ),
        Reply::json(200, &current_body(OP, "Succeeded", "e2")),
    ])
    .await;
    let credential = Arc::new(CachingCredential::default());
    let client = builder_for(&server, credential.clone())
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .unwrap();
    for _ in 0..2 {
        let response = operation(get(&client).await.unwrap());
        assert_eq!(response.operation.status(), &OperationStatus::Running);
    }
    assert_eq!(
        credential.fetches.load(Ordering::SeqCst),
        1,
        "the second call used the cached token"
    );
    let response = operation(get(&client).await.unwrap());
    assert_eq!(response.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(
        credential.fetches.load(Ordering::SeqCst),
        2,
        "the 401 forced a fetch"
    );
    let seen = server.seen();
    let auth: Vec<_> = seen.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(
        auth,
        [
            Some("Bearer fetched-1"),
            Some("Bearer fetched-1"),
            Some("Bearer fetched-1"),
            Some("Bearer fetched-2")
        ]
    );
}

#[tokio::test]
async fn a_second_unauthorized_is_returned() {
    let server = Server::start(vec![Reply::json(
        401,
        r#"{"error":{"code":"Unauthorized","message":"No."}}"#,
    )])
    .await;
    let credential = Arc::new(CountingCredential::default());
    let client = builder_for(&server, credential.clone()).build().unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(
        error.service().unwrap().kind(),
        ServiceErrorKind::Unauthorized
    );
    assert_eq!(server.requests(), 2);
    assert_eq!(credential.calls(), 2);
    assert_eq!(credential.invalidations(), 1);
}

#[tokio::test(start_paused = true)]
async fn per_try_timeout_then_retries_then_gives_up() {
    let (addr, connections) = raw_server(never_answer).await;
    let client = DeviceUpdateClient::builder(
        format!("http://{addr}"),
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .hyper_transport(plain_http_transport())
    .per_try_timeout(Duration::from_millis(200))
    .retry_policy(fast_retries().with_max_attempts(2))
    .build()
    .unwrap();
    let started = Instant::now();
    let error = get(&client).await.unwrap_err();
    assert_eq!(
        error.transport().map(TransportError::kind),
        Some(TransportErrorKind::TimedOut),
        "{error:?}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_server_stalling_mid_body_cannot_hold_the_client() {
    let (addr, _) = raw_server(stall_mid_body).await;
    let client = DeviceUpdateClient::builder(
        format!("http://{addr}"),
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .hyper_transport(plain_http_transport())
    .per_try_timeout(Duration::from_millis(200))
    .retry_policy(RetryPolicy::no_retries())
    .build()
    .unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(
        error.transport().unwrap().kind(),
        TransportErrorKind::TimedOut
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_an_error_not_retried() {
    let server = Server::start(vec![Reply::json(200, &"x".repeat(4096))]).await;
    let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
        .hyper_transport(plain_http_transport().max_body_bytes(1024))
        .build()
        .unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(
        error.transport().unwrap().kind(),
        TransportErrorKind::BodyTooLarge
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_connection_reset_is_retried_then_reported() {
    let (addr, connections) = raw_server(reset_after_request).await;
    let client = DeviceUpdateClient::builder(
        format!("http://{addr}"),
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .hyper_transport(plain_http_transport())
    .retry_policy(fast_retries().with_max_attempts(3))
    .build()
    .unwrap();
    let error = get(&client).await.unwrap_err();
    assert_eq!(
        error.transport().unwrap().kind(),
        TransportErrorKind::Connection
    );
    assert!(connections.load(Ordering::SeqCst) >= 3);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_the_token_stays_home() {
    let elsewhere =
        Server::start(vec![Reply::json(200, &current_body(OP, "Succeeded", "e"))]).await;
    let server = Server::start(vec![Reply::new(307).header(
        "location",
        &format!(
            "{}/deviceUpdate/blue/updates/operations/{OP}",
            elsewhere.url()
        ),
    )])
    .await;
    let error = get(&client_for(&server)).await.unwrap_err();
    assert_eq!(error.service().unwrap().status(), 307);
    assert_eq!(server.requests(), 1);
    assert_eq!(
        elsewhere.requests(),
        0,
        "the Location host never sees a request"
    );
}

#[tokio::test]
async fn an_operation_location_on_another_host_is_refused_before_sending() {
    let server = Server::start(vec![Reply::json(200, &current_body(OP, "Succeeded", "e"))]).await;
    let other = Server::start(vec![Reply::json(200, &current_body(OP, "Succeeded", "e"))]).await;
    let client = client_for(&server);
    let location = format!(
        "{}/deviceUpdate/blue/updates/operations/{OP}?api-version=2022-10-01",
        other.url()
    );
    let error = client
        .get_operation_location(&location, &GetOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ForeignHost { .. }), "{error:?}");
    let error = client
        .wait_for_operation_location(
            "https://evil.example/deviceUpdate/blue/updates/operations/x",
            WaitOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ForeignHost { .. }), "{error:?}");
    assert_eq!(server.requests(), 0);
    assert_eq!(other.requests(), 0);
}

#[tokio::test]
async fn an_operation_location_is_decoded_by_the_version_its_resolved_path_names() {
    let server = Server::start(vec![Reply::json(200, &legacy_body(OP, "Succeeded", "e"))]).await;
    let client = client_for(&server);
    // Blanks around a pasted value are dropped when it is resolved; the version must be
    // read from the same path, or the legacy answer is read as a current one and its
    // `updateId` lost.
    for location in [
        format!(" /deviceupdate/blue/v2/updates/operations/{OP}\t"),
        format!(
            "{}/deviceupdate/blue/v2/updates/operations/{OP}",
            server.url()
        ),
    ] {
        let response = operation(
            client
                .get_operation_location(&location, &GetOptions::default())
                .await
                .unwrap(),
        );
        assert!(
            matches!(&response.operation, adu_transport::AnyOperation::Legacy(op) if op.update_id.is_some()),
            "{location:?}: {:?}",
            response.operation
        );
    }
}

#[tokio::test]
async fn a_relative_operation_location_keeps_its_query() {
    let server = Server::start(vec![Reply::json(200, &legacy_body(OP, "Succeeded", "e"))]).await;
    let client = client_for(&server);
    let location = format!("/deviceupdate/blue/v2/updates/operations/{OP}?api-version=2");
    let response = operation(
        client
            .get_operation_location(&location, &GetOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(response.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(
        server.seen()[0].uri.path_and_query().unwrap().as_str(),
        location
    );
}

#[test]
fn a_plain_http_endpoint_that_is_not_loopback_is_refused() {
    let error = DeviceUpdateClient::builder(
        "http://contoso.api.adu.microsoft.com",
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .hyper_transport(plain_http_transport())
    .build()
    .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
}

#[tokio::test]
async fn wait_walks_a_sequence_of_statuses_with_etags() {
    // NotStarted (e1) → 304 → Running (e2) → 304 → Succeeded (e3).
    let server = Server::start_with(|index, seen| {
        let inm = seen.header("if-none-match").map(str::to_owned);
        match index {
            0 => {
                assert_eq!(inm, None);
                Reply::json(200, &current_body(OP, "NotStarted", "e1"))
                    .header("etag", "\"e1\"")
                    .header("retry-after", "0")
            }
            1 => {
                assert_eq!(inm.as_deref(), Some("\"e1\""));
                Reply::new(304).header("etag", "\"e1\"")
            }
            2 => {
                assert_eq!(inm.as_deref(), Some("\"e1\""));
                Reply::json(200, &current_body(OP, "Running", "e2")).header("etag", "\"e2\"")
            }
            3 => {
                assert_eq!(inm.as_deref(), Some("\"e2\""));
                Reply::new(304)
            }
            _ => {
                assert_eq!(inm.as_deref(), Some("\"e2\""));
                Reply::json(200, &current_body(OP, "Succeeded", "e3")).header("etag", "\"e3\"")
            }
        }
    })
    .await;
    let client = client_for(&server);
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let recorded = statuses.clone();
    let done = client
        .wait_for_operation(
            OP,
            WaitOptions::default()
                .with_timeout(Duration::from_secs(20))
                .on_event(move |event| {
                    if let PollEvent::StatusChanged(op) = event {
                        recorded
                            .lock()
                            .unwrap()
                            .push(op.status().as_str().to_owned())
                    }
                }),
        )
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(done.etag.as_deref(), Some("\"e3\""));
    assert_eq!(server.requests(), 5);
    assert_eq!(
        *statuses.lock().unwrap(),
        ["NotStarted", "Running", "Succeeded"]
    );
}

#[tokio::test]
async fn a_failed_operation_is_returned_with_its_error_chain() {
    let server = Server::start(vec![
        Reply::json(200, &current_body(OP, "Running", "e1")),
        Reply::json(200, &failed_body(OP)),
    ])
    .await;
    let done = client_for(&server)
        .wait_for_operation(OP, WaitOptions::default())
        .await
        .unwrap();
    let op = &done.operation;
    assert_eq!(op.status(), &OperationStatus::Failed);
    assert_eq!(op.trace_id(), Some("feedfacefeedfacefeedfacefeedface"));
    let error = op.error().unwrap();
    assert_eq!(error.code, "ImportFailed");
    let details: Vec<_> = op
        .inner_errors()
        .map(|e| e.error_detail.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        details,
        [
            "Storage returned 403 for the blob.",
            "AuthorizationPermissionMismatch"
        ]
    );
}

#[tokio::test]
async fn unknown_statuses_keep_polling_up_to_the_bound() {
    let server = Server::start(vec![Reply::json(
        200,
        &current_body(OP, "Validating", "e1"),
    )])
    .await;
    let client = client_for(&server);
    let error = client
        .wait_for_operation(
            OP,
            WaitOptions::default().with_poll_policy(fast_polls().with_max_unknown_status_polls(3)),
        )
        .await
        .unwrap_err();
    match error {
        Error::UnknownStatus { status, last } => {
            assert_eq!(status, "Validating");
            assert_eq!(last.operation_id(), OP);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_wait_outlives_throttling_and_a_busy_service() {
    let server = Server::start(vec![
        Reply::json(200, &current_body(OP, "Running", "e1")),
        Reply::json(
            429,
            r#"{"error":{"code":"TooManyRequests","message":"Slow down."}}"#,
        )
        .header("retry-after-ms", "80"),
        Reply::json(503, r#"{"error":{"code":"Busy","message":"Busy."}}"#),
        Reply::json(200, &current_body(OP, "Succeeded", "e2")),
    ])
    .await;
    // No retries inside a poll: every failure reaches the wait itself.
    let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .unwrap();
    let started = Instant::now();
    let done = client
        .wait_for_operation(
            OP,
            WaitOptions::default().with_timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(server.requests(), 4);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(80),
        "the 429's wish: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_wait_ends_with_the_failure_after_the_policy_s_failed_polls() {
    let server = Server::start(vec![
        Reply::json(200, &current_body(OP, "Running", "e1")),
        Reply::json(503, r#"{"error":{"code":"Busy","message":"Busy."}}"#),
    ])
    .await;
    let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
        .retry_policy(RetryPolicy::no_retries())
        .poll_policy(fast_polls().with_max_failed_polls(2))
        .build()
        .unwrap();
    let error = client
        .wait_for_operation(
            OP,
            WaitOptions::default().with_timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.service().map(|e| e.status().as_u16()), Some(503));
    assert_eq!(
        server.requests(),
        4,
        "one success, then three failures in a row"
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttled_wait_ends_at_once_with_the_last_operation_and_the_429() {
    // The service asks for 30 s, inside the retry policy's 60 s but past the wait's 2 s
    // deadline: neither the request's retry nor the wait sleeps into the deadline, and the
    // deadline error says why.
    let server = Server::start(vec![
        Reply::json(200, &current_body(OP, "Running", "e1")),
        Reply::json(
            429,
            r#"{"error":{"code":"TooManyRequests","message":"Later."}}"#,
        )
        .header("retry-after", "30")
        .header("x-ms-request-id", "req-123"),
    ])
    .await;
    let client = client_for(&server);
    let started = Instant::now();
    let error = client
        .wait_for_operation(
            OP,
            WaitOptions::default().with_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    let Error::DeadlineExceeded {
        last: Some(last),
        cause: Some(cause),
    } = &error
    else {
        panic!("expected the deadline with the last operation and a cause: {error:?}");
    };
    assert_eq!(last.status(), &OperationStatus::Running);
    let service = cause.service().expect("the 429 as the cause");
    assert_eq!(
        std::error::Error::source(&error).map(|s| s.to_string()),
        Some(cause.to_string())
    );
    assert_eq!(service.status(), 429);
    assert_eq!(service.request_id(), Some("req-123"));
    assert_eq!(service.retry_after(), Some(Duration::from_secs(30)));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_the_wait_with_the_last_operation() {
    let server = Server::start(vec![Reply::json(200, &current_body(OP, "Running", "e1"))]).await;
    let client = client_for(&server);
    let started = Instant::now();
    let error = client
        .wait_for_operation(
            OP,
            WaitOptions::default()
                .with_timeout(Duration::from_secs(60))
                .with_deadline((Instant::now() + Duration::from_millis(200)).into_std()),
        )
        .await
        .unwrap_err();
    match error {
        Error::DeadlineExceeded {
            last: Some(last),
            cause: None,
        } => {
            assert_eq!(last.status(), &OperationStatus::Running)
        }
        other => panic!("{other:?}"),
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(server.requests() >= 2);
}

#[tokio::test]
async fn dropping_the_wait_cancels_the_request_in_flight() {
    let (reached_tx, mut reached_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (addr, _) = raw_server(move |mut stream| {
        let reached = reached_tx.clone();
        let closed = closed_tx.clone();
        async move {
            use tokio::io::AsyncReadExt;
            let _ = read_head(&mut stream).await;
            let _ = reached.send(());
            // Hold the request until the client goes away.
            let mut buf = [0u8; 16];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            let _ = closed.send(());
        }
    })
    .await;
    let client = DeviceUpdateClient::builder(
        format!("http://{addr}"),
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .hyper_transport(plain_http_transport())
    .build()
    .unwrap();
    let wait =
        tokio::spawn(async move { client.wait_for_operation(OP, WaitOptions::default()).await });
    reached_rx.recv().await.unwrap();
    wait.abort();
    assert!(wait.await.unwrap_err().is_cancelled());
    // The connection is closed once the future is gone.
    tokio::time::timeout(Duration::from_secs(10), closed_rx.recv())
        .await
        .expect("the server saw the connection close")
        .unwrap();
}

#[tokio::test]
async fn a_custom_closure_transport_is_used_with_retries_and_headers() {
    let calls = Arc::new(Mutex::new(Vec::<http::Request<Vec<u8>>>::new()));
    let record = calls.clone();
    let transport = move |request: http::Request<Vec<u8>>| {
        let record = record.clone();
        async move {
            let n = {
                let mut all = record.lock().unwrap();
                all.push(request);
                all.len()
            };
            if n == 1 {
                return Err(TransportError::new(TransportErrorKind::Connect, "no route"));
            }
            Ok(http::Response::builder()
                .status(200)
                .body(current_body(OP, "Succeeded", "e").into_bytes())
                .unwrap())
        }
    };
    let client = DeviceUpdateClient::builder(
        "contoso.api.adu.microsoft.com",
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .transport(Arc::new(transport))
    .retry_policy(fast_retries())
    .build()
    .unwrap();
    let response = operation(get(&client).await.unwrap());
    assert!(response.operation.is_terminal());
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1].uri().to_string(),
        format!("https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations/{OP}?api-version=2026-06-01")
    );
    assert_eq!(calls[1].headers()["authorization"], "Bearer t");
    assert!(calls[1].headers()["authorization"].is_sensitive());
    // A retry is the same call: the same request id.
    assert_eq!(
        calls[0].headers()["x-ms-client-request-id"],
        calls[1].headers()["x-ms-client-request-id"]
    );
}

#[tokio::test]
async fn tls_endpoint_trusted_through_extra_roots() {
    let (pem, der, key) = self_signed();
    let addr = tls_server(
        der,
        key,
        Reply::json(200, &current_body(OP, "Succeeded", "e")),
    )
    .await;
    let client = DeviceUpdateClient::builder(
        format!("https://localhost:{}", addr.port()),
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .hyper_transport(trusting(&pem))
    .build()
    .unwrap();
    let response = operation(get(&client).await.unwrap());
    assert_eq!(response.operation.status(), &OperationStatus::Succeeded);
}

// The client hands its per-try timeout to `HttpTransport::call_with_timeout`;
// `HyperTransport` applies the earlier of it and its own timeout, other transports get a
// timer around `call`. Either way the earlier deadline ends the try, with a `TimedOut`
// transport error that names it. The clock is paused: the times are tokio's, not the wall's.

const SHORT: Duration = Duration::from_millis(200);
const LONG: Duration = Duration::from_secs(20);

/// A client for a server that reads the request and never answers, with no retries.
async fn stalled_client(
    per_try: Duration,
    transport: Option<Arc<dyn adu_transport::HttpTransport>>,
    hyper_timeout: Duration,
) -> (DeviceUpdateClient, Arc<std::sync::atomic::AtomicUsize>) {
    let (addr, connections) = raw_server(never_answer).await;
    let mut builder = DeviceUpdateClient::builder(
        format!("http://{addr}"),
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .per_try_timeout(per_try)
    .retry_policy(RetryPolicy::no_retries());
    builder = match transport {
        Some(transport) => builder.transport(transport),
        None => builder.hyper_transport(plain_http_transport().timeout(hyper_timeout)),
    };
    (builder.build().unwrap(), connections)
}

/// The try ended with the documented timeout error for `SHORT`, after `SHORT` and long before
/// `LONG`.
fn assert_short_timeout(result: Result<GetOperationOutcome, Error>, started: Instant) {
    let elapsed = started.elapsed();
    let error = result.unwrap_err();
    let transport = error.transport().expect("a transport error");
    assert_eq!(transport.kind(), TransportErrorKind::TimedOut, "{error:?}");
    assert_eq!(
        transport.to_string(),
        format!("no complete response within {SHORT:?}")
    );
    assert!(elapsed >= SHORT, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn built_in_transport_per_try_timeout_shorter_than_its_own() {
    let (client, connections) = stalled_client(SHORT, None, LONG).await;
    let started = Instant::now();
    assert_short_timeout(get(&client).await, started);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn built_in_transport_own_timeout_shorter_than_the_per_try_timeout() {
    let (client, connections) = stalled_client(LONG, None, SHORT).await;
    let started = Instant::now();
    assert_short_timeout(get(&client).await, started);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

/// A custom transport with no timeout of its own: it sends the request over a raw socket and
/// waits for an answer that never comes.
fn raw_socket_transport() -> Arc<dyn adu_transport::HttpTransport> {
    Arc::new(|request: http::Request<Vec<u8>>| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let authority = request.uri().authority().unwrap().to_string();
        let mut stream = tokio::net::TcpStream::connect(authority.as_str())
            .await
            .map_err(|e| TransportError::with_source(TransportErrorKind::Connect, "connect", e))?;
        let path = request.uri().path_and_query().unwrap().as_str().to_owned();
        let head = format!("GET {path} HTTP/1.1\r\nhost: {authority}\r\n\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| TransportError::with_source(TransportErrorKind::Connection, "write", e))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| TransportError::with_source(TransportErrorKind::Connection, "read", e))?;
        Err(TransportError::new(
            TransportErrorKind::Other,
            "the server closed without answering",
        ))
    })
}

#[tokio::test(start_paused = true)]
async fn custom_transport_without_a_timeout_gets_the_per_try_timeout() {
    let (client, connections) = stalled_client(SHORT, Some(raw_socket_transport()), LONG).await;
    let started = Instant::now();
    assert_short_timeout(get(&client).await, started);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

/// A closure around a `HyperTransport` with `timeout`: the closure only implements `call`, so
/// the client's timer runs around the transport's own.
fn wrapped_hyper(timeout: Duration) -> Arc<dyn adu_transport::HttpTransport> {
    let inner = plain_http_transport().timeout(timeout).build().unwrap();
    Arc::new(move |request: http::Request<Vec<u8>>| {
        let inner = inner.clone();
        async move { adu_transport::HttpTransport::call(&inner, request).await }
    })
}

#[tokio::test(start_paused = true)]
async fn custom_transport_per_try_timeout_shorter_than_its_own() {
    let (client, _) = stalled_client(SHORT, Some(wrapped_hyper(LONG)), LONG).await;
    let started = Instant::now();
    assert_short_timeout(get(&client).await, started);
}

#[tokio::test(start_paused = true)]
async fn custom_transport_own_timeout_shorter_than_the_per_try_timeout() {
    let (client, _) = stalled_client(LONG, Some(wrapped_hyper(SHORT)), LONG).await;
    let started = Instant::now();
    assert_short_timeout(get(&client).await, started);
}

#[tokio::test(start_paused = true)]
async fn one_request_id_per_call_kept_across_its_retries_and_new_for_each_poll() {
    // Poll 1: a 503, then its retry reads Running; poll 2 reads Succeeded.
    let server = Server::start(vec![
        Reply::json(503, r#"{"error":{"code":"Busy","message":"Busy."}}"#),
        Reply::json(200, &current_body(OP, "Running", "e1")),
        Reply::json(200, &current_body(OP, "Succeeded", "e2")),
    ])
    .await;
    let done = client_for(&server)
        .wait_for_operation(OP, WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    let ids: Vec<String> = server
        .seen()
        .iter()
        .map(|s| s.header("x-ms-client-request-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], ids[1], "a retry is the same call");
    assert_ne!(ids[1], ids[2], "each poll is a new call");
    assert!(ids.iter().all(|id| uuid_like(id)), "{ids:?}");
}

#[tokio::test(start_paused = true)]
async fn on_event_sees_every_poll_and_the_failures_the_wait_rides_out() {
    let server = Server::start(vec![
        Reply::json(200, &current_body(OP, "Running", "e1")).header("etag", "\"e1\""),
        Reply::json(
            429,
            r#"{"error":{"code":"TooManyRequests","message":"Slow down."}}"#,
        )
        .header("retry-after", "2"),
        Reply::new(304),
        Reply::json(200, &current_body(OP, "Succeeded", "e2")),
    ])
    .await;
    let client = builder_for(&server, Arc::new(StaticTokenCredential::from_secret("t")))
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    client
        .wait_for_operation(
            OP,
            WaitOptions::default().on_event(move |e| sink.lock().unwrap().push(e.clone())),
        )
        .await
        .unwrap();
    let events = events.lock().unwrap();
    let polls: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            PollEvent::Polling { poll } => Some(*poll),
            _ => None,
        })
        .collect();
    assert_eq!(polls, [1, 2, 3, 4]);
    let failed = events
        .iter()
        .find_map(|e| match e {
            PollEvent::PollFailed {
                failed_polls,
                message,
                delay,
            } => Some((*failed_polls, message.clone(), *delay)),
            _ => None,
        })
        .expect("the 429 reported");
    assert_eq!((failed.0, failed.2), (1, Duration::from_secs(2)));
    assert!(failed.1.contains("429"), "{}", failed.1);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, PollEvent::NotModified))
            .count(),
        1
    );
    let statuses: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            PollEvent::StatusChanged(op) => Some(op.status().as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, ["Running", "Succeeded"]);
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn the_deadline_ends_a_wait_whose_poll_is_still_in_flight() {
    // The first poll reads Running; the second is never answered, and the try's own timeout
    // (a minute) is far away: the wait's deadline ends it, with the last operation.
    let running = current_body(OP, "Running", "e1");
    let (addr, _) = raw_server(move |mut stream| {
        let running = running.clone();
        async move {
            use tokio::io::AsyncWriteExt;
            let _ = read_head(&mut stream).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                running.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(running.as_bytes()).await;
            never_answer(stream).await;
        }
    })
    .await;
    let client = DeviceUpdateClient::builder(
        format!("http://{addr}"),
        "blue",
        Arc::new(StaticTokenCredential::from_secret("t")),
    )
    .hyper_transport(plain_http_transport())
    .per_try_timeout(Duration::from_secs(60))
    .poll_policy(fast_polls())
    .build()
    .unwrap();
    let error = client
        .wait_for_operation(
            OP,
            WaitOptions::default().with_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    match error {
        Error::DeadlineExceeded {
            last: Some(last),
            cause: None,
        } => assert_eq!(last.status(), &OperationStatus::Running),
        other => panic!("{other:?}"),
    }
}
