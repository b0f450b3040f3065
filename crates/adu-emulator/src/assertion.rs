//! Client assertions at the token endpoint (RFC 7521 and RFC 7523 §2.2, as the identity
//! platform takes them): a JWT signed RS256 by a certificate registered for the client, or a
//! federated token from a configured issuer (workload identity). Each refusal is the
//! identity platform's `invalid_client` with an AADSTS code; the assertion is never echoed.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use aws_lc_rs::signature::{RsaPublicKeyComponents, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::StatusCode;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use serde::Deserialize;

use crate::config::Config;
use crate::error::Error;
use crate::token::Refusal;

/// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The largest assertion read, in bytes; a certificate assertion with its `x5c` chain is a
/// few kilobytes.
pub(crate) const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// The clock skew allowed on `exp` and `nbf`: 5 minutes, the default of Microsoft's token
/// validation library.
const SKEW_SECS: f64 = 300.0;

/// The audience a federated token must carry unless its issuer's entry says otherwise: what
/// the identity platform expects of workload identity tokens.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// RSA public keys that verify RS256 signatures: a certificate's, a bare public key's, or those
/// of a JSON Web Key Set. `Debug` shows thumbprints and key ids only.
///
/// ```
/// use adu_emulator::VerifyingKeys;
///
/// let jwks = r#"{"keys": [{"kty": "RSA", "kid": "k1", "n": "sXch", "e": "AQAB"}]}"#;
/// assert!(VerifyingKeys::from_jwks_json(jwks).is_ok());
/// assert!(VerifyingKeys::from_certificate_pem("not a certificate").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKeys {
    keys: Vec<Key>,
}

#[derive(Clone, PartialEq, Eq)]
struct Key {
    kid: Option<String>,
    /// `x5t` and `x5t#S256`: base64url SHA-1 and SHA-256 of the certificate's DER.
    thumbprints: Option<(String, String)>,
    material: Material,
}

#[derive(Clone, PartialEq, Eq)]
enum Material {
    /// A DER `SubjectPublicKeyInfo`.
    Spki(Vec<u8>),
    /// A JSON Web Key's modulus and exponent.
    Components { n: Vec<u8>, e: Vec<u8> },
}

impl fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.keys.iter().map(|k| match (&k.thumbprints, &k.kid) {
            (Some((x5t, _)), _) => format!("x5t {x5t}"),
            (None, Some(kid)) => format!("kid {kid}"),
            (None, None) => "key".to_owned(),
        });
        f.debug_list().entries(names).finish()
    }
}

fn key_error(detail: impl Into<String>) -> Error {
    Error::Key {
        detail: detail.into(),
    }
}

/// Whether `spki` holds an RSA public key.
fn is_rsa(spki: &[u8]) -> bool {
    aws_lc_rs::rsa::PublicEncryptingKey::from_der(spki).is_ok()
}

