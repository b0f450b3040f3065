//! Azure AD (Microsoft identity platform) OAuth2 for the Azure Device Update
//! client: the four flows of the API documentation, a token cache, and the
//! credential trait the transport calls.
//!
//! # In scope
//! - [`ClientSecretCredential`]: client credentials ("application"), secret
//!   in the form body.
//! - [`UsernamePasswordCredential`]: the password grant (ROPC), refused up
//!   front on `common` and `consumers`.
//! - [`AuthorizationCodeFlow`]: authorize URL with PKCE S256 and a random
//!   `state`, code exchange after a constant-time `state` check, refresh
//!   token kept (and rotated) by the resulting [`InteractiveCredential`],
//!   which can be persisted ([`InteractiveCredential::refresh_token`], a
//!   [`RefreshTokenSecret`]) and restored
//!   ([`InteractiveCredential::from_refresh_token`]).
//! - [`ImplicitFlow`]: authorize URL (`response_type=token`,
//!   `response_mode=fragment`, optional nonce), redirect fragment parsed into
//!   a token after the `state` check.
//! - [`EnvironmentCredential`] (the usual `AZURE_*` variables) and
//!   [`StaticTokenCredential`] (a token obtained elsewhere).
//! - [`TokenCache`]: per scope set, refreshed a margin before expiry, single
//!   flight, keeps a still-valid token when a refresh fails, invalidated on 401.
//! - [`Authority`]: host (sovereign clouds, loopback `http` for tests),
//!   tenant, v2.0 endpoints by default and v1 (`resource`) on request.
//!
//! # Out of scope (Architecture Invariant)
//! This crate does no network I/O of its own: no sockets, no runtime, no clock
//! read outside the injected [`Clock`]. It has no hyper, no tokio and no reqwest.
//! The one file read of the workspace, [`file::read_bounded`], lives here (the
//! lowest crate allowed to touch files) and is shared by the transport, the CLI
//! and the emulator.
//! The loopback listener that receives an interactive sign-in's redirect
//! lives with the I/O (transport / CLI).
//!
//! # The HTTP seam
//! Credentials take a [`SharedHttpClient`] (`Arc<dyn HttpClient>`).
//! [`HttpClient`] is object safe so that credentials are not generic and
//! their futures are `Send` (a requirement of [`TokenCredential`], held as
//! `Arc<dyn TokenCredential>`); a bound like
//! `for<'c> oauth2::AsyncHttpClient<'c>` would make every credential generic
//! and cannot express `Send` for the client's future on a trait object. It is
//! implemented for every `oauth2::AsyncHttpClient` whose future is `Send` and
//! whose error is `Send + Sync` — so the transport's hyper implementation of
//! `oauth2::AsyncHttpClient` and test closures both work unchanged. The
//! requests themselves are built and parsed by `oauth2` through an adapter
//! closure that also records the response status (which `oauth2`'s errors
//! drop).
//!
//! # Secrets
//! Client secrets, passwords, codes, PKCE verifiers, `state`, refresh tokens
//! and access tokens never appear in `Debug`, `Display` or errors. An error
//! never holds a token endpoint's body: only the fields of a parsed OAuth2
//! error, with every encoding of the secrets the request sent replaced by
//! `[redacted]`; any other answer is told by its status, media type and
//! length.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authority;
mod cache;
mod credential;
mod credentials;
mod endpoint;
mod environment;
mod error;
pub mod file;
mod http_client;
mod interactive;
mod redact;
mod response;
mod token;

pub use authority::{scopes, Authority, EndpointVersion, DEFAULT_AUTHORITY_HOST};
pub use cache::{
    needs_refresh, RefreshErrorHook, TokenCache, TokenCacheOptions, DEFAULT_REFRESH_MARGIN,
};
pub use credential::{BoxFuture, StaticTokenCredential, TokenCredential};
pub use credentials::{
    ClientSecretCredential, InteractiveCredential, RefreshTokenHook, UsernamePasswordCredential,
};
pub use environment::{
    EnvironmentCredential, AZURE_AUTHORITY_HOST, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
    AZURE_PASSWORD, AZURE_TENANT_ID, AZURE_USERNAME,
};
pub use error::{Error, HttpClientError, ServerError};
pub use http;
pub use http_client::{HttpClient, SharedHttpClient};
pub use interactive::{AuthorizationCodeFlow, ImplicitFlow, PendingLogin};
pub use response::DEFAULT_EXPIRES_IN;
pub use token::{AccessToken, Clock, RefreshTokenSecret, SystemClock};

/// The README's Rust examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
