//! The `azure-core` feature: an `azure_core` credential as ours (with a small
//! fake of one), and ours as an `azure_core` credential (against a token
//! endpoint on loopback).
#![cfg(feature = "azure-core")]

mod common;
mod token_server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use adu_auth::{
    scopes, Authority, AzureCoreCredential, ClientSecretCredential, Error, ForAzureCore,
    TokenCacheOptions, TokenCredential,
};
use azure_core::credentials::{self as azure, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::time::OffsetDateTime;
use common::TestClock;
use token_server::{http_client, token_json, TokenServer};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SECRET: &str = "s3cr3t-client-secret";

/// An `azure_core` credential that records the scopes asked for and answers
/// a fixed token, or fails with the given kind.
#[derive(Debug)]
struct Fake {
    asked: Mutex<Vec<Vec<String>>>,
    fail: Option<ErrorKind>,
}

#[async_trait::async_trait]
impl azure::TokenCredential for Fake {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure::AccessToken> {
        (self.asked.lock().unwrap()).push(scopes.iter().map(|s| (*s).to_owned()).collect());
        if let Some(kind) = &self.fail {
            return Err(azure_core::Error::with_message(
                kind.clone(),
                "AzureCliCredential authentication failed. Please run 'az login'",
            ));
        }
        let expires = OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap();
        Ok(azure::AccessToken::new("azure-token", expires))
    }
}

fn fake(fail: Option<ErrorKind>) -> Arc<Fake> {
    Arc::new(Fake {
        asked: Mutex::new(Vec::new()),
        fail,
    })
}

#[tokio::test]
async fn an_azure_core_credential_works_as_ours() {
    let theirs = fake(None);
    let ours = AzureCoreCredential::new(theirs.clone());
    let token = ours
        .get_token(&[scopes::CURRENT, "other/.default"])
        .await
        .unwrap();
    assert_eq!(token.secret(), "azure-token");
    assert_eq!(
        token.expires_at(),
        UNIX_EPOCH + Duration::from_secs(2_000_000_000)
    );
    assert_eq!(
        *theirs.asked.lock().unwrap(),
        [[scopes::CURRENT, "other/.default"]]
    );
    // Usable wherever ours are expected.
    let shared: Arc<dyn TokenCredential> = Arc::new(ours);
    shared.invalidate(&[scopes::CURRENT]);
    assert_eq!(
        shared.get_token(&[scopes::CURRENT]).await.unwrap().secret(),
        "azure-token"
    );
}

#[tokio::test]
async fn an_azure_core_failure_keeps_its_text_and_says_whether_to_retry() {
    for (kind, transient) in [
        (ErrorKind::Credential, false),
        (ErrorKind::Connection, true),
        (ErrorKind::Io, true),
    ] {
        let ours = AzureCoreCredential::new(fake(Some(kind.clone())));
        let error = ours.get_token(&[scopes::CURRENT]).await.unwrap_err();
        assert!(matches!(error, Error::AzureCore { .. }), "{error:?}");
        assert!(
            error.to_string().contains("Please run 'az login'"),
            "{error}"
        );
        assert_eq!(error.is_transient(), transient, "{kind:?}");
    }
}

#[tokio::test]
async fn ours_works_where_azure_core_expects_a_credential() {
    let server = TokenServer::start(|_, n| (200, token_json(&format!("tok{n}")))).await;
    let clock = TestClock::at(1_800_000_000);
    let authority = Authority::new(TENANT)
        .unwrap()
        .with_host(&server.host())
        .unwrap();
    let ours = ClientSecretCredential::new(authority, "app-id", SECRET, http_client())
        .with_cache_options(TokenCacheOptions::default().with_clock(clock));
    let theirs: Arc<dyn azure::TokenCredential> = Arc::new(ForAzureCore::new(Arc::new(ours)));
    let token = theirs.get_token(&[scopes::CURRENT], None).await.unwrap();
    assert_eq!(token.token.secret(), "tok0");
    assert_eq!(
        token.expires_on,
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + 3599).unwrap()
    );
    // Cached by ours: a second call sends nothing.
    let again = theirs
        .get_token(&[scopes::CURRENT], Some(TokenRequestOptions::default()))
        .await
        .unwrap();
    assert_eq!(again.token.secret(), "tok0");
    assert_eq!(server.count(), 1);
    assert_eq!(server.received()[0].field("scope"), scopes::CURRENT);
    assert!(!format!("{theirs:?}").contains(SECRET));
}

#[tokio::test]
async fn our_failure_reaches_azure_core_as_a_credential_error_without_the_secret() {
    let server = TokenServer::start(|request, _| {
        let echo = request.field("client_secret").to_owned();
        let body = serde_json::json!({
            "error": "invalid_client",
            "error_description": format!("AADSTS7000215: Invalid client secret provided: {echo}"),
            "error_codes": [7000215],
            "trace_id": "0f1e",
        });
        (401, body.to_string())
    })
    .await;
    let authority = Authority::new(TENANT)
        .unwrap()
        .with_host(&server.host())
        .unwrap();
    let ours = ClientSecretCredential::new(authority, "app-id", SECRET, http_client());
    let theirs = ForAzureCore::new(Arc::new(ours));
    let error = azure::TokenCredential::get_token(&theirs, &[scopes::CURRENT], None)
        .await
        .unwrap_err();
    assert_eq!(*error.kind(), ErrorKind::Credential);
    let inner = error.downcast_ref::<Error>().expect("our error inside");
    assert_eq!(inner.status(), Some(401));
    assert_eq!(inner.error_code(), Some("invalid_client"));
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("AADSTS7000215"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}
