//! Which credential a command uses: the first in this order that is configured here and gets a
//! token, as Azure's default credential chain chooses (`--auth` / `ADU_AUTH` forces one):
//!
//! 1. `access-token`: `--access-token` / `ADU_ACCESS_TOKEN`, a bearer token obtained elsewhere;
//! 2. `environment`: `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` with `AZURE_CLIENT_SECRET`, or
//!    `AZURE_CLIENT_CERTIFICATE_PATH`, or `AZURE_USERNAME` and `AZURE_PASSWORD`;
//! 3. `workload-identity`: `AZURE_FEDERATED_TOKEN_FILE` (with the tenant and client ids);
//! 4. `managed-identity`: where `IDENTITY_ENDPOINT` says it is App Service or Azure Arc, or
//!    `MSI_ENDPOINT` Cloud Shell, or (only when forced) an Azure VM's IMDS;
//! 5. `azure-cli`: when `az` is on `PATH`;
//! 6. `login`: the sign-in cached by `adu login`, refreshed (under a lock on the cache file)
//!    when its access token has expired.
//!
//! A credential that is configured but cannot give a token here (the Azure CLI signed out, no
//! identity assigned, a cached sign-in that expired) lets the next one try; one that is refused
//! by its token endpoint stops the chain. The first to give a token is used from then on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use adu_auth::{
    AccessToken, Authority, AzureCliCredential, BoxFuture, ClientCertificateCredential,
    EnvironmentCredential, InteractiveCredential, ManagedIdentityCredential, ManagedIdentitySource,
    RefreshTokenSecret, SharedHttpClient, StaticTokenCredential, TokenCredential, UserAssignedId,
    WorkloadIdentityCredential,
};

use crate::args::{AuthKind, GlobalArgs, OutputFormat, Secret};
use crate::exit::{Exit, Failure};
use crate::token_cache;

/// The order of the chain.
pub const ORDER: [AuthKind; 6] = [
    AuthKind::AccessToken,
    AuthKind::Environment,
    AuthKind::WorkloadIdentity,
    AuthKind::ManagedIdentity,
    AuthKind::AzureCli,
    AuthKind::Login,
];

/// How long a command waits for another one refreshing the same cached sign-in.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The name `--auth` gives a kind.
pub fn name(kind: AuthKind) -> &'static str {
    match kind {
        AuthKind::AccessToken => "access-token",
        AuthKind::Environment => "environment",
        AuthKind::WorkloadIdentity => "workload-identity",
        AuthKind::ManagedIdentity => "managed-identity",
        AuthKind::AzureCli => "azure-cli",
        AuthKind::Login => "login",
    }
}

/// What the chain found for one kind (for `-v` and `adu auth show`; never a secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Considered {
    /// The kind.
    #[serde(serialize_with = "serialize_kind")]
    pub kind: AuthKind,
    /// Whether it is configured here.
    pub found: bool,
    /// What was found (which variables, which file), or what is missing.
    pub note: String,
}

fn serialize_kind<S: serde::Serializer>(kind: &AuthKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name(*kind))
}

/// The credentials found, in order, and what was found for every kind.
pub struct Resolved {
    /// The chain of the credentials found (one, when forced).
    pub credential: Arc<Chain>,
    /// The kinds in the chain, in order.
    pub source: Vec<AuthKind>,
    /// What was found for every kind considered.
    pub considered: Vec<Considered>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("source", &self.source)
            .field("considered", &self.considered)
            .finish_non_exhaustive()
    }
}

/// Where a chain leaves its account of a failure (every credential's reason and fix), so the
/// command's error report can show it instead of the last credential's error alone.
#[derive(Debug, Clone, Default)]
pub struct Report(Arc<Mutex<Option<Failure>>>);

impl Report {
    /// The chain's account of its failure, if its last token request failed and `failure`
    /// (the command's) is of the same kind (exit code); else `failure` as it is (a wait that
    /// timed out stays a timeout).
    pub fn explain(&self, failure: Failure) -> Failure {
        match lock(&self.0).take() {
            Some(account) if account.exit == failure.exit => account,
            _ => failure,
        }
    }
}

/// What `resolve_from` reads.
pub struct Inputs<'a> {
    /// `--access-token` / `ADU_ACCESS_TOKEN`.
    pub access_token: Option<&'a Secret>,
    /// `--auth` / `ADU_AUTH`.
    pub forced: Option<AuthKind>,
    /// The environment (`AZURE_*`, `IDENTITY_*`, `PATH`...).
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// For the token requests.
    pub http: SharedHttpClient,
    /// The file `adu login` writes.
    pub cache_path: Result<PathBuf, token_cache::Error>,
    /// The time, to judge the cached sign-in.
    pub now: SystemTime,
    /// Where the chain reports its failure.
    pub report: Report,
}

/// Finds the credentials, reading the process environment and the token cache.
pub fn resolve(global: &GlobalArgs, http: SharedHttpClient) -> Result<Resolved, Failure> {
    resolve_from(Inputs {
        access_token: global.access_token.as_ref(),
        forced: global.auth,
        lookup: &|name| std::env::var(name).ok(),
        http,
        cache_path: token_cache::cache_path(),
        now: SystemTime::now(),
        report: global.auth_report.clone(),
    })
}

/// One credential the chain may use.
struct Link {
    kind: AuthKind,
    /// What selected it (variables, a path); never a secret.
    detail: String,
    credential: Arc<dyn TokenCredential>,
}

impl Link {
    fn label(&self) -> String {
        format!("{} ({})", name(self.kind), self.detail)
    }
}

/// Whether a kind is configured: a credential, or what is missing (`partial` when some of
/// its configuration is there, which is worth saying when nothing else is).
enum Found {
    Yes(Link),
    No { note: String, partial: bool },
}

fn absent(note: impl Into<String>) -> Result<Found, Failure> {
    Ok(Found::No {
        note: note.into(),
        partial: false,
    })
}

fn partial(note: impl Into<String>) -> Result<Found, Failure> {
    Ok(Found::No {
        note: note.into(),
        partial: true,
    })
}

fn found(
    kind: AuthKind,
    detail: impl Into<String>,
    credential: impl TokenCredential + 'static,
) -> Result<Found, Failure> {
    Ok(Found::Yes(Link {
        kind,
        detail: detail.into(),
        credential: Arc::new(credential),
    }))
}

