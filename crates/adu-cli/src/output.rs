//! Rendering, all pure: operations as text or JSON (stdout), failures as one paragraph or
//! one JSON document (stderr).

use std::borrow::Cow;
use std::fmt::Write as _;

use adu_model::models::{Error as ModelError, InnerError};
use adu_model::{AnyOperation, OperationKind};
use serde_json::json;

use crate::exit::Failure;

/// The operation as one JSON document, exactly as the service's schema names its fields.
pub fn operation_json(operation: &AnyOperation) -> String {
    // Serializing plain data (strings, enums as strings) cannot fail; fall back to an empty
    // object rather than panic.
    serde_json::to_string_pretty(operation).unwrap_or_else(|_| "{}".to_owned())
}

/// Server text made safe to print on a terminal: control characters (C0 with line breaks,
/// DEL, C1) and the bidirectional formatting characters are shown as `\u{..}` escapes, so no
/// answer can move the cursor, retitle the window, clear the screen, start a line of its own
/// or reorder what is shown. Text without them is returned as it is.
// `str::escape_debug` would also escape quotes and backslashes in ordinary text, and
// strip-ansi-escapes drops what it removes instead of showing it, so the escape is written here.
pub fn plain(text: &str) -> Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A readable summary of the operation, with the whole error chain and the trace id.
pub fn operation_text(operation: &AnyOperation) -> String {
    let mut out = String::new();
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<13}{}", plain(value));
    };
    row("Operation", operation.operation_id());
    row("Status", operation.status().as_str());
    if let Some(update) = operation.update_id() {
        row(
            "Update",
            &format!("{}/{}/{}", update.provider, update.name, update.version),
        );
    }
    if let AnyOperation::Current(op) = operation {
        if let Some(name) = op.update.as_ref().and_then(|u| u.friendly_name.as_deref()) {
            row("Update name", name);
        }
    }
    row("Created", operation.created_date_time().as_str());
    row("Last action", operation.last_action_date_time().as_str());
    if let Some(location) = operation.resource_location() {
        row("Resource", location);
    }
    if let Some(etag) = operation.etag() {
        row("ETag", etag);
    }
    row("Trace id", operation.trace_id().unwrap_or("(none)"));
    if let Some(error) = operation.error() {
        out.push_str("Error\n");
        write_error(&mut out, error, 1);
    }
    out
}

/// Operations as a table, one row each: id, status, created, last action and (for update
/// operations) the update, in columns as wide as their widest value.
pub fn operations_table(operations: &[AnyOperation], kind: OperationKind) -> String {
    let mut header = vec!["OPERATION", "STATUS", "CREATED", "LAST ACTION"];
    if kind == OperationKind::Update {
        header.push("UPDATE");
    }
    let rows = operations.iter().map(|op| {
        let mut row = vec![
            plain(op.operation_id()).into_owned(),
            plain(op.status().as_str()).into_owned(),
            plain(op.created_date_time().as_str()).into_owned(),
            plain(op.last_action_date_time().as_str()).into_owned(),
        ];
        if kind == OperationKind::Update {
            row.push(match op.update_id() {
                Some(u) => plain(&format!("{}/{}/{}", u.provider, u.name, u.version)).into_owned(),
                None => "-".to_owned(),
            });
        }
        row
    });
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn write_error(out: &mut String, error: &ModelError, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        out,
        "{pad}{}: {}",
        plain(&error.code),
        plain(&error.message)
    );
    if let Some(target) = &error.target {
        let _ = writeln!(out, "{pad}  target: {}", plain(target));
    }
    if let Some(when) = &error.occurred_date_time {
        let _ = writeln!(out, "{pad}  occurred: {}", plain(when.as_str()));
    }
    let mut inner = error.innererror.as_ref();
    let mut level = depth + 1;
    while let Some(e) = inner {
        write_inner(out, e, level);
        inner = e.inner_error.as_deref();
        level += 1;
    }
    if let Some(details) = error.details.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "{pad}  details:");
        for detail in details {
            write_error(out, detail, depth + 2);
        }
    }
}

fn write_inner(out: &mut String, inner: &InnerError, level: usize) {
    let pad = "  ".repeat(level);
    let code = plain(&inner.code);
    match &inner.message {
        Some(message) => {
            let _ = writeln!(out, "{pad}inner error {code}: {}", plain(message));
        }
        None => {
            let _ = writeln!(out, "{pad}inner error {code}");
        }
    }
    if let Some(detail) = &inner.error_detail {
        let _ = writeln!(out, "{pad}  detail: {}", plain(detail));
    }
}

