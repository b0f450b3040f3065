//! Managed identity: the token of the identity Azure gives this machine or app, asked of a
//! local endpoint (App Service and Functions, Azure Arc, Cloud Shell, or an Azure VM's IMDS).
//!
//! IMDS is plain http to the link-local address `169.254.169.254` by design. That is a
//! deliberate exception to the rule that tokens travel over plain http only to loopback: it
//! holds for that identity endpoint alone (the address, or an `http` override of it by
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST`), never for the service or a token endpoint.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;
use url::Url;

use crate::cache::{TokenCache, TokenCacheOptions};
use crate::credentials::{BoxFuture, TokenCredential};
use crate::error::Error;
use crate::http_client::SharedHttpClient;
use crate::redact::Scrubber;
use crate::response::MAX_EXPIRES_IN;
use crate::token::AccessToken;

/// App Service, Functions and Azure Arc: the local identity endpoint's URL.
pub const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
/// App Service and Functions: the secret the identity endpoint expects in `X-IDENTITY-HEADER`.
pub const IDENTITY_HEADER: &str = "IDENTITY_HEADER";
/// Azure Arc: set beside `IDENTITY_ENDPOINT` by the connected machine agent.
pub const IMDS_ENDPOINT: &str = "IMDS_ENDPOINT";
/// Cloud Shell (and Azure Machine Learning, with `MSI_SECRET`): the local identity endpoint.
pub const MSI_ENDPOINT: &str = "MSI_ENDPOINT";
/// Azure Machine Learning: set beside `MSI_ENDPOINT`, which is then not Cloud Shell's.
pub const MSI_SECRET: &str = "MSI_SECRET";
/// Replaces IMDS's `http://169.254.169.254` (as Azure's Python and .NET libraries allow).
pub const AZURE_POD_IDENTITY_AUTHORITY_HOST: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";

/// IMDS's address on every Azure VM.
pub const IMDS_HOST: &str = "http://169.254.169.254";
const IMDS_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// Where the Azure Arc agent writes the key files its challenge names, on Linux (on
/// Windows: `%ProgramData%\AzureConnectedMachineAgent\Tokens`).
pub const ARC_TOKEN_FOLDER: &str = "/var/opt/azcmagent/tokens";
/// The largest key file read for an Azure Arc challenge (the agent's are far smaller).
const ARC_KEY_MAX_BYTES: u64 = 4096;

/// Which endpoint a [`ManagedIdentityCredential`] asks.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagedIdentitySource {
    /// App Service or Functions (`IDENTITY_ENDPOINT` and `IDENTITY_HEADER`).
    AppService,
    /// An Azure Arc connected machine (`IDENTITY_ENDPOINT` and `IMDS_ENDPOINT`).
    AzureArc,
    /// Azure Cloud Shell (`MSI_ENDPOINT`).
    CloudShell,
    /// An Azure VM's instance metadata service.
    Imds,
}

impl fmt::Display for ManagedIdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ManagedIdentitySource::AppService => "App Service",
            ManagedIdentitySource::AzureArc => "Azure Arc",
            ManagedIdentitySource::CloudShell => "Cloud Shell",
            ManagedIdentitySource::Imds => "IMDS",
        })
    }
}

/// A user-assigned identity, named one of three ways (without one, the system-assigned
/// identity is used).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserAssignedId {
    /// Its client (application) id.
    ClientId(String),
    /// Its object (principal) id.
    ObjectId(String),
    /// Its Azure resource id (`/subscriptions/.../userAssignedIdentities/name`).
    ResourceId(String),
}

/// A pause between retries (see [`ManagedIdentityCredential::with_sleep`]).
type Sleep = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// A value never shown by `Debug`.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Debug)]
enum Endpoint {
    AppService { url: Url, header: Secret },
    AzureArc { url: Url, token_folder: PathBuf },
    CloudShell { url: Url },
    Imds { url: Url },
}

