//! `adu-bench list`: the emulator's seeded operations listed by A (the client's stream) or
//! by B (a bare hyper-util loop following the same `nextLink`s), one listing per command.

use std::pin::pin;
use std::time::Instant;

use adu_model::models::UpdateOperationsList;
use adu_model::{ApiVersion, ListOptions, OperationKind};
use adu_transport::DeviceUpdateClient;
use futures_util::TryStreamExt as _;
use serde_json::json;

use crate::common::{
    client, credential, peak_rss_kib, required, runtime, serve_stdin, token, transport, BareClient,
    INSTANCE, LIST_PREFIX,
};

struct Listers {
    a: DeviceUpdateClient,
    b: BareClient,
    endpoint: String,
}

/// What a listing saw: how many operations came, each the next seeded one, and what
/// ended it early (an error, or an operation out of order).
struct Seen {
    items: u64,
    problem: Option<String>,
}

impl Seen {
    /// Counts operation `id` if it is the next in seeding order (`list-0`, `list-1`, ..),
    /// else records the problem; `false` once there is one.
    fn next(&mut self, id: &str) -> bool {
        let n = id
            .strip_prefix(LIST_PREFIX)
            .and_then(|n| n.parse::<u64>().ok());
        if n == Some(self.items) {
            self.items += 1;
        } else {
            let expected = self.items;
            self.problem = Some(format!("{id} came where {LIST_PREFIX}{expected} should"));
        }
        self.problem.is_none()
    }
}

impl Listers {
    /// A: the first `top` operations through the client's stream, each dropped once counted.
    async fn a(&self, top: u32, seen: &mut Seen) -> Result<(), String> {
        let options = ListOptions::default().with_top(top);
        let mut operations = pin!(self.a.list_operations(OperationKind::Update, options));
        while let Some(op) = operations.try_next().await.map_err(|e| format!("A: {e}"))? {
            if !seen.next(op.operation_id()) {
                break;
            }
        }
        Ok(())
    }

    /// B: GET the first page (with `top`), decode it with `serde_json` into the generated
    /// list model, then GET its `nextLink` until a page has none.
    async fn b(&self, top: u32, seen: &mut Seen) -> Result<(), String> {
        let version = ApiVersion::default();
        let mut link = format!(
            "{}/deviceUpdate/{INSTANCE}/updates/operations?top={top}&api-version={version}",
            self.endpoint
        );
        loop {
            let uri = link.parse().map_err(|e| format!("B: {link}: {e}"))?;
            let body = self.b.get(uri).await?;
            let page: UpdateOperationsList =
                serde_json::from_slice(&body).map_err(|e| format!("B decode: {e}"))?;
            for op in page.value {
                if !seen.next(&op.operation_id) {
                    return Ok(());
                }
            }
            link = match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) if next.starts_with('/') => format!("{}{next}", self.endpoint),
                Some(next) => next,
                None => return Ok(()),
            };
        }
    }

    async fn list(&self, variant: &str, top: u32) -> Seen {
        let mut seen = Seen {
            items: 0,
            problem: None,
        };
        let ended = match variant {
            "a" => self.a(top, &mut seen).await,
            _ => self.b(top, &mut seen).await,
        };
        if let Err(e) = ended {
            seen.problem.get_or_insert(e);
        }
        seen
    }
}

/// Prints `ready` once A and B have each tried to list one operation (the token fetched and
/// a connection open; a failure shows in the runs), then answers `run a|b TOP` (list the first TOP operations) with the
/// count, the time, what went wrong if anything, and this process's peak RSS so far.
pub fn run(args: &[String]) -> Result<(), String> {
    let endpoint = required(args, "--endpoint")?;
    let cert = required(args, "--cert")?;
    let rt = runtime()?;
    let listers = rt.block_on(async {
        let transport = transport(cert)?;
        let credential = credential(endpoint, &transport)?;
        let token = token(&credential).await?;
        let listers = Listers {
            a: client(endpoint, &transport, credential)?,
            b: BareClient::new(cert, &token)?,
            endpoint: endpoint.to_owned(),
        };
        for variant in ["a", "b"] {
            listers.list(variant, 1).await;
        }
        Ok::<_, String>(listers)
    })?;
    println!("ready");
    serve_stdin(|words| match words {
        ["run", variant @ ("a" | "b"), top] => {
            let top = top.parse().map_err(|_| "bad top")?;
            let started = Instant::now();
            let seen = rt.block_on(listers.list(variant, top));
            Ok(json!({
                "variant": variant,
                "items": seen.items,
                "secs": started.elapsed().as_secs_f64(),
                "problem": seen.problem,
                "peak_rss_kib": peak_rss_kib(),
            }))
        }
        _ => Err(format!("unknown command {:?}", words.join(" "))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_counts_operations_in_seeding_order_and_stops_at_the_first_out_of_place() {
        let mut seen = Seen {
            items: 0,
            problem: None,
        };
        assert!(seen.next("list-0"));
        assert!(seen.next("list-1"));
        assert!(!seen.next("list-3"));
        assert_eq!(seen.items, 2);
        assert_eq!(
            seen.problem.as_deref(),
            Some("list-3 came where list-2 should")
        );
        let mut other = Seen {
            items: 0,
            problem: None,
        };
        assert!(!other.next("bench-op"));
        assert_eq!(other.items, 0);
    }
}