/// A failure as one readable paragraph (without a trailing newline), starting `error:`.
pub fn failure_text(failure: &Failure) -> String {
    let mut text = format!("error: {}", failure.message);
    for cause in &failure.causes {
        if !failure.message.contains(cause.as_str()) {
            let _ = write!(text, ": {cause}");
        }
    }
    text.push('.');
    match (&failure.error_code, &failure.error_message) {
        (Some(code), Some(message)) => {
            let _ = write!(text, " The server said {code}: {}", trim_period(message));
            text.push('.');
        }
        (Some(code), None) => {
            let _ = write!(text, " The server said {code}.");
        }
        (None, Some(message)) => {
            let _ = write!(text, " The server said: {}.", trim_period(message));
        }
        (None, None) => {}
    }
    if let Some(innermost) = &failure.innermost {
        let _ = write!(text, " Innermost error: {}.", trim_period(innermost));
    }
    if let Some(status) = &failure.last_status {
        let _ = write!(text, " Last status seen: {status}.");
    }
    if let Some(trace) = &failure.trace_id {
        let _ = write!(text, " Trace id: {trace}.");
    }
    if let Some(hint) = &failure.hint {
        let _ = write!(text, " What to do: {}.", trim_period(hint));
    }
    let _ = write!(text, " (exit code {})", failure.exit.code());
    // One paragraph: nothing in it is meant to be a control character, and much of it is
    // the server's text.
    plain(&text).into_owned()
}

fn trim_period(text: &str) -> &str {
    text.trim().trim_end_matches('.')
}

/// A failure as one JSON document: `{"error": {...}}` with camelCase fields.
pub fn failure_json(failure: &Failure) -> String {
    json!({ "error": failure }).to_string()
}

