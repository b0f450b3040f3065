//! End-to-end: `adu operation show` and `adu operation wait` against the emulator, both API
//! versions, every exit code.

mod common;

use std::time::Duration;

use adu_emulator::{Config, FaultKind, FaultRule, OperationSpec, RunningEmulator, Timings};
use common::{adu, Run};

async fn start(config: Config) -> RunningEmulator {
    adu_emulator::start(config)
        .await
        .expect("the emulator starts")
}

fn quick() -> Timings {
    Timings::new(Duration::from_millis(100), Duration::from_millis(300))
}

/// Runs `adu operation <args>` against `emulator` with a valid token in ADU_ACCESS_TOKEN.
fn run(emulator: &RunningEmulator, args: &[&str]) -> Run {
    let url = emulator.base_url();
    let token = emulator.issue_token();
    let mut all = vec!["operation"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--endpoint", &url, "--instance", "blue"]);
    adu(&all, &[("ADU_ACCESS_TOKEN", &token)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_prints_the_operation_as_the_service_names_it_in_both_versions() {
    let emulator = start(Config::default()).await;
    let id = emulator.add_operation(
        OperationSpec::succeeding()
            .with_id("op-show")
            .with_timings(Timings::immediate()),
    );

    let current = run(&emulator, &["show", &id, "--output", "json"]);
    assert_eq!(current.code, 0, "{current:?}");
    let op = current.json();
    assert_eq!(op["operationId"], "op-show");
    assert_eq!(op["status"], "Succeeded");
    assert_eq!(op["update"]["updateId"]["provider"], "contoso");
    assert_eq!(op["update"]["updateId"]["name"], "toaster");
    assert_eq!(op["update"]["updateId"]["version"], "1.0.0");
    assert!(op["createdDateTime"].is_string());
    assert!(op["lastActionDateTime"].is_string());
    assert!(op["traceId"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(op["etag"].as_str().is_some_and(|e| e.starts_with('"')));
    assert!(op["resourceLocation"]
        .as_str()
        .is_some_and(|l| l.contains("/providers/contoso/names/toaster/versions/1.0.0")));
    assert!(op.get("updateId").is_none(), "current API uses `update`");

    let legacy = run(
        &emulator,
        &["show", &id, "--output", "json", "--api-version", "v2"],
    );
    assert_eq!(legacy.code, 0, "{legacy:?}");
    let op = legacy.json();
    assert_eq!(op["operationId"], "op-show");
    assert_eq!(op["status"], "Succeeded");
    assert_eq!(op["updateId"]["provider"], "contoso");
    assert!(op.get("update").is_none(), "legacy API uses `updateId`");

    let text = run(&emulator, &["show", &id, "--exit-status"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("Status       Succeeded"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("Operation    op-show"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("Trace id     "), "{}", text.stdout);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_options_work_before_the_subcommand_and_from_the_environment() {
    let emulator = start(Config::default()).await;
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let url = emulator.base_url();
    let token = emulator.issue_token();
    let before = adu(
        &[
            "--endpoint",
            &url,
            "--instance",
            "blue",
            "--output",
            "json",
            "operation",
            "show",
            &id,
        ],
        &[("ADU_ACCESS_TOKEN", &token)],
    );
    assert_eq!(before.code, 0, "{before:?}");
    assert_eq!(before.json()["operationId"], id.as_str());

    let from_env = adu(
        &["operation", "show", &id, "--output", "json"],
        &[
            ("ADU_ACCESS_TOKEN", &token),
            ("ADU_ENDPOINT", &url),
            ("ADU_INSTANCE", "blue"),
            ("ADU_API_VERSION", "v2"),
        ],
    );
    assert_eq!(from_env.code, 0, "{from_env:?}");
    assert!(from_env.json().get("updateId").is_some());
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_operation_is_shown_with_its_whole_error_chain_and_exits_1_when_asked() {
    let emulator = start(Config::default()).await;
    let id = emulator.add_operation(OperationSpec::failing().with_timings(Timings::immediate()));

    for version in ["2022-10-01", "v2"] {
        let text = run(
            &emulator,
            &["show", &id, "--api-version", version, "--exit-status"],
        );
        assert_eq!(text.code, 1, "{text:?}");
        for expected in [
            "Status       Failed",
            "UpdateImportFailed: Update import failed.",
            "inner error ImportFailed: Failed to import the update's files.",
            "inner error FileDownloadFailed: Unable to download the update file.",
            "detail: Response status code does not indicate success: 403",
        ] {
            assert!(
                text.stdout.contains(expected),
                "{version}: {expected:?} in\n{}",
                text.stdout
            );
        }
        let trace = text
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Trace id"))
            .map(str::trim)
            .unwrap();
        assert!(trace.len() >= 16, "{trace}");

        // Showing is a success whatever the status, as `gh run view` and `kubectl get` are.
        let json = run(
            &emulator,
            &["show", &id, "--api-version", version, "--output", "json"],
        );
        assert_eq!(json.code, 0, "{json:?}");
        let op = json.json();
        assert_eq!(op["status"], "Failed");
        assert_eq!(op["error"]["code"], "UpdateImportFailed");
        assert_eq!(op["error"]["innererror"]["code"], "ImportFailed");
        assert_eq!(
            op["error"]["innererror"]["innerError"]["code"],
            "FileDownloadFailed"
        );
        assert!(op["error"]["innererror"]["innerError"]["errorDetail"]
            .as_str()
            .unwrap()
            .contains("403"));
        assert_eq!(op["traceId"].as_str(), Some(trace));
        let shown = run(&emulator, &["show", &id, "--api-version", version]);
        assert_eq!((shown.code, &shown.stdout), (0, &text.stdout), "{shown:?}");
        let json = run(
            &emulator,
            &["show", &id, "--output", "json", "--exit-status"],
        );
        assert_eq!(json.code, 1, "{json:?}");
        assert_eq!(json.json()["status"], "Failed");
    }

    let wait = run(&emulator, &["wait", &id, "--output", "json"]);
    assert_eq!(wait.code, 1, "{wait:?}");
    assert_eq!(wait.json()["status"], "Failed");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_polls_until_succeeded_with_plain_progress_lines_in_both_versions() {
    let emulator = start(Config::default()).await;
    for version in ["2022-10-01", "v2"] {
        let id = emulator.add_operation(OperationSpec::succeeding().with_timings(quick()));
        let done = run(
            &emulator,
            &[
                "wait",
                &id,
                "--api-version",
                version,
                "--output",
                "json",
                "--timeout",
                "30s",
                "--interval",
                "200ms",
            ],
        );
        assert_eq!(done.code, 0, "{done:?}");
        assert_eq!(done.json()["status"], "Succeeded");
        assert_eq!(done.json()["operationId"], id.as_str());
        // Not a terminal: one plain line per status, ending with the final one.
        let lines: Vec<&str> = done.stderr.lines().filter(|l| l.starts_with('[')).collect();
        assert!(lines.len() >= 2, "{}", done.stderr);
        assert!(
            lines[0].contains("NotStarted") || lines[0].contains("Running"),
            "{}",
            done.stderr
        );
        assert!(lines[0].contains("next poll in"), "{}", done.stderr);
        assert!(
            lines.last().unwrap().contains("Succeeded after"),
            "{}",
            done.stderr
        );
        assert!(emulator.stats().polls_of(&id) >= 2);
    }
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_times_out_with_exit_5() {
    let emulator = start(Config::default()).await;
    let id = emulator.add_operation(
        OperationSpec::succeeding()
            .with_timings(Timings::new(Duration::ZERO, Duration::from_secs(120))),
    );
    let text = run(&emulator, &["wait", &id, "--timeout", "1500ms"]);
    assert_eq!(text.code, 5, "{text:?}");
    assert!(text.stdout.is_empty(), "{text:?}");
    assert!(text.stderr.contains("deadline"), "{}", text.stderr);
    assert!(
        text.stderr.contains("Last status seen: Running"),
        "{}",
        text.stderr
    );

    let json = run(
        &emulator,
        &["wait", &id, "--timeout", "1s", "--output", "json"],
    );
    assert_eq!(json.code, 5, "{json:?}");
    let last = json.stderr.lines().last().unwrap();
    let error: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(error["error"]["exitCode"], 5);
    assert_eq!(error["error"]["lastStatus"], "Running");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_exits_3() {
    let emulator = start(Config::default()).await;
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let url = emulator.base_url();
    let run = adu(
        &[
            "operation",
            "show",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
        ],
        &[("ADU_ACCESS_TOKEN", "not-a-token-the-emulator-issued")],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("HTTP 401"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("not-a-token"),
        "the token leaked: {}",
        run.stderr
    );

    let json = adu(
        &[
            "operation",
            "show",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
            "--output",
            "json",
        ],
        &[("ADU_ACCESS_TOKEN", "not-a-token-the-emulator-issued")],
    );
    assert_eq!(json.code, 3);
    let error = json.stderr_json();
    assert_eq!(error["error"]["exitCode"], 3);
    assert_eq!(error["error"]["status"], 401);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_from_the_environment_and_a_wrong_secret_exits_3() {
    let emulator = start(Config::default()).await;
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let url = emulator.base_url();
    let creds = emulator.credentials().clone();
    let env = |secret: &'static str| {
        vec![
            ("AZURE_AUTHORITY_HOST", url.clone()),
            ("AZURE_TENANT_ID", creds.tenant.clone()),
            ("AZURE_CLIENT_ID", creds.client_id.clone()),
            ("AZURE_CLIENT_SECRET", secret.to_owned()),
        ]
    };
    let good = env(adu_emulator::DEFAULT_CLIENT_SECRET);
    let mut good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // A blank ADU_ACCESS_TOKEN counts as unset, like every other empty variable.
    good.push(("ADU_ACCESS_TOKEN", " "));
    let ok = adu(
        &[
            "operation",
            "show",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
        ],
        &good,
    );
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(emulator.stats().tokens_issued >= 1);

    let bad = env("wrong-secret");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = adu(
        &[
            "operation",
            "show",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
        ],
        &bad,
    );
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stderr.contains("token endpoint"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("wrong-secret"),
        "{}",
        refused.stderr
    );
    // Each fact once: the server's description, its trace id and its correlation id.
    for fact in ["AADSTS", "Trace id", "correlation id"] {
        assert_eq!(
            refused.stderr.matches(fact).count(),
            1,
            "{fact}: {}",
            refused.stderr
        );
    }
    let trace = refused
        .stderr
        .split("Trace id: ")
        .nth(1)
        .and_then(|rest| rest.split(". ").next())
        .expect("a trace id");
    assert_eq!(
        refused.stderr.matches(trace).count(),
        1,
        "{}",
        refused.stderr
    );
    let mut bad_json = bad.clone();
    bad_json.push(("ADU_ACCESS_TOKEN", ""));
    let json = adu(
        &[
            "operation",
            "show",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
            "--output",
            "json",
        ],
        &bad_json,
    );
    assert_eq!(json.code, 3, "{json:?}");
    let error = &json.stderr_json()["error"];
    let service_message = error["serviceMessage"].as_str().expect("serviceMessage");
    assert!(service_message.starts_with("AADSTS"), "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(!message.contains("AADSTS"), "{error}");
    let trace = error["traceId"].as_str().expect("traceId");
    assert!(
        !message.contains(trace) && !service_message.contains(trace),
        "{error}"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_operation_exits_4_in_both_versions() {
    let emulator = start(Config::default()).await;
    let current = run(&emulator, &["show", "no-such-operation"]);
    assert_eq!(current.code, 4, "{current:?}");
    assert!(current.stderr.contains("not found"), "{}", current.stderr);
    assert!(current.stderr.contains("Trace id: "), "{}", current.stderr);
    assert!(
        current.stderr.contains("What to do: "),
        "{}",
        current.stderr
    );
    assert_eq!(
        current.stderr.trim().lines().count(),
        1,
        "one paragraph: {}",
        current.stderr
    );

    let legacy = run(
        &emulator,
        &[
            "show",
            "no-such-operation",
            "--api-version",
            "v2",
            "--output",
            "json",
        ],
    );
    assert_eq!(legacy.code, 4, "{legacy:?}");
    let error = legacy.stderr_json();
    assert_eq!(error["error"]["status"], 404);
    assert!(error["error"]["traceId"]
        .as_str()
        .is_some_and(|t| t.starts_with("00-")));
    assert!(legacy.stdout.is_empty());
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_and_service_errors_exit_6_after_retries() {
    // Nothing listens on a port that was just released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let refused = adu(
        &[
            "operation",
            "show",
            "op1",
            "--endpoint",
            &endpoint,
            "--instance",
            "blue",
        ],
        &[("ADU_ACCESS_TOKEN", "t")],
    );
    assert_eq!(refused.code, 6, "{refused:?}");
    assert!(refused.stderr.contains("connect"), "{}", refused.stderr);

    // A token endpoint that cannot be reached is a network error too, not a refusal.
    let no_token_endpoint = adu(
        &[
            "operation",
            "show",
            "op1",
            "--endpoint",
            &endpoint,
            "--instance",
            "blue",
        ],
        &[
            ("AZURE_AUTHORITY_HOST", &endpoint),
            ("AZURE_TENANT_ID", "emulator"),
            ("AZURE_CLIENT_ID", "adu-emulator"),
            ("AZURE_CLIENT_SECRET", "s"),
        ],
    );
    assert_eq!(no_token_endpoint.code, 6, "{no_token_endpoint:?}");
    assert!(
        no_token_endpoint
            .stderr
            .contains("could not reach the token endpoint"),
        "{}",
        no_token_endpoint.stderr
    );

    let emulator = start(
        Config::default()
            .with_fault(FaultRule::new(FaultKind::Status(500)).on_path("/operations/")),
    )
    .await;
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let failing = run(&emulator, &["show", &id]);
    assert_eq!(failing.code, 6, "{failing:?}");
    assert!(failing.stderr.contains("HTTP 500"), "{}", failing.stderr);
    assert!(emulator.stats().faults_injected >= 2, "retried");
    emulator.shutdown().await;
}

#[test]
fn usage_and_configuration_errors_exit_2_before_anything_is_sent() {
    // Plain http to a host that is not loopback: refused up front, explained.
    let plain = adu(
        &[
            "operation",
            "show",
            "op1",
            "--endpoint",
            "http://contoso.api.adu.microsoft.com",
            "--instance",
            "blue",
        ],
        &[("ADU_ACCESS_TOKEN", "t")],
    );
    assert_eq!(plain.code, 2, "{plain:?}");
    assert!(plain.stderr.contains("plain http"), "{}", plain.stderr);
    assert!(
        plain.stderr.contains("nothing was sent"),
        "{}",
        plain.stderr
    );
    assert_eq!(plain.stderr.trim().lines().count(), 1);

    let no_endpoint = adu(
        &["operation", "show", "op1", "--instance", "blue"],
        &[("ADU_ACCESS_TOKEN", "t")],
    );
    assert_eq!(no_endpoint.code, 2);
    assert!(
        no_endpoint.stderr.contains("ADU_ENDPOINT"),
        "{}",
        no_endpoint.stderr
    );

    // No credential at all, or a blank ADU_ACCESS_TOKEN (taken as unset): the error names
    // the three ways, not the option.
    for env in [&[][..], &[("ADU_ACCESS_TOKEN", "")][..]] {
        let no_credential = adu(
            &[
                "operation",
                "show",
                "op1",
                "--endpoint",
                "http://127.0.0.1:9",
                "--instance",
                "blue",
            ],
            env,
        );
        assert_eq!(no_credential.code, 2, "{env:?}: {no_credential:?}");
        assert!(
            !no_credential.stderr.contains("--access-token <"),
            "{env:?}"
        );
        for way in ["ADU_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "adu login"] {
            assert!(
                no_credential.stderr.contains(way),
                "{env:?} {way}: {}",
                no_credential.stderr
            );
        }
    }

    let zero = adu(
        &["operation", "wait", "op1", "--timeout", "0"],
        &[("ADU_ACCESS_TOKEN", "t")],
    );
    assert!(zero.stderr.contains("longer than zero"), "{}", zero.stderr);
    let negative = adu(
        &["operation", "wait", "op1", "--timeout", "-5s"],
        &[("ADU_ACCESS_TOKEN", "t")],
    );
    assert!(
        negative.stderr.contains("cannot be negative"),
        "{}",
        negative.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_are_three_and_any_other_is_a_usage_error_before_a_request() {
    let emulator = start(Config::default()).await;
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    for bad in ["2021-01-01", "2026-06-02", "v3", ""] {
        let text = run(&emulator, &["show", &id, "--api-version", bad]);
        assert_eq!(text.code, 2, "{bad:?}: {text:?}");
        for accepted in ["2026-06-01", "2022-10-01", "v2"] {
            assert!(
                text.stderr.contains(accepted),
                "{accepted} in {}",
                text.stderr
            );
        }
        let json = run(
            &emulator,
            &["show", &id, "--output", "json", "--api-version", bad],
        );
        assert_eq!(json.code, 2, "{bad:?}: {json:?}");
        assert_eq!(json.stderr_json()["error"]["exitCode"], 2);
    }
    let url = emulator.base_url();
    let from_env = adu(
        &[
            "operation",
            "wait",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
        ],
        &[("ADU_ACCESS_TOKEN", "t"), ("ADU_API_VERSION", "2020-01-01")],
    );
    assert_eq!(from_env.code, 2, "{from_env:?}");
    assert!(
        from_env.stderr.contains("2026-06-01"),
        "{}",
        from_env.stderr
    );
    assert_eq!(emulator.stats().requests, 0, "nothing was sent");

    for good in ["2026-06-01", "2022-10-01", "v2"] {
        let shown = run(
            &emulator,
            &["show", &id, "--output", "json", "--api-version", good],
        );
        assert_eq!(shown.code, 0, "{good}: {shown:?}");
        assert_eq!(shown.json()["operationId"], id.as_str());
    }
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_device_shows_and_waits_on_device_operations_in_the_current_versions() {
    let emulator = start(Config::default()).await;
    let update = emulator.add_operation(
        OperationSpec::succeeding()
            .with_id("update-1")
            .with_timings(Timings::immediate()),
    );
    let done = emulator.add_operation(
        OperationSpec::succeeding()
            .device()
            .with_id("device-done")
            .with_timings(Timings::immediate()),
    );
    let failed = emulator.add_operation(
        OperationSpec::failing()
            .device()
            .with_id("device-failed")
            .with_timings(Timings::immediate()),
    );
    for version in ["2026-06-01", "2022-10-01"] {
        let shown = run(
            &emulator,
            &[
                "show",
                &done,
                "--kind",
                "device",
                "--output",
                "json",
                "--api-version",
                version,
            ],
        );
        assert_eq!(shown.code, 0, "{version}: {shown:?}");
        let op = shown.json();
        assert_eq!(op["operationId"], done.as_str());
        assert_eq!(op["status"], "Succeeded");
        assert!(op.get("update").is_none(), "{op}");
        assert!(op.get("resourceLocation").is_none(), "{op}");

        let slow =
            emulator.add_operation(OperationSpec::succeeding().device().with_timings(quick()));
        let waited = run(
            &emulator,
            &[
                "wait",
                &slow,
                "--kind",
                "device",
                "--api-version",
                version,
                "--interval",
                "100ms",
                "--timeout",
                "30s",
            ],
        );
        assert_eq!(waited.code, 0, "{version}: {waited:?}");
        assert!(
            waited.stdout.contains("Status       Succeeded"),
            "{}",
            waited.stdout
        );
        assert!(emulator.stats().polls_of(&slow) >= 2);
    }
    let shown = run(&emulator, &["show", &failed, "--kind", "device"]);
    assert_eq!(shown.code, 0, "{shown:?}");
    let shown = run(
        &emulator,
        &["show", &failed, "--kind", "device", "--exit-status"],
    );
    assert_eq!(shown.code, 1, "{shown:?}");
    assert!(
        shown.stdout.contains("DeviceImportFailed"),
        "{}",
        shown.stdout
    );
    let waited = run(&emulator, &["wait", &failed, "--kind", "device"]);
    assert_eq!(waited.code, 1, "{waited:?}");

    // A device operation is not an update operation, nor the other way round.
    assert_eq!(run(&emulator, &["show", &done]).code, 4);
    assert_eq!(
        run(&emulator, &["show", &update, "--kind", "device"]).code,
        4
    );

    // The legacy API has no device-management operations: refused before any request.
    let before = emulator.stats().requests;
    for args in [
        &["show", &done, "--kind", "device", "--api-version", "v2"][..],
        &[
            "wait",
            &done,
            "--kind",
            "device",
            "--api-version",
            "v2",
            "--output",
            "json",
        ],
    ] {
        let refused = run(&emulator, args);
        assert_eq!(refused.code, 2, "{args:?}: {refused:?}");
        assert!(
            refused.stderr.contains("v2 has no device operations"),
            "{}",
            refused.stderr
        );
        assert!(refused.stderr.contains("2026-06-01"), "{}", refused.stderr);
    }
    assert_eq!(emulator.stats().requests, before, "nothing was sent");
    emulator.shutdown().await;
}

#[test]
fn help_documents_every_exit_code_and_prefers_env_vars_for_secrets() {
    let help = adu(&["--help"], &[]);
    assert_eq!(help.code, 0);
    for line in [
        "0  success",
        "1  the operation Failed",
        "2  usage or configuration error",
        "3  authentication failed",
        "4  operation (or instance) not found",
        "5  timed out",
        "6  service or network error",
    ] {
        assert!(help.stdout.contains(line), "{line:?} in\n{}", help.stdout);
    }
    let show = adu(&["operation", "show", "--help"], &[]);
    assert_eq!(show.code, 0);
    let flat = show.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("Prefer the ADU_ACCESS_TOKEN environment variable"),
        "{flat}"
    );
    for option in [
        "--endpoint",
        "--instance",
        "--api-version",
        "--ca-file",
        "--output",
        "--verbose",
    ] {
        assert!(show.stdout.contains(option), "{option}");
    }
    for text in [
        "[possible values: 2026-06-01, 2022-10-01, v2]",
        "[default: 2026-06-01]",
        "--exit-status",
    ] {
        assert!(flat.contains(text), "{text:?} in {flat}");
    }
    let wait = adu(&["operation", "wait", "--help"], &[]);
    assert!(wait.stdout.contains("--timeout") && wait.stdout.contains("--interval"));
    // The demo points at `adu operation wait --help` for using a real account.
    for help in [&show.stdout, &wait.stdout] {
        for text in [
            "Exit codes:",
            "6  service or network error",
            "AZURE_CLIENT_SECRET",
        ] {
            assert!(help.contains(text), "{text:?} in\n{help}");
        }
    }
    let login = adu(&["login", "--help"], &[]);
    assert!(
        login.stdout.contains("http://127.0.0.1/callback"),
        "{}",
        login.stdout
    );
    assert!(!login.stdout.contains("localhost"), "{}", login.stdout);
    // The token value from the environment is never shown in help.
    let hidden = adu(
        &["operation", "show", "--help"],
        &[("ADU_ACCESS_TOKEN", "sekrit-value")],
    );
    assert!(!hidden.stdout.contains("sekrit-value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_trace_output() {
    let emulator = start(Config::default()).await;
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(quick()));
    let url = emulator.base_url();
    let token = emulator.issue_token();
    let run = adu(
        &[
            "-vvv",
            "operation",
            "wait",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
        ],
        &[("ADU_ACCESS_TOKEN", &token)],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(&token),
        "the token leaked into the trace output"
    );
    assert!(!run.stdout.contains(&token));
    emulator.shutdown().await;
}
