//! Azure's own Rust credentials (`azure_identity`, default features off) against the
//! emulator over https, through adu-auth's `azure-core` feature: the token they obtain is
//! accepted by the emulator's service when a `DeviceUpdateClient` reads an operation with
//! them. `azure_identity`'s HTTP goes through our `HyperTransport` (its own default client
//! needs reqwest), and its authority host is set in code (`ClientOptions::cloud`), never
//! through the process environment. It takes only https authority hosts, hence TLS.
//!
//! `WorkloadIdentityCredential` takes its token file, tenant and client in code; its federated
//! token is signed here by a key the emulator's scenario registers (`federatedIssuers`).
//! `ManagedIdentityCredential` reads `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` from the
//! process environment only (azure_identity 1.0 has no option for them), so that case runs
//! this test binary again as a child with the variables set on the child alone.
//!
//! Built with `--features azure-interop-tests`, which keeps the Azure crates out of every
//! other build of this crate.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use adu_auth::{AzureCoreCredential, Error as AuthError, TokenCredential};
use adu_emulator::{Config, OperationSpec, RunningEmulator, Timings};
use adu_transport::{
    DeviceUpdateClient, GetOperationOutcome, GetOptions, HttpTransport, HyperTransport,
    OperationStatus,
};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential as _};
use azure_core::error::ErrorKind;
use azure_core::http::headers::Headers;
use azure_core::http::{
    AsyncRawResponse, Body, ClientOptions, HttpClient, Request, StatusCode, Transport,
};
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rcgen::SigningKey as _;
use support::{trusting, trusting_emulator};

/// Our transport as `azure_core`'s HTTP client, counting the requests it carries.
struct Ours {
    transport: HyperTransport,
    requests: AtomicUsize,
}

// `azure_core`'s trait asks for `Debug`.
impl std::fmt::Debug for Ours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ours").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl HttpClient for Ours {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let mut ours = http::Request::builder()
            .method(request.method().as_ref())
            .uri(request.url().as_str());
        for (name, value) in request.headers().iter() {
            ours = ours.header(name.as_str(), value.as_str());
        }
        let Body::Bytes(body) = request.body() else {
            return Err(azure_core::Error::with_message(
                ErrorKind::Other,
                "a streamed body: the token requests send bytes",
            ));
        };
        let ours =
            (ours.body(body.to_vec())).map_err(|e| azure_core::Error::new(ErrorKind::Other, e))?;
        let response = (self.transport.call(ours).await)
            .map_err(|e| azure_core::Error::new(ErrorKind::Io, e))?;
        let mut headers = Headers::new();
        for (name, value) in response.headers() {
            let value = value
                .to_str()
                .map_err(|e| azure_core::Error::new(ErrorKind::DataConversion, e))?;
            headers.insert(name.as_str().to_owned(), value.to_owned());
        }
        let status = StatusCode::from(response.status().as_u16());
        Ok(AsyncRawResponse::from_bytes(
            status,
            headers,
            response.into_body(),
        ))
    }
}

/// `azure_identity`'s client secret credential for the emulator's token endpoint, with
/// `secret`, its HTTP through `http`.
fn azure_secret_credential(
    emulator: &RunningEmulator,
    secret: &str,
    http: Arc<Ours>,
) -> Arc<ClientSecretCredential> {
    let client_options = client_options(emulator, http);
    let creds = emulator.credentials();
    ClientSecretCredential::new(
        &creds.tenant,
        creds.client_id.clone(),
        Secret::new(secret.to_owned()),
        Some(ClientSecretCredentialOptions { client_options }),
    )
    .expect("a credential")
}

/// `azure_core`'s options: the emulator as the authority host, HTTP through `http`.
fn client_options(emulator: &RunningEmulator, http: Arc<Ours>) -> ClientOptions {
    let mut custom = CustomConfiguration::default();
    custom.authority_host = emulator.authority_url();
    ClientOptions {
        transport: Some(Transport::new(http)),
        cloud: Some(Arc::new(CloudConfiguration::from(custom))),
        ..Default::default()
    }
}

async fn https_emulator() -> (RunningEmulator, Arc<Ours>) {
    https_emulator_with(Config::default().with_tls(true)).await
}

