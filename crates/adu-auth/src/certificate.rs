//! Client certificates: an application proves itself with a JWT it signs
//! (RS256) with its certificate's private key, sent as a client assertion.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::assertion::{AssertionFn, AssertionGrant};
use crate::authority::Authority;
use crate::credentials::env_tenant_client_and;
use crate::endpoint::TokenEndpoint;
use crate::error::Error;
use crate::http_client::SharedHttpClient;

/// The certificate file (`AZURE_CLIENT_CERTIFICATE_PATH`): PEM holding the
/// certificate and its unencrypted private key, or PKCS#12 with the `pkcs12`
/// feature.
pub const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
/// The PKCS#12 file's password (`AZURE_CLIENT_CERTIFICATE_PASSWORD`), with the
/// `pkcs12` feature.
pub const AZURE_CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
/// `1` or `true`: send the certificate chain (`x5c`) with each assertion,
/// for applications that trust a certificate by subject name and issuer.
pub const AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: &str = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";

/// The most a certificate file may hold (a key and a long chain fit many times).
pub const MAX_CERTIFICATE_FILE_BYTES: u64 = 256 * 1024;

/// How long an assertion is valid: Azure's libraries use ten minutes.
const ASSERTION_LIFETIME_SECS: u64 = 600;

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidConfig {
        message: message.into(),
    }
}

/// A certificate with its RSA private key, ready to sign client assertions.
/// `Debug` shows the thumbprint and the chain's length, never the key.
///
/// ```no_run
/// let certificate = adu_auth::ClientCertificate::from_pem_file("app.pem".as_ref())?;
/// println!("x5t {}", certificate.thumbprint());
/// # Ok::<(), adu_auth::Error>(())
/// ```
pub struct ClientCertificate {
    key: RsaKeyPair,
    /// The certificate of the key first, then the others in file order.
    chain: Vec<CertificateDer<'static>>,
    /// The `x5t` header: base64url SHA-1 of the first certificate's DER.
    thumbprint: String,
}

