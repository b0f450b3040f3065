//! The client against the project's emulator (plain http and https with its own certificate).

mod support;

use std::sync::Arc;
use std::time::Duration;

use adu_emulator::{Config, OperationSpec, Timings};
use adu_transport::{DeviceUpdateClient, OperationStatus, PollEvent, PollPolicy, WaitOptions};
use support::{emulator_client, plain_http_transport, trusting_emulator};

fn fast_polls() -> PollPolicy {
    PollPolicy::default()
        .with_default_interval(Duration::from_millis(10))
        .with_min_interval(Duration::from_millis(1))
}

#[tokio::test]
async fn waits_for_an_emulated_operation_over_http() {
    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let timings = Timings::new(Duration::from_millis(50), Duration::from_millis(100))
        .with_retry_after(Duration::ZERO);
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(timings));
    let client = emulator_client(&emulator)
        .hyper_transport(plain_http_transport())
        .poll_policy(fast_polls())
        .build()
        .unwrap();
    let done = client
        .wait_for_operation(
            &id,
            WaitOptions::default().with_timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    assert!(emulator.stats().polls_of(&id) >= 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn waits_for_an_emulated_device_operation_through_the_same_poller() {
    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let timings = Timings::new(Duration::from_millis(50), Duration::from_millis(100))
        .with_retry_after(Duration::ZERO);
    let id = emulator.add_operation(OperationSpec::succeeding().device().with_timings(timings));
    let client = emulator_client(&emulator)
        .hyper_transport(plain_http_transport())
        .poll_policy(fast_polls())
        .build()
        .unwrap();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let done = client
        .wait_for_device_operation(
            &id,
            WaitOptions::default()
                .with_timeout(Duration::from_secs(20))
                .on_event(move |event| sink.lock().unwrap().push(event.clone())),
        )
        .await
        .unwrap();
    assert!(matches!(
        done.operation,
        adu_transport::AnyOperation::Device(_)
    ));
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    let events = events.lock().unwrap().clone();
    let polls = events
        .iter()
        .filter(|e| matches!(e, PollEvent::Polling { .. }))
        .count();
    assert!(polls >= 2, "{events:?}");
    assert!(matches!(events.last(), Some(PollEvent::StatusChanged(op)) if op.is_terminal()));
    emulator.shutdown().await;
}

#[tokio::test]
async fn waits_for_an_emulated_operation_over_https() {
    let emulator = adu_emulator::start(Config::default().with_tls(true))
        .await
        .unwrap();
    let id = emulator.add_operation(OperationSpec::failing().with_timings(Timings::immediate()));
    let client = emulator_client(&emulator)
        .hyper_transport(trusting_emulator(&emulator))
        .poll_policy(fast_polls())
        .build()
        .unwrap();
    let done = client
        .wait_for_operation(
            &id,
            WaitOptions::default().with_timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Failed);
    assert!(done.operation.error().is_some());
    emulator.shutdown().await;
}

/// Requests one after another go over one kept-alive connection: one TLS handshake, not
/// one per request (the emulator counts the connections it accepts).
#[tokio::test]
async fn requests_one_after_another_reuse_one_connection() {
    use adu_transport::{GetOperationOutcome, GetOptions};

    let emulator = adu_emulator::start(Config::default().with_tls(true))
        .await
        .unwrap();
    let id = emulator.add_operation(
        OperationSpec::succeeding()
            .with_timings(Timings::new(Duration::ZERO, Duration::from_secs(3600))),
    );
    let client = emulator_client(&emulator)
        .hyper_transport(trusting_emulator(&emulator))
        .build()
        .unwrap();
    for _ in 0..20 {
        let outcome = client
            .get_operation_status(&id, &GetOptions::default())
            .await
            .unwrap();
        assert!(matches!(outcome, GetOperationOutcome::Operation(_)));
    }
    let stats = emulator.stats();
    assert_eq!(stats.polls_of(&id), 20);
    assert_eq!(stats.connections, 1);
    emulator.shutdown().await;
}

/// The whole story, as a user runs it: a client-credentials token from the
/// emulator's token endpoint, an import that answers 202 with a relative
/// `Operation-Location`, and a conditional wait on that location.
#[tokio::test]
async fn token_import_and_wait_on_the_operation_location() {
    use adu_auth::{Authority, ClientSecretCredential, TokenCredential};
    use adu_transport::HttpTransport;

    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let transport = plain_http_transport().build().unwrap();
    let creds = emulator.credentials().clone();
    let authority = Authority::new(creds.tenant.clone())
        .unwrap()
        .with_host(&emulator.authority_url())
        .unwrap();
    let credential = Arc::new(ClientSecretCredential::new(
        authority,
        creds.client_id.clone(),
        creds.client_secret.clone(),
        Arc::new(transport.clone()),
    ));
    let token = credential
        .get_token(&[adu_auth::scopes::CURRENT])
        .await
        .unwrap();

    let import = http::Request::post(format!(
        "{}/deviceUpdate/blue/updates:import?api-version=2022-10-01",
        emulator.base_url()
    ))
    .header("authorization", format!("Bearer {}", token.secret()))
    .header("content-type", "application/json")
    .body(
        br#"[{"importManifest":{"url":"https://storage.example/contoso.toaster.2.0.0.importmanifest.json","sizeInBytes":1,"hashes":{"sha256":"AAAA"}},"files":[]}]"#
            .to_vec(),
    )
    .unwrap();
    let accepted = transport.call(import).await.unwrap();
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["operation-location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.starts_with("/deviceUpdate/blue/updates/operations/"));
    assert!(location.ends_with("?api-version=2022-10-01"));

    let client = DeviceUpdateClient::builder(emulator.base_url(), "blue", credential)
        .hyper_transport(plain_http_transport())
        .poll_policy(fast_polls())
        .build()
        .unwrap();
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = statuses.clone();
    let done = client
        .wait_for_operation_location(
            &location,
            WaitOptions::default()
                .with_timeout(Duration::from_secs(30))
                .on_event(move |event| {
                    if let PollEvent::StatusChanged(op) = event {
                        sink.lock().unwrap().push(op.status().clone())
                    }
                }),
        )
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(
        statuses.lock().unwrap().last(),
        Some(&OperationStatus::Succeeded)
    );
    let update = done.operation.update_id().expect("the imported update");
    assert_eq!(
        (
            update.provider.as_str(),
            update.name.as_str(),
            update.version.as_str()
        ),
        ("contoso", "toaster", "2.0.0")
    );
    // One token for the whole flow; unchanged polls were answered 304.
    let stats = emulator.stats();
    assert_eq!(stats.tokens_issued, 1);
    assert!(stats.not_modified >= 1, "{stats:?}");
    emulator.shutdown().await;
}

/// The legacy API end to end: its path, its model (`updateId`), 304 on an
/// unchanged ETag, and its problem+json 404.
#[tokio::test]
async fn the_legacy_api_end_to_end() {
    use adu_transport::{ApiVersion, GetOperationOutcome, GetOptions, ServiceErrorKind};

    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let timings = Timings::new(Duration::from_millis(50), Duration::from_millis(300))
        .with_retry_after(Duration::ZERO);
    let id = emulator.add_operation(OperationSpec::failing().with_timings(timings));
    let client = emulator_client(&emulator)
        .api_version(ApiVersion::V2)
        .hyper_transport(plain_http_transport())
        .poll_policy(fast_polls())
        .build()
        .unwrap();

    let first = match client
        .get_operation_status(&id, &GetOptions::default())
        .await
        .unwrap()
    {
        GetOperationOutcome::Operation(response) => response,
        other => panic!("expected the operation, got {other:?}"),
    };
    assert!(matches!(
        first.operation,
        adu_transport::AnyOperation::Legacy(_)
    ));
    let etag = first.etag_for_next_poll().expect("an etag").to_owned();
    let again = client
        .get_operation_status(&id, &GetOptions::default().with_if_none_match(etag))
        .await
        .unwrap();
    assert!(
        matches!(again, GetOperationOutcome::NotModified { .. }),
        "{again:?}"
    );

    let done = client
        .wait_for_operation(
            &id,
            WaitOptions::default().with_timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_eq!(done.operation.status(), &OperationStatus::Failed);
    let innermost = done
        .operation
        .inner_errors()
        .last()
        .expect("an inner error chain");
    assert!(innermost.error_detail.is_some());
    assert!(done.operation.trace_id().is_some());

    let missing = client
        .get_operation_status("no-such-operation", &GetOptions::default())
        .await
        .unwrap_err();
    let service = missing.service().expect("a service error");
    assert_eq!(service.kind(), ServiceErrorKind::NotFound);
    assert!(service.trace_id().is_some(), "{service:?}");
    emulator.shutdown().await;
}