async fn https_emulator_with(config: Config) -> (RunningEmulator, Arc<Ours>) {
    let emulator = adu_emulator::start(config).await.unwrap();
    assert!(emulator.authority_url().starts_with("https://"));
    let http = Arc::new(Ours {
        transport: trusting_emulator(&emulator).build().unwrap(),
        requests: AtomicUsize::new(0),
    });
    (emulator, http)
}

/// Reads operation `id` at `base_url` (https, trusting `pem`) with `azure`'s tokens, through
/// adu-auth's `AzureCoreCredential`; it must have succeeded.
async fn read_operation_with(
    azure: Arc<dyn azure_core::credentials::TokenCredential>,
    base_url: &str,
    pem: &str,
    id: &str,
) {
    let ours: Arc<dyn TokenCredential> = Arc::new(AzureCoreCredential::new(azure));
    let client = DeviceUpdateClient::builder(base_url, "blue", ours)
        .hyper_transport(trusting(pem))
        .build()
        .unwrap();
    let outcome = client
        .get_operation_status(id, &GetOptions::default())
        .await
        .expect("the operation, read with azure_identity's token");
    let GetOperationOutcome::Operation(response) = outcome else {
        panic!("expected the operation, got {outcome:?}");
    };
    assert_eq!(response.operation.status(), &OperationStatus::Succeeded);
}

#[tokio::test]
async fn azure_identity_client_secret_credential_reads_an_operation() {
    let (emulator, http) = https_emulator().await;
    let secret = emulator.credentials().client_secret.clone();
    let azure = azure_secret_credential(&emulator, &secret, http.clone());

    // Directly, as Azure's trait.
    let token = azure
        .get_token(&[adu_auth::scopes::CURRENT], None)
        .await
        .expect("a token from the emulator");
    assert!(!token.token.secret().is_empty());
    assert_eq!(
        http.requests.load(Ordering::SeqCst),
        1,
        "through our transport"
    );
    assert_eq!(emulator.stats().tokens_issued, 1);

    // As our credential, for the client: the emulator's service accepts its token.
    let ours: Arc<dyn TokenCredential> = Arc::new(AzureCoreCredential::new(azure));
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let client = DeviceUpdateClient::builder(emulator.base_url(), "blue", ours)
        .hyper_transport(trusting_emulator(&emulator))
        .build()
        .unwrap();
    let outcome = client
        .get_operation_status(&id, &GetOptions::default())
        .await
        .expect("the operation, read with azure_identity's token");
    let GetOperationOutcome::Operation(response) = outcome else {
        panic!("expected the operation, got {outcome:?}");
    };
    assert_eq!(response.operation.status(), &OperationStatus::Succeeded);
    assert_eq!(emulator.stats().polls_of(&id), 1);
    // azure_identity cached the token: no second token request.
    assert_eq!(emulator.stats().tokens_issued, 1);
    assert_eq!(http.requests.load(Ordering::SeqCst), 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn azure_identity_wrong_secret_is_a_readable_error_without_the_secret() {
    let (emulator, http) = https_emulator().await;
    let wrong = "not-the-emulator-secret";
    let ours = AzureCoreCredential::new(azure_secret_credential(&emulator, wrong, http.clone()));
    let err = ours
        .get_token(&[adu_auth::scopes::CURRENT])
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::AzureCore { .. }), "{err:?}");
    assert!(!err.is_transient(), "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("Invalid client secret"),
        "the emulator's description: {text}"
    );
    assert!(!text.contains(wrong), "the secret is shown: {text}");
    assert_eq!(http.requests.load(Ordering::SeqCst), 1);
    assert_eq!(emulator.stats().tokens_issued, 0);
    emulator.shutdown().await;
}

const ISSUER: &str = "https://oidc.ci.example";
const SUBJECT: &str = "system:serviceaccount:firmware:adu";
const FED_APP: &str = "fed-app";

