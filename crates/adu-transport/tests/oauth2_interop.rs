//! adu-auth's flows, end to end over real HTTP on loopback, against two
//! independent OAuth2 servers installed from the registries:
//!
//! - `ADU_INTEROP_MOCK_URL`: npm `oauth2-mock-server` (see
//!   `xtask/interop/oauth2/node/`): client credentials, password,
//!   authorization code with PKCE, refresh; no implicit.
//! - `ADU_INTEROP_AUTHLIB_URL`: an authorization server built on PyPI
//!   `authlib` + Flask (see `xtask/interop/oauth2/authlib/`): every grant,
//!   implicit included, with real secret, password and PKCE checks; and
//!   `private_key_jwt` (RFC 7523 client assertions) for the certificate and
//!   assertion credentials, whose certificate and key it writes to
//!   `ADU_INTEROP_AUTHLIB_CERT` (a test key, made at its start).
//!
//! Both serve `/{tenant}/oauth2/v2.0/{token,authorize}` and approve sign-ins
//! at once, so the authorization code and implicit flows complete without a
//! browser: the test follows the authorize URL itself and hands the
//! redirect's `Location` to the flow's `finish`.
//!
//! Run with `cargo xtask interop`, which installs and starts the peers and
//! sets the variables. Without them these tests fail (they never skip).
//!
//! HTTP goes through `adu_transport::HyperTransport`, whose
//! `oauth2::AsyncHttpClient` implementation makes it an `adu_auth::HttpClient`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use std::time::{SystemTime, UNIX_EPOCH};

use adu_auth::{
    Authority, AuthorizationCodeFlow, BoxFuture, ClientAssertionCredential, ClientCertificate,
    ClientCertificateCredential, ClientSecretCredential, Error, HttpClient, HttpClientError,
    ImplicitFlow, SharedHttpClient, TokenCredential, UsernamePasswordCredential,
};
use adu_transport::HyperTransport;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rcgen::SigningKey as _;

/// The peers are started with these (see `xtask/src/interop.rs`).
const TENANT: &str = "interop-tenant";
const CONFIDENTIAL_ID: &str = "adu-confidential";
const CONFIDENTIAL_SECRET: &str = "interop-secret";
const PUBLIC_ID: &str = "adu-public";
const CERTIFICATE_ID: &str = "adu-certificate";
const USERNAME: &str = "alice@interop.test";
const PASSWORD: &str = "alice-password";
const REDIRECT_URI: &str = "http://localhost:8400/callback";
const SCOPE: &str = "https://api.adu.microsoft.com/.default";

fn peer(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run these tests with `cargo xtask interop`, which starts the OAuth2 peers")
    })
}

fn mock() -> String {
    peer("ADU_INTEROP_MOCK_URL")
}

fn authlib() -> String {
    peer("ADU_INTEROP_AUTHLIB_URL")
}

fn transport() -> HyperTransport {
    HyperTransport::new().expect("a transport")
}

fn http() -> SharedHttpClient {
    Arc::new(transport())
}

/// Counts the token requests going through the transport.
struct Counting {
    inner: HyperTransport,
    calls: AtomicUsize,
}

impl HttpClient for Counting {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpClientError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            oauth2::AsyncHttpClient::call(&self.inner, request)
                .await
                .map_err(HttpClientError::new)
        })
    }
}

fn authority(base: &str) -> Authority {
    Authority::new(TENANT).unwrap().with_host(base).unwrap()
}

/// Follows the authorize URL once (the peers approve at once) and returns
/// the redirect's `Location`, which carries the code or the token.
async fn sign_in(authorize_url: &oauth2::url::Url) -> String {
    let request = http::Request::get(authorize_url.as_str())
        .body(Vec::new())
        .unwrap();
    let response = oauth2::AsyncHttpClient::call(&transport(), request)
        .await
        .expect("authorize request");
    assert!(
        response.status().is_redirection(),
        "authorize answered {}: {}",
        response.status(),
        String::from_utf8_lossy(response.body())
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    location
}

async fn client_credentials_round_trip(base: &str) {
    let cred = ClientSecretCredential::new(
        authority(base),
        CONFIDENTIAL_ID,
        CONFIDENTIAL_SECRET,
        http(),
    );
    let first = cred.get_token(&[SCOPE]).await.expect("client credentials");
    assert!(!first.secret().is_empty());
    assert!(first.expires_at() > std::time::SystemTime::now());
    // Cached: the same token.
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().secret(),
        first.secret()
    );
    // Invalidated (a 401 from the service): a new one.
    cred.invalidate(&[SCOPE]);
    let second = cred.get_token(&[SCOPE]).await.unwrap();
    assert!(!second.secret().is_empty());
}

