//! The token endpoint, in the shape of the Microsoft identity platform's
//! v2.0 endpoint (`/{tenant}/oauth2/v2.0/token`): client credentials (with a secret or a
//! client assertion), password, authorization code (with PKCE), device code (RFC 8628, with
//! the device code endpoint `/{tenant}/oauth2/v2.0/devicecode`) and refresh grants, and
//! AADSTS-style errors.

use std::time::SystemTime;

use adu_model::Timestamp;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, PRAGMA};
use http::{Response, StatusCode};
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::authorize::s256_challenge;
use crate::routes::{answer, first_value, parse_pairs};
use crate::state::{CodeProblem, DeviceInfo, DeviceProblem, State};

/// Identity-platform style timestamp: `2024-01-31 12:34:56Z`.
pub(crate) fn aad_timestamp(now: SystemTime) -> String {
    let t = Timestamp::from_system_time(now);
    let s = t.as_str();
    format!("{} {}Z", &s[..10], &s[11..19])
}

/// An answer of the identity endpoints: never cached (`Cache-Control: no-store`, as the
/// identity platform sends with tokens and sign-in pages alike).
pub(crate) fn no_store(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
) -> Response<Bytes> {
    let headers = [(CACHE_CONTROL, "no-store, no-cache"), (PRAGMA, "no-cache")];
    answer(status, content_type, body, &headers)
}

/// The identity platform's description of an error: `AADSTS{code}: {description}`, then the
/// request's trace and correlation ids and the time, which the returned JSON fields repeat.
pub(crate) fn aadsts(code: u32, description: &str, now: SystemTime) -> (String, Value) {
    let (trace_id, correlation_id) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let timestamp = aad_timestamp(now);
    let text = format!(
        "AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
    );
    let ids =
        json!({ "trace_id": trace_id, "correlation_id": correlation_id, "timestamp": timestamp });
    (text, ids)
}