/// The token of this machine's or app's managed identity, asked of the endpoint its
/// environment provides: App Service and Functions (`IDENTITY_ENDPOINT` with
/// `IDENTITY_HEADER`), Azure Arc (`IDENTITY_ENDPOINT` with `IMDS_ENDPOINT`; the agent's
/// challenge is answered with a key file read only from its token folder), Cloud Shell
/// (`MSI_ENDPOINT`), or else an Azure VM's IMDS (`http://169.254.169.254`, or
/// `AZURE_POD_IDENTITY_AUTHORITY_HOST`).
///
/// It asks for one scope at a time (its resource: the scope without `/.default`), caches
/// tokens like the other credentials, and retries as Microsoft's identity libraries do: 404,
/// 408, 429 and 5xx after 1, 2 and 4 s (a 429's `Retry-After` in seconds, up to 60 s, instead);
/// 410 (IMDS being upgraded) every 10 s for up to 70 s;
/// never 400, which means no matching identity is assigned to this resource. Nothing is sent
/// before the first [`get_token`](TokenCredential::get_token). `Debug` never shows the
/// identity header, the Arc key or a token.
///
/// ```
/// use std::sync::Arc;
/// use adu_auth::{HttpClientError, ManagedIdentityCredential, ManagedIdentitySource, TokenCredential};
///
/// // In an application: `Arc::new(adu_transport::HyperTransport::new()?)`.
/// let http = Arc::new(|request: http::Request<Vec<u8>>| async move {
///     assert_eq!(request.headers()["x-identity-header"], "header-secret");
///     Ok::<_, HttpClientError>(http::Response::new(
///         br#"{"access_token":"eyJ0","expires_on":"4102444800","token_type":"Bearer"}"#.to_vec(),
///     ))
/// });
/// let env = |name: &str| match name {
///     "IDENTITY_ENDPOINT" => Some("http://127.0.0.1:41741/MSI/token/".to_owned()),
///     "IDENTITY_HEADER" => Some("header-secret".to_owned()),
///     _ => None,
/// };
/// let credential = ManagedIdentityCredential::from_lookup(env, http)?;
/// assert_eq!(credential.source(), ManagedIdentitySource::AppService);
/// let token = futures::executor::block_on(
///     credential.get_token(&["https://api.adu.microsoft.com/.default"]),
/// )?;
/// assert_eq!(token.secret(), "eyJ0");
/// # Ok::<(), adu_auth::Error>(())
/// ```
pub struct ManagedIdentityCredential {
    endpoint: Endpoint,
    id: Option<UserAssignedId>,
    http: SharedHttpClient,
    sleep: Sleep,
    cache: TokenCache,
}