async fn wrong_secret_fails_with_the_servers_error(base: &str, expected_status: u16) {
    let cred =
        ClientSecretCredential::new(authority(base), CONFIDENTIAL_ID, "not-the-secret", http());
    let err = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert!(matches!(err, Error::TokenEndpoint { .. }), "{err:?}");
    assert_eq!(err.status(), Some(expected_status), "{err}");
    assert_eq!(err.error_code(), Some("invalid_client"), "{err}");
    assert!(!format!("{err} {err:?}").contains("not-the-secret"));
}

async fn password_round_trip(base: &str) {
    let cred =
        UsernamePasswordCredential::new(authority(base), PUBLIC_ID, USERNAME, PASSWORD, http())
            .unwrap();
    let token = cred.get_token(&[SCOPE]).await.expect("password grant");
    assert!(!token.secret().is_empty());
}

/// Authorization code with PKCE, then a refresh (twice, so a rotated refresh
/// token is used).
async fn authorization_code_round_trip(base: &str, secret: Option<&str>) {
    let client_id = if secret.is_some() {
        CONFIDENTIAL_ID
    } else {
        PUBLIC_ID
    };
    let counting = Arc::new(Counting {
        inner: transport(),
        calls: AtomicUsize::new(0),
    });
    let calls = || counting.calls.load(Ordering::SeqCst);
    let mut flow =
        AuthorizationCodeFlow::new(authority(base), client_id, REDIRECT_URI, counting.clone())
            .unwrap();
    if let Some(secret) = secret {
        flow = flow.with_client_secret(secret);
    }
    let pending = flow.start(&[SCOPE]).unwrap();
    let location = sign_in(pending.authorize_url()).await;
    assert!(location.contains("code="), "{location}");
    let cred = flow
        .finish(pending, &location)
        .await
        .expect("code exchange");
    assert!(
        cred.has_refresh_token(),
        "the server issued no refresh token"
    );
    assert_eq!(calls(), 1, "one code exchange");
    let first = cred.get_token(&[SCOPE]).await.unwrap();
    assert!(!first.secret().is_empty());
    assert_eq!(calls(), 1, "the sign-in's token is cached");
    // (oauth2-mock-server's JWTs are equal within one second, so requests are
    // counted rather than tokens compared.)
    cred.invalidate(&[SCOPE]);
    let refreshed = cred.get_token(&[SCOPE]).await.expect("refresh");
    assert!(!refreshed.secret().is_empty());
    assert_eq!(calls(), 2, "one refresh request");
    cred.invalidate(&[SCOPE]);
    cred.get_token(&[SCOPE])
        .await
        .expect("refresh with the rotated refresh token");
    assert_eq!(calls(), 3, "a second refresh request");
}

// ---- oauth2-mock-server ----

#[tokio::test]
async fn mock_client_credentials() {
    client_credentials_round_trip(&mock()).await;
}

#[tokio::test]
async fn mock_wrong_secret() {
    wrong_secret_fails_with_the_servers_error(&mock(), 401).await;
}

#[tokio::test]
async fn mock_password() {
    password_round_trip(&mock()).await;
}

#[tokio::test]
async fn mock_authorization_code_pkce_and_refresh() {
    authorization_code_round_trip(&mock(), None).await;
}

#[tokio::test]
async fn mock_pkce_is_checked() {
    // A verifier that does not match the challenge is refused by the server:
    // proves the challenge we send is the S256 of the verifier we keep.
    let base = mock();
    let flow =
        AuthorizationCodeFlow::new(authority(&base), PUBLIC_ID, REDIRECT_URI, http()).unwrap();
    let a = flow.start(&[SCOPE]).unwrap();
    let b = flow.start(&[SCOPE]).unwrap();
    let location_a = sign_in(a.authorize_url()).await;
    let _location_b = sign_in(b.authorize_url()).await;
    // Hand a's code to b's pending login, with a's state rewritten to b's.
    let state_b = b
        .authorize_url()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let code_a = oauth2::url::Url::parse(&location_a)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let err = flow
        .finish(b, &format!("{REDIRECT_URI}?code={code_a}&state={state_b}"))
        .await
        .unwrap_err();
    assert!(err.status().is_some_and(|s| s >= 400), "{err:?}");
}

