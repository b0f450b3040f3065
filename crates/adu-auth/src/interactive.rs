//! The interactive flows, without I/O: build the authorize URL and the
//! pending sign-in, then turn the redirect the browser was sent to into a
//! credential. Receiving that redirect (a loopback listener) is the caller's
//! job.

use std::collections::HashMap;
use std::fmt;

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier};
use subtle::ConstantTimeEq;
use url::Url;

use crate::authority::{Authority, EndpointVersion};
use crate::cache::TokenCacheOptions;
use crate::credentials::{owned, InteractiveCredential};
use crate::endpoint::{oauth_client, Grant, TokenEndpoint};
use crate::error::Error;
use crate::http_client::SharedHttpClient;
use crate::redact::Scrubber;
use crate::response::AzureTokenResponse;

fn parse_redirect_uri(redirect_uri: &str) -> Result<Url, Error> {
    match Url::parse(redirect_uri) {
        Ok(url) if url.fragment().is_none() => Ok(url),
        _ => Err(Error::InvalidConfig {
            message: format!(
                "redirect URI `{redirect_uri}` is not an absolute URL without a fragment"
            ),
        }),
    }
}

/// A sign-in started with [`AuthorizationCodeFlow::start`] or
/// [`ImplicitFlow::start`]: send the user's browser to
/// [`authorize_url`](Self::authorize_url), then hand the redirect to the
/// flow's `finish`. It holds the `state` and the PKCE verifier, which `Debug`
/// does not show.
pub struct PendingLogin {
    url: Url,
    state: CsrfToken,
    verifier: Option<PkceCodeVerifier>,
    redirect: Url,
    scopes: Vec<String>,
}

impl PendingLogin {
    /// Where to send the browser.
    pub fn authorize_url(&self) -> &Url {
        &self.url
    }

    /// The redirect URI the authorization server will send the browser back to.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut endpoint = self.url.clone();
        endpoint.set_query(None);
        f.debug_struct("PendingLogin")
            .field("authorize_endpoint", &endpoint.as_str())
            .field("redirect_uri", &self.redirect.as_str())
            .field("scopes", &self.scopes)
            .field("state", &"[redacted]")
            .field(
                "pkce_verifier",
                &self.verifier.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The authorization code flow (RFC 6749 §4.1) with PKCE S256 (RFC 7636) and
/// a random `state`. On v2.0 endpoints `offline_access` is added to the
/// scopes so that the server issues a refresh token.
#[derive(Debug)]
pub struct AuthorizationCodeFlow {
    endpoint: TokenEndpoint,
    redirect: Url,
    cache_options: TokenCacheOptions,
}

impl AuthorizationCodeFlow {
    /// A flow for the application `client_id`, whose registered redirect URI
    /// is `redirect_uri` (for a command line: `http://localhost:PORT/...`).
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        redirect_uri: &str,
        http: SharedHttpClient,
    ) -> Result<Self, Error> {
        Ok(AuthorizationCodeFlow {
            endpoint: TokenEndpoint::new(authority, client_id, http),
            redirect: parse_redirect_uri(redirect_uri)?,
            cache_options: TokenCacheOptions::default(),
        })
    }

    /// Also sends a client secret when exchanging the code (web apps).
    #[must_use]
    pub fn with_client_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.endpoint.set_client_secret(client_secret);
        self
    }