impl fmt::Debug for ManagedIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityCredential")
            .field("endpoint", &self.endpoint)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityCredential {
    fn with_endpoint(endpoint: Endpoint, http: SharedHttpClient) -> Self {
        ManagedIdentityCredential {
            endpoint,
            id: None,
            http,
            sleep: Arc::new(crate::thread::sleep),
            cache: TokenCache::new(TokenCacheOptions::default()),
        }
    }

    /// Chooses the endpoint by the process environment (see [`from_lookup`](Self::from_lookup)).
    pub fn new(http: SharedHttpClient) -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok(), http)
    }

    /// Chooses the endpoint by the variables `lookup` gives, in the order of Azure's
    /// identity library for Python: App Service when `IDENTITY_ENDPOINT` and
    /// `IDENTITY_HEADER` are set, Azure Arc when `IDENTITY_ENDPOINT` and `IMDS_ENDPOINT` are,
    /// Cloud Shell when `MSI_ENDPOINT` is (and `IDENTITY_ENDPOINT` is not), else IMDS (at
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` when set). Empty values count as unset. Fails with
    /// [`Error::InvalidConfig`] for an endpoint that is not https, nor http to loopback (or,
    /// for IMDS, to its own address), and for `MSI_ENDPOINT` with `MSI_SECRET` (Azure Machine
    /// Learning, whose endpoint this credential does not speak).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        match (
            get(IDENTITY_ENDPOINT),
            get(IDENTITY_HEADER),
            get(IMDS_ENDPOINT),
        ) {
            (Some(endpoint), Some(header), _) => Self::app_service(&endpoint, header, http),
            (Some(endpoint), None, Some(_)) => Self::azure_arc(&endpoint, http),
            (None, ..) if get(MSI_ENDPOINT).is_some() && get(MSI_SECRET).is_some() => {
                Err(Error::InvalidConfig {
                    message: format!("{MSI_ENDPOINT} with {MSI_SECRET} (Azure Machine Learning) is not supported: choose another credential"),
                })
            }
            (None, ..) if get(MSI_ENDPOINT).is_some() => {
                Self::cloud_shell(&get(MSI_ENDPOINT).unwrap_or_default(), http)
            }
            _ => match get(AZURE_POD_IDENTITY_AUTHORITY_HOST) {
                Some(host) => Self::imds_at(&host, http),
                None => Ok(Self::imds(http)),
            },
        }
    }

    /// App Service or Functions: `GET endpoint?api-version=2019-08-01&resource=...` with
    /// `X-IDENTITY-HEADER: header`.
    pub fn app_service(
        endpoint: &str,
        header: impl Into<String>,
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        let url = endpoint_url(endpoint, IDENTITY_ENDPOINT, PlainHttp::LinkLocal)?;
        let header = Secret(header.into());
        if http::HeaderValue::from_str(&header.0).is_err() {
            return Err(Error::InvalidConfig {
                message: format!("{IDENTITY_HEADER} is not a valid header value"),
            });
        }
        Ok(Self::with_endpoint(
            Endpoint::AppService { url, header },
            http,
        ))
    }

    /// Azure Arc: `GET endpoint?api-version=2020-06-01&resource=...`, answered with the key
    /// file the agent's challenge names (only a small regular `.key` file directly in
    /// [`ARC_TOKEN_FOLDER`], or the folder set by
    /// [`with_arc_token_folder`](Self::with_arc_token_folder)).
    pub fn azure_arc(endpoint: &str, http: SharedHttpClient) -> Result<Self, Error> {
        let url = endpoint_url(endpoint, IDENTITY_ENDPOINT, PlainHttp::Loopback)?;
        let token_folder = match std::env::var_os("ProgramData") {
            Some(data) if cfg!(windows) => {
                PathBuf::from(data).join(r"AzureConnectedMachineAgent\Tokens")
            }
            _ => PathBuf::from(ARC_TOKEN_FOLDER),
        };
        Ok(Self::with_endpoint(
            Endpoint::AzureArc { url, token_folder },
            http,
        ))
    }

    /// Cloud Shell: `POST endpoint` (what `MSI_ENDPOINT` names, `http://localhost:50342/oauth2/token`)
    /// with the form `resource=...` and `Metadata: true`.
    pub fn cloud_shell(endpoint: &str, http: SharedHttpClient) -> Result<Self, Error> {
        let url = endpoint_url(endpoint, MSI_ENDPOINT, PlainHttp::Loopback)?;
        Ok(Self::with_endpoint(Endpoint::CloudShell { url }, http))
    }

    /// An Azure VM's IMDS at [`IMDS_HOST`].
    pub fn imds(http: SharedHttpClient) -> Self {
        Self::imds_at(IMDS_HOST, http).expect("IMDS's own address is accepted")
    }

    /// IMDS at another host (what `AZURE_POD_IDENTITY_AUTHORITY_HOST` gives): https, or http
    /// to loopback or to IMDS's own address `169.254.169.254`.
    pub fn imds_at(host: &str, http: SharedHttpClient) -> Result<Self, Error> {
        let mut url = endpoint_url(host, AZURE_POD_IDENTITY_AUTHORITY_HOST, PlainHttp::Imds)?;
        if url.query().is_some() {
            return Err(Error::InvalidConfig {
                message: format!(
                    "{AZURE_POD_IDENTITY_AUTHORITY_HOST} must be a URL without a query"
                ),
            });
        }
        let path = format!(
            "{}/metadata/identity/oauth2/token",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        Ok(Self::with_endpoint(Endpoint::Imds { url }, http))
    }

    /// Uses a user-assigned identity. Azure Arc and Cloud Shell have only their own identity
    /// (Azure's libraries refuse user-assigned ids there too), so there this fails with
    /// [`Error::InvalidConfig`].
    pub fn with_user_assigned(mut self, id: UserAssignedId) -> Result<Self, Error> {
        if matches!(
            self.endpoint,
            Endpoint::AzureArc { .. } | Endpoint::CloudShell { .. }
        ) {
            return Err(Error::InvalidConfig {
                message: format!(
                    "{} supports only the system-assigned identity: remove the user-assigned id",
                    self.source()
                ),
            });
        }
        self.id = Some(id);
        Ok(self)
    }

    /// The folder Azure Arc's key files must be in (tests; the default is
    /// [`ARC_TOKEN_FOLDER`]). No effect on other sources.
    #[must_use]
    pub fn with_arc_token_folder(mut self, folder: impl Into<PathBuf>) -> Self {
        if let Endpoint::AzureArc { token_folder, .. } = &mut self.endpoint {
            *token_folder = folder.into();
        }
        self
    }

    /// How to pause between retries. The default pauses on a thread of its own, so it works
    /// under any executor; an application with a runtime may pass its timer, for example
    /// `|d| Box::pin(tokio::time::sleep(d))`.
    #[must_use]
    pub fn with_sleep(
        mut self,
        sleep: impl Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Self {
        self.sleep = Arc::new(sleep);
        self
    }

    /// Replaces the cache options (clock, refresh margin, failure hook).
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache = TokenCache::new(options);
        self
    }

    /// Which endpoint this credential asks.
    pub fn source(&self) -> ManagedIdentitySource {
        match self.endpoint {
            Endpoint::AppService { .. } => ManagedIdentitySource::AppService,
            Endpoint::AzureArc { .. } => ManagedIdentitySource::AzureArc,
            Endpoint::CloudShell { .. } => ManagedIdentitySource::CloudShell,
            Endpoint::Imds { .. } => ManagedIdentitySource::Imds,
        }
    }

    fn failure(&self, status: Option<u16>, reason: impl Into<String>) -> Error {
        Error::ManagedIdentity {
            identity_source: self.source(),
            status,
            reason: reason.into(),
            http: None,
        }
    }

    /// The request for `resource`, with the Arc key once the challenge named it.
    fn request(
        &self,
        resource: &str,
        arc_key: Option<&Secret>,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        let (url, api_version) = match &self.endpoint {
            Endpoint::AppService { url, .. } => (url, "2019-08-01"),
            Endpoint::AzureArc { url, .. } => (url, "2020-06-01"),
            Endpoint::Imds { url } => (url, "2018-02-01"),
            Endpoint::CloudShell { url } => {
                // No query: the resource goes in the form, and no user-assigned id exists here.
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("resource", resource)
                    .finish();
                return http::Request::post(url.as_str())
                    .header(http::header::ACCEPT, "application/json")
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .header("Metadata", "true")
                    .body(body.into_bytes())
                    .map_err(|_| {
                        self.failure(None, "the request could not be built: check MSI_ENDPOINT")
                    });
            }
        };
        let mut url = url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("api-version", api_version);
            query.append_pair("resource", resource);
            let resource_id = match self.endpoint {
                Endpoint::Imds { .. } => "msi_res_id",
                _ => "mi_res_id",
            };
            match &self.id {
                Some(UserAssignedId::ClientId(id)) => query.append_pair("client_id", id),
                Some(UserAssignedId::ObjectId(id)) => query.append_pair("object_id", id),
                Some(UserAssignedId::ResourceId(id)) => query.append_pair(resource_id, id),
                None => &mut query,
            };
        }
        let mut request =
            http::Request::get(url.as_str()).header(http::header::ACCEPT, "application/json");
        request = match &self.endpoint {
            Endpoint::AppService { header, .. } => request.header("X-IDENTITY-HEADER", &header.0),
            _ => request.header("Metadata", "true"),
        };
        if let Some(key) = arc_key {
            request = request.header(http::header::AUTHORIZATION, format!("Basic {}", key.0));
        }
        request
            .body(Vec::new())
            .map_err(|_| self.failure(None, "the Azure Arc key file is not a valid header value"))
    }

    /// The key file Azure Arc's challenge names, read only if it is a small regular `.key`
    /// file directly in the agent's token folder (a link is followed, then judged by where
    /// it leads).
    fn arc_key(&self, response: &http::Response<Vec<u8>>) -> Result<Secret, Error> {
        let Endpoint::AzureArc { token_folder, .. } = &self.endpoint else {
            unreachable!("only Azure Arc challenges");
        };
        let realm = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once('='))
            .filter(|(scheme, _)| scheme.trim().eq_ignore_ascii_case("basic realm"))
            .map(|(_, path)| path.trim().trim_matches('"'))
            .ok_or_else(|| {
                self.failure(
                    Some(401),
                    "the endpoint answered 401 without a `Basic realm=<key file>` challenge: check that the Azure Connected Machine agent is running",
                )
            })?;
        let refuse = |why: &str| {
            self.failure(
                Some(401),
                format!(
                    "the challenge names `{realm}`, which {why}: only a `.key` file in {} is read; check the agent's installation",
                    token_folder.display()
                ),
            )
        };
        let named = Path::new(realm);
        if !named.is_absolute() {
            return Err(refuse("is not an absolute path"));
        }
        let folder = token_folder
            .canonicalize()
            .map_err(|_| refuse("cannot be checked because the token folder cannot be read"))?;
        let file = named.canonicalize().map_err(|_| refuse("cannot be read"))?;
        if file.parent() != Some(folder.as_path()) {
            return Err(refuse("is not in the agent's token folder"));
        }
        if named.extension().is_none_or(|e| e != "key")
            || file.extension().is_none_or(|e| e != "key")
        {
            return Err(refuse("is not a `.key` file"));
        }
        let (bytes, _) =
            crate::file::read_bounded(&file, ARC_KEY_MAX_BYTES).map_err(|e| match e {
                crate::file::FileError::NotAFile => refuse("is not a regular file"),
                crate::file::FileError::TooLarge { .. } => {
                    refuse(&format!("is larger than {ARC_KEY_MAX_BYTES} bytes"))
                }
                _ => refuse("cannot be read"),
            })?;
        let key = String::from_utf8(bytes).map_err(|_| refuse("is not text"))?;
        Ok(Secret(key.trim().to_owned()))
    }

    /// Finds the secrets this request sent (the identity header, the Arc key) in server text.
    fn scrubber(&self, arc_key: Option<&Secret>) -> Scrubber {
        let header = match &self.endpoint {
            Endpoint::AppService { header, .. } => Some(header.0.as_str()),
            _ => None,
        };
        let secrets: Vec<&str> = header
            .into_iter()
            .chain(arc_key.map(|k| k.0.as_str()))
            .collect();
        Scrubber::new(&secrets)
    }

    /// Reads a token answer to a request that sent `arc_key`.
    fn token(
        &self,
        response: &http::Response<Vec<u8>>,
        arc_key: Option<&Secret>,
    ) -> Result<AccessToken, Error> {
        let bad =
            |what: &str| self.failure(Some(200), format!("{what}: check the identity endpoint"));
        let answer: TokenAnswer = serde_json::from_slice(response.body()).map_err(|_| {
            bad("the answer is not a token (JSON with `access_token` and `expires_on`)")
        })?;
        if answer.access_token.is_empty() {
            return Err(bad("the answer's `access_token` is empty"));
        }
        if let Some(kind) = answer
            .token_type
            .filter(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            let mut token_type = kind.to_ascii_lowercase();
            self.scrubber(arc_key).scrub(&mut token_type);
            return Err(Error::UnsupportedTokenType { token_type });
        }
        let now = self.cache.options.clock.now();
        let expires_at = match (answer.expires_on, answer.expires_in) {
            (Some(on), _) => UNIX_EPOCH.checked_add(Duration::from_secs(on)),
            (None, Some(secs)) => now.checked_add(Duration::from_secs(secs)),
            (None, None) => {
                return Err(bad("the answer has neither `expires_on` nor `expires_in`"))
            }
        };
        let latest = now.checked_add(MAX_EXPIRES_IN).unwrap_or(now);
        let expires_at = expires_at.map_or(latest, |at| at.min(latest));
        Ok(AccessToken::new(answer.access_token, expires_at))
    }

    /// What a refused request says: the server's `error_description` (or `message`), with
    /// the request's secrets scrubbed, cut to one short line.
    fn description(
        &self,
        response: &http::Response<Vec<u8>>,
        arc_key: Option<&Secret>,
    ) -> Option<String> {
        let answer: ErrorAnswer = serde_json::from_slice(response.body()).ok()?;
        let mut text = answer
            .error_description
            .or(answer.message)
            .or(answer.error.and_then(|e| e.into_text()))?;
        self.scrubber(arc_key).scrub(&mut text);
        let line = text.lines().next().unwrap_or_default().trim();
        let short: String = line.chars().take(200).collect();
        (!short.is_empty()).then_some(short)
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let resource = resource(scopes)?;
        let mut retries = Retries::default();
        let mut arc_key = None;
        loop {
            let request = self.request(&resource, arc_key.as_ref())?;
            let response = self.http.call(request).await.map_err(|source| Error::ManagedIdentity {
                identity_source: self.source(),
                status: None,
                reason: match self.endpoint {
                    Endpoint::Imds { .. } => "could not reach IMDS: managed identity works on Azure VMs; elsewhere choose another credential".to_owned(),
                    Endpoint::CloudShell { .. } => format!("could not reach the identity endpoint: check {MSI_ENDPOINT}"),
                    _ => format!("could not reach the identity endpoint: check {IDENTITY_ENDPOINT}"),
                },
                http: Some(source),
            })?;
            let status = response.status().as_u16();
            match status {
                200 => return self.token(&response, arc_key.as_ref()),
                401 if arc_key.is_none() && matches!(self.endpoint, Endpoint::AzureArc { .. }) => {
                    arc_key = Some(self.arc_key(&response)?);
                    continue;
                }
                400 => {
                    return Err(Error::IdentityNotAssigned {
                        identity_source: self.source(),
                        description: self.description(&response, arc_key.as_ref()),
                    })
                }
                _ => {}
            }
            if let Some(pause) = retries.next(status, retry_after(&response)) {
                (self.sleep)(pause).await;
                continue;
            }
            let said = self
                .description(&response, arc_key.as_ref())
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let reason = match status {
                410 => format!("the endpoint is being upgraded (HTTP 410{said}) and did not answer within {} s: retry later", GONE_FOR.as_secs()),
                _ if retries.transient > 0 => format!("HTTP {status}{said} after {} retries: retry later", retries.transient),
                401 | 403 => format!("HTTP {status}{said}: the endpoint refused this process; check {IDENTITY_HEADER} or the agent's token folder permissions"),
                _ => format!("HTTP {status}{said}: check the identity endpoint"),
            };
            return Err(self.failure(Some(status), reason));
        }
    }
}

