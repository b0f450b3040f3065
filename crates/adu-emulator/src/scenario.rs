//! Scenario files: a [`Config`] written as JSON (the format is in the crate's README). The
//! config types deserialize themselves; here are the checks of their values, the two wire
//! shapes that differ from the types (a fault's `kind`, a rate limit's optional burst), and
//! the bounded read of a file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use adu_auth::file::{read_bounded, FileError};
use serde::de::value::MapAccessDeserializer;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::assertion::{
    ClientCertificate, FederatedIssuer, VerifyingKeys, TOKEN_EXCHANGE_AUDIENCE,
};
use crate::config::{
    Config, Credentials, FaultKind, FaultRule, ManagedIdentity, OperationSpec, Outcome, RateLimit,
    MAX_PAGE_SIZE,
};
use crate::error::Error;

/// A duration given in whole milliseconds (`…Ms`).
pub(crate) fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// A duration given in whole seconds (`…Secs`).
pub(crate) fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

/// The credentials, checked: a tenant and client id that fit in a path segment, and a user
/// only with a password.
pub(crate) fn credentials<'de, D: Deserializer<'de>>(d: D) -> Result<Credentials, D::Error> {
    let c = Credentials::deserialize(d)?;
    if c.username.is_some() != c.password.is_some() {
        return Err(D::Error::custom(
            "credentials: `username` and `password` go together",
        ));
    }
    for (name, value) in [("tenant", &c.tenant), ("clientId", &c.client_id)] {
        if value.is_empty() || value.contains('/') {
            return Err(D::Error::custom(format!(
                "credentials: `{name}` must be non-empty and contain no `/`"
            )));
        }
    }
    Ok(c)
}

/// The managed identities, checked: a non-empty identity header.
pub(crate) fn managed_identity<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<ManagedIdentity, D::Error> {
    let m = ManagedIdentity::deserialize(d)?;
    if m.identity_header.is_empty() {
        return Err(D::Error::custom(
            "managedIdentity: `identityHeader` must be non-empty",
        ));
    }
    Ok(m)
}

/// The largest certificate or key file read for client assertions (64 KiB).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Reads a certificate or key file named in a scenario (relative paths are relative to the
/// working directory), bounded and regular files only.
fn read_key_file(path: &Path) -> Result<String, String> {
    let (bytes, _) = read_bounded(path, MAX_KEY_FILE_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// A client certificate as written: its client id and the certificate, inline or in a file.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ClientCertificateJson {
    client_id: String,
    certificate_pem: Option<String>,
    certificate_file: Option<PathBuf>,
}

impl TryFrom<ClientCertificateJson> for ClientCertificate {
    type Error = String;

    fn try_from(c: ClientCertificateJson) -> Result<Self, String> {
        let pem = match (c.certificate_pem, c.certificate_file) {
            (Some(pem), None) => pem,
            (None, Some(path)) => read_key_file(&path)?,
            _ => {
                return Err(
                    "a client certificate needs one of `certificatePem` and `certificateFile`"
                        .to_owned(),
                )
            }
        };
        ClientCertificate::from_pem(c.client_id, &pem).map_err(|e| e.to_string())
    }
}

/// A federated issuer as written: the match and exactly one source of keys.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FederatedIssuerJson {
    issuer: String,
    subject: String,
    client_id: String,
    audience: Option<String>,
    certificate_pem: Option<String>,
    certificate_file: Option<PathBuf>,
    public_key_pem: Option<String>,
    jwks: Option<serde_json::Value>,
    jwks_file: Option<PathBuf>,
}

impl TryFrom<FederatedIssuerJson> for FederatedIssuer {
    type Error = String;

    fn try_from(f: FederatedIssuerJson) -> Result<Self, String> {
        let keys = match (
            f.certificate_pem,
            f.certificate_file,
            f.public_key_pem,
            f.jwks,
            f.jwks_file,
        ) {
            (Some(pem), None, None, None, None) => VerifyingKeys::from_certificate_pem(&pem),
            (None, Some(path), None, None, None) => {
                VerifyingKeys::from_certificate_pem(&read_key_file(&path)?)
            }
            (None, None, Some(pem), None, None) => VerifyingKeys::from_public_key_pem(&pem),
            (None, None, None, Some(jwks), None) => VerifyingKeys::from_jwks_json(&jwks.to_string()),
            (None, None, None, None, Some(path)) => {
                VerifyingKeys::from_jwks_json(&read_key_file(&path)?)
            }
            _ => return Err("a federated issuer needs exactly one of `certificatePem`, `certificateFile`, `publicKeyPem`, `jwks` and `jwksFile`".to_owned()),
        };
        let mut issuer = FederatedIssuer::new(
            f.issuer,
            f.subject,
            f.client_id,
            keys.map_err(|e| e.to_string())?,
        );
        issuer.audience = f
            .audience
            .unwrap_or_else(|| TOKEN_EXCHANGE_AUDIENCE.to_owned());
        Ok(issuer)
    }
}

/// At least one API version.
pub(crate) fn api_versions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let versions = Vec::<String>::deserialize(d)?;
    if versions.is_empty() {
        return Err(D::Error::custom(
            "`apiVersions` must list at least one version",
        ));
    }
    Ok(versions)
}

