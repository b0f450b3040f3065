//! Sans-IO model of the Azure Device Update for IoT Hub "get operation status" API.
//!
//! Every import or deletion of an update in Device Update is a background
//! operation. This crate holds everything about asking for its status that
//! does not need a socket, a clock or a runtime:
//!
//! - the model types of both API versions ([`models`], generated from the
//!   project's own API description), with [`Timestamp`] for their dates and [`ETag`] for
//!   their entity tags;
//! - validated inputs ([`Endpoint`], [`InstanceId`], [`OperationId`], [`ApiVersion`]);
//! - request building ([`build_get_operation_request`],
//!   [`build_operation_location_request`]) producing `http::Request<Vec<u8>>`;
//! - response decoding ([`decode_get_operation_response`]) from
//!   `http::Response<Vec<u8>>` into a typed outcome or an actionable [`ServiceError`];
//! - pure decisions: [`parse_retry_after`], [`decide_retry`], [`decide_poll`],
//!   [`decide_failed_poll`].
//!
//! Out of scope: sending requests, sleeping, tokens. `adu-transport` drives
//! this crate over hyper; any other HTTP stack can do the same.
//!
//! ```
//! use std::time::SystemTime;
//! use adu_model::*;
//!
//! let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com")?;
//! let request = build_get_operation_request(
//!     &endpoint,
//!     &InstanceId::new("blue")?,
//!     &OperationId::new("e4491c53")?,
//!     ApiVersion::V2022_10_01,
//!     None,
//! )?;
//! assert_eq!(request.method(), "GET");
//!
//! // ...send it with any HTTP client, then:
//! let response = http::Response::builder().status(404)
//!     .body(br#"{"error":{"code":"OperationNotFound","message":"Operation not found."}}"#.to_vec())?;
//! let err = decode_get_operation_response(ApiVersion::V2022_10_01, &response, SystemTime::now()).unwrap_err();
//! assert_eq!(err.service().unwrap().code(), Some("OperationNotFound"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod endpoint;
mod error;
mod etag;
mod polling;
mod request;
mod response;
mod retry;
mod retry_after;
mod time;

// The generated model types live in `src/generated/` (written by `cargo xtask codegen`)
// and are public under one name, `models`.
#[path = "generated/mod.rs"]
pub mod models;

pub use http;

pub use endpoint::{
    is_loopback_host, ApiVersion, Endpoint, InstanceId, OperationId, UnknownApiVersion,
};
pub use error::{DecodeError, Error, InnerErrors, ServiceError, ServiceErrorKind, MAX_KEPT_BODY};
pub use etag::ETag;
pub use polling::{decide_failed_poll, decide_poll, PollDecision, PollPolicy};
pub use request::{
    api_version_of_location, build_get_operation_request, build_get_request,
    build_operation_location_request, encode_path_segment, operation_path, operation_uri,
    resolve_operation_location,
};
pub use response::{
    decode_get_operation_response, decode_service_error, AnyOperation, GetOperationOutcome,
    OperationResponse,
};
pub use retry::{
    backoff, decide_retry, is_retryable_status, RetryCause, RetryDecision, RetryPolicy,
};
pub use retry_after::{parse_retry_after, parse_retry_after_value};
pub use time::Timestamp;

/// The README's Rust examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