/// A credential that is configured but cannot be built (a bad authority host, an unreadable
/// certificate). Forced, a configuration error naming it; in the chain, a link that fails
/// with that error when reached, so the credentials before it still work.
fn misconfigured(kind: AuthKind, forced: bool, error: adu_auth::Error) -> Result<Found, Failure> {
    if forced {
        let mut failure = Failure::from_auth(&error);
        failure.message = format!("{}: {error}", name(kind));
        return Err(failure);
    }
    found(kind, "misconfigured", Broken(error))
}

/// What [`misconfigured`] puts in the chain.
struct Broken(adu_auth::Error);

impl TokenCredential for Broken {
    fn get_token<'a>(
        &'a self,
        _scopes: &'a [&'a str],
    ) -> BoxFuture<'a, Result<AccessToken, adu_auth::Error>> {
        Box::pin(std::future::ready(Err(self.0.clone())))
    }
}

/// [`resolve`] with its inputs made explicit.
pub fn resolve_from(inputs: Inputs<'_>) -> Result<Resolved, Failure> {
    let kinds: Vec<AuthKind> = match inputs.forced {
        Some(kind) => vec![kind],
        None => ORDER.to_vec(),
    };
    let forced = inputs.forced.is_some();
    let (mut links, mut considered, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    for kind in kinds {
        match find(kind, forced, &inputs)? {
            Found::Yes(link) => {
                tracing::info!(credential = name(kind), found = %link.detail, "credential configured");
                considered.push(Considered {
                    kind,
                    found: true,
                    note: link.detail.clone(),
                });
                links.push(link);
            }
            Found::No { note, partial } => {
                tracing::info!(credential = name(kind), %note, "credential not configured");
                if partial || forced {
                    notes.push(format!("{}: {note}", name(kind)));
                }
                considered.push(Considered {
                    kind,
                    found: false,
                    note,
                });
            }
        }
    }
    if links.is_empty() {
        if let Some(kind) = inputs.forced {
            return Err(Failure::new(
                Exit::Usage,
                format!("--auth {}", notes.join("; ")),
                needs(kind),
            ));
        }
        let mut message = "no credential is configured".to_owned();
        if !notes.is_empty() {
            message.push_str(": ");
            message.push_str(&notes.join("; "));
        }
        return Err(Failure::new(
            Exit::Usage,
            message,
            "authenticate in one of these ways (see `adu --help`): set ADU_ACCESS_TOKEN (or \
             pass --access-token) to a bearer token; set AZURE_TENANT_ID and AZURE_CLIENT_ID \
             with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_USERNAME and \
             AZURE_PASSWORD; run where a workload or managed identity is provided; run \
             `az login`; or run `adu login`",
        ));
    }
    let source = links.iter().map(|l| l.kind).collect();
    Ok(Resolved {
        credential: Arc::new(Chain {
            links,
            chosen: Mutex::new(None),
            forced,
            report: inputs.report,
        }),
        source,
        considered,
    })
}

/// What a forced kind needs, as the hint of its error.
fn needs(kind: AuthKind) -> &'static str {
    match kind {
        AuthKind::AccessToken => "set ADU_ACCESS_TOKEN (or pass --access-token) to a bearer token",
        AuthKind::Environment => {
            "set AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, \
             AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_USERNAME and AZURE_PASSWORD"
        }
        AuthKind::WorkloadIdentity => {
            "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE (the workload \
             identity webhook and Azure's login actions set them)"
        }
        AuthKind::ManagedIdentity => "run on an Azure resource with a managed identity",
        AuthKind::AzureCli => "install the Azure CLI, put `az` on PATH and run `az login`",
        AuthKind::Login => "run `adu login`",
    }
}

fn find(kind: AuthKind, forced: bool, inputs: &Inputs<'_>) -> Result<Found, Failure> {
    let get = |name: &str| (inputs.lookup)(name).filter(|v| !v.trim().is_empty());
    let http = || inputs.http.clone();
    match kind {
        AuthKind::AccessToken => match inputs.access_token {
            Some(token) => found(
                kind,
                "--access-token or ADU_ACCESS_TOKEN",
                StaticTokenCredential::from_secret(token.expose()),
            ),
            None => absent("neither --access-token nor ADU_ACCESS_TOKEN is set"),
        },
        AuthKind::Environment => {
            let secret = get(adu_auth::AZURE_CLIENT_SECRET).is_some();
            let certificate = get(adu_auth::AZURE_CLIENT_CERTIFICATE_PATH).is_some();
            let password =
                get(adu_auth::AZURE_USERNAME).is_some() || get(adu_auth::AZURE_PASSWORD).is_some();
            let ids = get(adu_auth::AZURE_TENANT_ID).is_some()
                || get(adu_auth::AZURE_CLIENT_ID).is_some();
            let workload = get(adu_auth::AZURE_FEDERATED_TOKEN_FILE).is_some();
            let built = if secret || (password && !certificate) {
                EnvironmentCredential::from_lookup(inputs.lookup, http()).map(|c| {
                    let detail = match c.flow() {
                        "password" => "AZURE_USERNAME and AZURE_PASSWORD",
                        _ => "AZURE_CLIENT_SECRET",
                    };
                    Link {
                        kind,
                        detail: detail.to_owned(),
                        credential: Arc::new(c),
                    }
                })
            } else if certificate {
                ClientCertificateCredential::from_lookup(inputs.lookup, http()).map(|c| Link {
                    kind,
                    detail: "AZURE_CLIENT_CERTIFICATE_PATH".to_owned(),
                    credential: Arc::new(c),
                })
            } else if ids && !workload {
                // Ids alone: say what else the environment credential needs.
                EnvironmentCredential::from_lookup(inputs.lookup, http()).map(|c| Link {
                    kind,
                    detail: c.flow().to_owned(),
                    credential: Arc::new(c),
                })
            } else {
                return absent(
                    "none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_USERNAME \
                     and AZURE_PASSWORD is set",
                );
            };
            match built {
                Ok(link) => Ok(Found::Yes(link)),
                Err(adu_auth::Error::MissingEnvironment { missing }) => partial(format!(
                    "the AZURE_* variables are incomplete (missing {})",
                    missing.join(", ")
                )),
                Err(error) => misconfigured(kind, forced, error),
            }
        }
        AuthKind::WorkloadIdentity => {
            if get(adu_auth::AZURE_FEDERATED_TOKEN_FILE).is_none() {
                return absent("AZURE_FEDERATED_TOKEN_FILE is not set");
            }
            match WorkloadIdentityCredential::from_lookup(inputs.lookup, http()) {
                Ok(c) => {
                    let detail = format!("AZURE_FEDERATED_TOKEN_FILE {}", c.token_file().display());
                    found(kind, detail, c)
                }
                Err(adu_auth::Error::MissingEnvironment { missing }) => partial(format!(
                    "AZURE_FEDERATED_TOKEN_FILE is set, but not {}",
                    missing.join(", ")
                )),
                Err(error) => misconfigured(kind, forced, error),
            }
        }
        AuthKind::ManagedIdentity => {
            let endpoint = get(adu_auth::IDENTITY_ENDPOINT).is_some();
            let detected = if endpoint {
                get(adu_auth::IDENTITY_HEADER).is_some() || get(adu_auth::IMDS_ENDPOINT).is_some()
            } else {
                get(adu_auth::MSI_ENDPOINT).is_some()
            };
            if !detected && !forced {
                return match endpoint {
                    true => partial(
                        "IDENTITY_ENDPOINT is set without IDENTITY_HEADER (App Service) or \
                         IMDS_ENDPOINT (Azure Arc)",
                    ),
                    false => absent(
                        "no App Service, Azure Arc or Cloud Shell identity endpoint \
                         (IDENTITY_ENDPOINT, MSI_ENDPOINT) is set; IMDS is asked only with \
                         --auth managed-identity",
                    ),
                };
            }
            let built = ManagedIdentityCredential::from_lookup(inputs.lookup, http())
                .and_then(|c| {
                    // As Azure's default credential does: AZURE_CLIENT_ID names a user-assigned
                    // identity (Azure Arc and Cloud Shell have only their own).
                    let own_only = [
                        ManagedIdentitySource::AzureArc,
                        ManagedIdentitySource::CloudShell,
                    ];
                    match get(adu_auth::AZURE_CLIENT_ID) {
                        Some(id) if !own_only.contains(&c.source()) => {
                            c.with_user_assigned(UserAssignedId::ClientId(id))
                        }
                        _ => Ok(c),
                    }
                })
                .map(|c| c.with_sleep(|d| Box::pin(tokio::time::sleep(d))));
            match built {
                Ok(c) => {
                    let detail = c.source().to_string();
                    found(kind, detail, c)
                }
                Err(error) => misconfigured(kind, forced, error),
            }
        }
        AuthKind::AzureCli => {
            let program = if cfg!(windows) { "az.cmd" } else { "az" };
            match get("PATH").and_then(|path| on_path(&path, program)) {
                Some(az) => found(
                    kind,
                    az.display().to_string(),
                    AzureCliCredential::new().with_program(az),
                ),
                None => absent(format!("`{program}` is not on PATH")),
            }
        }
        AuthKind::Login => login(inputs),
    }
}