    /// The cache options of the credentials `finish` returns.
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache_options = options;
        self
    }

    /// The scopes a request of this flow asks for: on v2.0 endpoints also
    /// `offline_access`, so that the server issues a refresh token.
    fn requested(&self, scopes: &[String]) -> Vec<String> {
        let mut requested = scopes.to_vec();
        if self.endpoint.authority.version() == EndpointVersion::V2 {
            requested.push("offline_access".to_owned());
        }
        requested
    }

    /// Starts a sign-in: a fresh `state` and PKCE verifier, and the authorize
    /// URL (`response_type=code`, `code_challenge_method=S256`).
    pub fn start(&self, scopes: &[&str]) -> Result<PendingLogin, Error> {
        let scopes = owned(scopes);
        let requested = self.requested(&scopes);
        let scope = self.endpoint.authority.scope_param(&requested)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.endpoint.oauth_client(Some(&self.redirect));
        let request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_extra_param("response_mode", "query");
        let request = scope
            .into_iter()
            .fold(request, |r, (n, v)| r.add_extra_param(n, v));
        let (url, state) = request.url();
        Ok(PendingLogin {
            url,
            state,
            verifier: Some(verifier),
            redirect: self.redirect.clone(),
            scopes,
        })
    }

    /// Finishes a sign-in: reads the redirect (a full URL, a path with its
    /// query, or the bare query), checks `state` in constant time, reports
    /// the server's error if it sent one, and exchanges the code (with the
    /// PKCE verifier) for tokens.
    pub async fn finish(
        &self,
        pending: PendingLogin,
        redirect: &str,
    ) -> Result<InteractiveCredential, Error> {
        let params = redirect_params(redirect)?;
        check_state_and_error(&params, &pending.state)?;
        let code = params.get("code").ok_or_else(|| Error::InvalidRedirect {
            reason: "it has no `code`".to_owned(),
        })?;
        let verifier = pending.verifier.ok_or_else(|| Error::InvalidConfig {
            message: "this sign-in was not started by the authorization code flow".to_owned(),
        })?;
        let code = oauth2::AuthorizationCode::new(code.clone());
        let grant = Grant::Code(code, verifier, &pending.redirect);
        let scopes = self.requested(&pending.scopes);
        let clock = &*self.cache_options.clock;
        let issued = self.endpoint.token(grant, &scopes, clock).await?;
        Ok(InteractiveCredential::new(
            Some(self.endpoint.clone()),
            issued.refresh,
            pending.scopes,
            self.cache_options.clone(),
        )
        .with_access_token(issued.access))
    }
}

/// The implicit flow (RFC 6749 §4.2): the token comes back in the redirect
/// URL's fragment (`response_type=token`, `response_mode=fragment`). There is
/// no refresh token: when the token expires, sign in again.
#[derive(Debug)]
pub struct ImplicitFlow {
    authority: Authority,
    client_id: String,
    redirect: Url,
    nonce: bool,
    cache_options: TokenCacheOptions,
}

impl ImplicitFlow {
    /// A flow for the application `client_id`, whose registered redirect URI
    /// is `redirect_uri`.
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        redirect_uri: &str,
    ) -> Result<Self, Error> {
        Ok(ImplicitFlow {
            authority,
            client_id: client_id.into(),
            redirect: parse_redirect_uri(redirect_uri)?,
            nonce: false,
            cache_options: TokenCacheOptions::default(),
        })
    }

    /// Also sends a random `nonce` (some servers require one).
    #[must_use]
    pub fn with_nonce(mut self) -> Self {
        self.nonce = true;
        self
    }

    /// The cache options of the credentials `finish` returns.
    #[must_use]
    pub fn with_cache_options(mut self, options: TokenCacheOptions) -> Self {
        self.cache_options = options;
        self
    }

    /// Starts a sign-in: a fresh `state` and the authorize URL.
    pub fn start(&self, scopes: &[&str]) -> Result<PendingLogin, Error> {
        let scopes = owned(scopes);
        let scope = self.authority.scope_param(&scopes)?;
        let client = oauth_client(&self.authority, &self.client_id, None, Some(&self.redirect));
        let request = client
            .authorize_url(CsrfToken::new_random)
            .use_implicit_flow()
            .add_extra_param("response_mode", "fragment");
        let nonce = self
            .nonce
            .then(|| ("nonce", CsrfToken::new_random().into_secret()));
        let request =
            (scope.into_iter().chain(nonce)).fold(request, |r, (n, v)| r.add_extra_param(n, v));
        let (url, state) = request.url();
        Ok(PendingLogin {
            url,
            state,
            verifier: None,
            redirect: self.redirect.clone(),
            scopes,
        })
    }

    /// Finishes a sign-in: reads the redirect's fragment (a full URL, or the
    /// fragment alone), checks `state` in constant time, reports the server's
    /// error if it sent one, and keeps the token with its expiry.
    pub fn finish(
        &self,
        pending: PendingLogin,
        redirect: &str,
    ) -> Result<InteractiveCredential, Error> {
        let params = redirect_params(redirect)?;
        check_state_and_error(&params, &pending.state)?;
        // The fragment carries a token response's fields, every one a string.
        let response: AzureTokenResponse = serde_json::to_value(&params)
            .and_then(serde_json::from_value)
            .map_err(|e| Error::InvalidRedirect {
                // Only serde's own words: a missing field, or `expires_in` not a number.
                reason: format!("it is not a token response: {e}"),
            })?;
        let issued = (response.into_issued(self.cache_options.clock.now()))
            // A refused token type may echo the state or the token itself.
            .map_err(|e| {
                let token = params.get("access_token").map_or("", String::as_str);
                e.scrub(&Scrubber::new(&[pending.state.secret(), token]))
            })?;
        Ok(
            InteractiveCredential::new(None, None, pending.scopes, self.cache_options.clone())
                .with_access_token(issued.access),
        )
    }
}

