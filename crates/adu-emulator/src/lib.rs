//! A local emulator of the Azure Device Update for IoT Hub operation-status
//! API and of an Azure-AD-style token endpoint, for tests, demos and users'
//! own tests. Microsoft's official Python client accepts it (see
//! `cargo xtask interop`).
//!
//! What it serves:
//! - `GET /deviceupdate/{instanceId}/v2/updates/operations/{operationId}` (legacy) and
//!   `GET /deviceUpdate/{instanceId}/updates/operations/{operationId}?api-version=2022-10-01`,
//!   with ETag (header and body), `If-None-Match` → 304, `Retry-After` while
//!   unfinished, 404 as `ErrorResponse` (current) or `application/problem+json` (legacy),
//!   and 400 `MissingApiVersionParameter` / `UnsupportedApiVersion`;
//! - `POST /deviceUpdate/{instanceId}/updates:import?api-version=2022-10-01` → 202 with a
//!   relative `Operation-Location`, and the imported update at its `resourceLocation`;
//! - `GET /{tenant}/oauth2/v2.0/authorize`: a non-interactive sign-in (loopback redirect
//!   URIs only) answering with a code (PKCE S256 required) or, for the implicit flow, a token
//!   in the fragment;
//! - `POST /{tenant}/oauth2/v2.0/token` (client credentials, password, authorization code,
//!   refresh token);
//!   API requests need a bearer token it issued (401 with `WWW-Authenticate: Bearer` otherwise);
//! - per-client rate limiting (429 + `Retry-After`) and fault injection (5xx, latency,
//!   connection resets, truncated and stalled bodies), off by default.
//!
//! Operations move NotStarted → Running → Succeeded or Failed on a schedule
//! (by default 500 ms, then 3 s with `Retry-After: 1`).
//!
//! ```
//! use adu_emulator::{Config, OperationSpec, Timings};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), adu_emulator::Error> {
//! let emulator = adu_emulator::start(Config::default()).await?;
//! let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
//! let token = emulator.issue_token();
//!
//! // Any HTTP client works; a raw HTTP/1.1 request keeps the example short.
//! let mut tcp = tokio::net::TcpStream::connect(emulator.addr()).await.unwrap();
//! let request = format!(
//!     "GET /deviceUpdate/blue/updates/operations/{id}?api-version=2022-10-01 HTTP/1.1\r\n\
//!      Host: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
//! );
//! tcp.write_all(request.as_bytes()).await.unwrap();
//! let mut answer = String::new();
//! tcp.read_to_string(&mut answer).await.unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK"));
//! assert!(answer.contains(r#""status":"Succeeded""#));
//!
//! assert_eq!(emulator.stats().polls_of(&id), 1);
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authorize;
mod command;
mod config;
mod error;
mod routes;
mod scenario;
mod schedule;
mod server;
mod state;
mod tls;
mod token;

pub use command::ServeArgs;
pub use config::{
    default_failure, default_update_id, Config, Credentials, FaultKind, FaultRule, ImportBehaviour,
    OperationSpec, Outcome, RateLimit, Timings, Visibility, CURRENT_API_VERSION,
    DEFAULT_AUTHORIZATION_CODE_LIFETIME, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TENANT,
};
pub use error::{Error, ScenarioSyntaxError};
pub use server::{start, RunningEmulator};
pub use state::Stats;

/// For fuzzing only (`crates/adu-emulator/fuzz`): the emulator's parsers of
/// client bytes, which are otherwise private. Not part of the API: hidden from
/// the docs, and free to change in any release.
#[doc(hidden)]
pub mod fuzzing {
    use std::borrow::Cow;
    use std::time::SystemTime;

    use bytes::Bytes;

    pub use crate::routes::{first_value, parse_pairs};
    use crate::Config;

    /// Decodes `%XX` escapes, as the emulator decodes path segments, and also `+` as a space
    /// when `plus_is_space`, as in one name or value of a query string or form body.
    pub fn percent_decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
        match plus_is_space && s.contains('+') {
            true => Cow::Owned(crate::routes::decode_segment(&s.replace('+', " ")).into_owned()),
            false => crate::routes::decode_segment(s),
        }
    }

    /// Answers a token request with `body` for `tenant`, from a fresh
    /// emulator state made from `config`.
    pub fn token_endpoint(
        config: Config,
        tenant: &str,
        body: &[u8],
        now: SystemTime,
    ) -> http::Response<Bytes> {
        let state = crate::state::State::new(config, now);
        crate::token::token_endpoint(&state, "http://127.0.0.1:8080", tenant, body, now)
    }
}

/// The README's Rust example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