impl VerifyingKeys {
    /// The key of the first certificate (`-----BEGIN CERTIFICATE-----`) in `pem`, which may
    /// also hold a private key (as `AZURE_CLIENT_CERTIFICATE_PATH` files do; it is ignored).
    /// The certificate must be X.509 v3 with an RSA key.
    pub fn from_certificate_pem(pem: &str) -> Result<Self, Error> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| key_error(format!("no PEM certificate found ({e})")))?;
        Self::from_certificate_der(&der)
    }

    /// The key of a DER certificate (X.509 v3, RSA).
    fn from_certificate_der(der: &[u8]) -> Result<Self, Error> {
        let cert = CertificateDer::from(der);
        let parsed = webpki::EndEntityCert::try_from(&cert)
            .map_err(|e| key_error(format!("the certificate cannot be read ({e:?})")))?;
        let spki = parsed.subject_public_key_info().as_ref().to_vec();
        if !is_rsa(&spki) {
            return Err(key_error("the certificate's key is not an RSA key"));
        }
        let sha1 = URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, der));
        let sha256 = URL_SAFE_NO_PAD.encode(digest(&SHA256, der));
        Ok(VerifyingKeys {
            keys: vec![Key {
                kid: None,
                thumbprints: Some((sha1, sha256)),
                material: Material::Spki(spki),
            }],
        })
    }

    /// An RSA public key in PEM (`-----BEGIN PUBLIC KEY-----`, a `SubjectPublicKeyInfo`).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, Error> {
        let spki = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| key_error(format!("no PEM public key found ({e})")))?;
        if !is_rsa(spki.as_ref()) {
            return Err(key_error("the public key is not an RSA key"));
        }
        Ok(VerifyingKeys {
            keys: vec![Key {
                kid: None,
                thumbprints: None,
                material: Material::Spki(spki.as_ref().to_vec()),
            }],
        })
    }

    /// The RSA keys of a JSON Web Key Set (`{"keys": [{"kty": "RSA", "n", "e", "kid"}]}`,
    /// RFC 7517), as an issuer publishes at its `jwks_uri`; keys of other types are skipped.
    pub fn from_jwks_json(text: &str) -> Result<Self, Error> {
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<Jwk>,
        }
        #[derive(Deserialize)]
        struct Jwk {
            kty: String,
            kid: Option<String>,
            n: Option<String>,
            e: Option<String>,
        }
        let jwks: Jwks = serde_json::from_str(text)
            .map_err(|e| key_error(format!("not a JSON Web Key Set ({e})")))?;
        let mut keys = Vec::new();
        for jwk in jwks.keys.into_iter().filter(|k| k.kty == "RSA") {
            let decode = |v: Option<String>| {
                let v = v.ok_or_else(|| key_error("an RSA key of the set lacks `n` or `e`"))?;
                URL_SAFE_NO_PAD
                    .decode(v.trim_end_matches('='))
                    .map_err(|_| key_error("an RSA key's `n` or `e` is not base64url"))
            };
            let (n, e) = (decode(jwk.n)?, decode(jwk.e)?);
            keys.push(Key {
                kid: jwk.kid,
                thumbprints: None,
                material: Material::Components { n, e },
            });
        }
        if keys.is_empty() {
            return Err(key_error("the key set has no RSA key"));
        }
        Ok(VerifyingKeys { keys })
    }

    /// The certificate's `x5t` (base64url SHA-1 of its DER), when these keys are a
    /// certificate's.
    pub fn x5t(&self) -> Option<&str> {
        self.keys
            .iter()
            .find_map(|k| k.thumbprints.as_ref().map(|(sha1, _)| sha1.as_str()))
    }

    /// The key a JWT header names by thumbprint (`x5t` or `x5t#S256`).
    /// Thumbprints are compared as base64url without padding; one in standard base64 (as
    /// some clients write it) is read too, as the identity platform's decoder reads it.
    fn by_thumbprint(&self, header: &Header) -> Option<&Key> {
        let url = |t: &Option<String>| {
            let t = t.as_deref()?.trim_end_matches('=');
            Some(t.replace('+', "-").replace('/', "_"))
        };
        let (x5t, x5t_s256) = (url(&header.x5t), url(&header.x5t_s256));
        self.keys.iter().find(|k| {
            k.thumbprints.as_ref().is_some_and(|(sha1, sha256)| {
                x5t.as_ref() == Some(sha1) || x5t_s256.as_ref() == Some(sha256)
            })
        })
    }

    /// Whether one of the keys the header may mean (by `kid` when both have one) signed `jwt`.
    fn verify_any(&self, jwt: &Jwt<'_>) -> bool {
        self.keys
            .iter()
            .filter(|k| match (&k.kid, &jwt.header.kid) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
            .any(|k| k.verify(jwt))
    }
}

impl Key {
    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3), keys of 2048 to 8192 bits.
    fn verify(&self, jwt: &Jwt<'_>) -> bool {
        let (message, signature) = (jwt.signed.as_bytes(), jwt.signature.as_slice());
        match &self.material {
            Material::Spki(spki) => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki)
                .verify(message, signature)
                .is_ok(),
            Material::Components { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
        }
    }
}

