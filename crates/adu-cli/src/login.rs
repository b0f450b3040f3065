//! `adu login`: an interactive sign-in through the browser (opened by `adu` itself, its URL
//! printed too), with the redirect received by a loopback listener, and the token cached
//! (owner-only) for later commands; after the authorization code flow, with the refresh
//! token, the authority host, the tenant and the client id, so that later commands can
//! refresh.

use std::sync::Arc;
use std::time::SystemTime;

use adu_auth::{
    scopes, Authority, AuthorizationCodeFlow, DeviceCodeFlow, ImplicitFlow, InteractiveCredential,
    SharedHttpClient, TokenCredential,
};
use adu_model::ApiVersion;

use crate::args::{GlobalArgs, LoginArgs, LoginFlow, OutputFormat, Secret};
use crate::exit::{Exit, Failure};
use crate::operation;
use crate::output::human_duration;
use crate::redirect::RedirectListener;
use crate::token_cache::{self, CachedToken};

/// The scope a sign-in asks for by default, per API version: the legacy API's user flows
/// use `user_impersonation`, the current one `.default`.
pub fn default_scope(version: ApiVersion) -> &'static str {
    match version {
        ApiVersion::V2 => scopes::LEGACY_USER_IMPERSONATION,
        _ => scopes::CURRENT,
    }
}

/// The flow's name as the cache file records it.
pub fn flow_name(flow: LoginFlow) -> &'static str {
    match flow {
        LoginFlow::AuthCode => "auth-code",
        LoginFlow::Implicit => "implicit",
    }
}

fn auth_failure(error: adu_auth::Error) -> Failure {
    Failure::from_auth(&error)
}

/// Opens `url` in the default browser (`$BROWSER` first, as the `webbrowser` crate does), on a
/// blocking thread: a text browser runs in the foreground until it is closed. A failure is
/// said, the URL printed above being the fallback.
fn open_browser(url: String) {
    tokio::task::spawn_blocking(move || {
        if let Err(error) = webbrowser::open(&url) {
            tracing::info!(%error, "no browser could be opened");
            eprintln!("(No browser could be opened here: open the URL above yourself.)");
        }
    });
}

/// The sign-in in a browser, which comes back to a loopback listener.
async fn browser_sign_in(
    args: &LoginArgs,
    authority: Authority,
    scope: &str,
    http: SharedHttpClient,
) -> Result<InteractiveCredential, Failure> {
    let listener = RedirectListener::bind().await?;
    let redirect_uri = listener.redirect_uri().to_owned();
    let scope_list = [scope];

    enum Flow {
        Code(AuthorizationCodeFlow),
        Implicit(ImplicitFlow),
    }
    let flow = match args.flow {
        LoginFlow::AuthCode => Flow::Code(
            AuthorizationCodeFlow::new(authority, args.client_id.clone(), &redirect_uri, http)
                .map_err(auth_failure)?,
        ),
        LoginFlow::Implicit => Flow::Implicit(
            ImplicitFlow::new(authority, args.client_id.clone(), &redirect_uri)
                .map_err(auth_failure)?,
        ),
    };
    let pending = match &flow {
        Flow::Code(f) => f.start(&scope_list),
        Flow::Implicit(f) => f.start(&scope_list),
    }
    .map_err(auth_failure)?;

    eprintln!("Opening the sign-in page in your browser. If it does not open, open this URL:");
    eprintln!();
    eprintln!("    {}", pending.authorize_url());
    eprintln!();
    open_browser(pending.authorize_url().to_string());
    eprintln!(
        "Waiting up to {} for the browser to come back to {redirect_uri} ...",
        human_duration(args.timeout)
    );

    let answer = match tokio::time::timeout(args.timeout, listener.receive(args.flow)).await {
        Ok(answer) => answer?,
        Err(_) => {
            return Err(Failure::new(
                Exit::TimedOut,
                format!(
                    "the browser did not come back within {}",
                    human_duration(args.timeout)
                ),
                "run `adu login` again and open the URL it prints (or pass a longer --timeout)",
            ))
        }
    };

    match &flow {
        Flow::Code(f) => f.finish(pending, &answer).await,
        Flow::Implicit(f) => f.finish(pending, &answer),
    }
    .map_err(auth_failure)
}

