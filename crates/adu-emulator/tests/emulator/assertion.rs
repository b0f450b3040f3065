//! Client assertions at the token endpoint: certificates registered for a client, and
//! federated tokens from configured issuers (workload identity).

use adu_emulator::{Config, OperationSpec, RunningEmulator};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::*;
use crate::jwt::{keys, now_secs, signing_input};

const TOKEN_PATH: &str = "/emulator/oauth2/v2.0/token";
const SCOPE: &str = "https://api.adu.microsoft.com/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const CERT_APP: &str = "cert-app";
const FED_APP: &str = "fed-app";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = "repo:contoso/firmware:ref:refs/heads/main";

/// An emulator with the first test key's certificate registered for `cert-app`, and the
/// first key's set (by JWKS) and the second key (by public key PEM) as federated issuers of
/// `fed-app`; all from a scenario, as a user writes it.
async fn emulator() -> RunningEmulator {
    let [one, two] = keys();
    let scenario = json!({
        "clientCertificates": [ { "clientId": CERT_APP, "certificatePem": one.cert_pem } ],
        "federatedIssuers": [
            { "issuer": GITHUB, "subject": SUBJECT, "clientId": FED_APP, "jwks": one.jwks("k1") },
            { "issuer": "https://kubernetes.example", "subject": "system:serviceaccount:ci:adu",
              "clientId": FED_APP, "audience": "api://custom", "publicKeyPem": two.public_key_pem },
        ],
    });
    let config = Config::from_scenario_json(&scenario.to_string()).unwrap();
    adu_emulator::start(config).await.unwrap()
}

fn cert_header() -> Value {
    json!({ "alg": "RS256", "typ": "JWT", "x5t": keys()[0].x5t() })
}

fn cert_claims(emu: &RunningEmulator) -> Value {
    let now = now_secs();
    json!({
        "aud": emu.token_url(), "iss": CERT_APP, "sub": CERT_APP,
        "jti": "0b7d6c1e-8f7a-4a61-9d5e-2f1f6c8e9a01", "nbf": now, "exp": now + 600,
    })
}

fn federated_claims(issuer: &str, subject: &str, audience: &str) -> Value {
    let now = now_secs();
    json!({ "iss": issuer, "sub": subject, "aud": [audience], "iat": now, "nbf": now, "exp": now + 600 })
}

