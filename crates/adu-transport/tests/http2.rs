//! HTTP/2 through ALPN against the emulator over https (which offers `h2` and
//! `http/1.1`). The emulator counts the requests that came over HTTP/2, so each test
//! proves which protocol was used, not only that the call worked.
//!
//! `cargo xtask ci` runs this file twice: in the workspace test run (the `http2`
//! feature off: asking for HTTP/2 must change nothing) and with
//! `--features http2` (offered and negotiated only when asked for).

mod support;

use adu_emulator::{Config, OperationSpec, RunningEmulator, Timings};
use adu_transport::adu_model::GetOperationOutcome;
use adu_transport::{GetOptions, OperationStatus};
use support::{emulator_client, trusting_emulator};

async fn https_emulator() -> (RunningEmulator, String) {
    let emulator = adu_emulator::start(Config::default().with_tls(true))
        .await
        .unwrap();
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    (emulator, id)
}

/// Three status calls through a client whose transport offers HTTP/2 or not; returns
/// how many of the emulator's requests came over HTTP/2.
async fn three_calls(offer_http2: bool) -> (u64, u64) {
    let (emulator, id) = https_emulator().await;
    let client = emulator_client(&emulator)
        .hyper_transport(trusting_emulator(&emulator).http2(offer_http2))
        .build()
        .unwrap();
    for _ in 0..3 {
        let outcome = client
            .get_operation_status(&id, &GetOptions::default())
            .await
            .unwrap();
        let GetOperationOutcome::Operation(response) = outcome else {
            panic!("expected a 200 with the operation, got {outcome:?}");
        };
        assert_eq!(response.operation.status(), &OperationStatus::Succeeded);
    }
    let stats = emulator.stats();
    emulator.shutdown().await;
    (stats.http2_requests, stats.status_requests)
}

#[cfg(feature = "http2")]
#[tokio::test]
async fn http2_is_negotiated_when_offered() {
    let (http2, status) = three_calls(true).await;
    assert_eq!(status, 3);
    assert_eq!(http2, 3, "every API request should have used HTTP/2");
}

#[tokio::test]
async fn http1_is_used_unless_http2_is_offered() {
    let (http2, status) = three_calls(false).await;
    assert_eq!(status, 3);
    assert_eq!(http2, 0);
}

#[cfg(not(feature = "http2"))]
#[tokio::test]
async fn asking_for_http2_without_the_feature_changes_nothing() {
    let (http2, status) = three_calls(true).await;
    assert_eq!(status, 3);
    assert_eq!(
        http2, 0,
        "the `http2` feature is off: only HTTP/1.1 may be offered"
    );
}

/// Token requests stay on HTTP/1.1 (the identity platform has refused HTTP/2), even from a
/// transport that offers HTTP/2 for API requests.
#[tokio::test]
async fn token_requests_stay_on_http1_when_http2_is_offered() {
    let (emulator, _) = https_emulator().await;
    let transport = trusting_emulator(&emulator).http2(true).build().unwrap();
    let credential = support::emulator_credential(&emulator, transport);
    adu_auth::TokenCredential::get_token(&credential, &[adu_auth::scopes::CURRENT])
        .await
        .unwrap();
    let stats = emulator.stats();
    emulator.shutdown().await;
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.http2_requests, 0);
}
