//! Client assertion, client certificate and workload identity credentials
//! against a token endpoint on loopback.

mod common;
mod token_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use adu_auth::{
    scopes, Authority, ClientAssertionCredential, ClientCertificate, ClientCertificateCredential,
    Error, TokenCacheOptions, TokenCredential, WorkloadIdentityCredential,
};
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::TestClock;
use token_server::{http_client, token_json, TokenServer};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "0b2d9f2a-5c0e-4a39-9c55-36a1a7d7c9b1";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const NOW: u64 = 1_767_225_600;

fn authority(server: &TokenServer) -> Authority {
    Authority::new(TENANT)
        .unwrap()
        .with_host(&server.host())
        .unwrap()
}

fn token_url(server: &TokenServer) -> String {
    format!("{}/{TENANT}/oauth2/v2.0/token", server.host())
}

async fn tokens() -> TokenServer {
    TokenServer::start(|_, n| (200, token_json(&format!("tok{n}")))).await
}

// ---------------------------------------------------------------- client assertion

#[tokio::test]
async fn a_client_assertion_is_sent_in_the_form_without_a_secret_and_cached() {
    let server = tokens().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let credential = ClientAssertionCredential::new(
        authority(&server),
        CLIENT_ID,
        move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok(format!("header.claims.signature{n}")) }
        },
        http_client(),
    );
    let token = credential.get_token(&[scopes::CURRENT]).await.unwrap();
    assert_eq!(token.secret(), "tok0");
    {
        let received = server.received();
        let request = &received[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert!(request.headers.get("authorization").is_none());
        let mut names: Vec<&str> = request.fields.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "client_assertion",
                "client_assertion_type",
                "client_id",
                "grant_type",
                "scope"
            ]
        );
        assert_eq!(request.field("grant_type"), "client_credentials");
        assert_eq!(request.field("client_id"), CLIENT_ID);
        assert_eq!(request.field("scope"), scopes::CURRENT);
        assert_eq!(request.field("client_assertion_type"), JWT_BEARER);
        assert_eq!(
            request.field("client_assertion"),
            "header.claims.signature0"
        );
    }
    // Cached per scope set: the callback runs once per token request.
    assert_eq!(
        credential
            .get_token(&[scopes::CURRENT])
            .await
            .unwrap()
            .secret(),
        "tok0"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    credential.invalidate(&[scopes::CURRENT]);
    let token = credential.get_token(&[scopes::CURRENT]).await.unwrap();
    assert_eq!(token.secret(), "tok1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        server.received()[1].field("client_assertion"),
        "header.claims.signature1"
    );
}

