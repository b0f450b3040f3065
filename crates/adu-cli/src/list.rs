//! `adu operation list`: every page of the client's list stream, as a table or one JSON
//! array.

use std::io::Write as _;

use adu_model::{AnyOperation, OperationKind};
use adu_transport::{ListOptions, OperationFilter};
use futures_util::{Stream, StreamExt as _};

use crate::args::{GlobalArgs, ListArgs, OutputFormat};
use crate::exit::{Exit, Failure};
use crate::operation;
use crate::output;

/// `adu operation list`.
///
/// JSON is written as the pages come (one array, closed even when a later page fails, so
/// stdout stays one JSON document; the exit code and stderr say it is incomplete). The table
/// is written at the end, its columns as wide as the widest value.
pub async fn run(global: &GlobalArgs, args: &ListArgs) -> Result<Exit, Failure> {
    let kind = OperationKind::from(args.kind.kind);
    let client = operation::client(global, kind, None)?;
    let mut options = ListOptions::default();
    if !args.status.is_empty() {
        let statuses = args.status.iter().map(|&s| s.into()).collect();
        options = options.with_filter(OperationFilter::Statuses(statuses));
    }
    if let Some(filter) = &args.filter {
        options = options.with_filter(OperationFilter::Raw(filter.clone()));
    }
    if let Some(top) = args.top {
        options = options.with_top(top);
    }
    let mut failed = None;
    let written = write_list(
        global.output,
        kind,
        client.list_operations(kind, options),
        &mut failed,
    )
    .await;
    match (failed, written) {
        (Some(failure), _) => Err(failure),
        // The reader has gone (`adu operation list | head`): it wants no more, which is not
        // a failure; no further page is asked for.
        (None, Err(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Success),
        (None, Err(error)) => Err(write_failure(error)),
        (None, Ok(())) => Ok(Exit::Success),
    }
}

/// Writes the list to stdout as its pages come; a page that fails ends it, its failure put
/// in `failed`. Stops at the first write that fails.
async fn write_list(
    format: OutputFormat,
    kind: OperationKind,
    operations: impl Stream<Item = Result<AnyOperation, adu_transport::Error>>,
    failed: &mut Option<Failure>,
) -> std::io::Result<()> {
    let mut operations = std::pin::pin!(operations);
    // Not locked across the awaits: each write takes the lock.
    let mut stdout = std::io::stdout();
    let mut table = Vec::new();
    let mut count = 0usize;
    if format == OutputFormat::Json {
        stdout.write_all(b"[")?;
    }
    while let Some(item) = operations.next().await {
        let operation = match item {
            Ok(operation) => operation,
            Err(error) => {
                *failed = Some(Failure::from_client(&error));
                break;
            }
        };
        match format {
            OutputFormat::Json => {
                let separator = if count == 0 { "\n  " } else { ",\n  " };
                // Indented as an element of a pretty array (a JSON string holds no raw line
                // break, so every '\n' is between tokens).
                let json = output::operation_json(&operation).replace('\n', "\n  ");
                stdout.write_all(separator.as_bytes())?;
                stdout.write_all(json.as_bytes())?;
            }
            OutputFormat::Text => table.push(operation),
        }
        count += 1;
    }
    match format {
        OutputFormat::Json => stdout.write_all(if count == 0 { b"]\n" } else { b"\n]\n" })?,
        OutputFormat::Text if failed.is_none() || !table.is_empty() => {
            stdout.write_all(output::operations_table(&table, kind).as_bytes())?;
        }
        OutputFormat::Text => {}
    }
    stdout.flush()
}

fn write_failure(error: std::io::Error) -> Failure {
    Failure::new(
        Exit::Service,
        format!("cannot write the list: {error}"),
        "check where stdout goes",
    )
}
