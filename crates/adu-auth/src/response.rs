//! Token responses as the Microsoft identity platform sends them: `oauth2`'s
//! standard type cannot read v1's `expires_in` strings, so this is our own
//! `oauth2::TokenResponse`. (Its error responses are read straight into
//! [`ServerError`](crate::ServerError).)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;
use crate::token::{AccessToken, RefreshTokenSecret};

/// The lifetime assumed when a token response has no `expires_in` (nor
/// `expires_on`): five minutes, short so that a token of unknown lifetime is
/// asked for again soon rather than used after it has expired.
pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(300);

/// The longest lifetime believed: a day, the most the identity platform lets a tenant
/// configure for an access token, so no lifetime can push an expiry past what a clock or a
/// date format can hold.
pub(crate) const MAX_EXPIRES_IN: Duration = Duration::from_secs(24 * 60 * 60);

/// The fields of [`AzureTokenResponse`], the only parts of a token response
/// an error may name.
pub(crate) const TOKEN_FIELDS: [&str; 5] = [
    "access_token",
    "token_type",
    "expires_in",
    "expires_on",
    "refresh_token",
];

/// A successful token response (RFC 6749 §5.1) with v1's `expires_on`. Other
/// fields (`scope`, `ext_expires_in`, `id_token`...) are not used, so not read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AzureTokenResponse {
    access_token: oauth2::AccessToken,
    token_type: TokenType,
    #[serde(default, deserialize_with = "seconds_number_or_string")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "seconds_number_or_string")]
    expires_on: Option<u64>,
    #[serde(default)]
    refresh_token: Option<oauth2::RefreshToken>,
}

/// A token type as the server wrote it (`oauth2`'s own type reads it case
/// sensitively).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TokenType(String);

impl oauth2::TokenType for TokenType {}

impl oauth2::TokenResponse for AzureTokenResponse {
    type TokenType = TokenType;

    fn access_token(&self) -> &oauth2::AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &TokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&oauth2::RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<oauth2::Scope>> {
        None
    }
}

/// What a credential keeps from a token response.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub(crate) access: AccessToken,
    pub(crate) refresh: Option<RefreshTokenSecret>,
}

impl AzureTokenResponse {
    /// Checks the token type and computes the expiry from `now` (the time the
    /// response was received).
    pub(crate) fn into_issued(self, now: SystemTime) -> Result<IssuedToken, Error> {
        // RFC 6749 §7.1: the type is case insensitive, and this client uses only
        // `Bearer` tokens (RFC 6750).
        if !self.token_type.0.eq_ignore_ascii_case("bearer") {
            return Err(Error::UnsupportedTokenType {
                token_type: self.token_type.0.to_ascii_lowercase(),
            });
        }
        let expires_at = expiry(now, self.expires_in, self.expires_on);
        Ok(IssuedToken {
            access: AccessToken::new(self.access_token.secret().clone(), expires_at),
            refresh: self.refresh_token.map(RefreshTokenSecret),
        })
    }
}

/// `expires_in` wins; then v1's absolute `expires_on`; then the default; never more than
/// [`MAX_EXPIRES_IN`] from `now`.
fn expiry(now: SystemTime, expires_in: Option<u64>, expires_on: Option<u64>) -> SystemTime {
    let lifetime = if let Some(secs) = expires_in {
        Duration::from_secs(secs)
    } else if let Some(on) = expires_on.and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
    {
        // An expiry already past gives a token that is due at once.
        on.duration_since(now).unwrap_or_default()
    } else {
        DEFAULT_EXPIRES_IN
    };
    now.checked_add(lifetime.min(MAX_EXPIRES_IN)).unwrap_or(now)
}

/// Reads a number of seconds sent as a JSON number or a decimal string
/// (v1 endpoints send `"3599"`).
pub(crate) fn seconds_number_or_string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(u64),
        Float(f64),
        Text(String),
    }
    match Option::<Seconds>::deserialize(d)? {
        None => Ok(None),
        Some(Seconds::Number(n)) => Ok(Some(n)),
        Some(Seconds::Float(f)) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
        Some(Seconds::Float(_)) => Err(serde::de::Error::custom("negative number of seconds")),
        Some(Seconds::Text(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("number of seconds is not a number")),
    }
}

