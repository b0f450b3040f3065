//! The fuzz targets' logic: one function per target, taking the raw fuzz
//! input and panicking when an invariant breaks.
//!
//! The emulator's parsers of client bytes are private; they are reached
//! through `adu_emulator::fuzzing`, a hidden module that exists for these
//! targets only. Scenarios go through the public `Config::from_scenario_json`.
//!
//! This file has no libFuzzer dependency on purpose. The binaries in
//! `fuzz_targets/` call these functions under libFuzzer, and
//! `crates/adu-emulator/tests/fuzz_smoke.rs` includes this file with `#[path]`
//! and feeds it the seed corpora plus generated inputs in a plain
//! `cargo test`.
//!
//! Input layouts (so seeds can be written by hand):
//! - `form_pairs`: the whole input is a query string or form body (invalid
//!   UTF-8 replaced, as the emulator does with a form body).
//! - `token_form`: byte 0 is a set of flags (bit 0: the emulator knows a user
//!   for the password grant; bits 1–2: the tenant in the path, see
//!   [`TENANTS`]), the rest is the body of a `POST` to the token endpoint.
//! - `scenario`: the whole input is a scenario's JSON text.
//! - `client_assertion`: byte 0 is a set of flags (bits 0–1: how the assertion is made, see
//!   [`AssertionMode`]; bit 2: the client id, [`APP_CLIENT`] or [`WORKLOAD_CLIENT`]); the
//!   rest is the assertion, or its JOSE header and claims as plain JSON separated by
//!   [`PART_SEPARATOR`] (every [`X5T_PLACEHOLDER`] in them becomes the test certificate's
//!   `x5t`), which the harness encodes and signs.

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_emulator::fuzzing::{first_value, parse_pairs, percent_decode, token_endpoint};
use adu_emulator::{
    ClientCertificate, Config, Error, FederatedIssuer, VerifyingKeys, DEFAULT_TENANT,
    TOKEN_EXCHANGE_AUDIENCE,
};

/// The client secret the `token_form` emulator accepts. Seeds and the
/// dictionary contain it, so the fuzzer tries forms that send or echo it.
pub const CLIENT_SECRET: &str = "fuzz-emulator-secret-8Hq";
/// The password of the user the `token_form` emulator knows (when bit 0 is set).
pub const PASSWORD: &str = "fuzz-user-pw-3Lm";
/// That user's name.
pub const USERNAME: &str = "user@contoso.example";
/// The client id the `token_form` emulator knows.
pub const CLIENT_ID: &str = "fuzz-client";
/// The tenant in the token endpoint's path, picked by bits 1–2 of the flags.
pub const TENANTS: [&str; 4] = ["emulator", "EMULATOR", "contoso", ""];

/// 2023-11-14T22:13:20Z, the fixed "now" of the token endpoint.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// What the `url` crate's `form_urlencoded` makes of a single name (no `&`
/// or `=` in it): `+` is a space, `%XX` a byte, invalid escapes kept, invalid
/// UTF-8 replaced.
fn reference_form_decode(text: &str) -> String {
    debug_assert!(!text.contains(['&', '=']));
    if text.is_empty() {
        return String::new();
    }
    let mut pairs = url::form_urlencoded::parse(text.as_bytes());
    let (name, value) = pairs.next().expect("a non-empty text is one pair");
    assert!(value.is_empty() && pairs.next().is_none());
    name.into_owned()
}