/// The first executable file called `program` in the directories of `path`.
fn on_path(path: &str, program: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| {
            let Ok(meta) = std::fs::metadata(candidate) else {
                return false;
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                meta.is_file() && meta.permissions().mode() & 0o111 != 0
            }
            #[cfg(not(unix))]
            meta.is_file()
        })
}

/// The sign-in cached by `adu login`.
fn login(inputs: &Inputs<'_>) -> Result<Found, Failure> {
    let kind = AuthKind::Login;
    let path = match &inputs.cache_path {
        Ok(path) => path.clone(),
        Err(error) => return absent(error.to_string()),
    };
    let detail = path.display().to_string();
    match token_cache::read(&path) {
        Ok(Some(cached)) if cached.refreshable().is_some() => {
            let credential =
                PersistedLogin::restore(&path, cached, inputs.http.clone(), inputs.now)?;
            found(kind, detail, credential)
        }
        Ok(Some(cached)) if cached.is_usable_at(inputs.now) => found(
            kind,
            detail,
            StaticTokenCredential::new(AccessToken::new(
                cached.access_token.expose().to_owned(),
                cached.expires_at_time(),
            )),
        ),
        Ok(Some(_)) => partial(format!(
            "the token cached by `adu login` in {} has expired; run `adu login` again",
            path.display()
        )),
        Ok(None) => absent(format!("no sign-in is cached in {}", path.display())),
        Err(error) => partial(error.to_string()),
    }
}

/// The credentials found, tried in order until one gives a token; that one is used from then
/// on. When all fail, the [`Report`] gets every one's reason and fix.
pub struct Chain {
    links: Vec<Link>,
    chosen: Mutex<Option<usize>>,
    forced: bool,
    report: Report,
}

/// A credential the chain tried, and why it gave no token.
pub struct Attempt {
    /// The credential's kind.
    pub kind: AuthKind,
    /// `kind (detail)`.
    pub label: String,
    /// Why.
    pub error: adu_auth::Error,
}

/// Whether `error` means the credential cannot be used here (so the next may try), rather
/// than that its token endpoint refused it or could not be reached.
fn unavailable(kind: AuthKind, error: &adu_auth::Error) -> bool {
    use adu_auth::Error as E;
    match error {
        E::AzureCliNotInstalled { .. }
        | E::AzureCliNotSignedIn
        | E::AzureCli { .. }
        // A managed identity endpoint that is not there, or no identity assigned here, as
        // Azure's chains read them; one that answers with a refusal or a failure ends the
        // chain, so a wrong IDENTITY_HEADER is not hidden by the next credential.
        | E::ManagedIdentity { http: Some(_), .. }
        | E::IdentityNotAssigned { .. }
        | E::LoginExpired
        | E::ScopesNotAvailable { .. } => true,
        // A cached sign-in whose refresh token is no longer accepted.
        _ => kind == AuthKind::Login && error.error_code() == Some("invalid_grant"),
    }
}

impl Chain {
    /// Tries the credentials in order (only the chosen one, once one was): the token, which
    /// credential gave it and the attempts before it; or every attempt, in order.
    async fn pick(
        &self,
        scopes: &[&str],
    ) -> Result<(AccessToken, usize, Vec<Attempt>), Vec<Attempt>> {
        let start = *lock(&self.chosen);
        let candidates = match start {
            Some(index) => index..index + 1,
            None => 0..self.links.len(),
        };
        let mut attempts: Vec<Attempt> = Vec::new();
        for index in candidates {
            let link = &self.links[index];
            match link.credential.get_token(scopes).await {
                Ok(token) => {
                    if start.is_none() {
                        tracing::info!(credential = %link.label(), "credential chosen: the first that gave a token");
                        *lock(&self.chosen) = Some(index);
                    }
                    return Ok((token, index, attempts));
                }
                Err(error) => {
                    let goes_on = unavailable(link.kind, &error);
                    if goes_on {
                        tracing::info!(credential = %link.label(), reason = %error, "credential unavailable here; trying the next");
                    } else {
                        tracing::info!(credential = %link.label(), reason = %error, "credential refused; the chain stops");
                    }
                    attempts.push(Attempt {
                        kind: link.kind,
                        label: link.label(),
                        error,
                    });
                    if !goes_on {
                        break;
                    }
                }
            }
        }
        Err(attempts)
    }