/// `error_codes` is an array of numbers; anything else is ignored rather
/// than hiding the rest of the error.
pub(crate) fn lenient_codes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_i64()).collect(),
        serde_json::Value::Number(n) => n.as_i64().into_iter().collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerError;

    fn parse(json: &str) -> AzureTokenResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn expires_in_as_number_or_string() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let v2 = parse(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":3599,"ext_expires_in":3599}"#,
        );
        assert_eq!(
            v2.into_issued(now).unwrap().access.expires_at(),
            now + Duration::from_secs(3599)
        );
        let v1 = parse(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","expires_on":"1700000000","resource":"r"}"#,
        );
        assert_eq!(
            v1.into_issued(now).unwrap().access.expires_at(),
            now + Duration::from_secs(3599)
        );
    }

    #[test]
    fn missing_expires_in_uses_expires_on_then_default() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let on = parse(r#"{"access_token":"a","token_type":"bearer","expires_on":"5000"}"#);
        assert_eq!(
            on.into_issued(now).unwrap().access.expires_at(),
            UNIX_EPOCH + Duration::from_secs(5000)
        );
        let none = parse(r#"{"access_token":"a","token_type":"bearer"}"#);
        assert_eq!(
            none.into_issued(now).unwrap().access.expires_at(),
            now + DEFAULT_EXPIRES_IN
        );
    }

    #[test]
    fn no_lifetime_is_believed_past_a_day() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let day = now + MAX_EXPIRES_IN;
        for body in [
            // Past year 9999 (what a date format can write) and past what a clock can add.
            r#"{"access_token":"a","token_type":"Bearer","expires_in":300000000000}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":18446744073709551615}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_on":"99999999999"}"#,
        ] {
            assert_eq!(
                parse(body).into_issued(now).unwrap().access.expires_at(),
                day,
                "{body}"
            );
        }
        let hour = parse(r#"{"access_token":"a","token_type":"Bearer","expires_in":3599}"#);
        assert_eq!(
            hour.into_issued(now).unwrap().access.expires_at(),
            now + Duration::from_secs(3599)
        );
    }

    #[test]
    fn token_type_is_case_insensitive_and_must_be_bearer() {
        let now = SystemTime::now();
        for t in ["Bearer", "BEARER", "bearer", "bEaReR"] {
            let r = parse(&format!(r#"{{"access_token":"a","token_type":"{t}"}}"#));
            assert!(r.into_issued(now).is_ok(), "{t}");
        }
        let mac = parse(r#"{"access_token":"a","token_type":"MAC"}"#);
        assert!(
            matches!(mac.into_issued(now), Err(Error::UnsupportedTokenType { token_type }) if token_type == "mac")
        );
    }

    #[test]
    fn bad_expires_in_is_a_parse_error() {
        assert!(serde_json::from_str::<AzureTokenResponse>(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<AzureTokenResponse>(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":-5}"#
        )
        .is_err());
    }

    #[test]
    fn error_response_keeps_azure_diagnostics() {
        let s: ServerError = serde_json::from_str(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t\r\nCorrelation ID: c","error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z","trace_id":"t-1","correlation_id":"c-1","error_uri":"https://example.invalid/error?code=7000215"}"#,
        )
        .unwrap();
        assert_eq!(s.error(), "invalid_client");
        assert_eq!(s.error_codes(), &[7000215]);
        assert_eq!(s.trace_id(), Some("t-1"));
        assert_eq!(s.correlation_id(), Some("c-1"));
        assert_eq!(s.timestamp(), Some("2024-01-01 00:00:00Z"));
        assert!(s.error_uri().unwrap().contains("7000215"));
        assert_eq!(
            s.to_string(),
            "invalid_client: AADSTS7000215: Invalid client secret provided. (trace id t-1, correlation id c-1)"
        );
    }

    #[test]
    fn error_response_with_odd_codes_still_parses() {
        let s: ServerError = serde_json::from_str(r#"{"error":"x","error_codes":"nope"}"#).unwrap();
        assert!(s.error_codes().is_empty());
    }
}
