//! What an emulator serves and how it behaves: [`Config`] and its parts. A scenario file is
//! a `Config` in JSON (camelCase names, durations in `…Ms` or `…Secs` fields): the types
//! deserialize themselves, every field optional, unknown ones refused, values checked.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use adu_model::models::{Error as ServiceError, InnerError, UpdateId};
use serde::Deserialize;

use crate::assertion::{ClientCertificate, FederatedIssuer};
use crate::scenario::{
    api_versions, credentials, managed_identity, millis, operations, page_size, secs,
};

/// The client id the emulator accepts unless configured otherwise.
pub const DEFAULT_CLIENT_ID: &str = "adu-emulator";
/// The client secret the emulator accepts unless configured otherwise.
pub const DEFAULT_CLIENT_SECRET: &str = "adu-emulator-secret";
/// The tenant the emulator's token endpoint answers for unless configured otherwise.
pub const DEFAULT_TENANT: &str = "emulator";
/// The `X-IDENTITY-HEADER` value the App Service managed-identity endpoint accepts by default.
pub const DEFAULT_IDENTITY_HEADER: &str = "adu-emulator-identity-header";
/// The client id of the default system-assigned managed identity.
pub const DEFAULT_MANAGED_IDENTITY_CLIENT_ID: &str = "adu-emulator-managed-identity";
/// How many operations a page of a list holds unless configured otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page size a configuration may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;
/// The largest request body the emulator reads, unless configured otherwise (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long an authorization code can be redeemed: 60 s by default (Azure AD
/// allows about ten minutes; an emulator has no reason to be generous).
pub const DEFAULT_AUTHORIZATION_CODE_LIFETIME: Duration = Duration::from_secs(60);

/// How long the emulated user takes to enter a device code, by default.
pub const DEFAULT_DEVICE_CODE_DELAY: Duration = Duration::from_secs(5);

/// How an emulator is set up. Start from [`Config::default`] (or
/// [`Config::from_scenario_json`], whose missing fields are the default's) and change what you
/// need.
///
/// ```
/// use adu_emulator::{Config, RateLimit};
///
/// let mut config = Config::default().with_tls(true);
/// config.rate_limit = Some(RateLimit::per_second(5.0));
/// config.credentials.username = Some("alice@contoso.com".to_owned());
/// config.credentials.password = Some("correct horse".to_owned());
/// assert!(config.require_auth);
/// assert_eq!(config.credentials.client_id, "adu-emulator");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Config {
    /// Where to listen; `127.0.0.1:0` (loopback, any free port) by default.
    pub bind: SocketAddr,
    /// Serve https with a self-signed certificate generated at start.
    pub tls: bool,
    /// The one client (and optional user) the token endpoint knows.
    #[serde(deserialize_with = "credentials")]
    pub credentials: Credentials,
    /// Certificates that clients sign their assertions with (none by default).
    pub client_certificates: Vec<ClientCertificate>,
    /// Issuers whose tokens clients may present as assertions (workload identity; none by
    /// default).
    pub federated_issuers: Vec<FederatedIssuer>,
    /// The identities the managed-identity endpoints (`/msi/token`,
    /// `/metadata/identity/oauth2/token`) issue tokens for.
    #[serde(deserialize_with = "managed_identity")]
    pub managed_identity: ManagedIdentity,
    /// How long issued access tokens stay valid (3599 s by default, like Azure AD).
    #[serde(rename = "tokenLifetimeSecs", deserialize_with = "secs")]
    pub token_lifetime: Duration,
    /// How long an authorization code from `/authorize` can be redeemed
    /// ([`DEFAULT_AUTHORIZATION_CODE_LIFETIME`]).
    #[serde(rename = "authorizationCodeLifetimeSecs", deserialize_with = "secs")]
    pub authorization_code_lifetime: Duration,
    /// How long after a device code is issued (`/devicecode`) the emulator takes its user to
    /// have signed in; until then polls are answered `authorization_pending`
    /// (5 s unless the scenario's `deviceCodeDelaySecs` says otherwise).
    #[serde(rename = "deviceCodeDelaySecs", deserialize_with = "secs")]
    pub device_code_delay: Duration,
    /// Whether API requests need a bearer token issued by this emulator (true by default).
    pub require_auth: bool,
    /// The instance ids that exist; `None` (the default) accepts any.
    pub instances: Option<Vec<String>>,
    /// The `api-version` values the current API accepts (by default every version of
    /// [`adu_model::ApiVersion`] but the legacy `v2`: `2026-06-01` and `2022-10-01`).
    #[serde(deserialize_with = "api_versions")]
    pub api_versions: Vec<String>,
    /// How many operations a page of a list holds, 1 to [`MAX_PAGE_SIZE`]
    /// ([`DEFAULT_PAGE_SIZE`] by default).
    #[serde(deserialize_with = "page_size")]
    pub page_size: usize,
    /// Timings of operations that do not set their own.
    pub default_timings: Timings,
    /// What operations created by `updates:import` do.
    pub imports: ImportBehaviour,
    /// What operations created by `management/devices:import` do.
    pub device_imports: ImportBehaviour,
    /// Per-client rate limiting; off by default.
    pub rate_limit: Option<RateLimit>,
    /// Fault injection rules, applied in order (none by default).
    pub faults: Vec<FaultRule>,
    /// Seed for the fault injection's random choices; `None` picks one at random.
    pub seed: Option<u64>,
    /// Operations that exist from the start.
    #[serde(deserialize_with = "operations")]
    pub operations: Vec<OperationSpec>,
    /// The largest request body read; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: false,
            credentials: Credentials::default(),
            client_certificates: Vec::new(),
            federated_issuers: Vec::new(),
            managed_identity: ManagedIdentity::default(),
            token_lifetime: Duration::from_secs(3599),
            authorization_code_lifetime: DEFAULT_AUTHORIZATION_CODE_LIFETIME,
            device_code_delay: DEFAULT_DEVICE_CODE_DELAY,
            require_auth: true,
            instances: None,
            api_versions: current_api_versions(),
            page_size: DEFAULT_PAGE_SIZE,
            default_timings: Timings::default(),
            imports: ImportBehaviour::default(),
            device_imports: ImportBehaviour::default(),
            rate_limit: None,
            faults: Vec::new(),
            seed: None,
            operations: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Every version of the API that names itself in an `api-version` query (all but `v2`).