/// A certificate an application signs its client assertions with, registered for its client
/// id (what uploading a certificate to an app registration does).
///
/// ```
/// # fn pem() -> String {
/// #     let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
/// #     let params = rcgen::CertificateParams::new(vec!["app".to_owned()]).unwrap();
/// #     params.self_signed(&key).unwrap().pem()
/// # }
/// use adu_emulator::{ClientCertificate, Config};
///
/// let mut config = Config::default();
/// let certificate = ClientCertificate::from_pem("adu-emulator", &pem()).unwrap();
/// assert_eq!(certificate.x5t().len(), 27);
/// config.client_certificates.push(certificate);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "crate::scenario::ClientCertificateJson")]
#[non_exhaustive]
pub struct ClientCertificate {
    /// The client id it is registered for.
    pub client_id: String,
    /// Its public key and thumbprints.
    pub(crate) key: VerifyingKeys,
}

impl ClientCertificate {
    /// Registers the first certificate of `pem` (X.509 v3, RSA) for `client_id`.
    pub fn from_pem(client_id: impl Into<String>, pem: &str) -> Result<Self, Error> {
        Ok(ClientCertificate {
            client_id: client_id.into(),
            key: VerifyingKeys::from_certificate_pem(pem)?,
        })
    }

    /// The certificate's `x5t`: base64url SHA-1 of its DER, which an assertion's header names.
    pub fn x5t(&self) -> &str {
        self.key.x5t().unwrap_or_default()
    }
}

/// A federated identity credential: tokens from `issuer` about `subject`, for `audience`,
/// signed by one of `keys`, stand for `client_id` (workload identity: an AKS service account,
/// a GitHub Actions job).
///
/// ```
/// use adu_emulator::{FederatedIssuer, VerifyingKeys, TOKEN_EXCHANGE_AUDIENCE};
///
/// let keys = VerifyingKeys::from_jwks_json(r#"{"keys": [{"kty": "RSA", "n": "sXch", "e": "AQAB"}]}"#).unwrap();
/// let issuer = FederatedIssuer::new(
///     "https://token.actions.githubusercontent.com",
///     "repo:contoso/firmware:ref:refs/heads/main",
///     "adu-emulator",
///     keys,
/// );
/// assert_eq!(issuer.audience, TOKEN_EXCHANGE_AUDIENCE);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "crate::scenario::FederatedIssuerJson")]
#[non_exhaustive]
pub struct FederatedIssuer {
    /// The token's `iss`, matched exactly.
    pub issuer: String,
    /// The token's `sub`, matched exactly.
    pub subject: String,
    /// The client the token stands for.
    pub client_id: String,
    /// What the token's `aud` must hold ([`TOKEN_EXCHANGE_AUDIENCE`] by default).
    pub audience: String,
    /// The issuer's signing keys.
    pub keys: VerifyingKeys,
}

impl FederatedIssuer {
    /// A federated credential with the default audience.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        client_id: impl Into<String>,
        keys: VerifyingKeys,
    ) -> Self {
        FederatedIssuer {
            issuer: issuer.into(),
            subject: subject.into(),
            client_id: client_id.into(),
            audience: TOKEN_EXCHANGE_AUDIENCE.to_owned(),
            keys,
        }
    }
}

/// A JWT's JOSE header, as far as it is read.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    x5t: Option<String>,
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: impl Fn(&str) -> bool) -> bool {
        match self {
            Audience::One(a) => wanted(a),
            Audience::Many(all) => all.iter().any(|a| wanted(a)),
        }
    }
}

/// The claims checked.
#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<f64>,
    nbf: Option<f64>,
    jti: Option<String>,
}

