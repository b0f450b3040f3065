//! Waits for an operation with [`adu_model::Poller`], a blocking HTTP client (`ureq`) and no
//! async runtime: the poller decides what comes next, this loop sends, decodes and sleeps.
//!
//! Against the emulator, over plain http on loopback (authentication off):
//!
//! ```text
//! adu emulator serve --port 8080 --no-auth &
//! curl -si -X POST 'http://127.0.0.1:8080/deviceUpdate/blue/updates:import?api-version=2026-06-01' \
//!     -H 'content-type: application/json' \
//!     -d '[{"importManifest":{"url":"https://example.com/contoso.toaster.1.0.0.importmanifest.json"}}]'
//! # The answer's Operation-Location ends with the operation id:
//! cargo run -p adu-model --example blocking_wait -- http://127.0.0.1:8080 blue OPERATION_ID
//! ```
//!
//! A fourth argument, `device`, waits for a device-management operation (a device import,
//! `POST .../management/devices:import`) instead: the same poller, decoded as that kind.
//!
//! With authentication on, put an access token in `ADU_TOKEN`. This example speaks plain
//! http only (`ureq` is built without TLS), which `Endpoint::parse` allows to loopback only.

use std::time::{Duration, Instant, SystemTime};

use adu_model::http::{self, header::AUTHORIZATION, HeaderValue};
use adu_model::{
    decode_get_operation_response, operation_uri, ApiVersion, Endpoint, Error, InstanceId,
    OperationId, OperationKind, PollAction, PollEvent, PollPolicy, Poller,
};

/// The largest answer read: an operation is a few KiB.
const MAX_BODY: u64 = 1 << 20;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(endpoint), Some(instance), Some(id)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: blocking_wait ENDPOINT INSTANCE OPERATION_ID [update|device]");
        std::process::exit(2);
    };
    let kind = match args.next().as_deref() {
        None | Some("update") => OperationKind::Update,
        Some("device") => OperationKind::Device,
        Some(other) => return Err(format!("unknown kind {other:?}: use update or device").into()),
    };
    let endpoint = Endpoint::parse(&endpoint)?;
    let version = ApiVersion::default();
    let uri = operation_uri(
        &endpoint,
        &InstanceId::new(instance)?,
        &OperationId::new(id)?,
        kind,
        version,
    )?;
    let bearer = match std::env::var("ADU_TOKEN") {
        Ok(token) => {
            let mut value = HeaderValue::try_from(format!("Bearer {token}"))?;
            value.set_sensitive(true);
            Some(value)
        }
        Err(_) => None,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        // Error statuses are the service's answers: decoded below, not ureq errors.
        .http_status_as_error(false)
        // A redirect could carry the token elsewhere: it is answered, not followed.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();

    let deadline = Instant::now() + Duration::from_secs(600);
    let mut poller = Poller::<String>::new(uri, PollPolicy::default(), Some(deadline));
    loop {
        let action = poller.next_action(Instant::now());
        show_events(&mut poller);
        match action {
            PollAction::Send(mut request) => {
                if let Some(bearer) = &bearer {
                    request.headers_mut().insert(AUTHORIZATION, bearer.clone());
                }
                match send(&agent, request) {
                    Ok(response) => {
                        match decode_get_operation_response(
                            version,
                            kind,
                            &response,
                            SystemTime::now(),
                        ) {
                            Ok(outcome) => poller.handle_outcome(outcome, Instant::now()),
                            // Throttled or busy: the poller decides when to ask again.
                            Err(Error::Service(e)) if e.is_retryable() => poller.handle_failure(
                                e.to_string(),
                                e.retry_after(),
                                Instant::now(),
                            ),
                            Err(e) => return Err(e.into()),
                        }
                    }
                    // No connection, a timeout: passing too.
                    Err(e) => poller.handle_failure(e.to_string(), None, Instant::now()),
                }
                show_events(&mut poller);
            }
            PollAction::SleepUntil(at) => {
                std::thread::sleep(at.saturating_duration_since(Instant::now()))
            }
            PollAction::Done(response) => {
                let operation = &response.operation;
                println!(
                    "{} {}",
                    operation.operation_id(),
                    operation.status().as_str()
                );
                if let Some(error) = operation.error() {
                    println!("{}: {}", error.code, error.message);
                }
                return Ok(());
            }
            PollAction::Failed(error) => return Err(error.into()),
        }
    }
}

/// One exchange with a bounded read of the body.
fn send(
    agent: &ureq::Agent,
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, ureq::Error> {
    let (parts, mut body) = agent.run(request)?.into_parts();
    let body = body.with_config().limit(MAX_BODY).read_to_vec()?;
    Ok(http::Response::from_parts(parts, body))
}

fn show_events(poller: &mut Poller<String>) {
    while let Some(event) = poller.poll_event() {
        match event {
            PollEvent::Polling { poll } => eprintln!("poll {poll}"),
            PollEvent::StatusChanged(operation) => {
                // The service's text: shown with its control characters escaped.
                eprintln!("status {}", operation.status().as_str().escape_debug())
            }
            PollEvent::NotModified => eprintln!("not modified"),
            PollEvent::NextPoll { at } => eprintln!(
                "next poll in {:?}",
                at.saturating_duration_since(Instant::now())
            ),
            PollEvent::PollFailed { message, delay, .. } => eprintln!(
                "poll failed ({}); again in {delay:?}",
                message.escape_debug()
            ),
            _ => {}
        }
    }
}
