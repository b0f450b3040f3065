//! End-to-end: `adu login`, driven without a browser. The test reads the authorize URL the
//! command prints, then plays the browser's part: for the authorization code flow it asks the
//! emulator's authorization endpoint (without following its redirect) and hands the redirect
//! to the command's loopback listener; for the implicit flow it posts a token the emulator
//! issued. The cached sign-in is then used, and refreshed, by later commands.

mod common;

use adu_emulator::{Config, OperationSpec, Timings};
use common::{adu, browse, query_param, spawn, wait_exit, wait_for_line};

/// Starts `adu login` and returns the child with the authorize URL it printed.
fn start_login(flow: &str, authority: &str, cache: &std::path::Path) -> (common::Spawned, String) {
    let cache = cache.to_str().unwrap().to_owned();
    let login = spawn(
        &[
            "login",
            "--flow",
            flow,
            "--client-id",
            "adu-emulator",
            "--tenant",
            "emulator",
            "--authority-host",
            authority,
            "--timeout",
            "60s",
        ],
        &[("ADU_TOKEN_CACHE", &cache)],
    );
    let url = wait_for_line(&login.stderr, |l| l.trim_start().starts_with("http"));
    (login, url.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_login_caches_an_owner_only_token_that_later_commands_use() {
    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache").join("token.json");

    let (mut login, url) = start_login("implicit", &emulator.authority_url(), &cache);
    assert!(
        url.starts_with(&format!(
            "{}/emulator/oauth2/v2.0/authorize?",
            emulator.base_url()
        )),
        "{url}"
    );
    assert_eq!(query_param(&url, "response_type").as_deref(), Some("token"));
    assert_eq!(
        query_param(&url, "response_mode").as_deref(),
        Some("fragment")
    );
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("adu-emulator")
    );
    let state = query_param(&url, "state").expect("a state");
    let redirect = query_param(&url, "redirect_uri").expect("a redirect URI");
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");

    // The browser arrives at the redirect URI (the fragment stays in the browser) and gets
    // the page whose script posts the fragment back.
    let (status, _, page) = browse("GET", &redirect, "").await;
    assert_eq!(status, 200);
    assert!(page.contains("__fragment"), "{page}");
    let token = emulator.issue_token();
    let fragment = format!("access_token={token}&token_type=Bearer&expires_in=3599&state={state}");
    let (status, _, _) = browse("POST", &format!("{redirect}/__fragment"), &fragment).await;
    assert_eq!(status, 200);

    assert_eq!(wait_exit(&mut login.child), 0);
    let done = wait_for_line(&login.stdout, |l| l.starts_with("Signed in"));
    assert!(done.contains(cache.to_str().unwrap()), "{done}");

    #[cfg(unix)]
    assert_eq!(common::mode(&cache), 0o600, "the token cache is owner-only");
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached["accessToken"], token.as_str());
    assert_eq!(cached["flow"], "implicit");
    assert!(cached["expiresAt"].as_u64().unwrap() > 0);

    // The cached token is the third way to authenticate.
    let url = emulator.base_url();
    let show = adu(
        &[
            "operation",
            "show",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
            "--output",
            "json",
        ],
        &[("ADU_TOKEN_CACHE", cache.to_str().unwrap())],
    );
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(show.json()["status"], "Succeeded");
    // ADU_ACCESS_TOKEN comes before the cache.
    let first = adu(
        &[
            "operation",
            "show",
            &id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
        ],
        &[
            ("ADU_TOKEN_CACHE", cache.to_str().unwrap()),
            ("ADU_ACCESS_TOKEN", "wrong"),
        ],
    );
    assert_eq!(first.code, 3, "{first:?}");

    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_state_is_refused_with_exit_3_and_nothing_is_cached() {
    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("token.json");
    let (mut login, url) = start_login("implicit", &emulator.authority_url(), &cache);
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let token = emulator.issue_token();
    let fragment = format!("access_token={token}&token_type=Bearer&expires_in=3599&state=forged");
    let (status, _, _) = browse("POST", &format!("{redirect}/__fragment"), &fragment).await;
    assert_eq!(status, 200);
    assert_eq!(wait_exit(&mut login.child), 3);
    let error = wait_for_line(&login.stderr, |l| l.starts_with("adu: error"));
    assert!(error.contains("state"), "{error}");
    assert!(!error.contains(&token), "the token leaked: {error}");
    assert!(!cache.exists());
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_code_login_sends_pkce_and_exchanges_the_code_at_the_token_endpoint() {
    // A code the emulator never issued: the exchange is refused (`invalid_grant`). This checks
    // the URL, the redirect handling and that the token endpoint's refusal is exit code 3.
    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("token.json");
    let (mut login, url) = start_login("auth-code", &emulator.authority_url(), &cache);
    assert_eq!(query_param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query_param(&url, "code_challenge").is_some());
    let state = query_param(&url, "state").unwrap();
    let redirect = query_param(&url, "redirect_uri").unwrap();
    let before = emulator.stats().token_requests;

    let (status, _, _) = browse("GET", &format!("{redirect}?code=abc&state={state}"), "").await;
    assert_eq!(status, 200);
    assert_eq!(wait_exit(&mut login.child), 3);
    let error = wait_for_line(&login.stderr, |l| l.starts_with("adu: error"));
    assert!(error.contains("token endpoint"), "{error}");
    assert_eq!(emulator.stats().token_requests, before + 1);
    assert!(!cache.exists());
    emulator.shutdown().await;
}

#[test]
fn login_needs_a_client_id() {
    let run = adu(&["login"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--client-id"), "{}", run.stderr);
}

fn read_cache(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn show(
    emulator: &adu_emulator::RunningEmulator,
    id: &str,
    cache: &std::path::Path,
) -> common::Run {
    let url = emulator.base_url();
    adu(
        &[
            "operation",
            "show",
            id,
            "--endpoint",
            &url,
            "--instance",
            "blue",
            "--output",
            "json",
        ],
        &[("ADU_TOKEN_CACHE", cache.to_str().unwrap())],
    )
}

#[cfg(unix)]
fn inode(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_code_login_end_to_end_then_commands_use_and_refresh_the_cached_sign_in() {
    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache").join("token.json");

    // 1. `adu login --flow auth-code`, the browser played by two plain HTTP requests.
    let (mut login, url) = start_login("auth-code", &emulator.authority_url(), &cache);
    assert!(
        url.starts_with(&format!("{}?", emulator.authorize_url())),
        "{url}"
    );
    let state = query_param(&url, "state").unwrap();
    let redirect_uri = query_param(&url, "redirect_uri").unwrap();
    let (status, location, _) = browse("GET", &url, "").await;
    assert_eq!(status, 302, "the emulator signs in without a page");
    let location = location.expect("a Location");
    assert!(
        location.starts_with(&format!("{redirect_uri}?")),
        "{location}"
    );
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.as_str())
    );
    let code = query_param(&location, "code").expect("a code");
    let (status, _, page) = browse("GET", &location, "").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(wait_exit(&mut login.child), 0);
    let done = wait_for_line(&login.stdout, |l| l.starts_with("Signed in"));
    assert!(done.contains("refresh"), "{done}");
    let stats = emulator.stats();
    assert_eq!((stats.codes_issued, stats.token_requests), (1, 1));

    #[cfg(unix)]
    assert_eq!(common::mode(&cache), 0o600, "the token cache is owner-only");
    let first = read_cache(&cache);
    assert_eq!(first["flow"], "auth-code");
    assert_eq!(first["tenant"], "emulator");
    assert_eq!(first["clientId"], "adu-emulator");
    assert_eq!(
        first["authorityHost"],
        format!("{}/", emulator.authority_url())
    );
    let access = first["accessToken"].as_str().unwrap().to_owned();
    let refresh = first["refreshToken"].as_str().unwrap().to_owned();
    assert!(!access.is_empty() && !refresh.is_empty());
    assert!(!refresh.contains(&code));

    // 2. A later command uses the cached access token: no trip to the token endpoint.
    let run = show(&emulator, &id, &cache);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["status"], "Succeeded");
    assert_eq!(emulator.stats().token_requests, 1);
    assert_eq!(read_cache(&cache), first, "nothing to save");

    // 3. The access token has expired: the command refreshes, and saves the new access token
    //    and the rotated refresh token in a new owner-only file.
    let mut expired = first.clone();
    expired["expiresAt"] = serde_json::json!(1);
    std::fs::write(&cache, serde_json::to_vec(&expired).unwrap()).unwrap();
    #[cfg(unix)]
    let before = inode(&cache);
    let run = show(&emulator, &id, &cache);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["status"], "Succeeded");
    assert_eq!(emulator.stats().token_requests, 2, "one refresh");
    let second = read_cache(&cache);
    let new_refresh = second["refreshToken"].as_str().unwrap();
    assert_ne!(new_refresh, refresh, "the refresh token rotated");
    assert_ne!(second["accessToken"], first["accessToken"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(second["expiresAt"].as_u64().unwrap() > now + 3000);
    assert_eq!(second["clientId"], "adu-emulator");
    #[cfg(unix)]
    {
        assert_eq!(common::mode(&cache), 0o600, "still owner-only");
        assert_ne!(
            inode(&cache),
            before,
            "replaced by rename, not rewritten in place"
        );
    }
    assert!(!run.stderr.contains(new_refresh) && !run.stderr.contains(&refresh));

    // 4. The new access token is used as it is; the old refresh token is spent.
    let run = show(&emulator, &id, &cache);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(emulator.stats().token_requests, 2);
    std::fs::write(&cache, serde_json::to_vec(&expired).unwrap()).unwrap();
    let run = show(&emulator, &id, &cache);
    assert_eq!(run.code, 3, "{run:?}");
    let error = run.stderr_json();
    assert_eq!(error["error"]["code"], "invalid_grant", "{error}");
    assert!(!run.stderr.contains(&refresh), "the refresh token leaked");
    assert_eq!(
        read_cache(&cache),
        expired,
        "a failed refresh saves nothing"
    );

    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_implicit_sign_in_is_not_refreshed() {
    let emulator = adu_emulator::start(Config::default()).await.unwrap();
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("token.json");
    let cached = serde_json::json!({
        "accessToken": emulator.issue_token(),
        "expiresAt": 1,
        "flow": "implicit",
        "scope": "https://api.adu.microsoft.com/.default",
    });
    std::fs::write(&cache, serde_json::to_vec(&cached).unwrap()).unwrap();
    let run = show(&emulator, &id, &cache);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    assert_eq!(emulator.stats().token_requests, 0);
    emulator.shutdown().await;
}