    /// Like [`TokenCredential::get_token`], with a failure that names every credential tried.
    pub async fn token(&self, scopes: &[&str]) -> Result<Picked, Failure> {
        self.pick(scopes)
            .await
            .map(|(token, index, skipped)| Picked {
                token,
                kind: self.links[index].kind,
                detail: self.links[index].detail.clone(),
                skipped,
            })
            .map_err(|attempts| self.failure(&attempts))
    }

    /// The failure of a chain whose every attempt failed: one credential's error as it is,
    /// named; several as one paragraph with each one's reason and fix.
    fn failure(&self, attempts: &[Attempt]) -> Failure {
        match attempts {
            [] => Failure::new(Exit::Auth, "no credential was tried", "report this"),
            [one] => {
                let mut failure = Failure::from_auth(&one.error);
                failure.message = format!("{}: {}", one.label, failure.message);
                failure
            }
            several => {
                let last = &several[several.len() - 1];
                // A credential that stopped the chain is classified as it would be alone; when
                // every one was unavailable, authentication failed.
                let exit = match unavailable(last.kind, &last.error) {
                    true => Exit::Auth,
                    false => Failure::from_auth(&last.error).exit,
                };
                let each: Vec<String> = several
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        format!(
                            "({}) {}: {}; to fix: {}",
                            i + 1,
                            a.label,
                            a.error,
                            a.error.hint()
                        )
                    })
                    .collect();
                let hint = if self.forced {
                    "fix it as said above"
                } else {
                    "fix the one that should work as said for it, or choose one with --auth"
                };
                Failure::new(
                    exit,
                    format!(
                        "no credential gave a token ({} tried): {}",
                        several.len(),
                        each.join("; ")
                    ),
                    hint,
                )
            }
        }
    }
}

/// A token, the credential that gave it, and the ones tried before it.
pub struct Picked {
    /// The token.
    pub token: AccessToken,
    /// Which credential gave it.
    pub kind: AuthKind,
    /// What selected that credential.
    pub detail: String,
    /// The credentials tried before it, unavailable here.
    pub skipped: Vec<Attempt>,
}

impl TokenCredential for Chain {
    fn get_token<'a>(
        &'a self,
        scopes: &'a [&'a str],
    ) -> BoxFuture<'a, Result<AccessToken, adu_auth::Error>> {
        Box::pin(async move {
            match self.pick(scopes).await {
                Ok((token, _, _)) => {
                    *lock(&self.report.0) = None;
                    Ok(token)
                }
                Err(mut attempts) => {
                    *lock(&self.report.0) = Some(self.failure(&attempts));
                    Err(attempts
                        .pop()
                        .expect("a chain tries at least one credential")
                        .error)
                }
            }
        })
    }

    fn invalidate(&self, scopes: &[&str]) {
        if let Some(index) = *lock(&self.chosen) {
            self.links[index].credential.invalidate(scopes);
        }
    }
}

/// `adu auth show`: which credential the chain picks here and why, then the token's tenant,
/// client or user and expiry, read from its claims without verifying them; never the token.
pub async fn show(global: &GlobalArgs) -> Result<Exit, Failure> {
    let transport = crate::operation::build_transport(global)?;
    let resolved = resolve(global, Arc::new(transport))?;
    let scope = crate::login::default_scope(global.api_version);
    let picked = resolved.credential.token(&[scope]).await?;
    let claims = Claims::of(picked.token.secret());
    let expires = humantime::format_rfc3339_seconds(picked.token.expires_at()).to_string();
    let why = match global.auth {
        Some(_) => "chosen with --auth (or ADU_AUTH)".to_owned(),
        None => format!(
            "the first credential configured here that gave a token, in the order {}",
            ORDER.map(name).join(", ")
        ),
    };
    match global.output {
        OutputFormat::Json => {
            let skipped: Vec<_> = picked
                .skipped
                .iter()
                .map(
                    |a| serde_json::json!({ "credential": a.label, "reason": a.error.to_string() }),
                )
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "credential": name(picked.kind),
                    "detail": picked.detail,
                    "why": why,
                    "considered": resolved.considered,
                    "unavailable": skipped,
                    "scope": scope,
                    "token": {
                        "claimsVerified": false,
                        "tenant": claims.tenant,
                        "client": claims.client,
                        "user": claims.user,
                        "expiresAt": expires,
                    },
                })
            );
        }
        OutputFormat::Text => {
            let mut text = format!(
                "Credential: {} ({})\nWhy:        {why}\n",
                name(picked.kind),
                picked.detail
            );
            for attempt in &picked.skipped {
                text.push_str(&format!(
                    "Tried:      {}: {}\n",
                    attempt.label, attempt.error
                ));
            }
            for other in resolved.considered.iter().filter(|c| !c.found) {
                text.push_str(&format!(
                    "Not found:  {}: {}\n",
                    name(other.kind),
                    other.note
                ));
            }
            let unknown = "(not in the token)";
            let valid_for = picked
                .token
                .expires_at()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            text.push_str(&format!(
                "Token for {scope} (claims read without verifying the signature):\n  \
                 tenant:  {}\n  client:  {}\n  user:    {}\n  expires: {expires} (in {})\n",
                claims.tenant.as_deref().unwrap_or(unknown),
                claims.client.as_deref().unwrap_or(unknown),
                claims.user.as_deref().unwrap_or(unknown),
                crate::output::human_duration(valid_for),
            ));
            if !claims.jwt {
                text.push_str("  (the token is not a JWT: it has no claims to read)\n");
            }
            print!("{text}");
        }
    }
    Ok(Exit::Success)
}

/// Who a token is for, read from its JWT payload without verifying the signature (only the
/// service can; this is for people to read).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// Whether the token is a JWT with a JSON payload.
    pub jwt: bool,
    /// `tid`.
    pub tenant: Option<String>,
    /// `appid` (v1 tokens) or `azp` (v2).
    pub client: Option<String>,
    /// `upn`, `unique_name` or else `oid`.
    pub user: Option<String>,
}