/// A duration for people: `850ms`, `2.1s`, `1m05s`, `2h03m`.
// humantime's `format_duration` spells every unit (`2s 100ms`), not one rounded figure.
pub fn human_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{}h{:02}m", d.as_secs() / 3600, (d.as_secs() % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use std::time::Duration;

    fn failed_operation() -> AnyOperation {
        let body = r#"{
            "operationId": "e852",
            "status": "Failed",
            "update": {"updateId": {"provider": "contoso", "name": "toaster", "version": "1.0.0"},
                       "friendlyName": "Toaster"},
            "error": {"code": "UpdateImportFailed", "message": "Update import failed.",
                "details": [{"code": "D1", "message": "a detail"}],
                "innerError": {"code": "ImportFailed", "message": "Failed to import.",
                    "innerError": {"code": "FileDownloadFailed", "message": "Unable to download.",
                        "errorDetail": "Response status code does not indicate success: 403"}}},
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "lastActionDateTime": "2022-01-05T18:25:01.5555555+00:00",
            "createdDateTime": "2022-01-05T18:24:39Z",
            "etag": "\"abc\""
        }"#;
        AnyOperation::Current(serde_json::from_str(body).unwrap())
    }

    #[test]
    fn text_shows_the_whole_error_chain_and_trace_id() {
        let text = operation_text(&failed_operation());
        for expected in [
            "Operation    e852",
            "Status       Failed",
            "Update       contoso/toaster/1.0.0",
            "Update name  Toaster",
            "Trace id     0af7651916cd43dd8448eb211c80319c",
            "UpdateImportFailed: Update import failed.",
            "inner error ImportFailed: Failed to import.",
            "inner error FileDownloadFailed: Unable to download.",
            "detail: Response status code does not indicate success: 403",
            "D1: a detail",
            "Created      2022-01-05T18:24:39Z",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // Deeper levels are indented further.
        let outer = text.find("inner error ImportFailed").unwrap();
        let inner = text.find("inner error FileDownloadFailed").unwrap();
        let indent = |at: usize| at - text[..at].rfind('\n').unwrap() - 1;
        assert!(indent(inner) > indent(outer));
    }

    #[test]
    fn a_table_lines_its_columns_up_and_leaves_the_update_out_for_device_operations() {
        let op = |id: &str, status: &str| {
            let body = format!(
                r#"{{"operationId": "{id}", "status": "{status}",
                "update": {{"updateId": {{"provider": "p", "name": "n", "version": "1"}}}},
                "lastActionDateTime": "2026-06-02T10:01:00Z", "createdDateTime": "2026-06-02T10:00:00Z"}}"#
            );
            AnyOperation::Current(serde_json::from_str(&body).unwrap())
        };
        let ops = [
            op("short", "Running"),
            op("a-much-longer-id", r"Fail\u001b[2Jed"),
        ];
        let table = operations_table(&ops, OperationKind::Update);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("OPERATION         STATUS"), "{table}");
        let at = lines[0].find("CREATED").unwrap();
        assert_eq!(&lines[1][at..at + 10], "2026-06-02", "{table}");
        assert_eq!(&lines[2][at..at + 10], "2026-06-02", "{table}");
        assert!(lines[1].ends_with("p/n/1"), "{table}");
        assert!(lines[2].contains(r"Fail\u{1b}[2Jed"), "{table}");
        assert!(!table.contains('\u{1b}'), "{table:?}");
        let devices = operations_table(&ops, OperationKind::Device);
        assert!(
            !devices.contains("UPDATE") && !devices.contains("p/n/1"),
            "{devices}"
        );
        assert_eq!(
            operations_table(&[], OperationKind::Update).lines().count(),
            1
        );
    }

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        let body = r#"{
            "operationId": "e852", "status": "Fail\u001b[2Jed",
            "update": {"updateId": {"provider": "p", "name": "n", "version": "1"},
                       "friendlyName": "\u001b]0;PWNED\u0007\u001b[31mred"},
            "error": {"code": "C\r", "message": "line1\r\u001b[Kfake: Succeeded\nStatus       Succeeded",
                "innerError": {"code": "I\u009b", "errorDetail": "abc\u202edcba"}},
            "lastActionDateTime": "2022-01-05T18:25:01Z", "createdDateTime": "2022-01-05T18:24:39Z"
        }"#;
        let operation = AnyOperation::Current(serde_json::from_str(body).unwrap());
        let text = operation_text(&operation);
        // Only the rows' own line breaks remain; no escape, carriage return, C1 or bidi
        // control reaches the terminal.
        assert!(
            !text
                .chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{text:?}"
        );
        assert!(
            text.contains(r"line1\u{d}\u{1b}[Kfake: Succeeded\u{a}Status"),
            "{text}"
        );
        assert!(text.contains(r"Update name  \u{1b}]0;PWNED\u{7}"), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("Status")).count(), 1);

        let mut failure = Failure::new(Exit::Service, "the service failed", "retry");
        failure.error_message = Some("bad\u{1b}[2J".to_owned());
        let shown = failure_text(&failure);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains(r"bad\u{1b}[2J"), "{shown}");
        assert_eq!(plain("plain text · ünïcode"), "plain text · ünïcode");
    }

    #[test]
    fn json_uses_the_service_field_names() {
        let value: serde_json::Value =
            serde_json::from_str(&operation_json(&failed_operation())).unwrap();
        assert_eq!(value["operationId"], "e852");
        assert_eq!(value["status"], "Failed");
        assert_eq!(value["update"]["updateId"]["provider"], "contoso");
        assert_eq!(value["traceId"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(
            value["lastActionDateTime"],
            "2022-01-05T18:25:01.5555555+00:00"
        );
        assert_eq!(value["error"]["code"], "UpdateImportFailed");
        assert_eq!(
            value["error"]["innererror"]["innerError"]["errorDetail"],
            "Response status code does not indicate success: 403"
        );
        assert!(value.get("operation_id").is_none());
    }

    fn sample_failure() -> Failure {
        let mut f = Failure::new(
            Exit::NotFound,
            "the operation was not found (HTTP 404)",
            "check the operation id.",
        );
        f.status = Some(404);
        f.error_code = Some("OperationNotFound".into());
        f.error_message = Some("Operation not found.".into());
        f.innermost = Some("Lookup: no such row".into());
        f.trace_id = Some("t-1".into());
        f.causes = vec!["cause one".into()];
        f
    }

    #[test]
    fn failure_text_is_one_paragraph_with_everything() {
        let text = failure_text(&sample_failure());
        assert!(!text.contains('\n'));
        assert_eq!(
            text,
            "error: the operation was not found (HTTP 404): cause one. The server said \
             OperationNotFound: Operation not found. Innermost error: Lookup: no such row. \
             Trace id: t-1. What to do: check the operation id. (exit code 4)"
        );
    }

    #[test]
    fn failure_json_is_one_document() {
        let value: serde_json::Value =
            serde_json::from_str(&failure_json(&sample_failure())).unwrap();
        let e = &value["error"];
        assert_eq!(e["exitCode"], 4);
        assert_eq!(e["status"], 404);
        assert_eq!(e["code"], "OperationNotFound");
        assert_eq!(e["traceId"], "t-1");
        assert_eq!(e["innermostError"], "Lookup: no such row");
        assert_eq!(e["causes"][0], "cause one");
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(2100)), "2.1s");
        assert_eq!(human_duration(Duration::from_secs(65)), "1m05s");
        assert_eq!(human_duration(Duration::from_secs(7380)), "2h03m");
    }
}