#[tokio::test]
async fn mock_refuses_implicit_with_its_error() {
    let flow = ImplicitFlow::new(authority(&mock()), PUBLIC_ID, REDIRECT_URI).unwrap();
    let pending = flow.start(&[SCOPE]).unwrap();
    let location = sign_in(pending.authorize_url()).await;
    let err = flow.finish(pending, &location).unwrap_err();
    assert!(matches!(err, Error::Authorization { .. }), "{err:?}");
    assert_eq!(err.error_code(), Some("unsupported_response_type"));
}

// ---- authlib ----

#[tokio::test]
async fn authlib_client_credentials() {
    client_credentials_round_trip(&authlib()).await;
}

#[tokio::test]
async fn authlib_wrong_secret() {
    wrong_secret_fails_with_the_servers_error(&authlib(), 400).await;
}

#[tokio::test]
async fn authlib_password() {
    password_round_trip(&authlib()).await;
}

#[tokio::test]
async fn authlib_wrong_password() {
    let cred = UsernamePasswordCredential::new(
        authority(&authlib()),
        PUBLIC_ID,
        USERNAME,
        "wrong-password",
        http(),
    )
    .unwrap();
    let err = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    // authlib answers a wrong password with `invalid_request` (RFC 6749 would say `invalid_grant`).
    assert_eq!(err.error_code(), Some("invalid_request"), "{err}");
    assert!(
        err.server_error()
            .unwrap()
            .error_description()
            .unwrap()
            .contains("password"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("wrong-password"));
}

#[tokio::test]
async fn authlib_authorization_code_pkce_and_refresh_public_client() {
    authorization_code_round_trip(&authlib(), None).await;
}

#[tokio::test]
async fn authlib_authorization_code_pkce_and_refresh_confidential_client() {
    authorization_code_round_trip(&authlib(), Some(CONFIDENTIAL_SECRET)).await;
}

#[tokio::test]
async fn authlib_implicit() {
    let flow = ImplicitFlow::new(authority(&authlib()), PUBLIC_ID, REDIRECT_URI)
        .unwrap()
        .with_nonce();
    let pending = flow.start(&[SCOPE]).unwrap();
    let location = sign_in(pending.authorize_url()).await;
    assert!(location.contains("#"), "{location}");
    let cred = flow.finish(pending, &location).expect("implicit token");
    assert!(!cred.has_refresh_token());
    let token = cred.get_token(&[SCOPE]).await.unwrap();
    assert!(!token.secret().is_empty());
    let lifetime = token
        .expires_at()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        lifetime.as_secs() > 3000 && lifetime.as_secs() <= 3600,
        "{lifetime:?}"
    );
}

// ---- authlib: private_key_jwt (client assertions and certificates) ----