async fn exchange(emu: &RunningEmulator, client_id: &str, assertion: &str) -> Answer {
    post_form(
        emu.addr(),
        TOKEN_PATH,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", SCOPE),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

/// The token the answer carries, after checking it opens the API.
async fn assert_token_reads_an_operation(emu: &RunningEmulator, a: &Answer) {
    assert_eq!(a.status, 200, "{:?}", a.body);
    let body = a.json();
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    assert_eq!(get(emu.addr(), &current_path(&id), token).await.status, 200);
}

/// A refusal in the identity platform's shape, which never shows the assertion.
fn assert_refused(a: &Answer, assertion: &str, status: u16, error: &str, code: u64) {
    assert_eq!(a.status, status, "{:?}", a.body);
    let body = a.json();
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(body.get("access_token").is_none());
    let text = String::from_utf8_lossy(&a.body);
    for part in assertion.split('.').filter(|p| p.len() > 8) {
        assert!(
            !text.contains(part),
            "the answer echoes the assertion: {text}"
        );
    }
}

#[tokio::test]
async fn a_certificate_assertion_gets_a_token_that_reads_an_operation() {
    let emu = emulator().await;
    let key = &keys()[0];
    let a = exchange(
        &emu,
        CERT_APP,
        &key.sign(&cert_header(), &cert_claims(&emu)),
    )
    .await;
    assert_token_reads_an_operation(&emu, &a).await;

    // The identity platform also takes the tenant's issuer as audience, an array of audiences,
    // and the SHA-256 thumbprint.
    let mut claims = cert_claims(&emu);
    claims["aud"] = json!([format!("{}/emulator/v2.0", emu.base_url())]);
    let header = json!({ "alg": "RS256", "typ": "JWT", "x5t#S256": key.x5t_s256() });
    assert_eq!(
        exchange(&emu, CERT_APP, &key.sign(&header, &claims))
            .await
            .status,
        200
    );
    // The thumbprint in standard base64 with padding, as some clients write it.
    let standard = base64::engine::general_purpose::STANDARD.encode(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key.x5t())
            .unwrap(),
    );
    let header = json!({ "alg": "RS256", "x5t": standard });
    assert_eq!(
        exchange(&emu, CERT_APP, &key.sign(&header, &claims))
            .await
            .status,
        200
    );
    // The v1 token endpoint's URL, with the tenant in another case.
    claims["aud"] = json!(format!("{}/EMULATOR/oauth2/token", emu.base_url()));
    assert_eq!(
        exchange(&emu, CERT_APP, &key.sign(&cert_header(), &claims))
            .await
            .status,
        200
    );
    assert_eq!(emu.stats().tokens_issued, 4);
    emu.shutdown().await;
}

#[tokio::test]
async fn certificate_assertions_are_refused_as_the_identity_platform_refuses_them() {
    let emu = emulator().await;
    let [one, two] = keys();
    let good = cert_claims(&emu);
    let with = |name: &str, value: Value| {
        let mut claims = good.clone();
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(name),
            v => claims.as_object_mut().unwrap().insert(name.to_owned(), v),
        };
        claims
    };
    let now = now_secs();
    let hs256 = format!(
        "{}.c2lnbmF0dXJl",
        signing_input(
            &json!({"alg": "HS256", "typ": "JWT", "x5t": one.x5t()}),
            &good
        )
    );
    let none = format!(
        "{}.",
        signing_input(&json!({"alg": "none", "x5t": one.x5t()}), &good)
    );
    let cases: Vec<(&str, String, u64)> = vec![
        // Signed by another key than the registered certificate's, naming that certificate.
        ("bad signature", two.sign(&cert_header(), &good), 700027),
        // A certificate that is not registered for the client.
        (
            "unknown x5t",
            two.sign(&json!({"alg": "RS256", "x5t": two.x5t()}), &good),
            700027,
        ),
        (
            "no thumbprint",
            one.sign(&json!({"alg": "RS256"}), &good),
            50027,
        ),
        (
            "wrong aud",
            one.sign(
                &cert_header(),
                &with(
                    "aud",
                    json!("https://login.microsoftonline.com/emulator/oauth2/v2.0/token"),
                ),
            ),
            50013,
        ),
        (
            "aud of another tenant",
            one.sign(
                &cert_header(),
                &with(
                    "aud",
                    json!(format!("{}/contoso/oauth2/v2.0/token", emu.base_url())),
                ),
            ),
            50013,
        ),
        (
            "no aud",
            one.sign(&cert_header(), &with("aud", Value::Null)),
            50013,
        ),
        (
            "wrong sub",
            one.sign(&cert_header(), &with("sub", json!("someone-else"))),
            700021,
        ),
        (
            "expired",
            one.sign(&cert_header(), &with("exp", json!(now - 3600))),
            700024,
        ),
        (
            "not yet valid",
            one.sign(&cert_header(), &with("nbf", json!(now + 3600))),
            700024,
        ),
        (
            "no exp",
            one.sign(&cert_header(), &with("exp", Value::Null)),
            50027,
        ),
        (
            "missing jti",
            one.sign(&cert_header(), &with("jti", Value::Null)),
            50027,
        ),
        (
            "oversized",
            one.sign(&cert_header(), &with("pad", json!("x".repeat(16 * 1024)))),
            50027,
        ),
        ("alg none", none, 700027),
        ("alg HS256", hs256, 700027),
        ("not a JWT", "not-a-jwt-at-all".to_owned(), 50027),
    ];
    for (name, assertion, code) in &cases {
        let a = exchange(&emu, CERT_APP, assertion).await;
        assert_refused(&a, assertion, 401, "invalid_client", *code);
        println!("{name}: refused with {code}");
    }
    // The issuer is the client's own id: another one makes it a federated token of an
    // unknown issuer.
    let other_iss = one.sign(&cert_header(), &with("iss", json!("someone-else")));
    assert_refused(
        &exchange(&emu, CERT_APP, &other_iss).await,
        &other_iss,
        401,
        "invalid_client",
        700211,
    );
    // An unknown client, before its assertion is looked at.
    let assertion = one.sign(&cert_header(), &good);
    assert_refused(
        &exchange(&emu, "nobody", &assertion).await,
        &assertion,
        400,
        "unauthorized_client",
        700016,
    );
    assert_eq!(emu.stats().tokens_issued, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_assertion_goes_alone_and_with_its_type() {
    let emu = emulator().await;
    let assertion = keys()[0].sign(&cert_header(), &cert_claims(&emu));
    let form = |extra: &[(&'static str, &'static str)], assertion_type: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", CERT_APP),
            ("scope", SCOPE),
        ];
        form.extend(assertion_type.map(|t| ("client_assertion_type", t)));
        form.extend_from_slice(extra);
        form
    };
    let mut with_secret = form(
        &[("client_secret", "adu-emulator-secret")],
        Some(JWT_BEARER),
    );
    with_secret.push(("client_assertion", &assertion));
    let a = post_form(emu.addr(), TOKEN_PATH, &with_secret).await;
    assert_refused(&a, &assertion, 400, "invalid_request", 9002313);

    let mut wrong_type = form(
        &[],
        Some("urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
    );
    wrong_type.push(("client_assertion", &assertion));
    let a = post_form(emu.addr(), TOKEN_PATH, &wrong_type).await;
    assert_refused(&a, &assertion, 400, "invalid_request", 9002313);

    let a = post_form(emu.addr(), TOKEN_PATH, &form(&[], Some(JWT_BEARER))).await;
    assert_refused(&a, "", 400, "invalid_request", 900144);

    // A client registered by certificate only has no secret; nor does it get in without one.
    let a = post_form(
        emu.addr(),
        TOKEN_PATH,
        &form(&[("client_secret", "adu-emulator-secret")], None),
    )
    .await;
    assert_refused(&a, "", 401, "invalid_client", 7000215);
    let a = post_form(emu.addr(), TOKEN_PATH, &form(&[], None)).await;
    assert_refused(&a, "", 401, "invalid_client", 7000218);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_federated_token_gets_a_token_that_reads_an_operation() {
    let emu = emulator().await;
    let [one, two] = keys();
    // A GitHub Actions token, checked against the issuer's key set (by `kid`).
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "k1" });
    let claims = federated_claims(GITHUB, SUBJECT, "api://AzureADTokenExchange");
    let a = exchange(&emu, FED_APP, &one.sign(&header, &claims)).await;
    assert_token_reads_an_operation(&emu, &a).await;
    // A Kubernetes service account token with its own audience, checked against a public key.
    let claims = federated_claims(
        "https://kubernetes.example",
        "system:serviceaccount:ci:adu",
        "api://custom",
    );
    let a = exchange(
        &emu,
        FED_APP,
        &two.sign(&json!({ "alg": "RS256" }), &claims),
    )
    .await;
    assert_token_reads_an_operation(&emu, &a).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn federated_tokens_are_refused_as_the_identity_platform_refuses_them() {
    let emu = emulator().await;
    let [one, two] = keys();
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "k1" });
    let exchange_audience = "api://AzureADTokenExchange";
    let mut expired = federated_claims(GITHUB, SUBJECT, exchange_audience);
    expired["exp"] = json!(now_secs() - 3600);
    let cases = [
        (
            "unknown issuer",
            one.sign(
                &header,
                &federated_claims("https://evil.example", SUBJECT, exchange_audience),
            ),
            700211,
        ),
        (
            "bad signature",
            two.sign(
                &header,
                &federated_claims(GITHUB, SUBJECT, exchange_audience),
            ),
            50027,
        ),
        (
            "other subject",
            one.sign(
                &header,
                &federated_claims(
                    GITHUB,
                    "repo:contoso/other:ref:refs/heads/main",
                    exchange_audience,
                ),
            ),
            700213,
        ),
        (
            "other audience",
            one.sign(
                &header,
                &federated_claims(GITHUB, SUBJECT, "api://somewhere-else"),
            ),
            700212,
        ),
        // The audience of the other issuer's record does not carry over.
        (
            "the other record's audience",
            one.sign(&header, &federated_claims(GITHUB, SUBJECT, "api://custom")),
            700212,
        ),
        ("expired", one.sign(&header, &expired), 700024),
        (
            "alg none",
            format!(
                "{}.",
                signing_input(
                    &json!({"alg": "none"}),
                    &federated_claims(GITHUB, SUBJECT, exchange_audience)
                )
            ),
            700027,
        ),
    ];
    for (name, assertion, code) in &cases {
        let a = exchange(&emu, FED_APP, assertion).await;
        assert_refused(&a, assertion, 401, "invalid_client", *code);
        println!("{name}: refused with {code}");
    }
    // A record is for one client: another client presenting the same token is refused.
    let good = one.sign(
        &header,
        &federated_claims(GITHUB, SUBJECT, exchange_audience),
    );
    assert_refused(
        &exchange(&emu, CERT_APP, &good).await,
        &good,
        401,
        "invalid_client",
        700211,
    );
    assert_eq!(emu.stats().tokens_issued, 0);
    emu.shutdown().await;
}