/// Decodes the input as a query string or form body, whole and piece by
/// piece; checks it agrees with the `url` crate's `form_urlencoded` (and
/// `percent-encoding` without `+`), borrows text with nothing to decode, and
/// that pairs written out by the `url` crate read back unchanged.
pub fn form_pairs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    for plus_is_space in [false, true] {
        let decoded = percent_decode(text, plus_is_space);
        let to_decode = text.contains('%') || (plus_is_space && text.contains('+'));
        if !to_decode {
            assert!(
                matches!(decoded, Cow::Borrowed(t) if t == text),
                "{text:?} has nothing to decode"
            );
        }
        let want = if plus_is_space {
            // `form_urlencoded` splits at `&` and `=`: compare piece by piece.
            text.split(['&', '='])
                .map(reference_form_decode)
                .collect::<Vec<_>>()
                .join("\u{0}")
        } else {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        let got = if plus_is_space {
            text.split(['&', '='])
                .map(|piece| percent_decode(piece, true).into_owned())
                .collect::<Vec<_>>()
                .join("\u{0}")
        } else {
            decoded.into_owned()
        };
        assert_eq!(got, want, "{text:?} (plus is space: {plus_is_space})");
    }

    // Whole: the same pairs as `form_urlencoded`, in order, and the first
    // value of a name is the first such pair's.
    let pairs = parse_pairs(text);
    let reference: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let got: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, reference, "{text:?}");
    for (name, _) in reference.iter().take(8) {
        let first = reference
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        assert_eq!(first_value(&pairs, name), first);
    }
    // Written out by the `url` crate and read back: the same pairs.
    let written = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&reference)
        .finish();
    let back: Vec<(String, String)> = parse_pairs(&written)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // `form_urlencoded` drops empty pairs (`&&`), and a pair of an empty
    // name and value is written as `=`, read back as that pair again.
    assert_eq!(back, reference, "{text:?} written as {written:?}");
}

fn token_config(with_user: bool) -> Config {
    let mut config = Config::default();
    config.seed = Some(7);
    config.credentials.client_id = CLIENT_ID.to_owned();
    config.credentials.client_secret = CLIENT_SECRET.to_owned();
    if with_user {
        config.credentials.username = Some(USERNAME.to_owned());
        config.credentials.password = Some(PASSWORD.to_owned());
    }
    config
}

/// Whether the token endpoint should issue a token for this form, written
/// independently of the emulator from the identity platform's rules as the
/// emulator documents them (a fresh emulator has issued no code nor refresh
/// token, so those grants always fail). `None`: refused; `Some(refresh)`:
/// issued, with a refresh token or not.
fn reference_grant(form: &[(String, String)], tenant: &str, with_user: bool) -> Option<bool> {
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !tenant.eq_ignore_ascii_case("emulator") || get("resource").is_some() {
        return None;
    }
    let grant = get("grant_type")?;
    if get("client_id")? != CLIENT_ID {
        return None;
    }
    // The harness registers no certificate nor federated issuer, so every client assertion
    // is refused, even one sent beside the right secret.
    if get("client_assertion").is_some() || get("client_assertion_type").is_some() {
        return None;
    }
    let secret = get("client_secret");
    if secret.is_some_and(|s| s != CLIENT_SECRET) {
        return None;
    }
    let scope = get("scope");
    match grant {
        "client_credentials" => {
            secret?;
            scope?
                .split(' ')
                .any(|s| s.ends_with("/.default"))
                .then_some(false)
        }
        "password" => {
            let (user, password) = (get("username")?, get("password")?);
            scope?;
            (with_user && user.eq_ignore_ascii_case(USERNAME) && password == PASSWORD)
                .then_some(true)
        }
        _ => None,
    }
}

