//! End-to-end: `adu login --device-code` against the emulator, whose emulated user signs in
//! a second after the code is issued: the command shows the code and the URL, polls (the
//! emulator's unit tests and adu-auth's check `authorization_pending` and `slow_down`
//! without a clock), caches the sign-in with its refresh token, and later commands use it. A
//! sign-in nobody completes in time exits 5.

mod common;

use std::time::Duration;

use adu_emulator::Config;
use common::{adu, spawn, wait_exit, wait_for_line};

fn device_login(
    emulator: &adu_emulator::RunningEmulator,
    cache: &std::path::Path,
    timeout: &str,
) -> common::Spawned {
    spawn(
        &[
            "login",
            "--device-code",
            "--client-id",
            "adu-emulator",
            "--tenant",
            "emulator",
            "--authority-host",
            &emulator.authority_url(),
            "--timeout",
            timeout,
        ],
        &[("ADU_TOKEN_CACHE", cache.to_str().unwrap())],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_sign_in_polls_until_the_user_has_signed_in_and_is_cached() {
    let config = Config::default().with_device_code_delay(Duration::from_secs(1));
    let emulator = adu_emulator::start(config).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("token.json");

    let mut login = device_login(&emulator, &cache, "60s");
    let shown = wait_for_line(&login.stderr, |l| l.starts_with("To sign in, open"));
    assert!(
        shown.contains(&format!("{}/devicelogin", emulator.base_url())),
        "{shown}"
    );
    assert!(shown.contains("enter the code"), "{shown}");
    assert_eq!(wait_exit(&mut login.child), 0);
    let done = wait_for_line(&login.stdout, |l| l.starts_with("Signed in"));
    assert!(done.contains("refresh"), "{done}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(saved["flow"], "device-code");
    assert_eq!(saved["tenant"], "emulator");
    assert!(saved["refreshToken"].is_string());

    // A later command uses it.
    let run = adu(
        &["auth", "show", "--output", "json"],
        &[("ADU_TOKEN_CACHE", cache.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["credential"], "login");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_signing_in_in_time_exits_5() {
    let config = Config::default().with_device_code_delay(Duration::from_secs(3600));
    let emulator = adu_emulator::start(config).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("token.json");
    let mut login = device_login(&emulator, &cache, "1500ms");
    assert_eq!(wait_exit(&mut login.child), 5);
    let error = wait_for_line(&login.stderr, |l| l.starts_with("adu: error"));
    assert!(error.contains("nobody signed in"), "{error}");
    assert!(!cache.exists());
    emulator.shutdown().await;
}

#[test]
fn device_code_and_flow_are_exclusive() {
    let run = adu(
        &[
            "login",
            "--device-code",
            "--flow",
            "implicit",
            "--client-id",
            "c",
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{run:?}");
}