#[tokio::test]
async fn on_v1_endpoints_the_assertion_goes_with_resource_and_the_v1_audience() {
    let server = tokens().await;
    let authority = authority(&server).with_version(adu_auth::EndpointVersion::V1);
    let issued = self_signed("app.contoso.test");
    let pem = format!("{}{}", issued.cert.pem(), issued.key_pem());
    let certificate = ClientCertificate::from_pem(pem.as_bytes()).unwrap();
    let credential =
        ClientCertificateCredential::new(authority, CLIENT_ID, certificate, http_client());
    credential
        .get_token(&[scopes::LEGACY_DEFAULT])
        .await
        .unwrap();
    let received = server.received();
    assert_eq!(received[0].path, format!("/{TENANT}/oauth2/token"));
    assert_eq!(received[0].field("resource"), scopes::RESOURCE);
    assert!(!received[0].form().contains_key("scope"));
    let (_, claims) = verified(received[0].field("client_assertion"), &issued.public_key());
    assert_eq!(
        claims["aud"],
        format!("{}/{TENANT}/oauth2/token", server.host())
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_assertion_and_one_request() {
    let server = tokens().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let credential = ClientAssertionCredential::from_fn(
        authority(&server),
        CLIENT_ID,
        move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok("a.b.c".to_owned())
        },
        http_client(),
    );
    let all = futures::future::join_all((0..8).map(|_| credential.get_token(&[scopes::CURRENT])));
    for token in all.await {
        assert_eq!(token.unwrap().secret(), "tok0");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_failing_or_empty_assertion_sends_nothing() {
    let server = tokens().await;
    let failing = ClientAssertionCredential::from_fn(
        authority(&server),
        CLIENT_ID,
        || {
            Err(Error::InvalidConfig {
                message: "no OIDC token in this job".to_owned(),
            })
        },
        http_client(),
    );
    let error = failing.get_token(&[scopes::CURRENT]).await.unwrap_err();
    assert!(error.to_string().contains("no OIDC token"), "{error}");
    let empty = ClientAssertionCredential::from_fn(
        authority(&server),
        CLIENT_ID,
        || Ok(" \n".to_owned()),
        http_client(),
    );
    let error = empty.get_token(&[scopes::CURRENT]).await.unwrap_err();
    assert!(error.to_string().contains("assertion is empty"), "{error}");
    assert_eq!(server.count(), 0);
}

/// AADSTS700027 as the identity platform sends it, echoing the assertion.
fn invalid_assertion_body(echo: &str) -> String {
    serde_json::json!({
        "error": "invalid_client",
        "error_description": format!("AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: 'B3D4', Found key 'Start=01/01/2026'] Assertion: {echo}\r\nTrace ID: 5f1c\r\nCorrelation ID: 77ab\r\nTimestamp: 2026-01-01 00:00:00Z"),
        "error_codes": [700027],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "5f1c",
        "correlation_id": "77ab",
        "error_uri": "https://login.microsoftonline.com/error?code=700027"
    })
    .to_string()
}

#[tokio::test]
async fn an_invalid_assertion_error_is_readable_and_never_shows_the_assertion() {
    let assertion = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl";
    let server = TokenServer::start(move |request, _| {
        (
            401,
            invalid_assertion_body(request.field("client_assertion")),
        )
    })
    .await;
    let credential = ClientAssertionCredential::from_fn(
        authority(&server),
        CLIENT_ID,
        move || Ok(assertion.to_owned()),
        http_client(),
    );
    let error = credential.get_token(&[scopes::CURRENT]).await.unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.error_code(), Some("invalid_client"));
    let server_error = error.server_error().unwrap();
    assert_eq!(server_error.error_codes(), &[700027]);
    assert_eq!(server_error.trace_id(), Some("5f1c"));
    assert!(error.hint().contains("certificate"), "{}", error.hint());
    let shown = format!("{error} {error:?} {credential:?}");
    assert!(
        error
            .to_string()
            .contains("AADSTS700027: Client assertion contains an invalid signature"),
        "{error}"
    );
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains(assertion), "{shown}");
}

// ---------------------------------------------------------------- certificates

/// A test key and certificate made with rcgen (a test key is not a secret).
struct Issued {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

impl Issued {
    fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
    /// The RSAPublicKey (PKCS#1) of the key, which the certificate holds.
    fn public_key(&self) -> Vec<u8> {
        let pair = RsaKeyPair::from_pkcs8(&self.key.serialize_der()).unwrap();
        pair.public_key().as_ref().to_vec()
    }
    /// The key as PKCS#1 (`RSA PRIVATE KEY`): PKCS#8 wraps it in its last
    /// element, an OCTET STRING.
    fn pkcs1_pem(&self) -> String {
        let der = self.key.serialize_der();
        let pkcs1 = last_der_element(&der);
        let b64 = STANDARD.encode(pkcs1);
        let lines: Vec<&str> = (0..b64.len())
            .step_by(64)
            .map(|i| &b64[i..(i + 64).min(b64.len())])
            .collect();
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }
}

/// The content of the last element of a DER SEQUENCE (long lengths allowed).
fn last_der_element(der: &[u8]) -> &[u8] {
    fn header(bytes: &[u8]) -> (usize, usize) {
        match bytes[1] {
            n if n < 0x80 => (2, n as usize),
            n => {
                let k = (n & 0x7f) as usize;
                let len = bytes[2..2 + k]
                    .iter()
                    .fold(0, |acc, b| acc * 256 + *b as usize);
                (2 + k, len)
            }
        }
    }
    let (start, _) = header(der);
    let mut rest = &der[start..];
    loop {
        let (h, len) = header(rest);
        if rest.len() == h + len {
            return &rest[h..];
        }
        rest = &rest[h + len..];
    }
}

fn rsa_key() -> rcgen::KeyPair {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap()
}

/// Certificate parameters with `name` as subject and alternative name.
fn params(name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    (params.distinguished_name).push(rcgen::DnType::CommonName, name);
    params
}

fn self_signed(name: &str) -> Issued {
    let key = rsa_key();
    let cert = params(name).self_signed(&key).unwrap();
    Issued { key, cert }
}

/// A CA, and a leaf it signed.
fn ca_and_leaf() -> (Issued, Issued) {
    let ca_key = rsa_key();
    let mut ca_params = params("test-ca.contoso.test");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let key = rsa_key();
    let cert = params("app.contoso.test").signed_by(&key, &issuer).unwrap();
    drop(issuer);
    (
        Issued {
            key: ca_key,
            cert: ca_cert,
        },
        Issued { key, cert },
    )
}

fn decode_json(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn sha1_b64url(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    URL_SAFE_NO_PAD.encode(digest)
}

/// Checks the JWT's signature with `public_key` and returns its header and claims.
fn verified(jwt: &str, public_key: &[u8]) -> (serde_json::Value, serde_json::Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(signed.as_bytes(), &signature)
    .expect("the assertion's signature verifies with the certificate's key");
    (decode_json(parts[0]), decode_json(parts[1]))
}

#[tokio::test]
async fn a_certificate_signs_an_rs256_assertion_for_the_token_endpoint() {
    let server = tokens().await;
    let issued = self_signed("app.contoso.test");
    // The certificate holds the key that must verify the signature.
    let public_key = issued.public_key();
    assert!(issued
        .cert
        .der()
        .windows(public_key.len())
        .any(|w| w == public_key));
    let pem = format!("{}{}", issued.cert.pem(), issued.key_pem());
    let certificate = ClientCertificate::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(certificate.thumbprint(), sha1_b64url(issued.cert.der()));
    let clock = TestClock::at(NOW);
    let credential =
        ClientCertificateCredential::new(authority(&server), CLIENT_ID, certificate, http_client())
            .with_cache_options(TokenCacheOptions::default().with_clock(clock.clone()));
    credential.get_token(&[scopes::CURRENT]).await.unwrap();
    clock.advance(30);
    credential.get_token(&["other/.default"]).await.unwrap();

    let received = server.received();
    let mut jtis = Vec::new();
    for (request, now) in received.iter().zip([NOW, NOW + 30]) {
        assert!(request.headers.get("authorization").is_none());
        assert!(!request.form().contains_key("client_secret"));
        assert_eq!(request.field("client_assertion_type"), JWT_BEARER);
        assert_eq!(request.field("client_id"), CLIENT_ID);
        let (header, claims) = verified(request.field("client_assertion"), &public_key);
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": sha1_b64url(issued.cert.der())})
        );
        assert_eq!(claims["aud"], token_url(&server));
        assert_eq!(claims["iss"], CLIENT_ID);
        assert_eq!(claims["sub"], CLIENT_ID);
        assert_eq!(claims["nbf"], now);
        assert_eq!(claims["exp"], now + 600);
        let jti = claims["jti"].as_str().unwrap().to_owned();
        assert_eq!(uuid::Uuid::parse_str(&jti).unwrap().get_version_num(), 4);
        jtis.push(jti);
    }
    assert_eq!(received.len(), 2);
    assert_ne!(jtis[0], jtis[1], "a fresh jti for each assertion");
}

#[tokio::test]
async fn the_chain_is_sent_as_x5c_when_asked_leaf_first() {
    let server = tokens().await;
    let (ca, leaf) = ca_and_leaf();
    // The CA first, the key in between: the leaf is found by its key. PKCS#1 key.
    let pem = format!("{}{}{}", ca.cert.pem(), leaf.pkcs1_pem(), leaf.cert.pem());
    let certificate = ClientCertificate::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(certificate.chain().len(), 2);
    let credential =
        ClientCertificateCredential::new(authority(&server), CLIENT_ID, certificate, http_client())
            .with_certificate_chain(true);
    credential.get_token(&[scopes::CURRENT]).await.unwrap();
    let credential = credential.with_certificate_chain(false);
    credential.get_token(&["other/.default"]).await.unwrap();

    let received = server.received();
    let public_key = leaf.public_key();
    let (with_chain, _) = verified(received[0].field("client_assertion"), &public_key);
    assert_eq!(with_chain["x5t"], sha1_b64url(leaf.cert.der()));
    assert_eq!(
        with_chain["x5c"],
        serde_json::json!([
            STANDARD.encode(leaf.cert.der()),
            STANDARD.encode(ca.cert.der())
        ])
    );
    let (without, _) = verified(received[1].field("client_assertion"), &public_key);
    assert!(without.get("x5c").is_none(), "{without}");
    drop(received);
    // Not the CA's key.
    assert_ne!(ca.public_key(), public_key);
}

#[tokio::test]
async fn the_environment_names_the_certificate_file_and_the_chain() {
    let server = tokens().await;
    let issued = self_signed("app.contoso.test");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.pem");
    std::fs::write(&path, format!("{}{}", issued.key_pem(), issued.cert.pem())).unwrap();
    let host = server.host();
    let file = path.to_str().unwrap().to_owned();
    let env = move |name: &str| match name {
        "AZURE_TENANT_ID" => Some(TENANT.to_owned()),
        "AZURE_CLIENT_ID" => Some(CLIENT_ID.to_owned()),
        "AZURE_CLIENT_CERTIFICATE_PATH" => Some(file.clone()),
        "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN" => Some("True".to_owned()),
        "AZURE_AUTHORITY_HOST" => Some(host.clone()),
        _ => None,
    };
    let credential = ClientCertificateCredential::from_lookup(env, http_client()).unwrap();
    assert_eq!(
        credential.certificate().thumbprint(),
        sha1_b64url(issued.cert.der())
    );
    credential.get_token(&[scopes::CURRENT]).await.unwrap();
    let (header, _) = verified(
        server.received()[0].field("client_assertion"),
        &issued.public_key(),
    );
    assert_eq!(
        header["x5c"],
        serde_json::json!([STANDARD.encode(issued.cert.der())])
    );

    let error = ClientCertificateCredential::from_lookup(
        |name| (name == "AZURE_CLIENT_ID").then(|| CLIENT_ID.to_owned()),
        http_client(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::MissingEnvironment { missing }
            if missing == &["AZURE_TENANT_ID", "AZURE_CLIENT_CERTIFICATE_PATH"]),
        "{error:?}"
    );
}

fn refused(pem: &str) -> String {
    match ClientCertificate::from_pem(pem.as_bytes()) {
        Err(Error::InvalidConfig { message }) => message,
        other => panic!("{other:?}"),
    }
}

#[test]
fn unusable_keys_and_certificates_are_refused_with_what_to_do() {
    let issued = self_signed("app.contoso.test");
    let cert = issued.cert.pem();
    let key_body = issued.key_pem();

    let ec_key = rcgen::KeyPair::generate().unwrap();
    let ec = refused(&format!("{cert}{}", ec_key.serialize_pem()));
    assert!(ec.contains("RSA key"), "{ec}");

    let encrypted = format!(
        "{cert}-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"
    );
    let message = refused(&encrypted);
    assert!(message.contains("encrypted"), "{message}");
    // The old OpenSSL form: a PKCS#1 key with encryption headers.
    let legacy = format!(
        "{cert}-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0011\n\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
    );
    let message = refused(&legacy);
    assert!(message.contains("encrypted"), "{message}");

    let message = refused(&cert);
    assert!(message.contains("no private key"), "{message}");
    let message = refused(&key_body);
    assert!(message.contains("no certificate"), "{message}");
    let other = self_signed("other.contoso.test");
    let message = refused(&format!("{}{key_body}", other.cert.pem()));
    assert!(message.contains("matches the private key"), "{message}");
    let message = refused("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n");
    assert!(message.contains("malformed"), "{message}");

    // The key's text never appears in an error or in `Debug`.
    let body_line = key_body.lines().nth(1).unwrap();
    let certificate =
        ClientCertificate::from_pem_parts(cert.as_bytes(), key_body.as_bytes()).unwrap();
    let shown = format!("{ec} {message} {certificate:?}");
    assert!(!shown.contains(body_line), "{shown}");
    assert!(shown.contains(certificate.thumbprint()), "{shown}");
}

#[test]
fn certificate_files_are_read_bounded_and_must_be_pem() {
    let dir = tempfile::tempdir().unwrap();
    let error = ClientCertificate::from_pem_file(dir.path()).unwrap_err();
    assert!(error.to_string().contains("not a regular file"), "{error}");
    let big = dir.path().join("big.pem");
    std::fs::write(
        &big,
        vec![b'A'; adu_auth::MAX_CERTIFICATE_FILE_BYTES as usize + 1],
    )
    .unwrap();
    let error = ClientCertificate::from_pem_file(&big).unwrap_err();
    assert!(error.to_string().contains("larger than"), "{error}");
    let pfx = dir.path().join("app.pfx");
    std::fs::write(&pfx, [0x30, 0x82, 0x0a, 0x00, 0x02, 0x01, 0x03]).unwrap();
    let error = ClientCertificate::from_pem_file(&pfx).unwrap_err();
    #[cfg(not(feature = "pkcs12"))]
    assert!(error.to_string().contains("not PEM: convert"), "{error}");
    #[cfg(feature = "pkcs12")]
    assert!(
        error.to_string().contains("not a readable PKCS#12"),
        "{error}"
    );
}

/// A PKCS#12 file of `issued` (and `extra` certificates), as the `pkcs12`
/// feature's own crate writes it.
#[cfg(feature = "pkcs12")]
fn pfx(issued: &Issued, extra: &[&Issued], password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let certs = std::iter::once(issued)
        .chain(extra.iter().copied())
        .map(|i| Certificate::from_der(i.cert.der()).unwrap());
    let key = PrivateKey::from_der(&issued.key.serialize_der()).unwrap();
    let chain = PrivateKeyChain::new(b"id".as_slice(), key, certs);
    let mut store = KeyStore::new();
    store.add_entry("app", KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().unwrap()
}

#[cfg(feature = "pkcs12")]
#[tokio::test]
async fn a_pkcs12_file_with_its_password_signs_like_pem() {
    let server = tokens().await;
    let (ca, leaf) = ca_and_leaf();
    let der = pfx(&leaf, &[&ca], "p@ss w0rd");
    let certificate = ClientCertificate::from_pkcs12(&der, "p@ss w0rd").unwrap();
    assert_eq!(certificate.thumbprint(), sha1_b64url(leaf.cert.der()));
    assert_eq!(certificate.chain().len(), 2);
    let wrong = ClientCertificate::from_pkcs12(&der, "wrong").unwrap_err();
    assert!(wrong.to_string().contains("password is wrong"), "{wrong}");
    assert!(!format!("{wrong:?}").contains("p@ss"), "{wrong:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.pfx");
    std::fs::write(&path, &der).unwrap();
    let (host, file) = (server.host(), path.to_str().unwrap().to_owned());
    let env = move |name: &str| match name {
        "AZURE_TENANT_ID" => Some(TENANT.to_owned()),
        "AZURE_CLIENT_ID" => Some(CLIENT_ID.to_owned()),
        "AZURE_CLIENT_CERTIFICATE_PATH" => Some(file.clone()),
        "AZURE_CLIENT_CERTIFICATE_PASSWORD" => Some("p@ss w0rd".to_owned()),
        "AZURE_AUTHORITY_HOST" => Some(host.clone()),
        _ => None,
    };
    let credential = ClientCertificateCredential::from_lookup(env, http_client()).unwrap();
    credential.get_token(&[scopes::CURRENT]).await.unwrap();
    let (header, claims) = verified(
        server.received()[0].field("client_assertion"),
        &leaf.public_key(),
    );
    assert_eq!(header["x5t"], sha1_b64url(leaf.cert.der()));
    assert_eq!(claims["aud"], token_url(&server));
}

// ---------------------------------------------------------------- workload identity

fn workload_env(
    server: &TokenServer,
    file: &std::path::Path,
) -> impl Fn(&str) -> Option<String> + 'static {
    let host = server.host();
    let file = file.to_str().unwrap().to_owned();
    move |name| match name {
        "AZURE_TENANT_ID" => Some(TENANT.to_owned()),
        "AZURE_CLIENT_ID" => Some(CLIENT_ID.to_owned()),
        "AZURE_FEDERATED_TOKEN_FILE" => Some(file.clone()),
        "AZURE_AUTHORITY_HOST" => Some(host.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn the_federated_token_is_sent_and_read_again_after_rotation() {
    let server = tokens().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, "federated-one\n").unwrap();
    let clock = TestClock::at(NOW);
    let credential =
        WorkloadIdentityCredential::from_lookup(workload_env(&server, &file), http_client())
            .unwrap()
            .with_cache_options(TokenCacheOptions::default().with_clock(clock.clone()));
    assert_eq!(credential.token_file(), file);
    credential.get_token(&[scopes::CURRENT]).await.unwrap();
    {
        let received = server.received();
        assert_eq!(received[0].path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(received[0].field("grant_type"), "client_credentials");
        assert_eq!(received[0].field("client_id"), CLIENT_ID);
        assert_eq!(received[0].field("client_assertion_type"), JWT_BEARER);
        assert_eq!(received[0].field("client_assertion"), "federated-one");
        assert!(!received[0].form().contains_key("client_secret"));
    }

    // The platform rotates the file; within five minutes of the last read the
    // content read then is used.
    std::fs::write(&file, "federated-two").unwrap();
    clock.advance(299);
    credential.invalidate(&[scopes::CURRENT]);
    credential.get_token(&[scopes::CURRENT]).await.unwrap();
    assert_eq!(
        server.received()[1].field("client_assertion"),
        "federated-one"
    );
    clock.advance(1);
    credential.invalidate(&[scopes::CURRENT]);
    credential.get_token(&[scopes::CURRENT]).await.unwrap();
    assert_eq!(
        server.received()[2].field("client_assertion"),
        "federated-two"
    );

    let shown = format!("{credential:?}");
    assert!(!shown.contains("federated-"), "{shown}");
    assert!(shown.contains("azure-identity-token"), "{shown}");
}

#[tokio::test]
async fn token_files_that_are_not_small_regular_files_are_refused() {
    let server = tokens().await;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(
        &big,
        vec![b'x'; adu_auth::MAX_FEDERATED_TOKEN_BYTES as usize + 1],
    )
    .unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let mut cases = vec![
        (dir.path().to_owned(), "not a regular file"),
        (big, "larger than"),
        (empty, "empty"),
        (dir.path().join("missing"), "cannot read the file"),
    ];
    #[cfg(unix)]
    {
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        cases.push((fifo, "not a regular file"));
    }
    for (path, why) in cases {
        let credential =
            WorkloadIdentityCredential::new(authority(&server), CLIENT_ID, &path, http_client());
        let error = credential.get_token(&[scopes::CURRENT]).await.unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, Error::InvalidConfig { .. }), "{error:?}");
        assert!(text.contains(why), "{text}");
        assert!(text.contains("AZURE_FEDERATED_TOKEN_FILE"), "{text}");
    }
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn a_refused_federated_token_is_readable_and_redacted() {
    let server = TokenServer::start(|request, _| {
        (
            400,
            invalid_assertion_body(request.field("client_assertion")),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "eyJraWQiOiJrMSJ9.eyJzdWIiOiJyZXBvIn0.sig-value").unwrap();
    let credential =
        WorkloadIdentityCredential::new(authority(&server), CLIENT_ID, &file, http_client());
    let error = credential.get_token(&[scopes::CURRENT]).await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("AADSTS700027"), "{shown}");
    assert!(!shown.contains("sig-value"), "{shown}");
}

#[test]
fn workload_identity_names_every_missing_variable() {
    let error = WorkloadIdentityCredential::from_lookup(
        |name| (name == "AZURE_TENANT_ID").then(|| " ".to_owned()),
        http_client(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::MissingEnvironment { missing }
            if missing == &["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"]),
        "{error:?}"
    );
    // A plain-http authority host is refused unless it is loopback.
    let env = |name: &str| match name {
        "AZURE_AUTHORITY_HOST" => Some("http://login.example.com".to_owned()),
        _ => Some("x".to_owned()),
    };
    let error = WorkloadIdentityCredential::from_lookup(env, http_client()).unwrap_err();
    assert!(error.to_string().contains("https"), "{error}");
}
