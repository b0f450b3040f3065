//! The `adu_request` span of each try: what is recorded on it, and that nothing is recorded
//! on a caller's span when it is filtered out.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use adu_auth::StaticTokenCredential;
use adu_transport::{DeviceUpdateClient, GetOperationOutcome, GetOptions, TransportError};
use support::current_body;

const OP: &str = "e4491c53-6a7e-4b8c-8f44-2d1b3e8e1a01";

/// Collects what the fmt subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads one operation with `filter` as the subscriber's filter, inside a caller's span that
/// has a `status` field of its own, and returns the tracing output.
fn traced_get(filter: &str) -> String {
    traced_get_with(filter, |_| {
        http::Response::builder()
            .status(200)
            .header("x-ms-request-id", "req-7")
            .body(current_body(OP, "Running", "e1").into_bytes())
            .unwrap()
    })
}

/// Like [`traced_get`], with the `n`th try (from 0) answered by `answer(n)`.
fn traced_get_with(
    filter: &str,
    answer: impl Fn(usize) -> http::Response<Vec<u8>> + Send + Sync + 'static,
) -> String {
    let capture = Captured::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // A second registered dispatcher makes tracing decide each callsite's interest per call,
    // from the calling thread's subscriber, not once from whichever test's filter came first.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let answer = Arc::new(answer);
    let transport = move |_request: http::Request<Vec<u8>>| {
        let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let response = answer(n);
        async move { Ok::<_, TransportError>(response) }
    };
    let client = DeviceUpdateClient::builder(
        "contoso.api.adu.microsoft.com",
        "blue",
        Arc::new(StaticTokenCredential::from_secret("secret-token")),
    )
    .transport(Arc::new(transport))
    .retry_policy(support::fast_retries())
    .build()
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let outer = tracing::info_span!(
            target: "caller",
            "caller_span",
            status = tracing::field::Empty
        );
        let _enter = outer.enter();
        let outcome = client
            .get_operation_status(OP, &GetOptions::default())
            .await
            .unwrap();
        assert!(matches!(outcome, GetOperationOutcome::Operation(_)));
    });
    drop(_guard);
    let text = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    text
}

#[test]
fn status_and_trace_id_are_recorded_on_the_request_span() {
    let text = traced_get("trace");
    let request = text
        .lines()
        .find(|l| l.contains("adu_request{") && l.contains("close"))
        .unwrap_or_else(|| panic!("no closed adu_request span in:\n{text}"));
    assert!(request.contains("status=200"), "{request}");
    // The header's request id is recorded first, then the operation's own trace id.
    assert!(
        request.contains("trace_id=\"2b0ea0a3b0a1d2c4b4e9b5f6a7c8d9e0\""),
        "{request}"
    );
    let caller = text
        .lines()
        .find(|l| l.contains("caller_span") && !l.contains("adu_request") && l.contains("close"))
        .unwrap_or_else(|| panic!("no closed caller span in:\n{text}"));
    assert!(!caller.contains("status="), "{caller}");
}

#[test]
fn a_filtered_out_request_span_records_nothing_on_the_callers_span() {
    let text = traced_get("trace,adu_transport=off");
    assert!(!text.contains("adu_request"), "{text}");
    let caller = text
        .lines()
        .find(|l| l.contains("caller_span") && !l.contains("adu_request") && l.contains("close"))
        .unwrap_or_else(|| panic!("no closed caller span in:\n{text}"));
    // The try's status belongs to its own span; with that span disabled it goes nowhere,
    // not into whatever span the caller has entered.
    assert!(!caller.contains("status="), "{caller}");
}

/// A service error on the first try: its trace id and the "service error" event belong to
/// that try's span; the second try's span has its own.
#[test]
fn a_service_error_is_recorded_on_its_own_tries_span() {
    let text = traced_get_with("trace", |n| {
        if n == 0 {
            http::Response::builder()
                .status(503)
                .body(
                    br#"{"error":{"code":"ServiceUnavailable","message":"Try later."},"traceId":"0123456789abcdef0123456789abcdef"}"#
                        .to_vec(),
                )
                .unwrap()
        } else {
            http::Response::builder()
                .status(200)
                .body(current_body(OP, "Running", "e1").into_bytes())
                .unwrap()
        }
    });
    let closed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("adu_request{") && l.contains("close"))
        .collect();
    assert_eq!(closed.len(), 2, "two tries in:\n{text}");
    assert!(closed[0].contains("status=503"), "{}", closed[0]);
    assert!(
        closed[0].contains("trace_id=\"0123456789abcdef0123456789abcdef\""),
        "{}",
        closed[0]
    );
    assert!(closed[1].contains("status=200"), "{}", closed[1]);
    let event = text
        .lines()
        .find(|l| l.contains("service error"))
        .unwrap_or_else(|| panic!("no service error event in:\n{text}"));
    assert!(
        event.contains("adu_request{"),
        "inside the try's span: {event}"
    );
    assert!(event.contains("code=\"ServiceUnavailable\""), "{event}");
}
