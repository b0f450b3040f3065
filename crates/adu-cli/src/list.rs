//! `adu operation list`: every page of the client's list stream, as a table or one JSON
//! array.

use std::io::Write as _;

use adu_model::{AnyOperation, OperationKind};
use adu_transport::{ListOptions, OperationFilter};
use futures_util::StreamExt as _;

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
    let mut operations = std::pin::pin!(client.list_operations(kind, options));
    // Not locked across the awaits: each write takes the lock.
    let mut stdout = std::io::stdout();
    let mut table = Vec::new();
    let mut count = 0usize;
    let mut failed = None;
    if global.output == OutputFormat::Json {
        write(&mut stdout, b"[")?;
    }
    while let Some(item) = operations.next().await {
        let operation: AnyOperation = match item {
            Ok(operation) => operation,
            Err(error) => {
                failed = Some(Failure::from_client(&error));
                break;
            }
        };
        match global.output {
            OutputFormat::Json => {
                let separator = if count == 0 { "\n  " } else { ",\n  " };
                // Indented as an element of a pretty array (a JSON string holds no raw line
                // break, so every '\n' is between tokens).
                let json = output::operation_json(&operation).replace('\n', "\n  ");
                write(&mut stdout, separator.as_bytes())?;
                write(&mut stdout, json.as_bytes())?;
            }
            OutputFormat::Text => table.push(operation),
        }
        count += 1;
    }
    match global.output {
        OutputFormat::Json => write(&mut stdout, if count == 0 { b"]\n" } else { b"\n]\n" })?,
        OutputFormat::Text if failed.is_none() || !table.is_empty() => {
            write(
                &mut stdout,
                output::operations_table(&table, kind).as_bytes(),
            )?;
        }
        OutputFormat::Text => {}
    }
    stdout.flush().map_err(write_failure)?;
    match failed {
        Some(failure) => Err(failure),
        None => Ok(Exit::Success),
    }
}

/// Writes to stdout; a closed pipe (`adu operation list | head`) is an error, not a panic.
fn write(stdout: &mut std::io::Stdout, bytes: &[u8]) -> Result<(), Failure> {
    stdout.write_all(bytes).map_err(write_failure)
}

fn write_failure(error: std::io::Error) -> Failure {
    Failure::new(
        Exit::Service,
        format!("cannot write the list: {error}"),
        "check where stdout goes",
    )
}