#[test]
fn scenarios_name_certificates_inline_or_by_file_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let [one, _] = keys();
    let cert = dir.path().join("app.pem");
    std::fs::write(&cert, &one.cert_pem).unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, one.jwks("k1").to_string()).unwrap();
    let scenario = json!({
        "clientCertificates": [ { "clientId": CERT_APP, "certificateFile": cert } ],
        "federatedIssuers": [ { "issuer": GITHUB, "subject": SUBJECT, "clientId": FED_APP, "jwksFile": jwks },
                              { "issuer": GITHUB, "subject": SUBJECT, "clientId": FED_APP, "certificatePem": one.cert_pem } ],
    });
    let config = Config::from_scenario_json(&scenario.to_string()).unwrap();
    assert_eq!(config.client_certificates[0].x5t(), one.x5t());
    assert_eq!(
        config.federated_issuers[0].audience,
        "api://AzureADTokenExchange"
    );
    assert_eq!(
        config.federated_issuers[1].keys.x5t(),
        Some(one.x5t().as_str())
    );

    let refused = |scenario: Value, expected: &str| {
        let err = Config::from_scenario_json(&scenario.to_string()).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    };
    refused(
        json!({ "clientCertificates": [ { "clientId": "a", "certificatePem": "nope" } ] }),
        "no PEM certificate",
    );
    refused(
        json!({ "clientCertificates": [ { "clientId": "a" } ] }),
        "one of `certificatePem` and `certificateFile`",
    );
    refused(
        json!({ "clientCertificates": [ { "clientId": "a", "certificateFile": dir.path() } ] }),
        "cannot read",
    );
    refused(
        json!({ "federatedIssuers": [ { "issuer": "i", "subject": "s", "clientId": "a" } ] }),
        "exactly one of",
    );
    refused(
        json!({ "federatedIssuers": [ { "issuer": "i", "subject": "s", "clientId": "a", "jwks": { "keys": [] } } ] }),
        "no RSA key",
    );
    refused(
        json!({ "federatedIssuers": [ { "issuer": "i", "subject": "s", "clientId": "a", "publicKeyPem": one.cert_pem } ] }),
        "no PEM public key",
    );
    // An EC certificate cannot sign RS256.
    let ec = rcgen::KeyPair::generate().unwrap();
    let ec_cert = rcgen::CertificateParams::new(vec!["ec".to_owned()])
        .unwrap()
        .self_signed(&ec)
        .unwrap();
    refused(
        json!({ "clientCertificates": [ { "clientId": "a", "certificatePem": ec_cert.pem() } ] }),
        "not an RSA key",
    );
    // Debug shows thumbprints, never key material.
    let debug = format!("{config:?}");
    assert!(
        debug.contains(&one.x5t()) && !debug.contains(&one.cert_pem[30..60]),
        "{debug}"
    );
}