/// Posts the input as a form to a fresh emulator's token endpoint; checks a
/// token is issued exactly when the rules say, every answer is the identity
/// platform's JSON shape, and no answer shows the client secret or the
/// user's password unless the form put it in a field that is echoed.
pub fn token_form(data: &[u8]) {
    let [flags, body @ ..] = data else {
        return;
    };
    let with_user = flags & 1 == 1;
    let tenant = TENANTS[usize::from((flags >> 1) & 3)];
    let response = token_endpoint(token_config(with_user), tenant, body, now());
    let text = String::from_utf8_lossy(body);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let want = reference_grant(&form, tenant, with_user);

    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(response.headers()["cache-control"]
        .to_str()
        .is_ok_and(|c| c.starts_with("no-store")));
    let answer: serde_json::Value =
        serde_json::from_slice(response.body()).expect("every answer is JSON");
    match want {
        Some(refresh) => {
            assert_eq!(response.status(), 200, "{text:?}: {answer}");
            assert_eq!(answer["token_type"], "Bearer");
            assert!(answer["access_token"]
                .as_str()
                .is_some_and(|t| !t.is_empty()));
            assert!(answer["expires_in"].is_u64());
            assert_eq!(answer.get("refresh_token").is_some(), refresh, "{answer}");
        }
        None => {
            assert!(
                response.status() == 400 || response.status() == 401,
                "{text:?} answered {}: {answer}",
                response.status()
            );
            assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
            assert!(answer["error_description"]
                .as_str()
                .is_some_and(|d| d.starts_with("AADSTS")));
            assert!(answer["error_codes"][0].is_u64());
            assert!(answer.get("access_token").is_none());
        }
    }
    // Secrets are compared, never echoed: only a field the answer echoes
    // (client id, scope, grant type, redirect URI) can bring one back.
    // The answer's text as a client reads it: JSON strings decoded, so an escape such as
    // `\u001f` followed by echoed text cannot spell a secret that was never there.
    let body_text = match serde_json::from_slice::<serde_json::Value>(response.body()) {
        Ok(value) => json_strings(&value),
        Err(_) => String::from_utf8_lossy(response.body()).into_owned(),
    };
    for secret in [CLIENT_SECRET, PASSWORD] {
        let echoed = form.iter().any(|(k, v)| {
            k.contains(secret) || (k != "client_secret" && k != "password" && v.contains(secret))
        });
        if !echoed && !tenant.contains(secret) {
            assert!(!body_text.contains(secret), "{text:?} answered {body_text}");
        }
    }
}

/// Every string (keys and values) in a JSON value, one per line.
fn json_strings(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => format!("{text}\n"),
        serde_json::Value::Array(items) => items.iter().map(json_strings).collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}\n{}", json_strings(v)))
            .collect(),
        other => format!("{other}\n"),
    }
}

/// Parses the input as a scenario (over the default config); checks only JSON is accepted,
/// an error points at a position, says what is wrong once and never shows a secret, an
/// accepted scenario keeps what it gives, and no `Debug` output shows a secret.
pub fn scenario(data: &[u8]) {
    // A scenario file is read as UTF-8 text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let json = serde_json::from_str::<serde_json::Value>(text);
    let secrets: Vec<String> = json
        .iter()
        .flat_map(|json| {
            ["clientSecret", "password"]
                .iter()
                .filter_map(|k| json["credentials"][k].as_str())
                .chain(json["managedIdentity"]["identityHeader"].as_str())
        })
        // Short ones may show by chance (as part of another value).
        .filter(|s| s.len() >= 12)
        // One written elsewhere too may show as that other value.
        .filter(|s| text.matches(*s).count() == 1)
        .map(str::to_owned)
        .collect();
    let defaults = Config::default();
    let config = match Config::from_scenario_json(text) {
        Ok(config) => config,
        Err(Error::ScenarioSyntax {
            line,
            column,
            message,
        }) => {
            assert!(line >= 1, "{text:?}");
            assert!(!message.is_empty());
            assert!(
                !message.ends_with(&format!(" at line {line} column {column}")),
                "the position is repeated: {message:?}"
            );
            for secret in secrets.iter().filter(|s| message.contains(s.as_str())) {
                // The parser's own words may spell a fuzzed secret (`uplicate field `client`):
                // it was echoed only if the message changes when the secret does.
                let other = text.replacen(secret.as_str(), &"Z".repeat(secret.len()), 1);
                let again = match Config::from_scenario_json(&other) {
                    Err(Error::ScenarioSyntax { message, .. }) => message,
                    _ => String::new(),
                };
                assert!(again.contains(secret.as_str()), "{message}");
            }
            let shown = Error::ScenarioSyntax {
                line,
                column,
                message,
            }
            .to_string();
            assert!(shown.contains(&format!("line {line}")), "{shown}");
            return;
        }
        Err(other) => panic!("{text:?}: parsing gave {other:?}"),
    };
    let json = json.expect("an accepted scenario is JSON");
    assert!(json.is_object(), "{text:?} was accepted");
    let count = |key: &str| json[key].as_array().map_or(0, Vec::len);
    assert_eq!(
        config.operations.len(),
        defaults.operations.len() + count("operations"),
        "operations are appended"
    );
    assert_eq!(
        config.faults.len(),
        defaults.faults.len() + count("faults"),
        "faults are appended"
    );
    if let Some(seed) = json["seed"].as_u64() {
        assert_eq!(config.seed, Some(seed));
    }
    let page_size = json["pageSize"].as_u64().map(|n| n as usize);
    assert_eq!(config.page_size, page_size.unwrap_or(defaults.page_size));
    assert!((1..=adu_emulator::MAX_PAGE_SIZE).contains(&config.page_size));
    let creds = &json["credentials"];
    for (key, got) in [
        ("tenant", &config.credentials.tenant),
        ("clientId", &config.credentials.client_id),
        ("clientSecret", &config.credentials.client_secret),
    ] {
        if let Some(want) = creds[key].as_str() {
            assert_eq!(got, want, "{key}");
        }
    }
    if let Some(header) = json["managedIdentity"]["identityHeader"].as_str() {
        assert_eq!(config.managed_identity.identity_header, header);
    }
    assert!(!config.managed_identity.identity_header.is_empty());
    let debug = format!("{config:?}");
    for secret in secrets.iter().filter(|s| debug.contains(s.as_str())) {
        // Debug's own words may spell a fuzzed secret (a password `client_secret`): it was
        // shown only if Debug changes when the secret does.
        let other = text.replacen(secret.as_str(), &"Z".repeat(secret.len()), 1);
        let again = Config::from_scenario_json(&other)
            .map(|config| format!("{config:?}"))
            .unwrap_or_default();
        assert!(
            again.contains(secret.as_str()),
            "the config's Debug shows a secret"
        );
    }
}