impl TokenCredential for ManagedIdentityCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(self.cache.get_or_fetch(scopes, || self.fetch(scopes)))
    }

    fn invalidate(&self, scopes: &[&str]) {
        self.cache.invalidate(scopes);
    }
}

/// The resource of the one scope asked for: the scope without `/.default`.
fn resource(scopes: &[&str]) -> Result<String, Error> {
    match scopes {
        [scope] if !scope.trim().is_empty() => {
            let scope = scope.trim();
            Ok(scope.strip_suffix("/.default").unwrap_or(scope).to_owned())
        }
        _ => Err(Error::InvalidConfig {
            message: format!(
                "a managed identity takes exactly one scope (its resource's `/.default`), not {}",
                scopes.len()
            ),
        }),
    }
}

/// Where an identity endpoint may be reached over plain http besides loopback: the
/// link-local addresses the platform itself serves its identity endpoint on.
#[derive(Clone, Copy, PartialEq)]
enum PlainHttp {
    /// Loopback only (Azure Arc's agent, Cloud Shell).
    Loopback,
    /// Also IMDS's own address, `169.254.169.254`.
    Imds,
    /// Also any IPv4 link-local address (`169.254.0.0/16`): App Service on Linux serves its
    /// `IDENTITY_ENDPOINT` on one, a hop that cannot leave the host's link.
    LinkLocal,
}