/// The PEM (certificate, then PKCS#8 key) authlib registered for `adu-certificate`.
fn authlib_client_pem() -> String {
    let path = peer("ADU_INTEROP_AUTHLIB_CERT");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn registered_certificate() -> ClientCertificate {
    ClientCertificate::from_pem(authlib_client_pem().as_bytes()).expect("authlib's certificate")
}

/// The registered certificate's key, to sign assertions by hand.
fn registered_key() -> rcgen::KeyPair {
    let pem = authlib_client_pem();
    let key = &pem[pem
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("a PKCS#8 key")..];
    rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(key, &rcgen::PKCS_RSA_SHA256).unwrap()
}

/// A certificate and RSA key authlib has never seen.
fn stranger() -> (ClientCertificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec![CERTIFICATE_ID.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    (ClientCertificate::from_pem(pem.as_bytes()).unwrap(), key)
}

/// An RS256 client assertion signed by `key`, its header naming `x5t`.
fn sign_assertion(key: &rcgen::KeyPair, x5t: &str, audience: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": x5t});
    let claims = serde_json::json!({
        "aud": audience, "iss": CERTIFICATE_ID, "sub": CERTIFICATE_ID,
        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 600,
    });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn token_url(base: &str) -> String {
    format!("{base}/{TENANT}/oauth2/v2.0/token")
}

/// Asks once with an assertion the callback hands out, and returns authlib's refusal.
async fn refused_assertion(assertion: String) -> Error {
    let shown = assertion.clone();
    let cred = ClientAssertionCredential::from_fn(
        authority(&authlib()),
        CERTIFICATE_ID,
        move || Ok(assertion.clone()),
        http(),
    );
    let err = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert!(matches!(err, Error::TokenEndpoint { .. }), "{err:?}");
    assert_eq!(err.status(), Some(400), "{err}");
    assert_eq!(err.error_code(), Some("invalid_client"), "{err}");
    assert!(err.hint().contains("certificate"), "{}", err.hint());
    let text = format!("{err} {err:?}");
    assert!(!text.contains(&shown), "the assertion is shown: {text}");
    let signature = shown.rsplit('.').next().unwrap();
    assert!(!text.contains(signature), "the signature is shown: {text}");
    err
}

fn description(err: &Error) -> String {
    let server = err.server_error().expect("authlib's error body");
    server.error_description().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn authlib_certificate_credential_private_key_jwt() {
    let base = authlib();
    let cred = ClientCertificateCredential::new(
        authority(&base),
        CERTIFICATE_ID,
        registered_certificate(),
        http(),
    );
    let first = cred.get_token(&[SCOPE]).await.expect("private_key_jwt");
    assert!(!first.secret().is_empty());
    assert!(first.expires_at() > SystemTime::now());
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().secret(),
        first.secret(),
        "cached"
    );
    // A new token request signs a new assertion (authlib refuses a `jti` seen before).
    cred.invalidate(&[SCOPE]);
    let second = cred.get_token(&[SCOPE]).await.expect("a second assertion");
    assert_ne!(second.secret(), first.secret());
    // With the chain (`x5c`) in the header too.
    let chained = ClientCertificateCredential::new(
        authority(&base),
        CERTIFICATE_ID,
        registered_certificate(),
        http(),
    )
    .with_certificate_chain(true);
    chained.get_token(&[SCOPE]).await.expect("with x5c");
}

#[tokio::test]
async fn authlib_client_assertion_signed_in_the_test() {
    let base = authlib();
    let key = registered_key();
    let x5t = registered_certificate().thumbprint().to_owned();
    let audience = token_url(&base);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let cred = ClientAssertionCredential::from_fn(
        authority(&base),
        CERTIFICATE_ID,
        move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(sign_assertion(&key, &x5t, &audience))
        },
        http(),
    );
    let token = cred.get_token(&[SCOPE]).await.expect("client assertion");
    assert!(!token.secret().is_empty());
    cred.invalidate(&[SCOPE]);
    cred.get_token(&[SCOPE]).await.expect("a fresh assertion");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one assertion per request");
}

/// authlib verifies the signature: a certificate it does not know is refused,
/// whether it is named by its own `x5t` or by the registered one's.
#[tokio::test]
async fn authlib_refuses_a_certificate_it_does_not_know() {
    let base = authlib();
    let (certificate, key) = stranger();
    let cred =
        ClientCertificateCredential::new(authority(&base), CERTIFICATE_ID, certificate, http());
    let err = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(err.error_code(), Some("invalid_client"), "{err}");
    assert_eq!(err.status(), Some(400), "{err}");

    // Its claims and `x5t` are right: only the signature can be refused.
    let registered_x5t = registered_certificate().thumbprint().to_owned();
    let err = refused_assertion(sign_assertion(&key, &registered_x5t, &token_url(&base))).await;
    let said = description(&err);
    assert!(!said.contains("x5t") && !said.contains("claim"), "{err}");
}

#[tokio::test]
async fn authlib_refuses_a_wrong_audience() {
    let base = authlib();
    let x5t = registered_certificate().thumbprint().to_owned();
    // The v1 token endpoint of the same tenant: right server, wrong `aud`.
    let v1 = format!("{base}/{TENANT}/oauth2/token");
    let err = refused_assertion(sign_assertion(&registered_key(), &x5t, &v1)).await;
    assert!(description(&err).contains("'aud'"), "{err}");
}

#[tokio::test]
async fn authlib_refuses_a_wrong_thumbprint() {
    let base = authlib();
    let (stranger_certificate, _) = stranger();
    let x5t = stranger_certificate.thumbprint().to_owned();
    let err = refused_assertion(sign_assertion(&registered_key(), &x5t, &token_url(&base))).await;
    assert!(description(&err).contains("x5t"), "{err}");
}

#[tokio::test]
async fn authlib_refuses_a_replayed_assertion() {
    let base = authlib();
    let x5t = registered_certificate().thumbprint().to_owned();
    let assertion = sign_assertion(&registered_key(), &x5t, &token_url(&base));
    let once = assertion.clone();
    let cred = ClientAssertionCredential::from_fn(
        authority(&base),
        CERTIFICATE_ID,
        move || Ok(once.clone()),
        http(),
    );
    cred.get_token(&[SCOPE]).await.expect("the first use");
    let err = refused_assertion(assertion).await;
    assert!(description(&err).contains("JWT ID"), "{err}");
}