#[tokio::test]
async fn azure_identity_workload_identity_credential_reads_an_operation() {
    // The federated issuer's key, registered in the scenario by its public key.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let scenario = serde_json::json!({
        "federatedIssuers": [ { "issuer": ISSUER, "subject": SUBJECT, "clientId": FED_APP,
                                "publicKeyPem": key.public_key_pem() } ],
    });
    let config = Config::from_scenario_json(&scenario.to_string()).unwrap();
    let (emulator, http) = https_emulator_with(config.with_tls(true)).await;

    // A service account token, as the workload identity webhook projects it into a file.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signed = format!(
        "{}.{}",
        b64(serde_json::json!({ "alg": "RS256", "typ": "JWT" })),
        b64(serde_json::json!({ "iss": ISSUER, "sub": SUBJECT,
            "aud": ["api://AzureADTokenExchange"], "iat": now, "exp": now + 3600 }))
    );
    let signature = key.sign(signed.as_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("federated-token");
    std::fs::write(
        &file,
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)),
    )
    .unwrap();

    let azure = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: client_options(&emulator, http.clone()),
        },
        client_id: Some(FED_APP.to_owned()),
        tenant_id: Some(emulator.credentials().tenant.clone()),
        token_file_path: Some(file.clone()),
    }))
    .expect("a credential");
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    read_operation_with(
        azure,
        &emulator.base_url(),
        emulator.certificate_pem().unwrap(),
        &id,
    )
    .await;
    let stats = emulator.stats();
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.polls_of(&id), 1);
    assert_eq!(stats.unauthorized, 0);
    assert_eq!(
        http.requests.load(Ordering::SeqCst),
        1,
        "through our transport"
    );

    // A token from an issuer the scenario does not name is refused, readably.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let forged = format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(other.sign(signed.as_bytes()).unwrap())
    );
    std::fs::write(&file, &forged).unwrap();
    let azure = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: client_options(&emulator, http.clone()),
        },
        client_id: Some(FED_APP.to_owned()),
        tenant_id: Some(emulator.credentials().tenant.clone()),
        token_file_path: Some(file),
    }))
    .expect("a credential");
    let err = AzureCoreCredential::new(azure)
        .get_token(&[adu_auth::scopes::CURRENT])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("AADSTS"), "{text}");
    assert!(!text.contains(forged.rsplit('.').next().unwrap()), "{text}");
    assert_eq!(emulator.stats().tokens_issued, 1);
    emulator.shutdown().await;
}

/// azure_identity's `ManagedIdentityCredential` in App Service's shape. It reads
/// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` from the process environment only, and tests never
/// change their own environment (they run in parallel), so this test runs itself again in a
/// child process with the variables set on the child alone, pointing at the emulator here.
#[tokio::test]
async fn azure_identity_managed_identity_credential_reads_an_operation() {
    const CHILD: &str = "azure_identity_managed_identity_credential_reads_an_operation";
    if let (Ok(base), Ok(pem), Ok(id)) = (
        std::env::var("ADU_MI_TEST_BASE_URL"),
        std::env::var("ADU_MI_TEST_PEM"),
        std::env::var("ADU_MI_TEST_OPERATION"),
    ) {
        // The child. Never IMDS: the endpoint must be the emulator's, on loopback.
        let endpoint = std::env::var("IDENTITY_ENDPOINT").unwrap();
        assert!(endpoint.starts_with("https://localhost:"), "{endpoint}");
        let http = Arc::new(Ours {
            transport: trusting(&pem).build().unwrap(),
            requests: AtomicUsize::new(0),
        });
        let azure = ManagedIdentityCredential::new(Some(
            azure_identity::ManagedIdentityCredentialOptions {
                client_options: ClientOptions {
                    transport: Some(Transport::new(http.clone())),
                    ..Default::default()
                },
                ..Default::default()
            },
        ))
        .expect("a credential");
        read_operation_with(azure, &base, &pem, &id).await;
        assert_eq!(
            http.requests.load(Ordering::SeqCst),
            1,
            "through our transport"
        );
        return;
    }
    let (emulator, _) = https_emulator().await;
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args(["--exact", CHILD, "--nocapture"]);
    for name in [
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "AZURE_CLIENT_ID",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        child.env_remove(name);
    }
    child
        .env("IDENTITY_ENDPOINT", emulator.identity_endpoint())
        .env(
            "IDENTITY_HEADER",
            &emulator.managed_identity().identity_header,
        )
        .env("ADU_MI_TEST_BASE_URL", emulator.base_url())
        .env("ADU_MI_TEST_PEM", emulator.certificate_pem().unwrap())
        .env("ADU_MI_TEST_OPERATION", &id);
    let output = tokio::task::spawn_blocking(move || child.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The child ran the test: a filter that matched nothing would pass too.
    assert!(stdout.contains("1 passed"), "{stdout}");
    let stats = emulator.stats();
    assert_eq!(stats.identity_requests, 1);
    assert_eq!(stats.token_requests, 0);
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.polls_of(&id), 1);
    assert_eq!(stats.unauthorized, 0);
    emulator.shutdown().await;
}