/// An identity endpoint named by `setting`: https, or http to loopback (or to the link-local
/// addresses `plain` allows, the documented exceptions).
fn endpoint_url(value: &str, setting: &str, plain: PlainHttp) -> Result<Url, Error> {
    let invalid = |why: &str| Error::InvalidConfig {
        message: format!("{setting} {why}"),
    };
    let url = Url::parse(value.trim()).map_err(|_| invalid("is not a URL"))?;
    let link_local = match (plain, url.host()) {
        (PlainHttp::Imds, Some(url::Host::Ipv4(ip))) => ip == IMDS_ADDRESS,
        (PlainHttp::LinkLocal, Some(url::Host::Ipv4(ip))) => ip.is_link_local(),
        _ => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if crate::authority::is_loopback(&url) || link_local => {}
        "http" if plain == PlainHttp::Imds => {
            return Err(invalid(
                "must use https (plain http only for loopback hosts and 169.254.169.254)",
            ))
        }
        "http" if plain == PlainHttp::LinkLocal => {
            return Err(invalid(
                "must use https (plain http only for loopback and link-local 169.254.x.x hosts)",
            ))
        }
        "http" => {
            return Err(invalid(
                "must use https (plain http only for loopback hosts)",
            ))
        }
        _ => return Err(invalid("must be an http or https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(invalid("must not carry user information or a fragment"));
    }
    Ok(url)
}

/// How long IMDS may answer 410 (being upgraded) before giving up, and the pause between.
const GONE_FOR: Duration = Duration::from_secs(70);
const GONE_PAUSE: Duration = Duration::from_secs(10);
/// Retries of the other transient answers, after 1, 2 and 4 s.
const MAX_TRANSIENT_RETRIES: u32 = 3;
/// The longest pause a 429's `Retry-After` may ask for (a longer one is cut to this).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A `Retry-After` given in seconds (its HTTP-date form is not used by identity endpoints).
fn retry_after(response: &http::Response<Vec<u8>>) -> Option<Duration> {
    let value = response.headers().get(http::header::RETRY_AFTER)?;
    value
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// The retry decisions of one token request, as Microsoft's identity libraries make them
/// for IMDS: pure, so tests drive them without sleeping.
#[derive(Debug, Default)]
struct Retries {
    transient: u32,
    gone_waited: Duration,
}

impl Retries {
    /// The pause before retrying an answer with `status` (and the `Retry-After` it gave), or
    /// `None` to give up.
    fn next(&mut self, status: u16, retry_after: Option<Duration>) -> Option<Duration> {
        match status {
            410 if self.gone_waited + GONE_PAUSE <= GONE_FOR => {
                self.gone_waited += GONE_PAUSE;
                Some(GONE_PAUSE)
            }
            404 | 408 | 429 | 500..=599 if self.transient < MAX_TRANSIENT_RETRIES => {
                let backoff = Duration::from_secs(1 << self.transient);
                let pause = match retry_after {
                    Some(after) if status == 429 => after.min(MAX_RETRY_AFTER),
                    _ => backoff,
                };
                self.transient += 1;
                Some(pause)
            }
            _ => None,
        }
    }
}

/// A token answer: `expires_on` is Unix seconds, as a string or a number. Not `Debug`: it
/// holds the token.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(
        default,
        deserialize_with = "crate::response::seconds_number_or_string"
    )]
    expires_on: Option<u64>,
    #[serde(
        default,
        deserialize_with = "crate::response::seconds_number_or_string"
    )]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