/// The answer of a fresh emulator's token endpoint (no HTTP), with `cert-app`'s certificate
/// registered, to an assertion for `cert-app`.
fn answer_directly(assertion: &str) -> u16 {
    let mut config = Config::default();
    let cert = adu_emulator::ClientCertificate::from_pem(CERT_APP, &keys()[0].cert_pem).unwrap();
    config.client_certificates.push(cert);
    let body = format!(
        "grant_type=client_credentials&client_id={CERT_APP}&scope=x%2F.default&client_assertion_type={JWT_BEARER}&client_assertion={assertion}"
    );
    let now = std::time::SystemTime::now();
    let answer = adu_emulator::fuzzing::token_endpoint(config, "emulator", body.as_bytes(), now);
    answer.status().as_u16()
}

fn direct_assertion() -> String {
    let now = now_secs();
    let claims = json!({
        "aud": "http://127.0.0.1:8080/emulator/oauth2/v2.0/token", "iss": CERT_APP, "sub": CERT_APP,
        "jti": "j-1", "nbf": now, "exp": now + 600,
    });
    keys()[0].sign(&cert_header(), &claims)
}

#[test]
fn the_unchanged_assertion_is_accepted_directly() {
    assert_eq!(answer_directly(&direct_assertion()), 200);
}

proptest::proptest! {
    /// Any one character of a good assertion changed (header, claims, signature or a dot) is
    /// refused: the signature covers it all, and base64url decoding is strict.
    #[test]
    fn a_changed_character_is_refused(at in 0usize..2000, with in "[A-Za-z0-9_-]") {
        let good = direct_assertion();
        let at = at % good.len();
        let original = good.as_bytes()[at] as char;
        let replacement = with.chars().next().unwrap();
        proptest::prop_assume!(original != replacement);
        let mut changed = good.clone();
        changed.replace_range(at..=at, &replacement.to_string());
        proptest::prop_assert_ne!(answer_directly(&changed), 200, "{} changed at {}", good, at);
    }
}