fn current_api_versions() -> Vec<String> {
    let all = adu_model::ApiVersion::ALL.iter();
    let current = all.filter(|v| v.has_api_version_query());
    current.map(|v| v.as_str().to_owned()).collect()
}

impl Config {
    /// Approves device codes this long after they are issued.
    #[must_use]
    pub fn with_device_code_delay(mut self, delay: Duration) -> Self {
        self.device_code_delay = delay;
        self
    }

    /// Serves https (true) or plain http (false).
    #[must_use]
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Sets how long issued access tokens stay valid.
    #[must_use]
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Adds a fault injection rule.
    #[must_use]
    pub fn with_fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }
}

/// The client (and optional user) the token endpoint accepts. Debug output
/// never shows the secret or the password.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Credentials {
    /// The tenant in the token endpoint's path (`emulator`).
    pub tenant: String,
    /// The client id (`adu-emulator`).
    pub client_id: String,
    /// The client secret (`adu-emulator-secret`).
    pub client_secret: String,
    /// A user name for the password grant; the grant is refused without one.
    pub username: Option<String>,
    /// That user's password.
    pub password: Option<String>,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            tenant: DEFAULT_TENANT.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            username: None,
            password: None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The managed identities of the emulated host: a system-assigned one (unless `client_id` is
/// `None`) and user-assigned ones. `Debug` never shows the identity header.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct ManagedIdentity {
    /// The secret the App Service endpoint wants in `X-IDENTITY-HEADER` (what the platform
    /// puts in `IDENTITY_HEADER`; [`DEFAULT_IDENTITY_HEADER`] by default).
    pub identity_header: String,
    /// The system-assigned identity's client id ([`DEFAULT_MANAGED_IDENTITY_CLIENT_ID`]);
    /// `None`: the host has none.
    pub client_id: Option<String>,
    /// User-assigned identities, asked for by client id, object id or resource id.
    pub user_assigned: Vec<UserAssignedIdentity>,
}

impl Default for ManagedIdentity {
    fn default() -> Self {
        ManagedIdentity {
            identity_header: DEFAULT_IDENTITY_HEADER.to_owned(),
            client_id: Some(DEFAULT_MANAGED_IDENTITY_CLIENT_ID.to_owned()),
            user_assigned: Vec::new(),
        }
    }
}

impl fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentity")
            .field("identity_header", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("user_assigned", &self.user_assigned)
            .finish()
    }
}