/// A refusal: IMDS and App Service send OAuth2-like `error` and `error_description`, Arc
/// and Functions sometimes `{"error": {"message": ...}}` or `{"message": ...}`.
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: Option<ErrorField>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Code(String),
    Object {
        #[serde(default)]
        message: Option<String>,
    },
}

impl ErrorField {
    fn into_text(self) -> Option<String> {
        match self {
            ErrorField::Code(code) => Some(code),
            ErrorField::Object { message } => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_answers_are_retried_after_1_2_and_4_seconds() {
        for status in [404, 408, 429, 500, 503, 599] {
            let mut retries = Retries::default();
            let pauses: Vec<_> = std::iter::from_fn(|| retries.next(status, None)).collect();
            assert_eq!(pauses, [1, 2, 4].map(Duration::from_secs), "{status}");
        }
    }

    #[test]
    fn gone_is_retried_every_10_seconds_for_70_seconds() {
        let mut retries = Retries::default();
        let pauses: Vec<_> = std::iter::from_fn(|| retries.next(410, None)).collect();
        assert_eq!(pauses, vec![GONE_PAUSE; 7]);
        // Each class keeps its own budget.
        assert_eq!(retries.next(503, None), Some(Duration::from_secs(1)));
    }

    #[test]
    fn other_answers_are_not_retried() {
        for status in [400, 401, 403, 405, 409, 600] {
            assert_eq!(Retries::default().next(status, None), None, "{status}");
        }
    }

    #[test]
    fn a_429_waits_its_retry_after_up_to_60_seconds() {
        let secs = Duration::from_secs;
        let mut retries = Retries::default();
        assert_eq!(retries.next(429, Some(secs(7))), Some(secs(7)));
        assert_eq!(retries.next(429, Some(secs(3600))), Some(MAX_RETRY_AFTER));
        assert_eq!(
            retries.next(429, None),
            Some(secs(4)),
            "backoff without one"
        );
        assert_eq!(
            retries.next(429, Some(secs(1))),
            None,
            "the budget still counts"
        );
        // Only a 429's Retry-After is honoured.
        assert_eq!(Retries::default().next(503, Some(secs(30))), Some(secs(1)));
        assert_eq!(
            Retries::default().next(410, Some(secs(1))),
            Some(GONE_PAUSE)
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        let with = |value: &str| {
            let response = http::Response::builder()
                .header(http::header::RETRY_AFTER, value)
                .body(Vec::new())
                .unwrap();
            retry_after(&response)
        };
        assert_eq!(with(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(with("0"), Some(Duration::ZERO));
        assert_eq!(with("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(with("-1"), None);
        assert_eq!(retry_after(&http::Response::new(Vec::new())), None);
    }

    #[test]
    fn the_resource_is_the_one_scope_without_default() {
        assert_eq!(
            resource(&["https://api.adu.microsoft.com/.default"]).unwrap(),
            "https://api.adu.microsoft.com"
        );
        assert_eq!(resource(&["https://x/"]).unwrap(), "https://x/");
        for scopes in [&[][..], &["a", "b"], &[" "]] {
            let error = resource(scopes).unwrap_err().to_string();
            assert!(error.contains("exactly one scope"), "{error}");
        }
    }

    #[test]
    fn imds_is_the_one_plain_http_exception() {
        let ok = |v: &str, imds: bool| {
            let plain = if imds {
                PlainHttp::Imds
            } else {
                PlainHttp::Loopback
            };
            endpoint_url(v, "X", plain).is_ok()
        };
        assert!(ok("http://169.254.169.254", true));
        assert!(ok("http://127.0.0.1:8080/", true));
        assert!(ok("http://[::1]:1/", false));
        assert!(ok("http://localhost:1/MSI/token", false));
        assert!(ok("https://pod-identity.example/", true));
        assert!(!ok("http://169.254.169.254", false));
        assert!(!ok("http://169.254.169.253", true));
        assert!(!ok("http://pod-identity.example/", true));
        assert!(!ok("http://10.0.0.1/", true));
        assert!(!ok("ftp://127.0.0.1/", true));
        assert!(!ok("http://user:pw@127.0.0.1/", true));
        assert!(!ok("not a url", true));
    }

    #[test]
    fn app_service_may_use_plain_http_to_a_link_local_host_only() {
        let ok = |v: &str| endpoint_url(v, "X", PlainHttp::LinkLocal).is_ok();
        // App Service on Linux: `IDENTITY_ENDPOINT=http://169.254.129.3:8081/msi/token`.
        assert!(ok("http://169.254.129.3:8081/msi/token"));
        assert!(ok("http://127.0.0.1:41741/MSI/token/"));
        assert!(ok("https://identity.example/msi/token"));
        assert!(!ok("http://169.255.0.1/msi/token"));
        assert!(!ok("http://10.0.0.1/msi/token"));
        assert!(!ok("http://identity.example/msi/token"));
        // Azure Arc and Cloud Shell keep loopback only.
        assert!(endpoint_url("http://169.254.129.3:8081/", "X", PlainHttp::Loopback).is_err());
    }

    proptest::proptest! {
        /// Whatever the address, an accepted plain-http endpoint is loopback, or IMDS's own
        /// address where IMDS is configured.
        #[test]
        fn plain_http_goes_only_to_loopback_or_imds(
            first in proptest::prop_oneof![proptest::strategy::Just(127u8), proptest::strategy::Just(169), proptest::num::u8::ANY],
            rest in proptest::array::uniform3(proptest::prop_oneof![proptest::strategy::Just(254u8), proptest::num::u8::ANY]),
            name in "[a-z0-9.-]{1,12}",
            imds in proptest::bool::ANY,
        ) {
            let address = format!("{first}.{}.{}.{}", rest[0], rest[1], rest[2]);
            for host in [address.as_str(), name.as_str(), &format!("[::{first:x}]")] {
                let plain = if imds { PlainHttp::Imds } else { PlainHttp::Loopback };
                if let Ok(url) = endpoint_url(&format!("http://{host}:80/"), "X", plain) {
                    let link_local = url.host() == Some(url::Host::Ipv4(IMDS_ADDRESS));
                    let loopback = crate::authority::is_loopback(&url);
                    proptest::prop_assert!(loopback || (imds && link_local), "{url}");
                }
            }
        }
    }

    #[test]
    fn the_default_imds_request_goes_to_the_link_local_address() {
        // Built, never sent.
        let http: SharedHttpClient = Arc::new(|_: http::Request<Vec<u8>>| async {
            Err::<http::Response<Vec<u8>>, _>(std::io::Error::other("never sent"))
        });
        let credential = ManagedIdentityCredential::imds(http)
            .with_user_assigned(UserAssignedId::ResourceId("/subscriptions/s/x".to_owned()))
            .unwrap();
        let request = credential
            .request("https://api.adu.microsoft.com", None)
            .unwrap();
        assert_eq!(
            request.uri().to_string(),
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01\
             &resource=https%3A%2F%2Fapi.adu.microsoft.com&msi_res_id=%2Fsubscriptions%2Fs%2Fx"
        );
        assert_eq!(request.headers()["metadata"], "true");
        assert_eq!(credential.source(), ManagedIdentitySource::Imds);
    }
}
