//! The token endpoint, in the shape of the Microsoft identity platform's
//! v2.0 endpoint (`/{tenant}/oauth2/v2.0/token`): client credentials,
//! password, authorization code (with PKCE) and refresh grants, and
//! AADSTS-style errors.

use std::time::SystemTime;

use adu_model::Timestamp;
use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use http::{Response, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::authorize::s256_challenge;
use crate::routes::{first_value, parse_pairs};
use crate::state::{CodeProblem, State};

/// Identity-platform style timestamp: `2024-01-31 12:34:56Z`.
pub(crate) fn aad_timestamp(now: SystemTime) -> String {
    let t = Timestamp::from_system_time(now);
    let s = t.as_str();
    format!("{} {}Z", &s[..10], &s[11..19])
}

fn json_body(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    no_store(
        status,
        Some("application/json; charset=utf-8"),
        Bytes::from(body.to_string()),
    )
}

/// An answer of the identity endpoints: never cached (`Cache-Control: no-store`, as the
/// identity platform sends with tokens and sign-in pages alike).
pub(crate) fn no_store(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
) -> Response<Bytes> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Some(content_type) = content_type {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// An error in the identity platform's JSON shape.
fn aad_error(
    base_url: &str,
    status: StatusCode,
    error: &str,
    code: u32,
    description: &str,
    now: SystemTime,
) -> Response<Bytes> {
    let (trace_id, correlation_id) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let timestamp = aad_timestamp(now);
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("{base_url}/error?code={code}"),
    });
    json_body(status, &body)
}

fn missing(base_url: &str, name: &str, now: SystemTime) -> Response<Bytes> {
    aad_error(
        base_url,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
        now,
    )
}

/// Compares secrets without an early exit on the first difference.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Answers a token request.
pub(crate) fn token_endpoint(
    state: &State,
    base_url: &str,
    tenant: &str,
    body: &[u8],
    now: SystemTime,
) -> Response<Bytes> {
    let creds = &state.config.credentials;
    let body = String::from_utf8_lossy(body);
    let form = parse_pairs(&body);
    let get = |name: &str| first_value(&form, name);

    if !tenant.eq_ignore_ascii_case(&creds.tenant) {
        return aad_error(
            base_url,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            now,
        );
    }
    if get("resource").is_some() {
        return aad_error(
            base_url,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            901002,
            "The 'resource' request parameter is not supported.",
            now,
        );
    }
    let Some(grant) = get("grant_type") else {
        return missing(base_url, "grant_type", now);
    };
    let Some(client_id) = get("client_id") else {
        return missing(base_url, "client_id", now);
    };
    if client_id != creds.client_id {
        return aad_error(
            base_url,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                creds.tenant
            ),
            now,
        );
    }
    let secret = get("client_secret");
    let wrong_secret = || {
        aad_error(
            base_url,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
            now,
        )
    };
    // A public client (password and refresh grants) may omit the secret;
    // one that sends it must send the right one.
    if let Some(s) = secret {
        if !same_secret(s, &creds.client_secret) {
            return wrong_secret();
        }
    }
    let scope = get("scope");

    // The scope the token is for: the request's, or the one the code was issued for.
    let mut granted_scope = scope.map(str::to_owned);
    let with_refresh = match grant {
        "client_credentials" => {
            if secret.is_none() {
                return aad_error(
                    base_url,
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                    now,
                );
            }
            let Some(scope) = scope else {
                return missing(base_url, "scope", now);
            };
            if !scope.split(' ').any(|s| s.ends_with("/.default")) {
                return aad_error(
                    base_url,
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    1002012,
                    &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
                    now,
                );
            }
            false
        }
        "password" => {
            let Some(user) = get("username") else {
                return missing(base_url, "username", now);
            };
            let Some(password) = get("password") else {
                return missing(base_url, "password", now);
            };
            if scope.is_none() {
                return missing(base_url, "scope", now);
            }
            let ok = match (&creds.username, &creds.password) {
                (Some(u), Some(p)) => u.eq_ignore_ascii_case(user) && same_secret(password, p),
                _ => false,
            };
            if !ok {
                return aad_error(
                    base_url,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    50126,
                    "Error validating credentials due to invalid username or password.",
                    now,
                );
            }
            true
        }
        "refresh_token" => {
            let Some(refresh) = get("refresh_token") else {
                return missing(base_url, "refresh_token", now);
            };
            match state.redeem_refresh_token(refresh) {
                Some(info) if info.client_id == client_id => true,
                _ => {
                    return aad_error(
                        base_url,
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        70000,
                        "Provided grant is invalid or malformed.",
                        now,
                    )
                }
            }
        }
        "authorization_code" => {
            let Some(code) = get("code") else {
                return missing(base_url, "code", now);
            };
            let Some(redirect_uri) = get("redirect_uri") else {
                return missing(base_url, "redirect_uri", now);
            };
            let invalid_grant = |code: u32, description: &str| {
                aad_error(
                    base_url,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    code,
                    description,
                    now,
                )
            };
            let info = match state.redeem_code(code, now) {
                Ok(info) => info,
                Err(CodeProblem::Unknown) => {
                    return invalid_grant(70000, "Provided grant is invalid or malformed.")
                }
                Err(CodeProblem::Redeemed) => {
                    return invalid_grant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
                }
                Err(CodeProblem::Expired) => {
                    return invalid_grant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
                }
            };
            if info.client_id != client_id {
                return invalid_grant(
                    70000,
                    "Provided grant is invalid or malformed: the authorization code was issued to another application.",
                );
            }
            if info.redirect_uri != redirect_uri {
                return invalid_grant(
                    500112,
                    &format!("The reply address '{redirect_uri}' does not match the reply address '{}' provided when requesting Authorization code.", info.redirect_uri),
                );
            }
            // RFC 7636 §4.6: the verifier must hash to the challenge (S256).
            let Some(verifier) = get("code_verifier") else {
                // 50148 is what the service was seen answering when no verifier was sent
                // (it is not in Microsoft's list of error codes).
                return invalid_grant(
                    50148,
                    "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE: no code_verifier was sent.",
                );
            };
            if !same_secret(&s256_challenge(verifier), &info.code_challenge) {
                // Microsoft's list of error codes: InvalidCodeVerifier.
                return invalid_grant(
                    501481,
                    "The Code_Verifier doesn't match the code_challenge supplied in the authorization request.",
                );
            }
            if granted_scope.is_none() {
                granted_scope = Some(info.scope);
            }
            true
        }
        other => {
            return aad_error(
                base_url,
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
                now,
            )
        }
    };

    let access_token = state.issue_token(client_id, now);
    let lifetime = state.config.token_lifetime.as_secs();
    let mut body = json!({
        "token_type": "Bearer",
        "scope": granted_scope.as_deref().unwrap_or("https://api.adu.microsoft.com/.default"),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    });
    if with_refresh {
        let refresh = state.issue_refresh_token(client_id);
        if let Some(map) = body.as_object_mut() {
            map.insert("refresh_token".to_owned(), json!(refresh));
        }
    }
    json_body(StatusCode::OK, &body)
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
