#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assertion;
mod authorize;
mod command;
mod config;
mod error;
mod identity;
mod list;
mod routes;
mod scenario;
mod schedule;
mod server;
mod state;
mod tls;
mod token;

pub use assertion::{ClientCertificate, FederatedIssuer, VerifyingKeys, TOKEN_EXCHANGE_AUDIENCE};
pub use command::ServeArgs;
pub use config::{
    default_failure, default_update_id, Config, Credentials, FaultKind, FaultRule, ImportBehaviour,
    ManagedIdentity, OperationKind, OperationSpec, Outcome, RateLimit, Timings,
    UserAssignedIdentity, Visibility, DEFAULT_AUTHORIZATION_CODE_LIFETIME, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET, DEFAULT_IDENTITY_HEADER, DEFAULT_MANAGED_IDENTITY_CLIENT_ID,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_PAGE_SIZE, DEFAULT_TENANT, MAX_PAGE_SIZE,
};
pub use error::Error;
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