/// A page size from 1 to [`MAX_PAGE_SIZE`].
pub(crate) fn page_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        n @ 1..=MAX_PAGE_SIZE => Ok(n),
        _ => Err(D::Error::custom(format!(
            "`pageSize` must be between 1 and {MAX_PAGE_SIZE}"
        ))),
    }
}

/// The operations, checked: ids the service could give (1 to 256 characters, no `/`), each
/// once in its kind, and no error on an operation said to succeed.
pub(crate) fn operations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OperationSpec>, D::Error> {
    let operations = Vec::<OperationSpec>::deserialize(d)?;
    let mut seen = HashSet::new();
    for (n, op) in operations.iter().enumerate() {
        if let Some(id) = &op.id {
            if id.is_empty() || id.chars().count() > 256 || id.contains('/') {
                return Err(D::Error::custom(format!(
                    "operations[{n}].id must be 1 to 256 characters without `/`"
                )));
            }
            if !seen.insert((op.kind, id)) {
                return Err(D::Error::custom(format!(
                    "operation id `{id}` appears twice"
                )));
            }
        }
        if op.outcome == Some(Outcome::Succeeded) && op.error.is_some() {
            return Err(D::Error::custom(format!(
                "operations[{n}] has an `error` but its outcome is `succeeded`"
            )));
        }
    }
    Ok(operations)
}

/// A rate limit as written: the burst defaults to the rate.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RateLimitJson {
    requests_per_second: f64,
    burst: Option<u32>,
}

impl TryFrom<RateLimitJson> for RateLimit {
    type Error = &'static str;

    fn try_from(r: RateLimitJson) -> Result<Self, Self::Error> {
        if !(r.requests_per_second.is_finite() && r.requests_per_second > 0.0) {
            return Err("`rateLimit.requestsPerSecond` must be a positive number");
        }
        let limit = RateLimit::per_second(r.requests_per_second);
        let burst = r.burst.map_or(limit.burst, |b| b.max(1));
        Ok(RateLimit { burst, ..limit })
    }
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
enum FaultKindJson {
    Status,
    Latency,
    Reset,
    Truncate,
    Stall,
}

/// A fault as written: a `kind` with its `status` or `delayMs` beside it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FaultJson {
    kind: FaultKindJson,
    status: Option<u16>,
    delay_ms: Option<u64>,
    path: Option<String>,
    first: Option<u64>,
    probability: Option<f64>,
}

impl TryFrom<FaultJson> for FaultRule {
    type Error = &'static str;

    fn try_from(f: FaultJson) -> Result<Self, Self::Error> {
        let kind = match (f.kind, f.status, f.delay_ms) {
            (FaultKindJson::Status, Some(s), _) if (500..=599).contains(&s) => FaultKind::Status(s),
            (FaultKindJson::Status, ..) => {
                return Err("kind `status` needs `status` between 500 and 599")
            }
            (_, Some(_), _) => return Err("`status` only goes with kind `status`"),
            (FaultKindJson::Latency, _, Some(ms)) => FaultKind::Latency(Duration::from_millis(ms)),
            (FaultKindJson::Latency, ..) => return Err("kind `latency` needs `delayMs`"),
            (FaultKindJson::Reset, ..) => FaultKind::Reset,
            (FaultKindJson::Truncate, ..) => FaultKind::Truncate,
            (FaultKindJson::Stall, _, ms) => {
                FaultKind::Stall(Duration::from_millis(ms.unwrap_or(30_000)))
            }
        };
        let probability = f.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err("a fault's `probability` must be between 0 and 1");
        }
        Ok(FaultRule {
            kind,
            path_contains: f.path,
            first: f.first,
            probability,
        })
    }
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

/// Reads a scenario as a JSON object only: a derived `Deserialize` would also take an array
/// of the fields in order.
struct ScenarioObject;

impl<'de> Visitor<'de> for ScenarioObject {
    type Value = Config;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a scenario object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Config, A::Error> {
        Config::deserialize(MapAccessDeserializer::new(map))
    }
}

impl Config {
    /// A config from a scenario (JSON text): what it gives over [`Config::default`].
    ///
    /// ```
    /// use adu_emulator::Config;
    ///
    /// let config = Config::from_scenario_json(r#"{ "operations": [ { "id": "op-1" } ] }"#).unwrap();
    /// assert_eq!(config.operations[0].id.as_deref(), Some("op-1"));
    ///
    /// let err = Config::from_scenario_json("{\n \"operatoins\": [] }").unwrap_err();
    /// assert!(err.to_string().contains("line 2"));
    /// ```
    pub fn from_scenario_json(text: &str) -> Result<Config, Error> {
        let mut json = serde_json::Deserializer::from_str(text);
        let config = json.deserialize_map(ScenarioObject);
        config.and_then(|c| json.end().map(|()| c)).map_err(|e| {
            let mut message = e.to_string();
            // serde_json ends its messages with the position, which the error holds apart.
            message.truncate(message.rfind(" at line ").unwrap_or(message.len()));
            Error::ScenarioSyntax {
                line: e.line(),
                column: e.column(),
                message,
            }
        })
    }

    /// A config from a scenario file.
    ///
    /// Only a regular file (symlinks are followed) of at most 4 MiB is read; anything else
    /// (a directory, FIFO or device, or a larger file) fails with [`Error::File`] without
    /// being read.
    pub fn from_scenario_file(path: &Path) -> Result<Config, Error> {
        Config::from_scenario_json(&read_scenario_file(path)?)
    }
}
