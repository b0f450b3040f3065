#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod endpoint;
mod error;
mod etag;
mod list;
mod polling;
mod request;
mod response;
mod retry;
mod retry_after;
mod time;
mod version;

// The generated model types live in `src/generated/` (written by `cargo xtask codegen`)
// and are public under one name, `models`.
#[path = "generated/api_version.rs"]
mod api_version;
#[path = "generated/mod.rs"]
pub mod models;

pub use http;

pub use endpoint::{is_loopback_host, Endpoint, InstanceId, OperationId};
pub use error::{DecodeError, Error, ServiceError, ServiceErrorKind, MAX_KEPT_BODY};
pub use etag::ETag;
pub use list::{
    build_list_operations_request, decode_list_operations_response, list_operations_uri,
    ListOptions, OperationFilter, OperationPage, Pager, MAX_EMPTY_PAGES_IN_A_ROW,
};
pub use polling::{PollAction, PollEvent, PollPolicy, Poller, WaitError};
pub use request::{
    build_get_operation_request, build_get_request, build_operation_location_request,
    encode_path_segment, operation_path, operation_uri, resolve_operation_location,
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
pub use version::{
    location_info, ApiVersion, OperationKind, UnknownApiVersion, UnknownOperationKind,
};