/// A user-assigned managed identity.
///
/// ```
/// use adu_emulator::UserAssignedIdentity;
///
/// let id = UserAssignedIdentity::new("3a1e0b7c-uami");
/// assert_eq!(id.object_id, None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserAssignedIdentity {
    /// Its client id (`client_id` in a request).
    pub client_id: String,
    /// Its object (principal) id (`object_id`).
    pub object_id: Option<String>,
    /// Its Azure resource id (`mi_res_id`, or IMDS's `msi_res_id`).
    pub resource_id: Option<String>,
}

impl UserAssignedIdentity {
    /// An identity known by its client id only.
    pub fn new(client_id: impl Into<String>) -> Self {
        UserAssignedIdentity {
            client_id: client_id.into(),
            object_id: None,
            resource_id: None,
        }
    }
}

/// How long an operation stays in each state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Timings {
    /// Time spent NotStarted after creation (500 ms by default).
    #[serde(rename = "notStartedMs", deserialize_with = "millis")]
    pub not_started: Duration,
    /// Time spent Running after that (3 s by default); then the outcome.
    #[serde(rename = "runningMs", deserialize_with = "millis")]
    pub running: Duration,
    /// The `Retry-After` sent while the operation is not finished (1 s by default).
    #[serde(rename = "retryAfterSecs", deserialize_with = "secs")]
    pub retry_after: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            not_started: Duration::from_millis(500),
            running: Duration::from_secs(3),
            retry_after: Duration::from_secs(1),
        }
    }
}

impl Timings {
    /// Timings with the given phase lengths and a 1 s `Retry-After`.
    pub fn new(not_started: Duration, running: Duration) -> Self {
        Timings {
            not_started,
            running,
            ..Timings::default()
        }
    }

    /// An operation that is finished as soon as it exists.
    pub fn immediate() -> Self {
        Timings::new(Duration::ZERO, Duration::ZERO)
    }

    /// Sets the `Retry-After` sent while unfinished (whole seconds on the wire, at least 1).
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// How an operation ends (`"succeeded"` or `"failed"` in a scenario).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Outcome {
    /// It ends Succeeded.
    #[default]
    Succeeded,
    /// It ends Failed, with an error.
    Failed,
}

/// Which get-operation API shows an operation (`"both"`, `"legacy"` or `"current"` in a
/// scenario).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Visibility {
    /// Both the legacy v2 API and the current one.
    #[default]
    Both,
    /// Only the legacy API (`/deviceupdate/{instanceId}/v2/...`).
    #[serde(rename = "legacy")]
    LegacyOnly,
    /// Only the current API (the versions named in an `api-version` query).
    #[serde(rename = "current")]
    CurrentOnly,
}

/// Which family an operation belongs to (`"update"` or `"device"` in a scenario).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OperationKind {
    /// An update import, read at `updates/operations` (both APIs).
    #[default]
    Update,
    /// A device import, read at `management/operations` (current API only).
    Device,
}

/// An operation to create, from a scenario or through
/// [`RunningEmulator::add_operation`](crate::RunningEmulator::add_operation).
///
/// ```
/// use adu_emulator::{OperationSpec, Timings};
///
/// let spec = OperationSpec::failing().with_id("op-1").with_timings(Timings::immediate());
/// assert_eq!(spec.id.as_deref(), Some("op-1"));
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct OperationSpec {
    /// The operation id; `None` makes a random UUID.
    pub id: Option<String>,
    /// An update operation (the default) or a device-management one.
    pub kind: OperationKind,
    /// The update it imports (unused by a device operation).
    pub update_id: UpdateId,
    /// The update's friendly name, if any.
    pub friendly_name: Option<String>,
    /// Its timings; `None` uses [`Config::default_timings`].
    pub timings: Option<Timings>,
    /// How it ends; `None`: Failed when it has an `error`, else Succeeded.
    pub outcome: Option<Outcome>,
    /// The error of a Failed operation; `None` uses [`default_failure`] (a device operation's
    /// own default names the device import).
    pub error: Option<ServiceError>,
    /// Which API shows it (a device operation: only the current one).
    pub visible_in: Visibility,
    /// How long before the emulator started (or before the call) it was created.
    #[serde(rename = "createdAgoMs", deserialize_with = "millis")]
    pub created_ago: Duration,
}

impl Default for OperationSpec {
    fn default() -> Self {
        OperationSpec {
            id: None,
            kind: OperationKind::Update,
            update_id: default_update_id(),
            friendly_name: None,
            timings: None,
            outcome: None,
            error: None,
            visible_in: Visibility::Both,
            created_ago: Duration::ZERO,
        }
    }
}

impl OperationSpec {
    /// An operation that ends Succeeded.
    pub fn succeeding() -> Self {
        OperationSpec::default()
    }

