//! Azure's own Rust credentials (`azure_identity`, default features off) against the
//! emulator over https, through adu-auth's `azure-core` feature: the token they obtain is
//! accepted by the emulator's service when a `DeviceUpdateClient` reads an operation with
//! them. `azure_identity`'s HTTP goes through our `HyperTransport` (its own default client
//! needs reqwest), and its authority host is set in code (`ClientOptions::cloud`), never
//! through the process environment. It takes only https authority hosts, hence TLS.
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
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use support::trusting_emulator;

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
    let mut custom = CustomConfiguration::default();
    custom.authority_host = emulator.authority_url();
    let cloud = CloudConfiguration::from(custom);
    let client_options = ClientOptions {
        transport: Some(Transport::new(http)),
        cloud: Some(Arc::new(cloud)),
        ..Default::default()
    };
    let creds = emulator.credentials();
    ClientSecretCredential::new(
        &creds.tenant,
        creds.client_id.clone(),
        Secret::new(secret.to_owned()),
        Some(ClientSecretCredentialOptions { client_options }),
    )
    .expect("a credential")
}

async fn https_emulator() -> (RunningEmulator, Arc<Ours>) {
    let emulator = adu_emulator::start(Config::default().with_tls(true))
        .await
        .unwrap();
    assert!(emulator.authority_url().starts_with("https://"));
    let http = Arc::new(Ours {
        transport: trusting_emulator(&emulator).build().unwrap(),
        requests: AtomicUsize::new(0),
    });
    (emulator, http)
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