/// The test certificate (RSA 2048, self-signed, X.509 v3) the `client_assertion` emulator
/// registers for [`APP_CLIENT`], its private key, and its public key, which is also the one
/// key of the federated issuer. Test material only, committed so seeds stay valid.
const CERT_PEM: &str = include_str!("../keys/cert.pem");
const KEY_PEM: &str = include_str!("../keys/key.pem");
const PUBLIC_PEM: &str = include_str!("../keys/public.pem");
/// The client the test certificate is registered for.
pub const APP_CLIENT: &str = "fuzz-app";
/// The client the federated issuer's tokens stand for.
pub const WORKLOAD_CLIENT: &str = "fuzz-workload";
/// The federated issuer and subject the `client_assertion` emulator trusts.
pub const FEDERATED_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// See [`FEDERATED_ISSUER`].
pub const FEDERATED_SUBJECT: &str = "repo:contoso/firmware:ref:refs/heads/main";
/// Separates the header, the claims and (mode 2) the signature in the input.
pub const PART_SEPARATOR: &str = "\n.\n";
/// Replaced with the test certificate's `x5t` in the header and claims.
pub const X5T_PLACEHOLDER: &str = "{x5t}";
/// The base URL `fuzzing::token_endpoint` answers on.
const BASE_URL: &str = "http://127.0.0.1:8080";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the `client_assertion` input becomes the assertion (bits 0–1 of the flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssertionMode {
    /// 0: the rest of the input is the assertion, as sent.
    Raw,
    /// 1: header and claims, encoded and signed with the test key by the harness.
    Signed,
    /// 2: header, claims and a signature as base64url text of the input's own.
    OwnSignature,
    /// 3: signed by the harness, then the signature altered (one bit of its first byte).
    Tampered,
}

struct Keys {
    signer: aws_lc_rs::signature::RsaKeyPair,
    x5t: String,
}

fn keys() -> &'static Keys {
    use rustls_pki_types::pem::PemObject as _;
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(KEY_PEM.as_bytes())
            .expect("the test key is PKCS#8 PEM");
        let signer = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .expect("the test key is RSA");
        let x5t = ClientCertificate::from_pem(APP_CLIENT, CERT_PEM)
            .expect("the test certificate is accepted")
            .x5t()
            .to_owned();
        Keys { signer, x5t }
    })
}

