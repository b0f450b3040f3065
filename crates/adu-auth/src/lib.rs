#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assertion;
mod authority;
#[cfg(feature = "azure-core")]
mod azure;
mod azure_cli;
mod cache;
mod certificate;
mod credentials;
mod device_code;
mod endpoint;
mod error;
pub mod file;
mod http_client;
mod interactive;
mod managed_identity;
mod redact;
mod response;
mod thread;
mod token;
mod workload;

pub use assertion::ClientAssertionCredential;
pub use authority::{scopes, Authority, EndpointVersion, DEFAULT_AUTHORITY_HOST};
#[cfg(feature = "azure-core")]
pub use azure::{AzureCoreCredential, ForAzureCore};
pub use azure_cli::{AzureCliCredential, AZURE_CLI_TIMEOUT};
pub use cache::{TokenCacheOptions, DEFAULT_REFRESH_MARGIN};
pub use certificate::{
    ClientCertificate, ClientCertificateCredential, AZURE_CLIENT_CERTIFICATE_PASSWORD,
    AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_SEND_CERTIFICATE_CHAIN, MAX_CERTIFICATE_FILE_BYTES,
};
pub use credentials::{
    BoxFuture, ClientSecretCredential, EnvironmentCredential, InteractiveCredential,
    StaticTokenCredential, TokenCredential, UsernamePasswordCredential, AZURE_AUTHORITY_HOST,
    AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_PASSWORD, AZURE_TENANT_ID, AZURE_USERNAME,
};
pub use device_code::{DeviceCode, DeviceCodeFlow};
pub use error::{Error, HttpClientError, ServerError};
pub use http;
pub use http_client::{HttpClient, SharedHttpClient};
pub use interactive::{AuthorizationCodeFlow, ImplicitFlow, PendingLogin};
pub use managed_identity::{
    ManagedIdentityCredential, ManagedIdentitySource, UserAssignedId, ARC_TOKEN_FOLDER,
    AZURE_POD_IDENTITY_AUTHORITY_HOST, IDENTITY_ENDPOINT, IDENTITY_HEADER, IMDS_ENDPOINT,
    IMDS_HOST, MSI_ENDPOINT, MSI_SECRET,
};
pub use response::DEFAULT_EXPIRES_IN;
pub use token::{AccessToken, Clock, RefreshTokenSecret, SystemClock};
pub use workload::{
    WorkloadIdentityCredential, AZURE_FEDERATED_TOKEN_FILE, FEDERATED_TOKEN_REREAD,
    MAX_FEDERATED_TOKEN_BYTES,
};