impl ClientCertificate {
    /// Reads PEM holding the certificate (optionally its chain) and its
    /// unencrypted RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`), in any order. The certificate of the key is found
    /// by its public key; the others form the chain sent with `x5c`. Fails
    /// with [`Error::InvalidConfig`] saying what is missing (an encrypted or
    /// non-RSA key included); the error never quotes the file.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let is_encrypted = pem.windows(9).any(|w| w == b"ENCRYPTED");
        let key =
            match PrivateKeyDer::from_pem_slice(pem) {
                Ok(key) => key,
                Err(_) if is_encrypted => return Err(encrypted()),
                Err(pem::Error::NoItemsFound) => return Err(invalid(
                    "no private key in the PEM data: add the certificate's unencrypted RSA key \
                     (`-----BEGIN PRIVATE KEY-----` or `-----BEGIN RSA PRIVATE KEY-----`)",
                )),
                // pem's messages may quote the data: not shown.
                Err(_) => return Err(malformed()),
            };
        let key = match &key {
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            _ => return Err(not_rsa("an EC key")),
        }
        .map_err(|e| match is_encrypted {
            // An old-style encrypted PKCS#1 key (`Proc-Type: 4,ENCRYPTED`).
            true => encrypted(),
            false => rsa_refused(e),
        })?;
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|_| malformed())?;
        Self::from_key(key, certificates, "PEM data")
    }

    /// The certificate of `key` among `certificates` (first in the chain), or
    /// what is missing.
    fn from_key(
        key: RsaKeyPair,
        mut certificates: Vec<CertificateDer<'static>>,
        source: &str,
    ) -> Result<Self, Error> {
        if certificates.is_empty() {
            return Err(invalid(format!(
                "no certificate in the {source}: add the certificate \
                 (`-----BEGIN CERTIFICATE-----`) next to its key"
            )));
        }
        // A certificate holds its subject's public key whole (inside its
        // SubjectPublicKeyInfo): finding the key's bytes finds its certificate
        // without an X.509 parser.
        let public = key.public_key().as_ref();
        let Some(leaf) = certificates
            .iter()
            .position(|c| c.windows(public.len()).any(|w| w == public))
        else {
            return Err(invalid(format!(
                "no certificate in the {source} matches the private key: give the certificate issued for this key"
            )));
        };
        let leaf = certificates.remove(leaf);
        let thumbprint = URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, &leaf));
        certificates.insert(0, leaf);
        Ok(ClientCertificate {
            key,
            chain: certificates,
            thumbprint,
        })
    }

    /// Reads a PKCS#12 (`.pfx`) file's content: its private key (RSA) with
    /// its certificate chain, decrypted with `password` (`""` for none).
    /// Fails with [`Error::InvalidConfig`] for a wrong password, an
    /// encryption the reader does not support, or a non-RSA key.
    #[cfg(feature = "pkcs12")]
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, Error> {
        use p12_keystore::error::Error as P12;
        let policy = p12_keystore::Pkcs12ImportPolicy::Strict;
        let store = p12_keystore::KeyStore::from_pkcs12(der, password, policy).map_err(|e| {
            invalid(match e {
                P12::MacError(_) => {
                    "the PKCS#12 password is wrong: check AZURE_CLIENT_CERTIFICATE_PASSWORD"
                }
                P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
                    "the PKCS#12 file uses an unsupported encryption: convert it to PEM \
                     (`openssl pkcs12 -in cert.pfx -out cert.pem -nodes`)"
                }
                _ => "not a readable PKCS#12 file: check the certificate file",
            })
        })?;
        let Some((_, chain)) = store.private_key_chain() else {
            return Err(invalid(
                "the PKCS#12 file holds no private key with its certificate: export the certificate with its key",
            ));
        };
        let key = RsaKeyPair::from_pkcs8(chain.key().as_der()).map_err(rsa_refused)?;
        let certificates = (chain.certs().iter())
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        Self::from_key(key, certificates, "PKCS#12 file")
    }

    /// As [`from_pem`](Self::from_pem), with the certificate and the key in
    /// separate PEM texts.
    pub fn from_pem_parts(certificate_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        Self::from_pem(&[certificate_pem, b"\n", key_pem].concat())
    }

    /// Reads a PEM file with [`from_pem`](Self::from_pem): a regular file of
    /// at most [`MAX_CERTIFICATE_FILE_BYTES`].
    pub fn from_pem_file(path: &Path) -> Result<Self, Error> {
        Self::from_file(path, None)
    }

    /// Reads a certificate file (a regular file of at most
    /// [`MAX_CERTIFICATE_FILE_BYTES`]): PEM as [`from_pem`](Self::from_pem),
    /// or anything else as PKCS#12 with `password` (`None` for none) when the
    /// `pkcs12` feature is on.
    pub fn from_file(path: &Path, password: Option<&str>) -> Result<Self, Error> {
        let in_file = |message: String| invalid(format!("{}: {message}", path.display()));
        let (bytes, _) = crate::file::read_bounded(path, MAX_CERTIFICATE_FILE_BYTES)
            .map_err(|e| in_file(file_error(&e)))?;
        let is_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
        let read = match is_pem {
            true => Self::from_pem(&bytes),
            #[cfg(feature = "pkcs12")]
            false => Self::from_pkcs12(&bytes, password.unwrap_or_default()),
            #[cfg(not(feature = "pkcs12"))]
            false => {
                let _ = password;
                Err(invalid(
                    "not PEM: convert a PKCS#12 file with \
                     `openssl pkcs12 -in cert.pfx -out cert.pem -nodes` (or build adu-auth with its `pkcs12` feature)",
                ))
            }
        };
        read.map_err(|e| match e {
            Error::InvalidConfig { message } => in_file(message),
            other => other,
        })
    }

    /// The `x5t` thumbprint: base64url (unpadded) SHA-1 of the certificate's
    /// DER, as the app registration's certificate list shows it in hex.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The certificate's DER, then the rest of the chain.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// A client assertion for `client_id` at the token endpoint `audience`,
    /// valid from `now` for ten minutes.
    pub(crate) fn assertion(
        &self,
        audience: &str,
        client_id: &str,
        send_chain: bool,
        now: SystemTime,
    ) -> Result<String, Error> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        if send_chain {
            let chain: Vec<String> = self.chain.iter().map(|c| STANDARD.encode(c)).collect();
            header["x5c"] = chain.into();
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        (self.key)
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| invalid("the private key could not sign the client assertion"))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn encrypted() -> Error {
    invalid(
        "the private key is encrypted: give it unencrypted \
         (`openssl pkey -in key.pem -out plain.pem`), in a file only you can read",
    )
}