impl Claims {
    /// Decodes the payload of `token` (the second of its three dot-separated parts).
    pub fn of(token: &str) -> Claims {
        use base64::Engine as _;
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Claims::default();
        };
        let Ok(bytes) =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
        else {
            return Claims::default();
        };
        let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice(&bytes) else {
            return Claims::default();
        };
        let first = |names: &[&str]| {
            names.iter().find_map(|n| match claims.get(*n) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => {
                    // Shown on a terminal: no control characters.
                    Some(s.chars().filter(|c| !c.is_control()).take(200).collect())
                }
                _ => None,
            })
        };
        Claims {
            jwt: true,
            tenant: first(&["tid"]),
            client: first(&["appid", "azp"]),
            user: first(&["upn", "unique_name", "oid"]),
        }
    }
}

/// An exclusive lock on the token cache (see [`token_cache::CacheLock`]), waited for at most
/// [`LOCK_WAIT`]; `None` (go on without it) when it cannot be had.
pub async fn lock_cache(path: &Path) -> Option<token_cache::CacheLock> {
    let cache_lock = match token_cache::CacheLock::open(path) {
        Ok(cache_lock) => cache_lock,
        Err(error) => {
            tracing::debug!(%error, "refreshing without a lock on the token cache");
            return None;
        }
    };
    let deadline = Instant::now() + LOCK_WAIT;
    let mut told = false;
    loop {
        match cache_lock.try_lock() {
            Ok(true) => return Some(cache_lock),
            Ok(false) if Instant::now() < deadline => {
                if !told {
                    tracing::info!(path = %path.display(), "another adu command is refreshing the cached sign-in; waiting for it");
                    told = true;
                }
                // flock has no timeout: poll, so the wait is bounded and blocks no thread.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(false) => {
                tracing::warn!(path = %path.display(), "the token cache stayed locked for {}s; refreshing without the lock", LOCK_WAIT.as_secs());
                return None;
            }
            Err(error) => {
                tracing::debug!(%error, "refreshing without a lock on the token cache");
                return None;
            }
        }
    }
}

/// The sign-in `adu login --flow auth-code` cached, restored: the cached access token while
/// it is good, then refreshes with the cached refresh token. After every token it hands out,
/// it re-reads the credential's refresh token (refresh tokens rotate) and rewrites the cache
/// file (owner-only, temporary file + rename) when the refresh token or the access token for
/// the cached scope changed.
///
/// Two `adu` commands may need a refresh at once. A refresh (a token request at all) happens
/// under an exclusive lock on the cache's lock file, and after taking it the command reads
/// the cache again: the second one takes up the sign-in the first saved (its new access
/// token and rotated refresh token) instead of sending the spent refresh token. Where no lock
/// can be had (another system, a read-only directory), a command refused `invalid_grant`
/// still reads the cache again and carries on with a newer sign-in saved there.
struct PersistedLogin {
    /// Replaced when a newer sign-in saved by another command is taken up.
    inner: Mutex<Arc<InteractiveCredential>>,
    path: PathBuf,
    http: SharedHttpClient,
    saved: Mutex<token_cache::CachedToken>,
}

