//! End-to-end: `adu login` opens the sign-in page itself, in the browser `$BROWSER` names.
//! The fake browser here passes the URL it is given to the test through a FIFO; the test
//! then plays the browser's part against the emulator, and the sign-in completes.

#![cfg(unix)]

mod common;

use std::io::BufRead as _;
use std::sync::mpsc;
use std::time::Duration;

use adu_emulator::Config;
use common::{browse, query_param, spawn, wait_exit, wait_for_line};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_opens_the_sign_in_page_in_the_browser_and_prints_its_url() {
    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("token.json");
    let fifo = dir.join("opened");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let browser = dir.join("fake-browser");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nprintf '%s\\n' \"$1\" > '{}'\n", fifo.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();

    // The URL the browser is given, read on a thread (opening a FIFO waits for its writer).
    let (opened_tx, opened) = mpsc::channel();
    let reader = fifo.clone();
    std::thread::spawn(move || {
        let file = std::fs::File::open(reader).unwrap();
        let mut line = String::new();
        std::io::BufReader::new(file).read_line(&mut line).unwrap();
        let _ = opened_tx.send(line.trim().to_owned());
    });

    let mut login = spawn(
        &[
            "login",
            "--client-id",
            "adu-emulator",
            "--tenant",
            "emulator",
            "--authority-host",
            &emulator.authority_url(),
            "--timeout",
            "60s",
        ],
        &[
            ("ADU_TOKEN_CACHE", cache.to_str().unwrap()),
            ("BROWSER", browser.to_str().unwrap()),
        ],
    );
    let printed = wait_for_line(&login.stderr, |l| l.trim_start().starts_with("http"));
    let url = opened
        .recv_timeout(Duration::from_secs(30))
        .expect("the browser was opened");
    assert_eq!(url, printed.trim(), "the browser gets the URL printed");
    assert!(
        url.starts_with(&format!("{}?", emulator.authorize_url())),
        "{url}"
    );

    // The browser's part: sign in, and come back to the listener.
    let (status, location, _) = browse("GET", &url, "").await;
    assert_eq!(status, 302);
    let location = location.expect("a Location");
    assert!(query_param(&location, "code").is_some(), "{location}");
    let (status, _, _) = browse("GET", &location, "").await;
    assert_eq!(status, 200);
    assert_eq!(wait_exit(&mut login.child), 0);
    assert!(cache.exists());
    emulator.shutdown().await;
}

#[test]
fn without_a_browser_the_url_is_the_fallback() {
    // No BROWSER and no browser on PATH: said, and the URL is there to open by hand.
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("token.json");
    let mut login = spawn(
        &[
            "login",
            "--client-id",
            "c",
            "--tenant",
            "t",
            "--authority-host",
            "http://127.0.0.1:9",
            "--timeout",
            "60s",
        ],
        &[("ADU_TOKEN_CACHE", cache.to_str().unwrap())],
    );
    wait_for_line(&login.stderr, |l| {
        l.trim_start().starts_with("http://127.0.0.1:9/t/")
    });
    wait_for_line(&login.stderr, |l| {
        l.contains("No browser could be opened here")
    });
    login.child.kill().unwrap();
    login.child.wait().unwrap();
}