fn malformed() -> Error {
    invalid("the PEM data is malformed: check the certificate file")
}

fn rsa_refused(error: aws_lc_rs::error::KeyRejected) -> Error {
    match error.description_() {
        "WrongAlgorithm" => not_rsa("not an RSA key"),
        why => not_rsa(why),
    }
}

fn not_rsa(why: &str) -> Error {
    invalid(format!(
        "the private key was refused ({why}): client assertions are signed RS256, \
         which needs an RSA key of 2048 to 8192 bits"
    ))
}

/// A file error with its cause (`FileError`'s own text leaves the I/O error
/// to its source).
pub(crate) fn file_error(error: &crate::file::FileError) -> String {
    match error {
        crate::file::FileError::Io(io) => format!("{error}: {io}"),
        other => other.to_string(),
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// The client credentials flow authenticated by a certificate: each token
/// request carries a fresh client assertion signed RS256 with the
/// certificate's key (header `x5t`, and `x5c` with the chain when asked;
/// claims `aud` = the token endpoint, `iss` = `sub` = the client id, a fresh
/// `jti`, `nbf` now and `exp` ten minutes on). Tokens are cached per scope
/// set, as for a secret.
///
/// ```no_run
/// # let http: adu_auth::SharedHttpClient = std::sync::Arc::new(
/// #     |_: http::Request<Vec<u8>>| async { Err::<http::Response<Vec<u8>>, _>(adu_auth::HttpClientError::new("offline")) });
/// use adu_auth::{Authority, ClientCertificate, ClientCertificateCredential};
///
/// let certificate = ClientCertificate::from_pem_file("app.pem".as_ref())?;
/// let credential = ClientCertificateCredential::new(
///     Authority::new("contoso.onmicrosoft.com")?,
///     "client-id",
///     certificate,
///     http,
/// )
/// .with_certificate_chain(true);
/// # Ok::<(), adu_auth::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientCertificateCredential(pub(crate) AssertionGrant, Arc<ClientCertificate>);

/// Signs an assertion for `endpoint` at each token request.
fn signer(
    certificate: Arc<ClientCertificate>,
    endpoint: &TokenEndpoint,
    chain: bool,
) -> AssertionFn {
    let audience = endpoint.authority.token_url().to_string();
    let client_id = endpoint.client_id.clone();
    Arc::new(move |now| {
        let assertion = certificate.assertion(&audience, &client_id, chain, now);
        Box::pin(std::future::ready(assertion))
    })
}

impl ClientCertificateCredential {
    /// A credential for the application `client_id` with `certificate`
    /// (without `x5c`: see [`with_certificate_chain`](Self::with_certificate_chain)).
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        certificate: ClientCertificate,
        http: SharedHttpClient,
    ) -> Self {
        let certificate = Arc::new(certificate);
        let endpoint = TokenEndpoint::new(authority, client_id, http);
        let assertion = signer(certificate.clone(), &endpoint, false);
        ClientCertificateCredential(AssertionGrant::new(endpoint, assertion), certificate)
    }

    /// Whether each assertion carries the certificate chain (`x5c`), which
    /// applications trusting certificates by subject name and issuer need.
    #[must_use]
    pub fn with_certificate_chain(mut self, send: bool) -> Self {
        self.0.assertion = signer(self.1.clone(), &self.0.endpoint, send);
        self
    }

    /// Reads the process environment (see [`from_lookup`](Self::from_lookup)).
    pub fn from_env(http: SharedHttpClient) -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok(), http)
    }

    /// Reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file with the certificate and
    /// its key, or with the `pkcs12` feature a PKCS#12 file and
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD`, read by
    /// [`ClientCertificate::from_file`]), and optionally `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` (`1` or
    /// `true`) and `AZURE_AUTHORITY_HOST` through `lookup`. Empty values count
    /// as missing; the error names every missing variable.
    ///
    /// ```
    /// # let http: adu_auth::SharedHttpClient = std::sync::Arc::new(
    /// #     |_: http::Request<Vec<u8>>| async { Err::<http::Response<Vec<u8>>, _>(adu_auth::HttpClientError::new("offline")) });
    /// let error = adu_auth::ClientCertificateCredential::from_lookup(|_| None, http).unwrap_err();
    /// assert!(error.to_string().contains("AZURE_CLIENT_CERTIFICATE_PATH"));
    /// ```
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let (authority, client_id, path) =
            env_tenant_client_and(&get, AZURE_CLIENT_CERTIFICATE_PATH)?;
        let chain = get(AZURE_CLIENT_SEND_CERTIFICATE_CHAIN)
            .is_some_and(|v| v.trim() == "1" || v.trim().eq_ignore_ascii_case("true"));
        let password = get(AZURE_CLIENT_CERTIFICATE_PASSWORD);
        let certificate = ClientCertificate::from_file(Path::new(&path), password.as_deref())?;
        Ok(Self::new(authority, client_id, certificate, http).with_certificate_chain(chain))
    }

    /// The certificate the assertions are signed with.
    pub fn certificate(&self) -> &ClientCertificate {
        &self.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    use proptest::prelude::*;
    use std::sync::OnceLock;
    use std::time::Duration;

    /// One RSA key for every case (making one takes a while).
    fn certificate() -> &'static ClientCertificate {
        static CERTIFICATE: OnceLock<ClientCertificate> = OnceLock::new();
        CERTIFICATE.get_or_init(|| {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
            let params = rcgen::CertificateParams::new(vec!["app.test".to_owned()]).unwrap();
            let pem = format!(
                "{}{}",
                params.self_signed(&key).unwrap().pem(),
                key.serialize_pem()
            );
            ClientCertificate::from_pem(pem.as_bytes()).unwrap()
        })
    }

    fn json(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the client id, audience and time, the assertion is three
        /// base64url parts whose claims read back as given and whose signature
        /// verifies with the certificate's key.
        #[test]
        fn every_assertion_reads_back_and_verifies(
            client_id in any::<String>(),
            audience in "https://[a-z.]{1,20}/[ -~]{0,40}",
            secs in 0u64..(u64::from(u32::MAX)),
            chain in any::<bool>(),
        ) {
            let cert = certificate();
            let now = UNIX_EPOCH + Duration::from_secs(secs);
            let jwt = cert.assertion(&audience, &client_id, chain, now).unwrap();
            let parts: Vec<&str> = jwt.split('.').collect();
            prop_assert_eq!(parts.len(), 3);
            let (header, claims) = (json(parts[0]), json(parts[1]));
            prop_assert_eq!(&header["x5t"], cert.thumbprint());
            prop_assert_eq!(header.get("x5c").is_some(), chain);
            prop_assert_eq!(&claims["iss"], client_id.as_str());
            prop_assert_eq!(&claims["sub"], client_id.as_str());
            prop_assert_eq!(&claims["aud"], audience.as_str());
            prop_assert_eq!(&claims["nbf"], secs);
            prop_assert_eq!(&claims["exp"], secs + 600);
            let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
            let public = cert.key.public_key().as_ref();
            let signed = format!("{}.{}", parts[0], parts[1]);
            prop_assert!(UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
                .verify(signed.as_bytes(), &signature)
                .is_ok());
        }
    }
}
