//! The `adu-emulator` binary: ready line, certificate file, scenario, signals.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;

/// Reads the ready line (waiting at most 60 s), then keeps draining stdout.
fn ready_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("no ready line")
}

const SCENARIO: &str = r#"{
  "operations": [
    { "id": "seeded-failed", "outcome": "failed", "timings": { "notStartedMs": 0, "runningMs": 0 } }
  ]
}"#;

#[tokio::test]
async fn binary_prints_its_address_serves_https_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let scenario = dir.path().join("scenario.json");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_adu-emulator"))
        .args(["--port", "0", "--no-auth", "--tls-cert"])
        .arg(&cert)
        .arg("--scenario")
        .arg(&scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = ready_line(&mut child);
    let url = line
        .trim()
        .strip_prefix("adu-emulator listening on ")
        .unwrap_or_else(|| panic!("{line:?}"));
    let port: u16 = url
        .strip_prefix("https://localhost:")
        .unwrap()
        .parse()
        .unwrap();
    let pem = std::fs::read_to_string(&cert).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let a = send_tls(
        addr,
        &pem,
        request("GET", &current_path("seeded-failed"), &[], b""),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["status"], "Failed");

    // SIGTERM stops it cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn binary_over_plain_http_answers_then_is_killed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adu-emulator"))
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--client-secret",
            "s3cret",
            "--page-size",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = ready_line(&mut child);
    let url = line
        .trim()
        .strip_prefix("adu-emulator listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"));
    let addr: SocketAddr = url.parse().unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "adu-emulator"),
        ("client_secret", "s3cret"),
        ("scope", "https://api.adu.microsoft.com/.default"),
    ];
    let token = post_form(addr, "/emulator/oauth2/v2.0/token", &form).await;
    assert_eq!(token.status, 200);
    let auth = format!("Bearer {}", token.json()["access_token"].as_str().unwrap());
    // `--page-size 1`: two device imports make two pages.
    let import = "/deviceUpdate/blue/management/devices:import?api-version=2026-06-01";
    for _ in 0..2 {
        let req = request("POST", import, &[("authorization", &auth)], br#""Devices""#);
        assert_eq!(send_req(addr, req).await.unwrap().status, 202);
    }
    let list = "/deviceUpdate/blue/management/operations?api-version=2026-06-01";
    let page = get(addr, list, &auth["Bearer ".len()..]).await.json();
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    let next = page["nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!(
            "http://{addr}/deviceUpdate/blue/management/operations?api-version=2026-06-01&"
        )),
        "{next}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn binary_rejects_a_bad_scenario_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.json");
    std::fs::write(
        &scenario,
        "{\n  \"operations\": [ { \"id\": \"x\", \"outcom\": \"failed\" } ]\n}",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_adu-emulator"))
        .arg("--scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid scenario at line 2"), "{stderr}");
    assert!(stderr.contains("unknown field `outcom`"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_adu-emulator"))
        .arg("--scenario")
        .arg(dir.path().join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot access"));

    for size in ["0", "1001", "many"] {
        let out = Command::new(env!("CARGO_BIN_EXE_adu-emulator"))
            .args(["--page-size", size])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--page-size {size}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--page-size"));
    }

    // https with the certificate written nowhere.
    std::fs::write(&scenario, r#"{ "tls": true }"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_adu-emulator"))
        .arg("--scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "it must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-cert PATH"), "{stderr}");
}

#[test]
fn binary_listens_where_the_scenario_says_unless_a_flag_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bind.json");
    // Free ports, taken and released just before.
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, flag_port) = (free(), free());
    std::fs::write(&scenario, format!(r#"{{ "bind": "127.0.0.1:{port}" }}"#)).unwrap();
    let flag_port_text = flag_port.to_string();
    for (flags, expect_port) in [
        (vec![], port),
        (vec!["--port", flag_port_text.as_str()], flag_port),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_adu-emulator"))
            .arg("--scenario")
            .arg(&scenario)
            .args(&flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let line = ready_line(&mut child);
        child.kill().unwrap();
        child.wait().unwrap();
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("adu-emulator listening on http://")
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .unwrap();
        assert_eq!(addr.port(), expect_port, "{flags:?}");
    }
}