/// A JWT split and decoded (RFC 7515 §7.1, compact serialization).
struct Jwt<'a> {
    header: Header,
    claims: Claims,
    /// `BASE64URL(header) '.' BASE64URL(payload)`, what the signature covers.
    signed: &'a str,
    signature: Vec<u8>,
}

/// A refusal of the client's authentication: 401 `invalid_client`.
fn refuse(code: u32, description: impl Into<String>) -> Refusal {
    Refusal(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        code,
        description.into(),
    )
}

/// A malformed assertion (Microsoft's list of error codes: InvalidJwtToken, 50027).
fn malformed(why: &str) -> Refusal {
    refuse(50027, format!("Invalid JWT token. {why}"))
}

fn parse(assertion: &str) -> Result<Jwt<'_>, Refusal> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(malformed(&format!(
            "The client assertion is larger than {MAX_ASSERTION_BYTES} bytes."
        )));
    }
    let not_jwt = || malformed("The client assertion is not a signed JWT in compact form.");
    let (signed, signature) = assertion.rsplit_once('.').ok_or_else(not_jwt)?;
    let (header, claims) = signed.split_once('.').ok_or_else(not_jwt)?;
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| not_jwt());
    let header: Header = serde_json::from_slice(&decode(header)?).map_err(|_| not_jwt())?;
    let claims: Claims = serde_json::from_slice(&decode(claims)?).map_err(|_| not_jwt())?;
    Ok(Jwt {
        header,
        claims,
        signed,
        signature: decode(signature)?,
    })
}

/// The audiences a certificate assertion may carry: the token endpoint (v2.0 or v1) or the
/// tenant's v2.0 issuer, on the emulator's origin.
fn endpoint_audiences(base_url: &str, tenant: &str) -> [String; 3] {
    [
        format!("{base_url}/{tenant}/oauth2/v2.0/token"),
        format!("{base_url}/{tenant}/oauth2/token"),
        format!("{base_url}/{tenant}/v2.0"),
    ]
}