/// A credential for a cached sign-in: its refresh token, at its authority, and its access
/// token while that is still good at `now`.
fn credential_for(
    cached: &token_cache::CachedToken,
    http: SharedHttpClient,
    now: SystemTime,
) -> Result<InteractiveCredential, adu_auth::Error> {
    let Some((refresh, tenant, client_id)) = cached.refreshable() else {
        return Err(adu_auth::Error::InvalidConfig {
            message: "the cached sign-in has no refresh token".to_owned(),
        });
    };
    let mut authority = Authority::new(tenant)?;
    if let Some(host) = cached.authority_host.as_deref() {
        authority = authority.with_host(host)?;
    }
    let mut credential = InteractiveCredential::from_refresh_token(
        authority,
        client_id,
        RefreshTokenSecret::new(refresh),
        &[cached.scope.as_str()],
        http,
    )?;
    if cached.is_usable_at(now) {
        credential = credential.with_access_token(AccessToken::new(
            cached.access_token.expose().to_owned(),
            cached.expires_at_time(),
        ));
    }
    Ok(credential)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PersistedLogin {
    fn restore(
        path: &Path,
        cached: token_cache::CachedToken,
        http: SharedHttpClient,
        now: SystemTime,
    ) -> Result<Self, Failure> {
        let credential = credential_for(&cached, http.clone(), now).map_err(|error| {
            let mut failure = Failure::from_auth(&error);
            failure.message = format!(
                "the sign-in cached in {} cannot be used: {error}",
                path.display()
            );
            failure.hint = Some("run `adu login` again".to_owned());
            failure
        })?;
        Ok(PersistedLogin {
            inner: Mutex::new(Arc::new(credential)),
            path: path.to_owned(),
            http,
            saved: Mutex::new(cached),
        })
    }

    fn current(&self) -> Arc<InteractiveCredential> {
        lock(&self.inner).clone()
    }

    /// The sign-in in the cache file, if another command saved a newer one (another refresh
    /// token) since this one was read or last saved; it replaces this one.
    fn take_up_newer(&self, now: SystemTime) -> Option<Arc<InteractiveCredential>> {
        let latest = match token_cache::read(&self.path) {
            Ok(latest) => latest?,
            Err(error) => {
                // The refusal stands as it is; this says why no newer sign-in was taken up.
                tracing::debug!(path = %self.path.display(), %error, "the token cache could not be read again");
                return None;
            }
        };
        let mut saved = lock(&self.saved);
        if latest.refreshable().is_none() || latest.refresh_token == saved.refresh_token {
            return None;
        }
        let credential = Arc::new(credential_for(&latest, self.http.clone(), now).ok()?);
        tracing::info!(path = %self.path.display(), "took up the sign-in another command saved");
        *lock(&self.inner) = credential.clone();
        *saved = latest;
        Some(credential)
    }

    /// Writes the cache again if `token` (obtained for `scopes` from `credential`) or the
    /// refresh token changed.
    fn persist(&self, credential: &InteractiveCredential, scopes: &[&str], token: &AccessToken) {
        let mut saved = lock(&self.saved);
        let mut next = saved.clone();
        if let Some(refresh) = credential.refresh_token() {
            next.refresh_token = Some(Secret::new(refresh.secret()));
        }
        // Only a token for the cached scope replaces the cached one.
        if scopes == [saved.scope.as_str()] {
            next.access_token = Secret::new(token.secret());
            next.expires_at = token_cache::unix_seconds(token.expires_at());
        }
        if next == *saved {
            return;
        }
        match token_cache::write(&self.path, &next) {
            Ok(()) => {
                tracing::info!(path = %self.path.display(), "refreshed sign-in saved");
                *saved = next;
            }
            Err(error) => {
                // The command itself can go on; the next one will have to sign in again if
                // the old refresh token was spent.
                eprintln!(
                    "adu: warning: {error}; the refreshed sign-in could not be saved, and the \
                     next command may need `adu login` again"
                );
            }
        }
    }
}

impl TokenCredential for PersistedLogin {
    fn get_token<'a>(
        &'a self,
        scopes: &'a [&'a str],
    ) -> BoxFuture<'a, Result<AccessToken, adu_auth::Error>> {
        Box::pin(async move {
            // A token for the cached scope that no refresh margin reaches: no request, no lock.
            let fresh = {
                let saved = lock(&self.saved);
                scopes == [saved.scope.as_str()]
                    && saved.is_usable_at(SystemTime::now() + adu_auth::DEFAULT_REFRESH_MARGIN)
            };
            let _held = match fresh {
                true => None,
                false => {
                    let held = lock_cache(&self.path).await;
                    if held.is_some() {
                        self.take_up_newer(SystemTime::now());
                    }
                    held
                }
            };
            let credential = self.current();
            let token = match credential.get_token(scopes).await {
                Ok(token) => token,
                // Refused refresh token: another command may have spent it first.
                Err(error) if error.error_code() == Some("invalid_grant") => {
                    let Some(newer) = self.take_up_newer(SystemTime::now()) else {
                        return Err(error);
                    };
                    let token = newer.get_token(scopes).await?;
                    self.persist(&newer, scopes, &token);
                    return Ok(token);
                }
                Err(error) => return Err(error),
            };
            self.persist(&credential, scopes, &token);
            Ok(token)
        })
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.current().invalidate(scopes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn offline() -> SharedHttpClient {
        Arc::new(|_r: adu_transport::http::Request<Vec<u8>>| async {
            Err::<adu_transport::http::Response<Vec<u8>>, _>(adu_auth::HttpClientError::new(
                "offline",
            ))
        })
    }

    fn no_cache() -> Result<PathBuf, token_cache::Error> {
        Err(token_cache::Error::NoCacheDir)
    }

    /// [`resolve_from`] with the chain's order (nothing forced).
    fn resolve_from(
        access_token: Option<&Secret>,
        lookup: impl Fn(&str) -> Option<String>,
        http: SharedHttpClient,
        cache_path: Result<PathBuf, token_cache::Error>,
        now: SystemTime,
    ) -> Result<Resolved, Failure> {
        super::resolve_from(Inputs {
            access_token,
            forced: None,
            lookup: &lookup,
            http,
            cache_path,
            now,
            report: Report::default(),
        })
    }

    #[test]
    fn the_access_token_comes_first() {
        let secret = Secret::new("tok");
        let resolved = resolve_from(
            Some(&secret),
            |_| Some("set".to_owned()),
            offline(),
            no_cache(),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(resolved.source[0], AuthKind::AccessToken);
        let token = futures_lite_block_on(resolved.credential.get_token(&["s"])).unwrap();
        assert_eq!(token.secret(), "tok");
    }

    #[test]
    fn then_the_environment() {
        let lookup = |name: &str| match name {
            "AZURE_TENANT_ID" => Some("t".to_owned()),
            "AZURE_CLIENT_ID" => Some("c".to_owned()),
            "AZURE_CLIENT_SECRET" => Some("s".to_owned()),
            _ => None,
        };
        let resolved =
            resolve_from(None, lookup, offline(), no_cache(), SystemTime::now()).unwrap();
        assert_eq!(resolved.source, [AuthKind::Environment]);
        assert_eq!(resolved.considered[1].note, "AZURE_CLIENT_SECRET");
    }

    #[test]
    fn then_the_cache_and_otherwise_a_usage_error_naming_the_three_ways() {
        let dir = std::env::temp_dir().join(format!("adu-cli-auth-{}", std::process::id()));
        let path = dir.join("token.json");
        let now = SystemTime::now();
        let cached = token_cache::CachedToken {
            access_token: Secret::new("cached"),
            expires_at: token_cache::unix_seconds(now + Duration::from_secs(3600)),
            flow: "implicit".into(),
            scope: "s".into(),
            refresh_token: None,
            authority_host: None,
            tenant: None,
            client_id: None,
        };
        token_cache::write(&path, &cached).unwrap();
        let resolved = resolve_from(None, |_| None, offline(), Ok(path.clone()), now).unwrap();
        assert_eq!(resolved.source, [AuthKind::Login]);

        // Expired: not used, and said so.
        let failure = resolve_from(
            None,
            |_| None,
            offline(),
            Ok(path.clone()),
            now + Duration::from_secs(7200),
        )
        .unwrap_err();
        assert_eq!(failure.exit, Exit::Usage);
        assert!(failure.message.contains("expired"), "{}", failure.message);
        let hint = failure.hint.unwrap();
        for way in ["ADU_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "adu login"] {
            assert!(hint.contains(way), "{way}");
        }
        let _ = std::fs::remove_dir_all(&dir);

        // Incomplete AZURE_* variables are named.
        let failure = resolve_from(
            None,
            |name| (name == "AZURE_TENANT_ID").then(|| "t".to_owned()),
            offline(),
            no_cache(),
            now,
        )
        .unwrap_err();
        assert!(
            failure.message.contains("AZURE_CLIENT_ID"),
            "{}",
            failure.message
        );
    }

    /// The (URI, form body) of each request a fake token endpoint received.
    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    /// A refresh that succeeds: `at-new` and the rotated `rt-2`.
    const REFRESHED: &[u8] =
        br#"{"access_token":"at-new","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#;

    /// A fake token endpoint that records each form and answers with `answer(earlier forms,
    /// this form)`: a status and a JSON body.
    fn token_endpoint(
        answer: impl Fn(&[(String, String)], &str) -> (u16, &'static [u8]) + Send + Sync + 'static,
    ) -> (Seen, SharedHttpClient) {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let http: SharedHttpClient = Arc::new(move |r: adu_transport::http::Request<Vec<u8>>| {
            let body = String::from_utf8_lossy(r.body()).into_owned();
            let mut seen = record.lock().unwrap();
            let (status, json) = answer(&seen, &body);
            seen.push((r.uri().to_string(), body));
            async move {
                Ok::<_, adu_auth::HttpClientError>(
                    adu_transport::http::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(json.to_vec())
                        .unwrap(),
                )
            }
        });
        (seen, http)
    }

    /// Answers every refresh with `at-new` and the rotated `rt-2`.
    fn rotating_endpoint() -> (Seen, SharedHttpClient) {
        token_endpoint(|_, _| (200, REFRESHED))
    }

    fn signed_in(expires_at: SystemTime) -> token_cache::CachedToken {
        token_cache::CachedToken {
            access_token: Secret::new("at-old"),
            expires_at: token_cache::unix_seconds(expires_at),
            flow: "auth-code".into(),
            scope: "https://api.adu.microsoft.com/.default".into(),
            refresh_token: Some(Secret::new("rt-1")),
            authority_host: Some("http://127.0.0.1:9/".into()),
            tenant: Some("emulator".into()),
            client_id: Some("adu-emulator".into()),
        }
    }

    #[test]
    fn a_cached_sign_in_is_refreshed_when_expired_and_the_rotation_is_saved() {
        let dir = std::env::temp_dir().join(format!("adu-cli-refresh-{}", std::process::id()));
        let path = dir.join("token.json");
        let now = SystemTime::now();
        let scope = ["https://api.adu.microsoft.com/.default"];

        // Still valid: the cached token, no request, no rewrite.
        token_cache::write(&path, &signed_in(now + Duration::from_secs(3600))).unwrap();
        let (seen, http) = rotating_endpoint();
        let resolved = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();
        assert_eq!(resolved.source, [AuthKind::Login]);
        let token = futures_lite_block_on(resolved.credential.get_token(&scope)).unwrap();
        assert_eq!(token.secret(), "at-old");
        assert!(seen.lock().unwrap().is_empty());

        // Expired: a refresh at the cached authority, and the new tokens saved.
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();
        let (seen, http) = rotating_endpoint();
        let resolved = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();
        let token = futures_lite_block_on(resolved.credential.get_token(&scope)).unwrap();
        assert_eq!(token.secret(), "at-new");
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].0, "http://127.0.0.1:9/emulator/oauth2/v2.0/token");
            assert!(
                seen[0].1.contains("grant_type=refresh_token"),
                "{}",
                seen[0].1
            );
            assert!(seen[0].1.contains("refresh_token=rt-1"), "{}", seen[0].1);
            assert!(
                seen[0].1.contains("client_id=adu-emulator"),
                "{}",
                seen[0].1
            );
        }
        let saved = token_cache::read(&path).unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.as_ref().map(Secret::expose),
            Some("rt-2")
        );
        assert_eq!(saved.access_token.expose(), "at-new");
        assert!(saved.is_usable_at(now));
        assert_eq!(saved.tenant.as_deref(), Some("emulator"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // A token for another scope rotates the refresh token but leaves the cached access
        // token (which is for the cached scope) alone.
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();
        let (_, http) = rotating_endpoint();
        let resolved = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();
        let other = ["https://api.adu.microsoft.com/user_impersonation"];
        futures_lite_block_on(resolved.credential.get_token(&other)).unwrap();
        let saved = token_cache::read(&path).unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.as_ref().map(Secret::expose),
            Some("rt-2")
        );
        assert_eq!(saved.access_token.expose(), "at-old");

        // A cache naming an authority that cannot be used is a usage error saying to sign in.
        let mut bad = signed_in(now);
        bad.authority_host = Some("http://login.example.com/".into());
        token_cache::write(&path, &bad).unwrap();
        let (_, http) = rotating_endpoint();
        let failure = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap_err();
        assert_eq!(failure.exit, Exit::Usage);
        assert!(
            failure.message.contains("cannot be used"),
            "{}",
            failure.message
        );
        assert_eq!(failure.hint.as_deref(), Some("run `adu login` again"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Takes each refresh token once, as an identity platform that rotates single-use
    /// refresh tokens does: `rt-1` gets `at-new` and `rt-2`, and any later use of a spent
    /// token is refused with `invalid_grant`.
    fn single_use_endpoint() -> (Seen, SharedHttpClient) {
        token_endpoint(|earlier, form| {
            let first_use = !earlier.iter().any(|(_, seen)| seen == form);
            if first_use && form.contains("refresh_token=rt-1") {
                (200, REFRESHED)
            } else {
                (
                    400,
                    br#"{"error":"invalid_grant","error_description":"AADSTS70008: The refresh token has expired or was already used."}"#,
                )
            }
        })
    }

    #[test]
    fn a_command_takes_up_the_sign_in_another_one_saved_and_a_spent_refresh_token_is_refused() {
        let dir = std::env::temp_dir().join(format!("adu-cli-race-{}", std::process::id()));
        let path = dir.join("token.json");
        let now = SystemTime::now();
        let scope = ["https://api.adu.microsoft.com/.default"];
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();

        // Two commands start together and both read `rt-1`.
        let (seen, http) = single_use_endpoint();
        let first = resolve_from(None, |_| None, http.clone(), Ok(path.clone()), now).unwrap();
        let second = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();

        // The first refreshes and saves `at-new` and `rt-2`.
        let token = futures_lite_block_on(first.credential.get_token(&scope)).unwrap();
        assert_eq!(token.secret(), "at-new");
        // The second, under the cache's lock, reads the cache again and takes up the saved
        // sign-in: its access token, without sending the spent `rt-1`.
        let token = futures_lite_block_on(second.credential.get_token(&scope)).unwrap();
        assert_eq!(token.secret(), "at-new");
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1, "one refresh in all");
            assert!(seen[0].1.contains("refresh_token=rt-1"));
        }
        let saved = token_cache::read(&path).unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.as_ref().map(Secret::expose),
            Some("rt-2")
        );

        // When nothing newer was saved, the refusal stands: the command must sign in again.
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();
        let (seen, http) = single_use_endpoint();
        // `rt-1` was spent before, by a command whose save was lost.
        let spent = resolve_from(None, |_| None, http.clone(), Ok(path.clone()), now).unwrap();
        let lone = resolve_from(None, |_| None, http, Ok(path.clone()), now).unwrap();
        futures_lite_block_on(spent.credential.get_token(&scope)).unwrap();
        token_cache::write(&path, &signed_in(now - Duration::from_secs(10))).unwrap();
        let error = futures_lite_block_on(lone.credential.get_token(&scope)).unwrap_err();
        assert_eq!(error.error_code(), Some("invalid_grant"));
        assert_eq!(seen.lock().unwrap().len(), 2);
        let saved = token_cache::read(&path).unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.as_ref().map(Secret::expose),
            Some("rt-1")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn claims_are_read_from_the_payload_without_verification() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = |claims: &str| format!("e30.{}.sig", b64.encode(claims));
        let claims = Claims::of(&token(
            r#"{"tid":"t","appid":"a","azp":"z","unique_name":"u","oid":"o","upn":"p\u001b[31m"}"#,
        ));
        assert_eq!(
            claims,
            Claims {
                jwt: true,
                tenant: Some("t".into()),
                client: Some("a".into()),
                user: Some("p[31m".into()),
            }
        );
        let v2 = Claims::of(&token(r#"{"azp":"z","oid":"o","tid":7}"#));
        assert_eq!(
            (v2.client.as_deref(), v2.user.as_deref(), v2.tenant),
            (Some("z"), Some("o"), None)
        );
        for opaque in [
            "opaque",
            "a.b",
            "a.!!.c",
            "a.b.c.d",
            &token("[1]"),
            &token("not json"),
        ] {
            assert_eq!(Claims::of(opaque), Claims::default(), "{opaque}");
        }
    }

    proptest::proptest! {
        #[test]
        fn claims_are_read_only_from_a_three_part_token_and_never_panic(token in "\\PC{0,200}") {
            let claims = Claims::of(&token);
            if token.split('.').count() != 3 {
                proptest::prop_assert_eq!(claims, Claims::default());
            }
        }

        #[test]
        fn claims_read_back_what_the_payload_holds(tid in "[ -~]{1,60}", upn in "[ -~]{1,60}", azp in "[ -~]{1,60}") {
            use base64::Engine as _;
            let payload = serde_json::json!({"tid": tid, "azp": azp, "upn": upn}).to_string();
            let token = format!("h.{}.s", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload));
            let claims = Claims::of(&token);
            proptest::prop_assert_eq!(claims.tenant, Some(tid));
            proptest::prop_assert_eq!(claims.client, Some(azp));
            proptest::prop_assert_eq!(claims.user, Some(upn));
        }
    }

    #[test]
    fn msi_endpoint_alone_is_cloud_shell_with_its_own_identity() {
        let lookup = |name: &str| match name {
            "MSI_ENDPOINT" => Some("http://localhost:50342/oauth2/token".to_owned()),
            "AZURE_CLIENT_ID" => Some("c".to_owned()),
            _ => None,
        };
        let resolved =
            resolve_from(None, lookup, offline(), no_cache(), SystemTime::now()).unwrap();
        assert_eq!(resolved.source, [AuthKind::ManagedIdentity]);
        let mi = resolved
            .considered
            .iter()
            .find(|c| c.kind == AuthKind::ManagedIdentity);
        // Not "misconfigured": AZURE_CLIENT_ID is not taken as a user-assigned id here.
        assert_eq!(mi.map(|c| c.note.as_str()), Some("Cloud Shell"));
    }

    #[test]
    fn what_lets_the_chain_go_on() {
        use adu_auth::Error as E;
        assert!(unavailable(AuthKind::AzureCli, &E::AzureCliNotSignedIn));
        assert!(unavailable(AuthKind::Login, &E::LoginExpired));
        let refused = E::InvalidConfig {
            message: "x".into(),
        };
        assert!(!unavailable(AuthKind::Environment, &refused));
    }

    #[test]
    fn a_forced_kind_that_is_not_configured_says_what_it_needs() {
        let failure = super::resolve_from(Inputs {
            access_token: None,
            forced: Some(AuthKind::WorkloadIdentity),
            lookup: &|name| (name == "AZURE_FEDERATED_TOKEN_FILE").then(|| "/f".to_owned()),
            http: offline(),
            cache_path: no_cache(),
            now: SystemTime::now(),
            report: Report::default(),
        })
        .unwrap_err();
        assert_eq!(failure.exit, Exit::Usage);
        assert!(
            failure.message.starts_with("--auth workload-identity: "),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("AZURE_TENANT_ID, AZURE_CLIENT_ID"),
            "{}",
            failure.message
        );
        assert!(failure.hint.unwrap().contains("AZURE_FEDERATED_TOKEN_FILE"));
    }

    #[test]
    fn a_misconfigured_credential_fails_only_when_the_chain_reaches_it() {
        let lookup = |name: &str| match name {
            "AZURE_TENANT_ID" | "AZURE_CLIENT_ID" | "AZURE_CLIENT_SECRET" => Some("x".to_owned()),
            "AZURE_AUTHORITY_HOST" => Some("not a url".to_owned()),
            _ => None,
        };
        let secret = Secret::new("tok");
        let resolved = resolve_from(
            Some(&secret),
            lookup,
            offline(),
            no_cache(),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(
            resolved.source,
            [AuthKind::AccessToken, AuthKind::Environment]
        );
        let token = futures_lite_block_on(resolved.credential.get_token(&["s"])).unwrap();
        assert_eq!(token.secret(), "tok");
        let report = Report::default();
        let resolved = super::resolve_from(Inputs {
            access_token: None,
            forced: None,
            lookup: &lookup,
            http: offline(),
            cache_path: no_cache(),
            now: SystemTime::now(),
            report: report.clone(),
        })
        .unwrap();
        futures_lite_block_on(resolved.credential.get_token(&["s"])).unwrap_err();
        let timed_out = Failure::new(Exit::TimedOut, "timed out", "wait longer");
        *lock(&report.0) = Some(Failure::new(Exit::Usage, "x", "y"));
        assert_eq!(
            report.explain(timed_out.clone()),
            timed_out,
            "another kind stays"
        );
        futures_lite_block_on(resolved.credential.get_token(&["s"])).unwrap_err();
        let failure = report.explain(Failure::new(Exit::Usage, "the command's", "z"));
        assert_eq!(failure.exit, Exit::Usage);
        assert!(
            failure.message.starts_with("environment (misconfigured): "),
            "{}",
            failure.message
        );
        // The report is given once.
        let usage = Failure::new(Exit::Usage, "the command's", "z");
        assert_eq!(report.explain(usage.clone()), usage);
    }

    fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }
}