/// A refused request: the status, the OAuth2 error (RFC 6749 §5.2), the AADSTS code and its
/// description.
pub(crate) struct Refusal(pub StatusCode, pub &'static str, pub u32, pub String);

impl Refusal {
    /// A 400 refusal.
    pub fn bad(error: &'static str, code: u32, description: impl Into<String>) -> Self {
        Refusal(StatusCode::BAD_REQUEST, error, code, description.into())
    }

    /// A 400 for a missing parameter.
    pub fn missing(name: &str) -> Self {
        let text = format!("The request body must contain the following parameter: '{name}'.");
        Refusal::bad("invalid_request", 900144, text)
    }

    /// A 400 for an unknown tenant.
    pub fn unknown_tenant(tenant: &str) -> Self {
        Refusal::bad("invalid_request", 90002, format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."))
    }

    /// A 400 for an unknown client.
    pub fn unknown_client(client_id: &str, tenant: &str) -> Self {
        Refusal::bad("unauthorized_client", 700016, format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."))
    }

    /// A 400 for the `resource` parameter, which the v2.0 endpoints do not take.
    pub fn resource() -> Self {
        Refusal::bad(
            "invalid_request",
            901002,
            "The 'resource' request parameter is not supported.",
        )
    }
}

/// Compares secrets in constant time (`subtle`), so the time taken tells nothing of them.
fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Answers a token request: the token, or the error in the identity platform's JSON shape.
pub(crate) fn token_endpoint(
    state: &State,
    base_url: &str,
    tenant: &str,
    body: &[u8],
    now: SystemTime,
) -> Response<Bytes> {
    refusal_or(grant(state, base_url, tenant, body, now), base_url, now)
}

/// The grant device codes are redeemed with (RFC 8628 §3.4).
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How often a device is told to poll, in seconds (the identity platform says 5; the emulator
/// keeps demos and tests quick).
const DEVICE_CODE_INTERVAL: u64 = 1;

/// How long device codes are good for, in seconds (the identity platform's 15 minutes).
const DEVICE_CODE_LIFETIME: u64 = 900;

/// Answers a device authorization request (RFC 8628 §3.1): a device code, the user code and
/// where to enter it. The emulated user signs in `device_code_delay` later.
pub(crate) fn device_code_endpoint(
    state: &State,
    base_url: &str,
    tenant: &str,
    body: &[u8],
    now: SystemTime,
) -> Response<Bytes> {
    let issue = || {
        let creds = &state.config.credentials;
        let body = String::from_utf8_lossy(body);
        let form = parse_pairs(&body);
        let get = |name: &str| first_value(&form, name);
        if !tenant.eq_ignore_ascii_case(&creds.tenant) {
            return Err(Refusal::unknown_tenant(tenant));
        }
        let client_id = get("client_id").ok_or_else(|| Refusal::missing("client_id"))?;
        if client_id != creds.client_id {
            return Err(Refusal::unknown_client(client_id, &creds.tenant));
        }
        let scope = get("scope").ok_or_else(|| Refusal::missing("scope"))?;
        let lifetime = std::time::Duration::from_secs(DEVICE_CODE_LIFETIME);
        let info = DeviceInfo {
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            approved_at: now + state.config.device_code_delay,
            expires: now + lifetime,
        };
        let device_code = state.issue_device_code(info, now);
        let user = Uuid::new_v4().simple().to_string().to_uppercase();
        let user_code = format!("{}-{}", &user[..4], &user[4..8]);
        let verification_uri = format!("{base_url}/devicelogin");
        Ok(json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "expires_in": DEVICE_CODE_LIFETIME,
            "interval": DEVICE_CODE_INTERVAL,
            "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
        }))
    };
    refusal_or(issue(), base_url, now)
}

/// A JSON answer, or the refusal in the identity platform's JSON shape.
fn refusal_or(result: Result<Value, Refusal>, base_url: &str, now: SystemTime) -> Response<Bytes> {
    let (status, body) = match result {
        Ok(token) => (StatusCode::OK, token),
        Err(Refusal(status, error, code, description)) => {
            let (text, mut body) = aadsts(code, &description, now);
            body["error"] = json!(error);
            body["error_description"] = json!(text);
            body["error_codes"] = json!([code]);
            body["error_uri"] = json!(format!("{base_url}/error?code={code}"));
            (status, body)
        }
    };
    no_store(
        status,
        Some("application/json; charset=utf-8"),
        Bytes::from(body.to_string()),
    )
}

/// Checks a token request and issues the token.
fn grant(
    state: &State,
    base_url: &str,
    tenant: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<Value, Refusal> {
    let creds = &state.config.credentials;
    let body = String::from_utf8_lossy(body);
    let form = parse_pairs(&body);
    let get = |name: &str| first_value(&form, name);
    let need = |name: &str| get(name).ok_or_else(|| Refusal::missing(name));
    let invalid_grant =
        |code: u32, description: &str| Refusal::bad("invalid_grant", code, description);

    if !tenant.eq_ignore_ascii_case(&creds.tenant) {
        return Err(Refusal::unknown_tenant(tenant));
    }
    if get("resource").is_some() {
        return Err(Refusal::resource());
    }
    let grant = need("grant_type")?;
    let client_id = need("client_id")?;
    let config = &state.config;
    let known = client_id == creds.client_id
        || config
            .client_certificates
            .iter()
            .any(|c| c.client_id == client_id)
        || config
            .federated_issuers
            .iter()
            .any(|f| f.client_id == client_id);
    if !known {
        return Err(Refusal::unknown_client(client_id, &creds.tenant));
    }
    // A confidential client proves itself with a secret or an assertion (RFC 7521 §4.2); a
    // public client (password and refresh grants) may omit both, but one that sends a secret
    // must send the right one.
    let secret = get("client_secret");
    let assertion_type = get("client_assertion_type");
    let authenticated = if assertion_type.is_some() || get("client_assertion").is_some() {
        if secret.is_some() {
            return Err(Refusal::bad("invalid_request", 9002313, "Invalid request. Request is malformed or invalid: send client_secret or client_assertion, not both."));
        }
        if assertion_type != Some(crate::assertion::JWT_BEARER) {
            return Err(Refusal::bad("invalid_request", 9002313, format!("Invalid request. The provided value for the input parameter 'client_assertion_type' is not valid. Expected '{}'.", crate::assertion::JWT_BEARER)));
        }
        let assertion = need("client_assertion")?;
        crate::assertion::check(config, base_url, client_id, assertion, now)?;
        true
    } else if let Some(secret) = secret {
        if client_id != creds.client_id || !same_secret(secret, &creds.client_secret) {
            return Err(Refusal(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.")));
        }
        true
    } else {
        false
    };
    let scope = get("scope");

    // The scope the token is for: the request's, or the one the code was issued for.
    let mut granted_scope = scope.map(str::to_owned);
    let with_refresh = match grant {
        "client_credentials" => {
            if !authenticated {
                return Err(Refusal(StatusCode::UNAUTHORIZED, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_owned()));
            }
            let scope = need("scope")?;
            if !scope.split(' ').any(|s| s.ends_with("/.default")) {
                return Err(Refusal::bad("invalid_scope", 1002012, format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")));
            }
            false
        }
        "password" => {
            let (user, password) = (need("username")?, need("password")?);
            need("scope")?;
            let known = match (&creds.username, &creds.password) {
                (Some(u), Some(p)) => u.eq_ignore_ascii_case(user) && same_secret(password, p),
                _ => false,
            };
            if !known {
                return Err(invalid_grant(
                    50126,
                    "Error validating credentials due to invalid username or password.",
                ));
            }
            true
        }
        "refresh_token" => match state.redeem_refresh_token(need("refresh_token")?) {
            Some(issued_to) if issued_to == client_id => true,
            _ => {
                return Err(invalid_grant(
                    70000,
                    "Provided grant is invalid or malformed.",
                ))
            }
        },
        DEVICE_CODE_GRANT => {
            let info = state.poll_device_code(need("device_code")?, now).map_err(|problem| match problem {
                DeviceProblem::Pending => Refusal::bad("authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling."),
                DeviceProblem::Expired => Refusal::bad("expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired."),
                DeviceProblem::Unknown | DeviceProblem::Redeemed => invalid_grant(70000, "Provided grant is invalid or malformed."),
            })?;
            if info.client_id != client_id {
                return Err(invalid_grant(70000, "Provided grant is invalid or malformed: the device code was issued to another application."));
            }
            granted_scope = Some(info.scope);
            true
        }
        "authorization_code" => {
            let (code, redirect_uri) = (need("code")?, need("redirect_uri")?);
            let info = state.redeem_code(code, now).map_err(|problem| match problem {
                CodeProblem::Unknown => invalid_grant(70000, "Provided grant is invalid or malformed."),
                CodeProblem::Redeemed => invalid_grant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."),
                CodeProblem::Expired => invalid_grant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."),
            })?;
            if info.client_id != client_id {
                return Err(invalid_grant(70000, "Provided grant is invalid or malformed: the authorization code was issued to another application."));
            }
            if info.redirect_uri != redirect_uri {
                return Err(invalid_grant(500112, &format!("The reply address '{redirect_uri}' does not match the reply address '{}' provided when requesting Authorization code.", info.redirect_uri)));
            }
            // RFC 7636 §4.6: the verifier must hash to the challenge (S256).
            // 50148 is what the service was seen answering when no verifier was sent
            // (it is not in Microsoft's list of error codes).
            let verifier = get("code_verifier").ok_or_else(|| invalid_grant(50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE: no code_verifier was sent."))?;
            if !same_secret(&s256_challenge(verifier), &info.code_challenge) {
                // Microsoft's list of error codes: InvalidCodeVerifier.
                return Err(invalid_grant(501481, "The Code_Verifier doesn't match the code_challenge supplied in the authorization request."));
            }
            granted_scope.get_or_insert(info.scope);
            true
        }
        other => {
            return Err(Refusal::bad(
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    };

    let lifetime = state.config.token_lifetime.as_secs();
    let mut token = json!({
        "token_type": "Bearer",
        "scope": granted_scope.as_deref().unwrap_or("https://api.adu.microsoft.com/.default"),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": state.issue_token(client_id, now),
    });
    if with_refresh {
        token["refresh_token"] = json!(state.issue_refresh_token(client_id));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_641_407_079);
        assert_eq!(aad_timestamp(t), "2022-01-05 18:24:39Z");
    }

    #[test]
    fn a_device_code_is_pending_until_the_delay_then_redeemed_once_and_expires() {
        use std::time::Duration;
        let now = std::time::SystemTime::now();
        let config = crate::Config::default().with_device_code_delay(Duration::from_secs(5));
        let state = State::new(config, now);
        let post = |path: &str, body: &str, at| {
            let resp = match path {
                "devicecode" => {
                    device_code_endpoint(&state, "http://x", "emulator", body.as_bytes(), at)
                }
                _ => token_endpoint(&state, "http://x", "emulator", body.as_bytes(), at),
            };
            let json: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
            (resp.status(), json)
        };
        let (status, started) = post(
            "devicecode",
            "client_id=adu-emulator&scope=s%2F.default+offline_access",
            now,
        );
        assert_eq!(status, StatusCode::OK, "{started}");
        assert_eq!(started["interval"], 1);
        assert_eq!(started["verification_uri"], "http://x/devicelogin");
        let user_code = started["user_code"].as_str().unwrap();
        assert!(started["message"].as_str().unwrap().contains(user_code));
        let poll = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=adu-emulator&device_code={}",
            started["device_code"].as_str().unwrap()
        );
        let (status, json) = post("token", &poll, now + Duration::from_secs(4));
        assert_eq!(
            (status, json["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("authorization_pending"))
        );
        let (status, json) = post("token", &poll, now + Duration::from_secs(5));
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["scope"], "s/.default offline_access");
        assert!(json["refresh_token"].is_string());
        let (_, json) = post("token", &poll, now + Duration::from_secs(6));
        assert_eq!(
            json["error"], "invalid_grant",
            "a device code is redeemed once"
        );
        // Another code, polled after its 15 minutes.
        let (_, started) = post("devicecode", "client_id=adu-emulator&scope=s", now);
        let poll = poll.split("device_code=").next().unwrap().to_owned()
            + "device_code="
            + started["device_code"].as_str().unwrap();
        let (_, json) = post("token", &poll, now + Duration::from_secs(900));
        assert_eq!(json["error"], "expired_token");
        // Unknown clients and tenants are refused as at the token endpoint.
        let (status, json) = post("devicecode", "client_id=nobody&scope=s", now);
        assert_eq!(
            (status, json["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
        );
    }

    #[test]
    fn a_code_issued_to_another_client_is_refused() {
        use crate::state::CodeInfo;
        let now = std::time::SystemTime::now();
        let state = State::new(crate::Config::default(), now);
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let issue = |client_id: &str| {
            state.issue_code(
                CodeInfo {
                    client_id: client_id.to_owned(),
                    redirect_uri: "http://127.0.0.1/cb".to_owned(),
                    code_challenge: s256_challenge(verifier),
                    scope: "s".to_owned(),
                    expires: now + std::time::Duration::from_secs(60),
                },
                now,
            )
        };
        let exchange = |code: &str| {
            let body = format!(
                "grant_type=authorization_code&client_id=adu-emulator&code={code}\
                 &redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_verifier={verifier}"
            );
            let resp = token_endpoint(&state, "http://x", "emulator", body.as_bytes(), now);
            let json: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
            (resp.status(), json)
        };
        let (status, json) = exchange(&issue("another-app"));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["error"], "invalid_grant");
        assert!(json["error_description"]
            .as_str()
            .unwrap()
            .contains("another application"));
        let (status, json) = exchange(&issue("adu-emulator"));
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["scope"], "s");
        assert!(json["refresh_token"].is_string());
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