    /// An operation that ends Failed with [`default_failure`].
    pub fn failing() -> Self {
        OperationSpec {
            outcome: Some(Outcome::Failed),
            ..OperationSpec::default()
        }
    }

    /// Sets the operation id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Makes it a device-management operation (a device import).
    #[must_use]
    pub fn device(mut self) -> Self {
        self.kind = OperationKind::Device;
        self
    }

    /// Sets the timings.
    #[must_use]
    pub fn with_timings(mut self, timings: Timings) -> Self {
        self.timings = Some(timings);
        self
    }
}

/// What operations created by `POST .../updates:import` (or `.../management/devices:import`)
/// do.
#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ImportBehaviour {
    /// Their timings; `None` uses [`Config::default_timings`].
    pub timings: Option<Timings>,
    /// How they end.
    pub outcome: Outcome,
    /// The error when they fail; `None` uses [`default_failure`].
    pub error: Option<ServiceError>,
}

/// Per-client rate limiting (a token bucket per client id, or per peer
/// address when authentication is off).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "crate::scenario::RateLimitJson")]
#[non_exhaustive]
pub struct RateLimit {
    /// Sustained requests per second.
    pub requests_per_second: f64,
    /// How many requests may arrive at once (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// A limit of `rate` requests per second with a burst of the same size (at least 1).
    pub fn per_second(rate: f64) -> Self {
        RateLimit {
            requests_per_second: rate,
            burst: rate.ceil().max(1.0) as u32,
        }
    }
}

/// One fault injection rule: which requests it hits and what it does to them.
///
/// ```
/// use adu_emulator::{FaultKind, FaultRule};
///
/// // The first two requests to an operation answer 503.
/// let rule = FaultRule::new(FaultKind::Status(503)).on_path("/updates/operations/").first(2);
/// assert_eq!(rule.first, Some(2));
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "crate::scenario::FaultJson")]
#[non_exhaustive]
pub struct FaultRule {
    /// What happens.
    pub kind: FaultKind,
    /// Only requests whose path contains this text (all requests when `None`).
    pub path_contains: Option<String>,
    /// Only the first N matching requests (all when `None`).
    pub first: Option<u64>,
    /// The chance (0 to 1) that a matching request is hit (1 by default).
    pub probability: f64,
}

impl FaultRule {
    /// A rule hitting every request.
    pub fn new(kind: FaultKind) -> Self {
        FaultRule {
            kind,
            path_contains: None,
            first: None,
            probability: 1.0,
        }
    }

    /// Only requests whose path contains `text`.
    #[must_use]
    pub fn on_path(mut self, text: impl Into<String>) -> Self {
        self.path_contains = Some(text.into());
        self
    }

    /// Only the first `n` matching requests.
    #[must_use]
    pub fn first(mut self, n: u64) -> Self {
        self.first = Some(n);
        self
    }
}

/// What a fault does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Answer with this 5xx status and an `ErrorResponse` body (`Retry-After: 1` on 503).
    Status(u16),
    /// Wait this long before handling the request (combines with the other kinds).
    Latency(Duration),
    /// Close the connection with a TCP reset instead of answering.
    Reset,
    /// Announce the full `Content-Length`, send half of the body, then close the connection.
    Truncate,
    /// Send the headers and half of the body, wait this long, then send the rest.
    Stall(Duration),
}

/// The update id imports and operations use when none is given: `contoso/toaster/1.0.0`.
pub fn default_update_id() -> UpdateId {
    UpdateId::new("contoso", "toaster", "1.0.0")
}

/// The error a Failed operation carries unless told otherwise: an import
/// that could not download its file, with the storage 403 as the innermost
/// `errorDetail` (the shape the real service sends).
pub fn default_failure() -> ServiceError {
    let mut storage = InnerError::new("FileDownloadFailed");
    storage.message = Some("Unable to download the update file.".to_owned());
    storage.error_detail = Some(
        "Response status code does not indicate success: 403 (Server failed to authenticate the request. \
         Make sure the value of Authorization header is formed correctly including the signature.)."
            .to_owned(),
    );
    let mut outer = InnerError::new("ImportFailed");
    outer.message = Some("Failed to import the update's files.".to_owned());
    outer.inner_error = Some(Box::new(storage));
    let mut error = ServiceError::new("UpdateImportFailed", "Update import failed.");
    error.innererror = Some(outer);
    error
}

/// The error a Failed device operation carries unless told otherwise.
pub(crate) fn default_device_failure() -> ServiceError {
    ServiceError::new("DeviceImportFailed", "Device import failed.")
}
