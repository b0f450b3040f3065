//! The token endpoint, bearer checks and rate limiting.

use std::time::Duration;

use adu_emulator::{Config, OperationSpec, RateLimit};

use crate::common::*;

const TOKEN_PATH: &str = "/emulator/oauth2/v2.0/token";
const SCOPE: &str = "https://api.adu.microsoft.com/.default";

fn assert_aad_error(a: &Answer, status: u16, error: &str, code: u64) {
    assert_eq!(a.status, status, "{:?}", a.body);
    let body = a.json();
    assert_eq!(body["error"], error);
    assert_eq!(body["error_codes"][0], code);
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    for field in ["trace_id", "correlation_id", "timestamp", "error_uri"] {
        assert!(body[field].is_string(), "{field} missing");
    }
}

#[tokio::test]
async fn client_credentials_token_opens_the_api() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    let a = post_form(
        emu.addr(),
        TOKEN_PATH,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "adu-emulator"),
            ("client_secret", "adu-emulator-secret"),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("cache-control"), Some("no-store, no-cache"));
    let body = a.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599, "v2.0 sends a number");
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    assert!(token.len() >= 32);
    assert_eq!(get(emu.addr(), &current_path(&id), token).await.status, 200);
    assert_eq!(
        emu.token_url(),
        format!("{}/emulator/oauth2/v2.0/token", emu.base_url())
    );
    let stats = emu.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 1));
    emu.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_errors_look_like_the_identity_platform() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let addr = emu.addr();
    let cc = |secret: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "adu-emulator"),
            ("client_secret", secret),
            ("scope", SCOPE),
        ]
    };
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &cc("wrong")).await,
        401,
        "invalid_client",
        7000215,
    );
    let mut no_secret = cc("x");
    no_secret.retain(|(k, _)| *k != "client_secret");
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &no_secret).await,
        401,
        "invalid_client",
        7000218,
    );
    let mut other_client = cc("adu-emulator-secret");
    other_client[1] = ("client_id", "someone-else");
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &other_client).await,
        400,
        "unauthorized_client",
        700016,
    );
    let mut no_scope = cc("adu-emulator-secret");
    no_scope.pop();
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &no_scope).await,
        400,
        "invalid_request",
        900144,
    );
    let mut bad_scope = cc("adu-emulator-secret");
    bad_scope[3] = ("scope", "user_impersonation");
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &bad_scope).await,
        400,
        "invalid_scope",
        1002012,
    );
    let mut v1 = cc("adu-emulator-secret");
    v1.push(("resource", "https://api.adu.microsoft.com/"));
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &v1).await,
        400,
        "invalid_request",
        901002,
    );
    let wrong_tenant = post_form(
        addr,
        "/common/oauth2/v2.0/token",
        &cc("adu-emulator-secret"),
    )
    .await;
    assert_aad_error(&wrong_tenant, 400, "invalid_request", 90002);
    let odd = [("grant_type", "urn:odd"), ("client_id", "adu-emulator")];
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &odd).await,
        400,
        "unsupported_grant_type",
        70003,
    );
    assert_eq!(emu.stats().tokens_issued, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn password_grant_and_rotating_refresh_tokens() {
    let mut config = Config::default();
    config.credentials.username = Some("alice@emulator".to_owned());
    config.credentials.password = Some("correct horse".to_owned());
    let emu = adu_emulator::start(config).await.unwrap();
    let addr = emu.addr();
    let id = emu.add_operation(OperationSpec::succeeding());
    let password = |pw: &'static str| {
        vec![
            ("grant_type", "password"),
            ("client_id", "adu-emulator"),
            ("username", "alice@emulator"),
            ("password", pw),
            (
                "scope",
                "https://api.adu.microsoft.com/user_impersonation offline_access",
            ),
        ]
    };
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &password("wrong")).await,
        400,
        "invalid_grant",
        50126,
    );
    let a = post_form(addr, TOKEN_PATH, &password("correct horse")).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let body = a.json();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh1 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(get(addr, &current_path(&id), &access).await.status, 200);

    let f1 = [
        ("grant_type", "refresh_token"),
        ("client_id", "adu-emulator"),
        ("refresh_token", refresh1.as_str()),
    ];
    let a = post_form(addr, TOKEN_PATH, &f1).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let body = a.json();
    let refresh2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2, "refresh tokens rotate");
    let access2 = body["access_token"].as_str().unwrap();
    assert_ne!(access, access2);
    assert_eq!(get(addr, &current_path(&id), access2).await.status, 200);
    // The used refresh token is spent.
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &f1).await,
        400,
        "invalid_grant",
        70000,
    );
    let with_wrong_secret = [
        ("grant_type", "refresh_token"),
        ("client_id", "adu-emulator"),
        ("client_secret", "nope"),
        ("refresh_token", refresh2.as_str()),
    ];
    assert_aad_error(
        &post_form(addr, TOKEN_PATH, &with_wrong_secret).await,
        401,
        "invalid_client",
        7000215,
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn api_requests_without_a_valid_token_get_401() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    let a = send_req(emu.addr(), request("GET", &current_path(&id), &[], b""))
        .await
        .unwrap();
    assert_eq!(a.status, 401);
    let challenge = a.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains("/emulator/oauth2/v2.0/authorize"),
        "{challenge}"
    );
    assert!(!challenge.contains("invalid_token"));
    assert_eq!(a.json()["error"]["code"], "Unauthorized");

    let a = get(emu.addr(), &legacy_path(&id), "made-up").await;
    assert_eq!(a.status, 401);
    assert!(a
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    let basic = send_req(
        emu.addr(),
        request(
            "GET",
            &current_path(&id),
            &[("authorization", "Basic eDp5")],
            b"",
        ),
    )
    .await
    .unwrap();
    assert_eq!(basic.status, 401);
    assert_eq!(emu.stats().unauthorized, 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn expired_tokens_get_401_and_auth_can_be_off() {
    let emu = adu_emulator::start(Config::default().with_token_lifetime(Duration::ZERO))
        .await
        .unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    let a = get(emu.addr(), &current_path(&id), &emu.issue_token()).await;
    assert_eq!(a.status, 401);
    assert!(a.header("www-authenticate").unwrap().contains("expired"));
    emu.shutdown().await;

    let mut config = Config::default();
    config.require_auth = false;
    let emu = adu_emulator::start(config).await.unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    let a = send_req(emu.addr(), request("GET", &current_path(&id), &[], b""))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let mut limit = RateLimit::per_second(0.5);
    limit.burst = 2;
    let mut config = Config::default();
    config.rate_limit = Some(limit);
    let emu = adu_emulator::start(config).await.unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    let token = emu.issue_token();
    assert_eq!(
        get(emu.addr(), &current_path(&id), &token).await.status,
        200
    );
    assert_eq!(
        get(emu.addr(), &current_path(&id), &token).await.status,
        200
    );
    let a = get(emu.addr(), &current_path(&id), &token).await;
    assert_eq!(a.status, 429);
    let retry: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(a.json()["error"]["code"], "TooManyRequests");
    // The token endpoint is not rate limited.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "adu-emulator"),
        ("client_secret", "adu-emulator-secret"),
        ("scope", SCOPE),
    ];
    assert_eq!(post_form(emu.addr(), TOKEN_PATH, &form).await.status, 200);
    assert_eq!(emu.stats().rate_limited, 1);
    emu.shutdown().await;
}
