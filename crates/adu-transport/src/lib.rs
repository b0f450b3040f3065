//! The Azure Device Update "get operation status" client, on hyper + rustls.
//!
//! This crate composes [`adu_model`] (requests, decoding, retry and poll decisions, all pure)
//! and [`adu_auth`] (credentials) into what an application calls:
//!
//! - [`DeviceUpdateClient`], with [`get_operation_status`](DeviceUpdateClient::get_operation_status)
//!   (one read, conditional with `If-None-Match`) and
//!   [`wait_for_operation`](DeviceUpdateClient::wait_for_operation) (polls until Succeeded or
//!   Failed, honouring Retry-After, with a deadline and drop-safe cancellation), also from an
//!   `Operation-Location` header value. The wait drives [`adu_model::Poller`] and hands its
//!   [`PollEvent`]s to [`WaitOptions::on_event`].
//! - [`list_operations`](DeviceUpdateClient::list_operations) (and
//!   [`list_operation_pages`](DeviceUpdateClient::list_operation_pages)): a `Stream` of the
//!   operations of a list, following `nextLink` one page per request through `adu-model`'s
//!   sans-IO `Pager`, each page with the same retries as a read.
//! - Retries for 408, 429, 500, 502, 503, 504, connection failures and timeouts, with
//!   exponential backoff and jitter, honouring `Retry-After`, `retry-after-ms` and
//!   `x-ms-retry-after-ms`; a 401 invalidates the token and retries once.
//! - Every request carries `User-Agent: adu-transport/<version>` and an
//!   `x-ms-client-request-id`, random per call and kept across that call's retries (each poll
//!   of a wait is a call); `tracing` spans (`adu_request`) record the operation id,
//!   attempt, status, request id and the service's trace id.
//! - The bearer token is only ever sent to the configured endpoint's origin, and never over
//!   plain http unless the host is loopback. Redirects are never followed.
//! - [`HttpTransport`]: the one-method HTTP seam (closures implement it);
//!   [`HyperTransport`] is the default, which also implements `oauth2`'s `AsyncHttpClient` so
//!   token requests share its TLS, timeouts and body cap (over HTTP/1.1). Each try goes
//!   through [`HttpTransport::call_with_timeout`], which puts a timer around a transport
//!   without a deadline of its own; [`HyperTransport`] applies the earlier of the two.
//! - [`HyperTransport`] honours `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (see
//!   [`HyperTransportBuilder::proxy_from_env`]): a proxied request goes through a `CONNECT`
//!   tunnel, so TLS stays end to end; loopback and link-local destinations are never proxied.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use adu_auth::StaticTokenCredential;
//! use adu_transport::{DeviceUpdateClient, GetOperationOutcome, GetOptions, WaitOptions};
//!
//! # async fn demo() -> Result<(), adu_transport::Error> {
//! let credential = Arc::new(StaticTokenCredential::from_secret("eyJ0eXAi..."));
//! let client = DeviceUpdateClient::builder("contoso.api.adu.microsoft.com", "blue", credential)
//!     .build()?;
//!
//! // One read.
//! match client.get_operation_status("e4491c53", &GetOptions::default()).await? {
//!     GetOperationOutcome::Operation(r) => println!("{}", r.operation.status().as_str()),
//!     GetOperationOutcome::NotModified { .. } => println!("unchanged"),
//!     _ => {}
//! }
//!
//! // Or wait for the end. A Failed operation is Ok: check its status.
//! let done = client
//!     .wait_for_operation("e4491c53", WaitOptions::default().with_timeout(Duration::from_secs(900)))
//!     .await?;
//! println!("{} (trace id {:?})", done.operation.status().as_str(), done.operation.trace_id());
//! # Ok(()) }
//! ```
//!
//! With a custom HTTP stack, pass any closure as the transport:
//!
//! ```
//! use std::sync::Arc;
//! use adu_auth::StaticTokenCredential;
//! use adu_transport::{DeviceUpdateClient, GetOperationOutcome, GetOptions, TransportError};
//!
//! let transport = |request: http::Request<Vec<u8>>| async move {
//!     assert!(request.headers().contains_key("x-ms-client-request-id"));
//!     let body = br#"{"operationId":"op1","status":"Succeeded","createdDateTime":"2022-01-05T18:24:39Z","lastActionDateTime":"2022-01-05T18:25:01Z"}"#;
//!     Ok::<_, TransportError>(http::Response::builder().status(200).body(body.to_vec()).unwrap())
//! };
//! let client = DeviceUpdateClient::builder(
//!     "contoso.api.adu.microsoft.com",
//!     "blue",
//!     Arc::new(StaticTokenCredential::from_secret("token")),
//! )
//! .transport(Arc::new(transport))
//! .build()
//! .unwrap();
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! # rt.block_on(async {
//! let outcome = client.get_operation_status("op1", &GetOptions::default()).await.unwrap();
//! assert!(matches!(outcome, GetOperationOutcome::Operation(r) if r.operation.is_terminal()));
//! # });
//! ```
//!
//! # Features
//!
//! - `native-roots` (default): trust the operating system's root certificates.
//! - `webpki-roots`: trust the Mozilla root store compiled into the binary.
//! - `http2`: allow HTTP/2 (through ALPN) for API requests when
//!   [`HyperTransportBuilder::http2`] is set. Token requests always use HTTP/1.1.
//!
//! TLS always uses rustls with its default `aws-lc-rs` crypto provider (post-quantum hybrid
//! key exchange preferred), chosen explicitly. Extra roots (private endpoints, the emulator's
//! https mode) are added with [`HyperTransportBuilder::add_root_certificates_pem_file`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
pub mod error;
mod list;
mod transport;

pub use adu_model;
pub use adu_model::{
    http, models::OperationStatus, AnyOperation, ApiVersion, GetOperationOutcome, ListOptions,
    OperationFilter, OperationKind, OperationResponse, PollEvent, PollPolicy, RetryPolicy,
    ServiceError, ServiceErrorKind,
};
pub use client::{
    DeviceUpdateClient, DeviceUpdateClientBuilder, GetOptions, WaitOptions,
    DEFAULT_PER_TRY_TIMEOUT, USER_AGENT_PRODUCT,
};
pub use error::{Error, TransportError, TransportErrorKind};
pub use transport::{
    BoxFuture, HttpTransport, HyperTransport, HyperTransportBuilder, OAuth2HttpClient,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_TIMEOUT,
};

/// The README's Rust examples are compiled (and run, unless marked `no_run`) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The workspace README's Rust example too: this crate depends on every crate it uses.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct WorkspaceReadmeDoctests;
