//! Scenario files: a JSON description of an emulator's credentials,
//! operations, timings and faults. The format is documented in the crate's
//! README; every field is optional and unknown fields are refused.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use adu_auth::file::{read_bounded, FileError};
use adu_model::models::{Error as ServiceError, UpdateId};
use serde::Deserialize;

use crate::config::{
    Config, FaultKind, FaultRule, ImportBehaviour, OperationSpec, Outcome, RateLimit, Timings,
    Visibility,
};
use crate::error::{Error, ScenarioSyntaxError};

/// A parsed scenario file. Apply it to a [`Config`] with [`Scenario::apply`],
/// or use [`Config::from_scenario_json`] / [`Config::from_scenario_file`].
///
/// ```
/// use adu_emulator::Scenario;
///
/// let scenario = Scenario::from_json(r#"{ "operations": [ { "id": "op-1", "outcome": "failed" } ] }"#).unwrap();
/// let config = scenario.apply(adu_emulator::Config::default()).unwrap();
/// assert_eq!(config.operations[0].id.as_deref(), Some("op-1"));
///
/// let err = Scenario::from_json(r#"{ "operatoins": [] }"#).unwrap_err();
/// assert!(err.to_string().contains("line 1"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    bind: Option<SocketAddr>,
    tls: Option<bool>,
    credentials: Option<CredentialsJson>,
    token_lifetime_secs: Option<u64>,
    authorization_code_lifetime_secs: Option<u64>,
    require_auth: Option<bool>,
    instances: Option<Vec<String>>,
    api_versions: Option<Vec<String>>,
    default_timings: Option<TimingsJson>,
    imports: Option<ImportsJson>,
    rate_limit: Option<RateLimitJson>,
    seed: Option<u64>,
    #[serde(default)]
    operations: Vec<OperationJson>,
    #[serde(default)]
    faults: Vec<FaultJson>,
    max_body_bytes: Option<usize>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsJson {
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

// Written out, as `Credentials`' is: the secret and the password never show in `Debug`.
impl std::fmt::Debug for CredentialsJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("CredentialsJson")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimingsJson {
    not_started_ms: Option<u64>,
    running_ms: Option<u64>,
    retry_after_secs: Option<u64>,
}

impl TimingsJson {
    fn over(self, base: Timings) -> Timings {
        Timings {
            not_started: self
                .not_started_ms
                .map_or(base.not_started, Duration::from_millis),
            running: self.running_ms.map_or(base.running, Duration::from_millis),
            retry_after: self
                .retry_after_secs
                .map_or(base.retry_after, Duration::from_secs),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportsJson {
    timings: Option<TimingsJson>,
    outcome: Option<Outcome>,
    error: Option<ServiceError>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RateLimitJson {
    requests_per_second: f64,
    burst: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OperationJson {
    id: Option<String>,
    update_id: Option<UpdateId>,
    friendly_name: Option<String>,
    timings: Option<TimingsJson>,
    outcome: Option<Outcome>,
    error: Option<ServiceError>,
    visible_in: Option<Visibility>,
    created_ago_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
enum FaultKindJson {
    Status,
    Latency,
    Reset,
    Truncate,
    Stall,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultJson {
    kind: FaultKindJson,
    status: Option<u16>,
    delay_ms: Option<u64>,
    path: Option<String>,
    first: Option<u64>,
    probability: Option<f64>,
}

fn invalid(detail: String) -> Error {
    Error::ScenarioValue { detail }
}

/// The largest scenario file that is read, in bytes (4 MiB): room for tens of thousands of
/// operations, far more than a test needs.
const MAX_SCENARIO_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads the scenario file at `path` through the workspace's one bounded read (a regular file
/// of at most [`MAX_SCENARIO_FILE_BYTES`]; a FIFO or device is refused without blocking), its
/// refusals told as what to do instead.
fn read_scenario_file(path: &Path) -> Result<String, Error> {
    use std::io::{Error as IoError, ErrorKind};
    let source = match read_bounded(path, MAX_SCENARIO_FILE_BYTES) {
        Ok((bytes, _)) => match String::from_utf8(bytes) {
            Ok(text) => return Ok(text),
            Err(e) => IoError::new(ErrorKind::InvalidData, e),
        },
        Err(FileError::Io(e)) => e,
        Err(FileError::NotAFile) => IoError::new(
            ErrorKind::InvalidInput,
            "not a regular file; pass the path of a JSON scenario file",
        ),
        Err(e @ FileError::TooLarge { .. }) => IoError::new(
            ErrorKind::FileTooLarge,
            format!("{e} (4 MiB for a scenario); pass a smaller scenario"),
        ),
        Err(e) => IoError::other(e),
    };
    Err(Error::File {
        path: path.to_path_buf(),
        source,
    })
}

impl Scenario {
    /// Parses a scenario from JSON text.
    pub fn from_json(text: &str) -> Result<Scenario, Error> {
        serde_json::from_str(text).map_err(|e| Error::ScenarioSyntax {
            line: e.line(),
            column: e.column(),
            source: ScenarioSyntaxError::from_json(&e),
        })
    }

    /// Reads and parses a scenario file.
    ///
    /// Only a regular file (symlinks are followed) of at most 4 MiB is read; anything else
    /// (a directory, FIFO or device, or a larger file) fails with [`Error::File`] without
    /// being read.
    pub fn from_file(path: &Path) -> Result<Scenario, Error> {
        Scenario::from_json(&read_scenario_file(path)?)
    }

    /// Applies the scenario to `config`: every value the scenario gives
    /// replaces the config's; operations and faults are appended.
    pub fn apply(self, mut config: Config) -> Result<Config, Error> {
        config.bind = self.bind.unwrap_or(config.bind);
        config.tls = self.tls.unwrap_or(config.tls);
        if let Some(c) = self.credentials {
            let creds = &mut config.credentials;
            for (value, given) in [
                (&mut creds.tenant, c.tenant),
                (&mut creds.client_id, c.client_id),
                (&mut creds.client_secret, c.client_secret),
            ] {
                *value = given.unwrap_or_else(|| std::mem::take(value));
            }
            if c.username.is_some() != c.password.is_some() {
                return Err(invalid(
                    "credentials: `username` and `password` go together".to_owned(),
                ));
            }
            if c.username.is_some() {
                creds.username = c.username;
                creds.password = c.password;
            }
            for (name, value) in [("tenant", &creds.tenant), ("clientId", &creds.client_id)] {
                if value.is_empty() || value.contains('/') {
                    return Err(invalid(format!(
                        "credentials: `{name}` must be non-empty and contain no `/`"
                    )));
                }
            }
        }
        let secs = |given: Option<u64>, base| given.map_or(base, Duration::from_secs);
        config.token_lifetime = secs(self.token_lifetime_secs, config.token_lifetime);
        config.authorization_code_lifetime = secs(
            self.authorization_code_lifetime_secs,
            config.authorization_code_lifetime,
        );
        config.require_auth = self.require_auth.unwrap_or(config.require_auth);
        config.instances = self.instances.or(config.instances);
        if let Some(v) = self.api_versions {
            if v.is_empty() {
                return Err(invalid(
                    "`apiVersions` must list at least one version".to_owned(),
                ));
            }
            config.api_versions = v;
        }
        if let Some(t) = self.default_timings {
            config.default_timings = t.over(config.default_timings);
        }
        if let Some(i) = self.imports {
            config.imports = ImportBehaviour {
                timings: i.timings.map(|t| t.over(Timings::default())),
                outcome: i.outcome.unwrap_or_default(),
                error: i.error,
            };
        }
        if let Some(r) = self.rate_limit {
            if !(r.requests_per_second.is_finite() && r.requests_per_second > 0.0) {
                return Err(invalid(
                    "`rateLimit.requestsPerSecond` must be a positive number".to_owned(),
                ));
            }
            let limit = RateLimit::per_second(r.requests_per_second);
            config.rate_limit = Some(r.burst.map_or(limit, |b| limit.with_burst(b)));
        }
        config.seed = self.seed.or(config.seed);
        config.max_body_bytes = self.max_body_bytes.unwrap_or(config.max_body_bytes);
        for (n, op) in self.operations.into_iter().enumerate() {
            config.operations.push(op.into_spec(n)?);
        }
        let mut seen = std::collections::HashSet::new();
        for op in &config.operations {
            if let Some(id) = &op.id {
                if !seen.insert(id.clone()) {
                    return Err(invalid(format!("operation id `{id}` appears twice")));
                }
            }
        }
        for (n, fault) in self.faults.into_iter().enumerate() {
            config.faults.push(fault.into_rule(n)?);
        }
        Ok(config)
    }
}

impl OperationJson {
    fn into_spec(self, n: usize) -> Result<OperationSpec, Error> {
        if let Some(id) = &self.id {
            // The service's operation ids are 1 to 256 characters.
            if id.is_empty() || id.chars().count() > 256 || id.contains('/') {
                return Err(invalid(format!(
                    "operations[{n}].id must be 1 to 256 characters without `/`"
                )));
            }
        }
        let outcome = match (self.outcome, &self.error) {
            (Some(o), _) => o,
            (None, Some(_)) => Outcome::Failed,
            (None, None) => Outcome::Succeeded,
        };
        if outcome == Outcome::Succeeded && self.error.is_some() {
            return Err(invalid(format!(
                "operations[{n}] has an `error` but its outcome is `succeeded`"
            )));
        }
        Ok(OperationSpec {
            id: self.id,
            update_id: self
                .update_id
                .unwrap_or_else(crate::config::default_update_id),
            friendly_name: self.friendly_name,
            timings: self.timings.map(|t| t.over(Timings::default())),
            outcome,
            error: self.error,
            visible_in: self.visible_in.unwrap_or_default(),
            created_ago: Duration::from_millis(self.created_ago_ms.unwrap_or(0)),
        })
    }
}

impl FaultJson {
    fn into_rule(self, n: usize) -> Result<FaultRule, Error> {
        let kind = match self.kind {
            FaultKindJson::Status => match self.status {
                Some(s) if (500..=599).contains(&s) => FaultKind::Status(s),
                _ => {
                    return Err(invalid(format!(
                        "faults[{n}]: kind `status` needs `status` between 500 and 599"
                    )))
                }
            },
            FaultKindJson::Latency => match self.delay_ms {
                Some(ms) => FaultKind::Latency(Duration::from_millis(ms)),
                None => {
                    return Err(invalid(format!(
                        "faults[{n}]: kind `latency` needs `delayMs`"
                    )))
                }
            },
            FaultKindJson::Reset => FaultKind::Reset,
            FaultKindJson::Truncate => FaultKind::Truncate,
            FaultKindJson::Stall => {
                FaultKind::Stall(Duration::from_millis(self.delay_ms.unwrap_or(30_000)))
            }
        };
        if self.status.is_some() && !matches!(self.kind, FaultKindJson::Status) {
            return Err(invalid(format!(
                "faults[{n}]: `status` only goes with kind `status`"
            )));
        }
        let probability = self.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(invalid(format!(
                "faults[{n}]: `probability` must be between 0 and 1"
            )));
        }
        Ok(FaultRule {
            kind,
            path_contains: self.path,
            first: self.first,
            probability,
        })
    }
}

impl Config {
    /// A default config with a scenario (JSON text) applied.
    pub fn from_scenario_json(text: &str) -> Result<Config, Error> {
        Scenario::from_json(text)?.apply(Config::default())
    }

    /// A default config with a scenario file applied.
    pub fn from_scenario_file(path: &Path) -> Result<Config, Error> {
        Scenario::from_file(path)?.apply(Config::default())
    }
}
