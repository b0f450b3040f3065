//! The client against the project's emulator (plain http and https with its own certificate).

mod support;

use std::sync::Arc;
use std::time::Duration;

use adu_auth::StaticTokenCredential;
use adu_emulator::{Config, OperationSpec, Timings};
use adu_transport::{DeviceUpdateClient, HyperTransport, OperationStatus, PollPolicy, WaitOptions};

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
    let credential = Arc::new(StaticTokenCredential::from_secret(emulator.issue_token()));
    let client = DeviceUpdateClient::builder(emulator.base_url(), "blue", credential)
        .hyper_transport({
            // Plain http needs no root; one is added so the store is never empty.
            let (pem, _, _) = support::self_signed();
            HyperTransport::builder()
                .native_roots(false)
                .add_root_certificates_pem(pem.as_bytes())
                .unwrap()
        })
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
async fn waits_for_an_emulated_operation_over_https() {
    let emulator = adu_emulator::start(Config::default().with_tls(true))
        .await
        .unwrap();
    let id = emulator.add_operation(OperationSpec::failing().with_timings(Timings::immediate()));
    let pem = emulator
        .certificate_pem()
        .expect("a certificate in tls mode")
        .to_owned();
    let credential = Arc::new(StaticTokenCredential::from_secret(emulator.issue_token()));
    let client = DeviceUpdateClient::builder(emulator.base_url(), "blue", credential)
        .hyper_transport(
            HyperTransport::builder()
                .native_roots(false)
                .add_root_certificates_pem(pem.as_bytes())
                .unwrap(),
        )
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
