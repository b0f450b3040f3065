//! End-to-end: `adu operation list` across the emulator's pages, and `--kind device` on
//! `show`, `wait` and `list`.

mod common;

use std::time::Duration;

use adu_emulator::{Config, FaultKind, FaultRule, OperationSpec, RunningEmulator, Timings};
use common::{adu, Run};

/// An emulator whose lists come `page_size` operations a page.
async fn start(page_size: usize) -> RunningEmulator {
    let mut config = Config::default();
    config.page_size = page_size;
    adu_emulator::start(config)
        .await
        .expect("the emulator starts")
}

/// Runs `adu operation <args>` against `emulator` with a valid token.
fn run(emulator: &RunningEmulator, args: &[&str]) -> Run {
    let url = emulator.base_url();
    let token = emulator.issue_token();
    let mut all = vec!["operation"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--endpoint", &url, "--instance", "blue"]);
    adu(&all, &[("ADU_ACCESS_TOKEN", &token)])
}

/// An operation that stays Running for the whole test.
fn running() -> OperationSpec {
    let long = Duration::from_secs(3600);
    OperationSpec::succeeding().with_timings(Timings::new(Duration::ZERO, long))
}

fn done() -> OperationSpec {
    OperationSpec::succeeding().with_timings(Timings::immediate())
}

/// The `operationId`s of a JSON array on stdout.
fn ids(run: &Run) -> Vec<String> {
    let list = run.json();
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {run:?}"));
    items
        .iter()
        .map(|op| op["operationId"].as_str().unwrap().to_owned())
        .collect()
}

/// The first column of a table's rows (the header left out).
fn table_ids(run: &Run) -> Vec<String> {
    let mut lines = run.stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("OPERATION"), "{}", run.stdout);
    lines
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_follows_every_page_as_a_table_and_as_one_json_array() {
    let emulator = start(2).await;
    let mut added = Vec::new();
    for i in 0..7 {
        let spec = if i % 3 == 0 {
            OperationSpec::failing().with_timings(Timings::immediate())
        } else {
            done()
        };
        added.push(emulator.add_operation(spec.with_id(format!("op-{i}"))));
    }
    for version in ["2026-06-01", "2022-10-01", "v2"] {
        let before = emulator.stats().list_requests;
        let json = run(
            &emulator,
            &["list", "--output", "json", "--api-version", version],
        );
        assert_eq!(json.code, 0, "{version}: {json:?}");
        assert_eq!(
            ids(&json),
            added,
            "{version}: every operation once, in order"
        );
        // Seven operations two a page: four pages, one request each.
        assert_eq!(emulator.stats().list_requests - before, 4, "{version}");
        let first = &json.json()[0];
        assert_eq!(first["status"], "Failed");
        match version {
            "v2" => assert_eq!(first["updateId"]["name"], "toaster"),
            _ => assert_eq!(first["update"]["updateId"]["name"], "toaster"),
        }
    }

    let text = run(&emulator, &["list"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert_eq!(table_ids(&text), added);
    let header = text.stdout.lines().next().unwrap();
    for column in ["OPERATION", "STATUS", "CREATED", "LAST ACTION", "UPDATE"] {
        assert!(header.contains(column), "{header}");
    }
    let row = text.stdout.lines().nth(1).unwrap();
    assert!(
        row.contains("Failed") && row.contains("contoso/toaster/1.0.0"),
        "{row}"
    );
    // Columns line up: every row's status starts where the header's does.
    let at = header.find("STATUS").unwrap();
    for line in text.stdout.lines().skip(1) {
        assert!(matches!(&line[at..at + 1], "F" | "S"), "{line}");
    }
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_by_status_raw_filter_and_top() {
    let emulator = start(2).await;
    emulator.add_operation(running().with_id("run-a"));
    emulator.add_operation(done().with_id("done-b"));
    emulator.add_operation(running().with_id("run-c"));
    emulator.add_operation(
        OperationSpec::failing()
            .with_id("fail-d")
            .with_timings(Timings::immediate()),
    );
    emulator.add_operation(running().with_id("run-e"));

    let listed = |args: &[&str]| {
        let mut all = vec!["list", "--output", "json"];
        all.extend_from_slice(args);
        let run = run(&emulator, &all);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        ids(&run)
    };
    assert_eq!(
        listed(&["--status", "running"]),
        ["run-a", "run-c", "run-e"]
    );
    assert_eq!(
        listed(&["--status", "not-started,running"]),
        ["run-a", "run-c", "run-e"],
        "NotStarted matches none"
    );
    assert_eq!(
        listed(&["--status", "succeeded,failed"]),
        ["done-b", "fail-d"]
    );
    assert_eq!(
        listed(&["--status", "failed", "--api-version", "v2"]),
        ["fail-d"]
    );
    assert_eq!(listed(&["--filter", "status eq 'Succeeded'"]), ["done-b"]);
    assert_eq!(listed(&["--top", "3"]), ["run-a", "done-b", "run-c"]);
    assert_eq!(listed(&["--top", "1"]), ["run-a"]);
    assert_eq!(
        listed(&["--top", "2", "--status", "running"]),
        ["run-a", "run-c"]
    );
    assert_eq!(listed(&["--top", "100"]).len(), 5);

    // An empty list is an empty array, and a table of its header alone.
    let none = run(
        &emulator,
        &["list", "--status", "not-started", "--output", "json"],
    );
    assert_eq!(
        (none.code, none.json()),
        (0, serde_json::json!([])),
        "{none:?}"
    );
    let none = run(&emulator, &["list", "--status", "not-started"]);
    assert_eq!(none.stdout.lines().count(), 1, "{none:?}");

    let before = emulator.stats().requests;
    for bad in [
        &["list", "--status", "done"][..],
        &["list", "--top", "0"],
        &["list", "--top", "-1"],
        &[
            "list",
            "--status",
            "running",
            "--filter",
            "status eq 'Running'",
        ],
    ] {
        let refused = run(&emulator, bad);
        assert_eq!(refused.code, 2, "{bad:?}: {refused:?}");
    }
    assert_eq!(emulator.stats().requests, before, "nothing was sent");

    // A filter the service does not take is its 400: a usage error, with its message.
    let refused = run(&emulator, &["list", "--filter", "name eq 'x'"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("HTTP 400"), "{}", refused.stderr);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_device_lists_device_operations_only() {
    let emulator = start(2).await;
    emulator.add_operation(done().with_id("update-1"));
    let mut devices = Vec::new();
    for i in 0..4 {
        devices.push(emulator.add_operation(done().device().with_id(format!("device-{i}"))));
    }
    devices.push(
        emulator.add_operation(
            OperationSpec::failing()
                .device()
                .with_id("device-failed")
                .with_timings(Timings::immediate()),
        ),
    );
    emulator.add_operation(done().with_id("update-2"));
    for version in ["2026-06-01", "2022-10-01"] {
        let listed = run(
            &emulator,
            &[
                "list",
                "--kind",
                "device",
                "--output",
                "json",
                "--api-version",
                version,
            ],
        );
        assert_eq!(listed.code, 0, "{version}: {listed:?}");
        assert_eq!(ids(&listed), devices, "{version}");
        for op in listed.json().as_array().unwrap() {
            assert!(op.get("update").is_none(), "{op}");
        }
    }
    let failed = run(
        &emulator,
        &[
            "list", "--kind", "device", "--status", "failed", "--output", "json",
        ],
    );
    assert_eq!(ids(&failed), ["device-failed"], "{failed:?}");

    let table = run(&emulator, &["list", "--kind", "device"]);
    assert_eq!(table.code, 0, "{table:?}");
    assert_eq!(table_ids(&table), devices);
    assert!(!table.stdout.contains("UPDATE"), "{}", table.stdout);

    // The legacy API has no device-management operations: refused before any request.
    let before = emulator.stats().requests;
    let refused = run(
        &emulator,
        &["list", "--kind", "device", "--api-version", "v2"],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("v2 has no device operations"),
        "{}",
        refused.stderr
    );
    assert_eq!(emulator.stats().requests, before, "nothing was sent");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_fails_exits_6_and_json_output_stays_one_array() {
    let mut config = Config::default();
    config
        .faults
        .push(FaultRule::new(FaultKind::Status(500)).on_path("/updates/operations"));
    let emulator = adu_emulator::start(config).await.unwrap();
    emulator.add_operation(done());
    let json = run(&emulator, &["list", "--output", "json"]);
    assert_eq!(json.code, 6, "{json:?}");
    assert_eq!(json.json(), serde_json::json!([]), "{json:?}");
    let error = json.stderr_json();
    assert_eq!(error["error"]["status"], 500);
    let text = run(&emulator, &["list"]);
    assert_eq!(text.code, 6, "{text:?}");
    assert!(text.stdout.is_empty(), "{text:?}");
    assert!(text.stderr.contains("HTTP 500"), "{}", text.stderr);
    assert!(emulator.stats().faults_injected >= 4, "each list retried");
    emulator.shutdown().await;
}

/// `adu operation list | head`: once the reader has gone, the list ends quietly with exit 0
/// (no error on stderr, no further page asked for), in both formats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_the_list_quietly() {
    let emulator = start(1).await;
    for i in 0..3 {
        emulator.add_operation(done().with_id(format!("op-{i}")));
    }
    for (format, pages) in [("json", 1), ("text", 3)] {
        let before = emulator.stats().list_requests;
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let url = emulator.base_url();
        let token = emulator.issue_token();
        let output = common::command(&[("ADU_ACCESS_TOKEN", &token)])
            .args(["operation", "list", "--output", format])
            .args(["--endpoint", &url, "--instance", "blue"])
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
        // JSON stops at its first write after the first page (of three); the table is
        // written only once every page is read.
        assert_eq!(emulator.stats().list_requests - before, pages, "{format}");
    }
    // `show` and `completions` too (they used to panic or exit 6).
    let (url, token) = (emulator.base_url(), emulator.issue_token());
    let show = [
        "operation",
        "show",
        "op-0",
        "--endpoint",
        &url,
        "--instance",
        "blue",
    ];
    for args in [&show[..], &["completions", "bash"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = common::command(&[("ADU_ACCESS_TOKEN", &token)])
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    emulator.shutdown().await;
}