/// `signed.BASE64URL(RS256 signature of signed)` with the test key (PKCS#1 v1.5 is
/// deterministic, so the same text always gives the same assertion).
fn sign(signed: &str) -> String {
    use base64::Engine as _;
    let signer = &keys().signer;
    let mut signature = vec![0; signer.public_modulus_len()];
    signer
        .sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .expect("signing works");
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
    format!("{signed}.{signature}")
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn assertion_config() -> Config {
    let mut config = Config::default();
    config.seed = Some(7);
    config
        .client_certificates
        .push(ClientCertificate::from_pem(APP_CLIENT, CERT_PEM).expect("the test certificate"));
    config.federated_issuers.push(FederatedIssuer::new(
        FEDERATED_ISSUER,
        FEDERATED_SUBJECT,
        WORKLOAD_CLIENT,
        VerifyingKeys::from_public_key_pem(PUBLIC_PEM).expect("the test public key"),
    ));
    config
}

/// Builds the assertion the input describes.
fn make_assertion(mode: AssertionMode, rest: &str) -> String {
    let text = rest.replace(X5T_PLACEHOLDER, &keys().x5t);
    if mode == AssertionMode::Raw {
        return text;
    }
    let mut parts = text.splitn(3, PART_SEPARATOR);
    let header = parts.next().unwrap_or_default();
    let claims = parts.next().unwrap_or_default();
    let signed = format!("{}.{}", b64(header), b64(claims));
    match mode {
        AssertionMode::OwnSignature => format!("{signed}.{}", parts.next().unwrap_or_default()),
        AssertionMode::Tampered => {
            let good = sign(&signed);
            let (head, signature) = good.rsplit_once('.').expect("a signed JWT");
            let mut bytes = {
                use base64::Engine as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(signature)
                    .expect("our own signature")
            };
            bytes[0] ^= 1 << (rest.len() % 8);
            format!("{head}.{}", {
                use base64::Engine as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            })
        }
        _ => sign(&signed),
    }
}

/// The header or claims of an assertion, base64url-decoded and read as JSON (`None` when not).
fn json_part(part: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether `aud` (a string or an array of strings) holds a value `wanted` accepts.
fn audience_has(aud: Option<&serde_json::Value>, wanted: impl Fn(&str) -> bool) -> bool {
    match aud {
        Some(serde_json::Value::String(a)) => wanted(a),
        Some(serde_json::Value::Array(all)) => all.iter().any(|a| a.as_str().is_some_and(&wanted)),
        _ => false,
    }
}

/// Posts a client-credentials request with the input's assertion to the token endpoint of an
/// emulator that registers one test certificate (and a federated issuer with the same key);
/// checks nothing is accepted unless it is byte for byte an assertion the harness signed and
/// its header and claims meet the identity platform's rules, every refusal is `invalid_client`
/// or `invalid_request` in Azure AD's shape, and no answer echoes the assertion.
pub fn client_assertion(data: &[u8]) {
    client_assertion_status(data);
}

/// [`client_assertion`]'s checks, returning the status the token endpoint answered (`None`
/// for an empty input), so that tests can tell that accepted seeds are accepted.
pub fn client_assertion_status(data: &[u8]) -> Option<u16> {
    let [flags, rest @ ..] = data else {
        return None;
    };
    let mode = [
        AssertionMode::Raw,
        AssertionMode::Signed,
        AssertionMode::OwnSignature,
        AssertionMode::Tampered,
    ][usize::from(flags & 3)];
    let client_id = if flags & 4 == 0 {
        APP_CLIENT
    } else {
        WORKLOAD_CLIENT
    };
    let assertion = make_assertion(mode, &String::from_utf8_lossy(rest));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", client_id)
        .append_pair("scope", "https://api.adu.microsoft.com/.default")
        .append_pair("client_assertion_type", JWT_BEARER)
        .append_pair("client_assertion", &assertion)
        .finish();
    let response = token_endpoint(assertion_config(), DEFAULT_TENANT, body.as_bytes(), now());
    let answer: serde_json::Value =
        serde_json::from_slice(response.body()).expect("every answer is JSON");

    if response.status() == 200 {
        assert_ne!(
            mode,
            AssertionMode::Tampered,
            "an altered signature was accepted"
        );
        // Accepted only when it is exactly what the harness signs for its first two parts.
        let (signed, _) = assertion.rsplit_once('.').expect("a compact JWT");
        assert_eq!(
            sign(signed),
            assertion,
            "an assertion the harness did not sign was accepted"
        );
        assert!(assertion.len() <= 16 * 1024);
        let (header, claims) = signed.split_once('.').expect("a compact JWT");
        let header = json_part(header).expect("an accepted header is JSON");
        let claims = json_part(claims).expect("accepted claims are JSON");
        assert_eq!(header.get("alg").and_then(|a| a.as_str()), Some("RS256"));
        let claim = |name: &str| claims.get(name).and_then(|v| v.as_str());
        let now_secs = 1_700_000_000.0;
        let exp = claims["exp"]
            .as_f64()
            .expect("an accepted assertion has exp");
        assert!(exp + 300.0 > now_secs, "an expired assertion was accepted");
        if let Some(nbf) = claims.get("nbf").and_then(|n| n.as_f64()) {
            assert!(
                nbf - 300.0 <= now_secs,
                "an assertion not yet valid was accepted"
            );
        }
        if claim("iss") == Some(client_id) {
            assert_eq!(client_id, APP_CLIENT, "{claims:?}");
            assert_eq!(claim("sub"), Some(client_id));
            assert!(claim("jti").is_some_and(|j| !j.is_empty()));
            let tenant = DEFAULT_TENANT;
            let audiences = [
                format!("{BASE_URL}/{tenant}/oauth2/v2.0/token"),
                format!("{BASE_URL}/{tenant}/oauth2/token"),
                format!("{BASE_URL}/{tenant}/v2.0"),
            ];
            assert!(audience_has(claims.get("aud"), |a| audiences
                .iter()
                .any(|w| a.eq_ignore_ascii_case(w))));
            let named = |k: &str| header.get(k).and_then(|v| v.as_str()).is_some();
            assert!(
                named("x5t") || named("x5t#S256"),
                "no thumbprint: {header:?}"
            );
        } else {
            assert_eq!(client_id, WORKLOAD_CLIENT, "{claims:?}");
            assert_eq!(claim("iss"), Some(FEDERATED_ISSUER));
            assert_eq!(claim("sub"), Some(FEDERATED_SUBJECT));
            assert!(audience_has(claims.get("aud"), |a| a == TOKEN_EXCHANGE_AUDIENCE));
        }
        assert_eq!(answer["token_type"], "Bearer");
        assert!(answer["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
    } else {
        assert!(
            response.status() == 400 || response.status() == 401,
            "answered {}: {answer}",
            response.status()
        );
        assert!(matches!(
            answer["error"].as_str(),
            Some("invalid_client" | "invalid_request")
        ));
        assert!(answer["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("AADSTS")));
        assert!(answer.get("access_token").is_none());
        if mode == AssertionMode::Signed && response.status() == 401 {
            // A signature of the registered key is never what is refused.
            let description = answer["error_description"].as_str().unwrap_or_default();
            assert!(
                !description.contains("did not match the expected signature")
                    && !description.contains("failed signature verification"),
                "a good signature was refused: {description}"
            );
        }
    }
    // The assertion is compared, never echoed (its text, or its signed part).
    let text = String::from_utf8_lossy(response.body());
    let signed = assertion.rsplit_once('.').map_or("", |(s, _)| s);
    for piece in [assertion.as_str(), signed] {
        if piece.len() >= 16 {
            assert!(!text.contains(piece), "the assertion is echoed: {text}");
        }
    }
    Some(response.status().as_u16())
}