/// Upper-case hex of a base64url thumbprint, as the identity platform names keys in errors.
fn hex_thumbprint(x5t: &str) -> String {
    let x5t = x5t
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    let bytes = URL_SAFE_NO_PAD.decode(x5t).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Checks `exp` (required) and `nbf` (when present) against `now`, with [`SKEW_SECS`].
fn check_lifetime(claims: &Claims, now: SystemTime) -> Result<(), Refusal> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let exp = claims
        .exp
        .ok_or_else(|| malformed("The 'exp' claim is missing."))?;
    let out_of_range =
        exp + SKEW_SECS <= now || claims.nbf.is_some_and(|nbf| nbf - SKEW_SECS > now);
    if out_of_range {
        return Err(refuse(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    Ok(())
}

/// Authenticates `client_id` by its assertion, or says why not.
pub(crate) fn check(
    config: &Config,
    base_url: &str,
    client_id: &str,
    assertion: &str,
    now: SystemTime,
) -> Result<(), Refusal> {
    let jwt = parse(assertion)?;
    if jwt.header.alg != "RS256" {
        return Err(refuse(
            700027,
            "Client assertion contains an invalid signature: the signing algorithm must be RS256.",
        ));
    }
    // The application's own assertion names itself as issuer; anything else is federated.
    match &jwt.claims.iss {
        Some(iss) if iss == client_id => check_certificate(config, base_url, client_id, &jwt, now),
        _ => check_federated(config, client_id, &jwt, now),
    }
}

fn check_certificate(
    config: &Config,
    base_url: &str,
    client_id: &str,
    jwt: &Jwt<'_>,
    now: SystemTime,
) -> Result<(), Refusal> {
    let named = jwt.header.x5t.as_deref().or(jwt.header.x5t_s256.as_deref());
    let Some(named) = named else {
        return Err(malformed(
            "No certificate thumbprint specified in token header.",
        ));
    };
    let key = config
        .client_certificates
        .iter()
        .filter(|c| c.client_id == client_id)
        .find_map(|c| c.key.by_thumbprint(&jwt.header));
    let Some(key) = key else {
        return Err(refuse(700027, format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']", hex_thumbprint(named))));
    };
    if !key.verify(jwt) {
        return Err(refuse(700027, "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]"));
    }
    if jwt.claims.sub.as_deref() != Some(client_id) {
        return Err(refuse(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    let tenant = &config.credentials.tenant;
    let audiences = endpoint_audiences(base_url, tenant);
    let aud_ok = jwt.claims.aud.as_ref().is_some_and(|aud| {
        aud.contains(|a| audiences.iter().any(|want| a.eq_ignore_ascii_case(want)))
    });
    if !aud_ok {
        return Err(refuse(
            50013,
            format!(
                "Assertion audience claim does not match the required value. Use '{}'.",
                audiences[0]
            ),
        ));
    }
    check_lifetime(&jwt.claims, now)?;
    if jwt.claims.jti.as_deref().is_none_or(str::is_empty) {
        return Err(malformed("The 'jti' claim is missing."));
    }
    Ok(())
}

fn check_federated(
    config: &Config,
    client_id: &str,
    jwt: &Jwt<'_>,
    now: SystemTime,
) -> Result<(), Refusal> {
    let claims = &jwt.claims;
    let iss = claims.iss.as_deref().unwrap_or_default();
    let mut records = config
        .federated_issuers
        .iter()
        .filter(|f| f.client_id == client_id && f.issuer == iss)
        .peekable();
    if records.peek().is_none() {
        return Err(refuse(700211, format!("No matching federated identity record found for presented assertion issuer '{iss}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.")));
    }
    let records: Vec<_> = records.filter(|f| f.keys.verify_any(jwt)).collect();
    if records.is_empty() {
        return Err(malformed(
            "External ID token from issuer failed signature verification.",
        ));
    }
    let sub = claims.sub.as_deref().unwrap_or_default();
    let records: Vec<_> = records.into_iter().filter(|f| f.subject == sub).collect();
    if records.is_empty() {
        return Err(refuse(700213, format!("No matching federated identity record found for presented assertion subject '{sub}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.")));
    }
    let aud = claims.aud.as_ref();
    if !records
        .iter()
        .any(|f| aud.is_some_and(|aud| aud.contains(|a| a == f.audience)))
    {
        return Err(refuse(700212, "No matching federated identity record found for presented assertion audience. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."));
    }
    check_lifetime(claims, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_assertions_are_refused_without_echo() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c",
            "e30.e30.!",
            "e30.e30.",
            "..",
            "x.e30.AA",
        ] {
            let Err(Refusal(status, error, code, text)) = parse(bad) else {
                panic!("{bad:?} parsed");
            };
            assert_eq!(
                (status.as_u16(), error, code),
                (401, "invalid_client", 50027)
            );
            assert!(bad.len() < 3 || !text.contains(bad), "{text}");
        }
        let big = "a".repeat(MAX_ASSERTION_BYTES + 1);
        assert!(matches!(parse(&big), Err(Refusal(_, _, 50027, t)) if t.contains("larger")));
    }

    #[test]
    fn audiences_are_the_token_endpoints_and_the_issuer() {
        let [v2, v1, issuer] = endpoint_audiences("http://127.0.0.1:1", "t");
        assert_eq!(v2, "http://127.0.0.1:1/t/oauth2/v2.0/token");
        assert_eq!(v1, "http://127.0.0.1:1/t/oauth2/token");
        assert_eq!(issuer, "http://127.0.0.1:1/t/v2.0");
    }

    #[test]
    fn thumbprints_read_as_hex() {
        assert_eq!(hex_thumbprint("AAH_"), "0001FF");
        assert_eq!(hex_thumbprint("AAH/"), "0001FF");
        assert_eq!(hex_thumbprint("!!"), "");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "[A-Za-z0-9_.=-]{0,200}") {
            let _ = parse(&s);
        }
    }
}
