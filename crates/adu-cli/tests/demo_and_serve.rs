//! End-to-end: `adu demo` and `adu emulator serve`.

mod common;

use common::{adu, spawn, wait_exit, wait_for_line};

#[test]
fn the_demo_imports_and_waits_until_succeeded() {
    let run = adu(&["demo"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Status       Succeeded"),
        "{}",
        run.stdout
    );
    for step in [
        "started the embedded emulator",
        "got a token",
        "202 Accepted",
        "Succeeded after",
    ] {
        assert!(run.stderr.contains(step), "{step:?} in\n{}", run.stderr);
    }
    // The import, and so the wait, speak the default version.
    assert!(
        run.stderr.contains("?api-version=2026-06-01"),
        "{}",
        run.stderr
    );
    let older = adu(&["demo", "--api-version", "2022-10-01"], &[]);
    assert_eq!(older.code, 0, "{older:?}");
    assert!(
        older.stderr.contains("?api-version=2022-10-01"),
        "{}",
        older.stderr
    );
}

#[test]
fn the_demo_shows_a_failed_import_and_exits_1() {
    let run = adu(&["demo", "--fail", "--output", "json"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let op = run.json();
    assert_eq!(op["status"], "Failed");
    assert_eq!(op["error"]["code"], "UpdateImportFailed");
    assert!(op["traceId"].is_string());
}

#[test]
fn the_demo_speaks_the_legacy_api_too() {
    let run = adu(&["demo", "--api-version", "v2", "--output", "json"], &[]);
    // The Operation-Location names the current API; the location decides the version.
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["status"], "Succeeded");
}

#[test]
fn emulator_serve_runs_until_sigterm_and_answers_adu_over_https() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scenario = dir.join("scenario.json");
    std::fs::write(
        &scenario,
        r#"{ "operations": [ { "id": "op-serve", "timings": { "notStartedMs": 0, "runningMs": 0 } } ] }"#,
    )
    .unwrap();
    let cert = dir.join("emulator.pem");
    let mut serve = spawn(
        &[
            "emulator",
            "serve",
            "--port",
            "0",
            "--scenario",
            scenario.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
        ],
        &[],
    );
    let ready = wait_for_line(&serve.stdout, |l| {
        l.starts_with("adu emulator listening on ")
    });
    let url = ready
        .trim_start_matches("adu emulator listening on ")
        .to_owned();
    assert!(url.starts_with("https://localhost:"), "{url}");
    assert!(cert.exists());

    // Client credentials from AZURE_*, the certificate from ADU_CA_FILE.
    let env = [
        ("ADU_ENDPOINT", url.as_str()),
        ("ADU_INSTANCE", "blue"),
        ("ADU_CA_FILE", cert.to_str().unwrap()),
        ("AZURE_AUTHORITY_HOST", url.as_str()),
        ("AZURE_TENANT_ID", adu_emulator::DEFAULT_TENANT),
        ("AZURE_CLIENT_ID", adu_emulator::DEFAULT_CLIENT_ID),
        ("AZURE_CLIENT_SECRET", adu_emulator::DEFAULT_CLIENT_SECRET),
    ];
    let show = adu(&["operation", "show", "op-serve", "--output", "json"], &env);
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(show.json()["operationId"], "op-serve");
    assert_eq!(show.json()["status"], "Succeeded");

    // Without the certificate, TLS fails: exit code 6 with a hint about --ca-file.
    let untrusted = adu(
        &["operation", "show", "op-serve"],
        &env[..2]
            .iter()
            .chain(&env[3..])
            .copied()
            .collect::<Vec<_>>(),
    );
    // The token endpoint is reached first: a network (TLS) failure there is exit code 6.
    assert_eq!(untrusted.code, 6, "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("--ca-file"),
        "{}",
        untrusted.stderr
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(wait_exit(&mut serve.child), 0);
}

#[test]
fn emulator_serve_refuses_a_bad_scenario_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scenario = dir.join("scenario.json");
    for (json, says) in [
        (r#"{ "operatoins": [] }"#, "scenario"),
        // https with the certificate written nowhere.
        (r#"{ "tls": true }"#, "--tls-cert PATH"),
    ] {
        std::fs::write(&scenario, json).unwrap();
        let run = adu(
            &[
                "emulator",
                "serve",
                "--scenario",
                scenario.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(run.code, 2, "{json}: {run:?}");
        assert!(run.stderr.contains(says), "{json}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{json}: {run:?}");
    }
}

#[test]
fn emulator_serve_listens_where_the_scenario_says() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let scenario = dir.join("scenario.json");
    std::fs::write(&scenario, format!(r#"{{ "bind": "127.0.0.1:{port}" }}"#)).unwrap();
    let mut serve = spawn(
        &[
            "emulator",
            "serve",
            "--scenario",
            scenario.to_str().unwrap(),
        ],
        &[],
    );
    let ready = wait_for_line(&serve.stdout, |l| {
        l.starts_with("adu emulator listening on ")
    });
    assert!(ready.ends_with(&format!(":{port}")), "{ready}");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(wait_exit(&mut serve.child), 0);
}