/// The parameters of a redirect: the fragment if there is one, else the
/// query. Accepts a full URL, a path with query (`/cb?code=..`), or the bare
/// query or fragment (with or without its leading `?` / `#`).
fn redirect_params(input: &str) -> Result<HashMap<String, String>, Error> {
    let input = input.trim();
    let parsed = if input.starts_with('/') {
        Url::parse("http://localhost")
            .ok()
            .and_then(|base| base.join(input).ok())
    } else {
        Url::parse(input)
            .ok()
            .filter(|u| u.has_host() || u.scheme().len() > 1)
    };
    let raw = match &parsed {
        Some(url) => (url.fragment().filter(|f| !f.is_empty()).or(url.query())).unwrap_or(""),
        None => input.trim_start_matches(['?', '#']),
    };
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        // RFC 6749 §3.1: parameters must not be included more than once.
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            // Only a parameter of OAuth2's is named: any other name is
            // arbitrary redirect text, which may hold a secret.
            let name = match &*name {
                "code" | "state" | "error" | "error_description" | "error_uri" | "access_token"
                | "token_type" | "expires_in" | "scope" => format!("`{name}`"),
                _ => "of another name".to_owned(),
            };
            return Err(Error::InvalidRedirect {
                reason: format!("the parameter {name} appears more than once"),
            });
        }
    }
    if params.is_empty() {
        return Err(Error::InvalidRedirect {
            reason: "it carries no parameters".to_owned(),
        });
    }
    Ok(params)
}

/// Checks `state` (constant time), then turns an `error` redirect into the
/// server's error. An error redirect without `state` is still reported
/// (servers omit it on some errors); a wrong `state` never is.
fn check_state_and_error(
    params: &HashMap<String, String>,
    expected: &CsrfToken,
) -> Result<(), Error> {
    match params.get("state") {
        // Constant time (`subtle`), so that timing tells nothing of the state.
        Some(state) if bool::from(state.as_bytes().ct_eq(expected.secret().as_bytes())) => {}
        Some(_) => return Err(Error::StateMismatch),
        None if params.contains_key("error") => {}
        None => {
            return Err(Error::InvalidRedirect {
                reason: "it has no `state`".to_owned(),
            })
        }
    }
    if params.contains_key("error") {
        // An OAuth2 error response's fields, every one a string: read as a
        // token endpoint's error is (it cannot fail: `error` is there).
        let response = serde_json::to_value(params).and_then(serde_json::from_value);
        return Err(Error::Authorization {
            response: Box::new(response.unwrap_or_default()),
        }
        // The redirect may echo the state back in its error text.
        .scrub(&Scrubber::new(&[expected.secret()])));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_forms() {
        for input in [
            "http://localhost:8400/cb?code=abc&state=s1",
            "/cb?code=abc&state=s1",
            "?code=abc&state=s1",
            "code=abc&state=s1",
            "  http://127.0.0.1/cb?state=s1&code=abc  ",
        ] {
            let p = redirect_params(input).unwrap();
            assert_eq!(p["code"], "abc", "{input}");
            assert_eq!(p["state"], "s1", "{input}");
        }
        let f = redirect_params("http://localhost/cb#access_token=t%2Bx&state=s&expires_in=3599")
            .unwrap();
        assert_eq!(f["access_token"], "t+x");
        let f = redirect_params("#access_token=t&state=s").unwrap();
        assert_eq!(f["access_token"], "t");
        assert!(matches!(
            redirect_params("http://localhost/cb"),
            Err(Error::InvalidRedirect { .. })
        ));
        assert!(matches!(
            redirect_params("?code=a&code=b&state=s"),
            Err(Error::InvalidRedirect { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn redirect_parsing_never_panics(s in ".{0,200}") {
            let _ = redirect_params(&s);
        }
    }
}
