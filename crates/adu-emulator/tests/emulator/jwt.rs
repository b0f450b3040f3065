//! Test keys and JWTs: RSA certificates made with rcgen, assertions signed RS256 with aws-lc-rs.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

/// An RSA key with a self-signed certificate for it.
pub struct TestKey {
    pair: RsaKeyPair,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub public_key_pem: String,
}

impl TestKey {
    fn generate(name: &str) -> TestKey {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestKey {
            pair: RsaKeyPair::from_pkcs8(&key.serialize_der()).unwrap(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            public_key_pem: key.public_key_pem(),
        }
    }

    /// `x5t`: base64url SHA-1 of the certificate's DER.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, &self.cert_der))
    }

    /// `x5t#S256`: base64url SHA-256 of the certificate's DER.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(digest(&SHA256, &self.cert_der))
    }

    /// The key as a JSON Web Key Set of one key.
    pub fn jwks(&self, kid: &str) -> Value {
        let public = self.pair.public_key();
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        json!({ "keys": [ {
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        } ] })
    }

    /// A JWT with `header` and `claims`, signed RS256 by this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let signed = signing_input(header, claims);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// `BASE64URL(header).BASE64URL(claims)`.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}", b64(header), b64(claims))
}

/// Two keys made once per test run (RSA key generation takes a moment).
pub fn keys() -> &'static [TestKey; 2] {
    static KEYS: OnceLock<[TestKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| [TestKey::generate("app-one"), TestKey::generate("app-two")])
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    since.as_secs() as i64
}