/// The device authorization grant: a code to enter at a URL on another device, then polls
/// at the interval the server asks for until the sign-in is done, declined or expired.
async fn device_sign_in(
    args: &LoginArgs,
    authority: Authority,
    scope: &str,
    http: SharedHttpClient,
) -> Result<InteractiveCredential, Failure> {
    let flow =
        DeviceCodeFlow::new(authority, args.client_id.clone(), http).map_err(auth_failure)?;
    let code = flow.start(&[scope]).await.map_err(auth_failure)?;
    eprintln!(
        "To sign in, open {} in a browser on any device and enter the code {} (it expires in {}).",
        code.verification_uri(),
        code.user_code(),
        human_duration(code.expires_in())
    );
    eprintln!(
        "Waiting up to {} for the sign-in ...",
        human_duration(args.timeout)
    );
    let sleep = |pause| -> adu_auth::BoxFuture<'static, ()> { Box::pin(tokio::time::sleep(pause)) };
    let signed_in = match tokio::time::timeout(args.timeout, flow.finish(code, sleep)).await {
        Ok(signed_in) => signed_in,
        Err(_) => {
            return Err(Failure::new(
                Exit::TimedOut,
                format!("nobody signed in within {}", human_duration(args.timeout)),
                "run `adu login --device-code` again and enter the code it shows (or pass a longer --timeout)",
            ))
        }
    };
    signed_in.map_err(|error| {
        let mut failure = auth_failure(error.clone());
        match error.error_code() {
            Some("expired_token") => {
                failure.exit = Exit::TimedOut;
                failure.hint = Some("the code expired before anyone signed in with it: run `adu login --device-code` again".to_owned());
            }
            Some("authorization_declined" | "access_denied") => {
                failure.hint = Some("the sign-in was declined: run `adu login --device-code` again and accept it".to_owned());
            }
            _ => {}
        }
        failure
    })
}

/// `adu login`.
pub async fn run(global: &GlobalArgs, args: &LoginArgs) -> Result<Exit, Failure> {
    let path = token_cache::cache_path().map_err(|e| {
        Failure::new(
            Exit::Usage,
            e.to_string(),
            "set ADU_TOKEN_CACHE to the file adu should keep the token in",
        )
    })?;
    let transport = operation::build_transport(global)?;
    let http: SharedHttpClient = Arc::new(transport);
    let mut authority = Authority::new(args.tenant.clone()).map_err(auth_failure)?;
    if let Some(host) = args
        .authority_host
        .as_deref()
        .filter(|h| !h.trim().is_empty())
    {
        authority = authority.with_host(host).map_err(auth_failure)?;
    }
    let scope = args
        .scope
        .clone()
        .unwrap_or_else(|| default_scope(global.api_version).to_owned());

    let scope_list = [scope.as_str()];
    let (credential, flow) = match args.device_code {
        true => (
            device_sign_in(args, authority, &scope, http).await?,
            "device-code",
        ),
        false => (
            browser_sign_in(args, authority, &scope, http).await?,
            flow_name(args.flow),
        ),
    };
    let token = credential
        .get_token(&scope_list)
        .await
        .map_err(auth_failure)?;

    // After the authorization code flow, the refresh token and where to use it are kept too,
    // so that later commands refresh instead of asking for another sign-in.
    let refresh_token = credential.refresh_token();
    let cached = CachedToken {
        access_token: Secret::new(token.secret()),
        expires_at: token_cache::unix_seconds(token.expires_at()),
        flow: flow.to_owned(),
        scope: scope.clone(),
        refresh_token: refresh_token.as_ref().map(|r| Secret::new(r.secret())),
        authority_host: credential.authority().map(|a| a.host().to_string()),
        tenant: credential.authority().map(|a| a.tenant().to_owned()),
        client_id: credential.client_id().map(str::to_owned),
    };
    // Not while another command is refreshing the previous sign-in, which would then save it
    // over this one.
    let _held = crate::auth::lock_cache(&path).await;
    token_cache::write(&path, &cached).map_err(|e| {
        Failure::new(
            Exit::Usage,
            e.to_string(),
            "check the permissions of the cache directory, or set ADU_TOKEN_CACHE",
        )
        .with_sources(&e)
    })?;

    let valid_for = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "tokenCache": path.display().to_string(),
                "expiresAt": humantime::format_rfc3339_seconds(token.expires_at()).to_string(),
                "flow": flow,
                "scope": scope,
                "refreshable": refresh_token.is_some(),
            })
        ),
        OutputFormat::Text => println!(
            "Signed in. The token is cached in {} (owner-only) and is valid for {}{}.",
            path.display(),
            human_duration(valid_for),
            if refresh_token.is_some() {
                "; later commands refresh it when it expires"
            } else {
                "; sign in again when it expires"
            }
        ),
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_per_version() {
        assert_eq!(
            default_scope(ApiVersion::V2),
            "https://api.adu.microsoft.com/user_impersonation"
        );
        assert_eq!(
            default_scope(ApiVersion::V2022_10_01),
            "https://api.adu.microsoft.com/.default"
        );
        assert_eq!(flow_name(LoginFlow::Implicit), "implicit");
        assert_eq!(flow_name(LoginFlow::AuthCode), "auth-code");
    }
}
