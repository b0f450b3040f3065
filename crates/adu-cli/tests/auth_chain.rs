//! End-to-end: the credential chain of `adu`, observed through `adu auth show`. Every
//! credential gets its token from loopback: a token endpoint and an identity endpoint served
//! here (App Service's shape, and IMDS's with its host pointed at loopback), a fake `az`
//! placed alone on the child's `PATH`, and token cache files written here. Variables are set
//! for each child process only.

#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{adu, spawn, wait_exit, wait_for_line, Run};
use http_body_util::BodyExt as _;

/// One request a loopback server received.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Seen = Arc<Mutex<Vec<Req>>>;

/// An HTTP server on loopback answering each request with `handler`'s status and JSON body
/// (called on a blocking thread, so it may wait); it records every request before answering.
fn serve(handler: impl Fn(&Req) -> (u16, String) + Send + Sync + 'static) -> (String, Seen) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let (handler, record) = (Arc::new(handler), seen.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (handler, record) = (handler.clone(), record.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let (handler, record) = (handler.clone(), record.clone());
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await.unwrap().to_bytes();
                                let req = Req {
                                    method: parts.method.to_string(),
                                    uri: parts.uri.to_string(),
                                    headers: parts
                                        .headers
                                        .iter()
                                        .map(|(n, v)| {
                                            (n.to_string(), v.to_str().unwrap_or("").to_owned())
                                        })
                                        .collect(),
                                    body: String::from_utf8_lossy(&body).into_owned(),
                                };
                                record.lock().unwrap().push(req.clone());
                                let (status, json) =
                                    tokio::task::spawn_blocking(move || handler(&req))
                                        .await
                                        .unwrap();
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .header("content-type", "application/json")
                                        .body(http_body_util::Full::new(bytes::Bytes::from(json)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
    });
    (format!("http://{addr}"), seen)
}

/// The header of the JWT client assertion in `form`, when it is a certificate's: RS256
/// with an `x5t` (a federated token here is not a JWT).
fn certificate_assertion_header(form: &str) -> Option<serde_json::Value> {
    if !form.contains(&format!("client_assertion_type={ASSERTION_TYPE}")) {
        return None;
    }
    let assertion = form
        .split('&')
        .find_map(|pair| pair.strip_prefix("client_assertion="))?;
    let header = assertion.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    (header["alg"] == "RS256" && header["x5t"].is_string()).then_some(header)
}

/// A JWT-shaped token (unsigned) whose payload holds `claims`.
fn jwt(claims: serde_json::Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token_answer(token: &str) -> String {
    serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        .to_string()
}

const SCOPE: &str = "https://api.adu.microsoft.com/.default";
const SECRET: &str = "s3cret-value";
const FEDERATED: &str = "federated-token-from-the-platform";
const ASSERTION_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// Everything a chain may find, each with its own token.
struct World {
    tmp: tempfile::TempDir,
    /// The token endpoint (client secret and federated token).
    authority: String,
    authority_seen: Seen,
    /// An App Service identity endpoint, and IMDS's shape at the same server.
    identity: String,
    identity_seen: Seen,
    tokens: Tokens,
}

struct Tokens {
    environment: String,
    workload: String,
    managed: String,
    cli: String,
    login: String,
}

impl World {
    fn new() -> World {
        let tokens = Tokens {
            environment: jwt(serde_json::json!({"tid": "tenant-env", "appid": "app-env"})),
            workload: jwt(serde_json::json!({"tid": "tenant-wl", "azp": "app-wl"})),
            managed: jwt(
                serde_json::json!({"tid": "tenant-mi", "appid": "app-mi", "oid": "oid-mi"}),
            ),
            cli: jwt(
                serde_json::json!({"tid": "tenant-cli", "appid": "az-cli", "upn": "ada@contoso.example"}),
            ),
            login: jwt(
                serde_json::json!({"tid": "tenant-login", "azp": "adu", "unique_name": "grace@contoso.example"}),
            ),
        };
        let (environment, workload) = (tokens.environment.clone(), tokens.workload.clone());
        let (authority, authority_seen) = serve(move |req| {
            let form = &req.body;
            if req.uri != "/tenant-1/oauth2/v2.0/token"
                || !form.contains("grant_type=client_credentials")
            {
                return (400, r#"{"error":"invalid_request"}"#.to_owned());
            }
            if form.contains(&format!("client_secret={SECRET}")) {
                (200, token_answer(&environment))
            } else if let Some(header) = certificate_assertion_header(form) {
                // A certificate's assertion: its header names the certificate (`x5t`), and
                // carries the chain (`x5c`) only when asked; the token says which.
                let chain = header.get("x5c").is_some();
                let token = jwt(
                    serde_json::json!({"tid": "tenant-cert", "appid": format!("app-cert-x5c-{chain}")}),
                );
                (200, token_answer(&token))
            } else if form.contains(&format!("client_assertion={FEDERATED}"))
                && form.contains(&format!("client_assertion_type={ASSERTION_TYPE}"))
            {
                (200, token_answer(&workload))
            } else {
                (
                    401,
                    r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#
                        .to_owned(),
                )
            }
        });
        let managed = tokens.managed.clone();
        let (identity, identity_seen) = serve(move |req| {
            let answer = serde_json::json!({
                "access_token": managed,
                "expires_on": (unix_now() + 3600).to_string(),
                "resource": "https://api.adu.microsoft.com",
                "token_type": "Bearer",
            })
            .to_string();
            let app_service = req.uri.starts_with("/msi/token?")
                && req.header("x-identity-header") == Some("identity-header-secret");
            let imds = req.uri.starts_with("/metadata/identity/oauth2/token?")
                && req.header("metadata") == Some("true");
            let known = !req.uri.contains("client_id=unknown-identity");
            if (app_service || imds)
                && known
                && req
                    .uri
                    .contains("resource=https%3A%2F%2Fapi.adu.microsoft.com")
            {
                (200, answer)
            } else {
                (
                    400,
                    r#"{"error":"invalid_request","error_description":"Identity not found"}"#
                        .to_owned(),
                )
            }
        });
        World {
            tmp: tempfile::tempdir().unwrap(),
            authority,
            authority_seen,
            identity,
            identity_seen,
            tokens,
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// A directory holding only a fake `az`, signed in (with the CLI's token) or signed out;
    /// it leaves a file `ran` beside it when run.
    fn az(&self, signed_in: bool) -> String {
        let dir = self.dir().join(if signed_in { "az-in" } else { "az-out" });
        std::fs::create_dir_all(&dir).unwrap();
        let ran = dir.join("ran");
        let body = if signed_in {
            let answer = serde_json::json!({
                "accessToken": self.tokens.cli,
                "expiresOn": "2099-01-01 00:00:00.000000",
                "expires_on": unix_now() + 3600,
                "tenant": "tenant-cli",
                "tokenType": "Bearer",
            });
            format!("printf '%s\\n' '{answer}'")
        } else {
            "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1".to_owned()
        };
        let script = dir.join("az");
        std::fs::write(
            &script,
            format!("#!/bin/sh\n: > '{}'\n{body}\n", ran.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir.to_str().unwrap().to_owned()
    }

    fn az_ran(&self, signed_in: bool) -> bool {
        let dir = self.dir().join(if signed_in { "az-in" } else { "az-out" });
        dir.join("ran").exists()
    }

    /// A token cache holding a valid access token (no refresh token).
    fn cache(&self) -> String {
        let path = self.dir().join("cache").join("token.json");
        write_cache(
            &path,
            serde_json::json!({
                "accessToken": self.tokens.login,
                "expiresAt": unix_now() + 3600,
                "flow": "implicit",
                "scope": SCOPE,
            }),
        );
        path.to_str().unwrap().to_owned()
    }

    fn federated_token_file(&self) -> String {
        let path = self.dir().join("federated-token");
        std::fs::write(&path, format!("{FEDERATED}\n")).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn secret_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_TENANT_ID", "tenant-1".to_owned()),
            ("AZURE_CLIENT_ID", "client-1".to_owned()),
            ("AZURE_CLIENT_SECRET", SECRET.to_owned()),
            ("AZURE_AUTHORITY_HOST", self.authority.clone()),
        ]
    }

    fn app_service_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("IDENTITY_ENDPOINT", format!("{}/msi/token", self.identity)),
            ("IDENTITY_HEADER", "identity-header-secret".to_owned()),
        ]
    }

    fn all_tokens(&self) -> [&str; 5] {
        let t = &self.tokens;
        [&t.environment, &t.workload, &t.managed, &t.cli, &t.login]
    }
}

fn write_cache(path: &Path, json: serde_json::Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, json.to_string()).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `adu auth show --output json` (and `extra` arguments) with these variables.
fn show(world: &World, extra: &[&str], envs: &[(&str, String)]) -> Run {
    let mut args = vec!["auth", "show", "--output", "json"];
    args.extend_from_slice(extra);
    let envs: Vec<(&str, &str)> = envs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let run = adu(&args, &envs);
    for token in world.all_tokens() {
        assert!(!run.stdout.contains(token), "a token on stdout: {run:?}");
        assert!(!run.stderr.contains(token), "a token on stderr: {run:?}");
    }
    run
}

/// The credential `auth show` reports, after checking it succeeded.
fn chosen(run: &Run) -> String {
    assert_eq!(run.code, 0, "{run:?}");
    run.json()["credential"].as_str().unwrap().to_owned()
}

#[test]
fn nothing_configured_exits_2_naming_every_way() {
    let world = World::new();
    let run = show(&world, &[], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    let error = &run.stderr_json()["error"];
    assert_eq!(error["exitCode"], 2);
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("no credential is configured"));
    let hint = error["hint"].as_str().unwrap();
    for way in [
        "ADU_ACCESS_TOKEN",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "az login",
        "adu login",
    ] {
        assert!(hint.contains(way), "{way}: {hint}");
    }
    // IDENTITY_ENDPOINT alone is not a managed identity environment; nor is a lone tenant id.
    let run = show(
        &world,
        &[],
        &[
            ("IDENTITY_ENDPOINT", format!("{}/msi/token", world.identity)),
            ("AZURE_TENANT_ID", "t".into()),
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    let message = run.stderr_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("IDENTITY_HEADER"), "{message}");
    assert!(message.contains("AZURE_CLIENT_ID"), "{message}");
    assert!(
        world.identity_seen.lock().unwrap().is_empty(),
        "no identity endpoint asked"
    );
}

#[test]
fn the_chain_takes_the_first_credential_configured_in_azures_order() {
    let world = World::new();
    let az = ("PATH", world.az(true));
    let cache = ("ADU_TOKEN_CACHE", world.cache());
    let workload = [
        ("AZURE_TENANT_ID", "tenant-1".to_owned()),
        ("AZURE_CLIENT_ID", "client-1".to_owned()),
        ("AZURE_FEDERATED_TOKEN_FILE", world.federated_token_file()),
        ("AZURE_AUTHORITY_HOST", world.authority.clone()),
    ];

    // Everything: the access token.
    let mut env = world.secret_env();
    env.extend(world.app_service_env());
    env.extend([
        az.clone(),
        cache.clone(),
        ("ADU_ACCESS_TOKEN", "opaque-token".to_owned()),
    ]);
    let run = show(&world, &[], &env);
    assert_eq!(chosen(&run), "access-token");
    assert!(!run.stdout.contains("opaque-token"));

    // Without it: the client secret, and nothing after it is run or asked.
    env.retain(|(n, _)| *n != "ADU_ACCESS_TOKEN");
    let run = show(&world, &[], &env);
    assert_eq!(chosen(&run), "environment");
    let json = run.json();
    assert_eq!(json["detail"], "AZURE_CLIENT_SECRET");
    assert_eq!(json["token"]["tenant"], "tenant-env");
    assert_eq!(json["token"]["client"], "app-env");
    assert_eq!(json["token"]["claimsVerified"], false);
    assert!(!world.az_ran(true));
    assert!(world.identity_seen.lock().unwrap().is_empty());
    let seen = world.authority_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .body
            .contains("scope=https%3A%2F%2Fapi.adu.microsoft.com%2F.default"),
        "{}",
        seen[0].body
    );

    // Workload identity before managed identity and the CLI.
    let mut env: Vec<_> = workload.to_vec();
    env.extend(world.app_service_env());
    env.extend([az.clone(), cache.clone()]);
    let run = show(&world, &[], &env);
    assert_eq!(chosen(&run), "workload-identity");
    assert_eq!(run.json()["token"]["client"], "app-wl");

    // Managed identity (App Service) before the CLI.
    let mut env = world.app_service_env();
    env.extend([az.clone(), cache.clone()]);
    let run = show(&world, &[], &env);
    assert_eq!(chosen(&run), "managed-identity");
    let json = run.json();
    assert_eq!(json["detail"], "App Service");
    assert_eq!(json["token"]["user"], "oid-mi");
    let asked = world.identity_seen.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].method, "GET");
    assert!(
        asked[0].uri.contains("api-version=2019-08-01"),
        "{}",
        asked[0].uri
    );
    assert!(!world.az_ran(true));

    // The CLI before the cached sign-in.
    let run = show(&world, &[], &[az.clone(), cache.clone()]);
    assert_eq!(chosen(&run), "azure-cli");
    assert_eq!(run.json()["token"]["user"], "ada@contoso.example");
    assert!(world.az_ran(true));

    // The cached sign-in last.
    let run = show(&world, &[], std::slice::from_ref(&cache));
    assert_eq!(chosen(&run), "login");
    assert_eq!(run.json()["token"]["user"], "grace@contoso.example");

    // Text output names the credential, why, and the claims, never the token.
    let run = adu(&["auth", "show"], &[("ADU_TOKEN_CACHE", &cache.1)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Credential: login"), "{}", run.stdout);
    assert!(
        run.stdout.contains("without verifying the signature"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("tenant-login"), "{}", run.stdout);
    assert!(!run.stdout.contains(&world.tokens.login));
}

#[test]
fn a_signed_out_cli_lets_the_chain_go_on_and_v_says_so() {
    let world = World::new();
    let env = [
        ("PATH", world.az(false)),
        ("ADU_TOKEN_CACHE", world.cache()),
    ];
    let run = show(&world, &["-v"], &env);
    assert_eq!(chosen(&run), "login");
    assert!(world.az_ran(false));
    let unavailable = &run.json()["unavailable"];
    assert!(unavailable[0]["credential"]
        .as_str()
        .unwrap()
        .starts_with("azure-cli"));
    assert!(unavailable[0]["reason"]
        .as_str()
        .unwrap()
        .contains("az login"));
    // -v logs each decision.
    assert!(
        run.stderr.contains("credential not configured"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("trying the next"), "{}", run.stderr);
    assert!(run.stderr.contains("credential chosen"), "{}", run.stderr);
}

#[test]
fn every_unavailable_credential_is_listed_with_its_fix_in_one_exit_3_paragraph() {
    let world = World::new();
    // A user-assigned identity this endpoint does not know (it answers 400), and a signed-out CLI.
    let mut env = world.app_service_env();
    env.extend([
        ("PATH", world.az(false)),
        ("AZURE_CLIENT_ID", "unknown-identity".to_owned()),
    ]);
    let run = show(&world, &[], &env);
    assert_eq!(run.code, 3, "{run:?}");
    let error = &run.stderr_json()["error"];
    assert_eq!(error["exitCode"], 3);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("2 tried"), "{message}");
    assert!(
        message.contains("(1) managed-identity (App Service)"),
        "{message}"
    );
    assert!(message.contains("assign a managed identity"), "{message}");
    assert!(message.contains("(2) azure-cli"), "{message}");
    assert!(message.contains("run `az login`"), "{message}");
    assert!(!message.contains("identity-header-secret"), "{message}");
    let asked = world.identity_seen.lock().unwrap().clone();
    assert!(
        asked[0].uri.contains("client_id=unknown-identity"),
        "{}",
        asked[0].uri
    );
    // As text, one paragraph.
    let envs: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let run = adu(&["auth", "show"], &envs);
    assert_eq!(run.code, 3);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("(exit code 3)"));
}

#[test]
fn a_refused_credential_stops_the_chain() {
    let world = World::new();
    let mut env = world.secret_env();
    env[2].1 = "wrong-secret".to_owned();
    env.extend([("PATH", world.az(true))]);
    let run = show(&world, &[], &env);
    assert_eq!(run.code, 3, "{run:?}");
    let error = &run.stderr_json()["error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("environment (AZURE_CLIENT_SECRET)"),
        "{error}"
    );
    assert_eq!(error["code"], "invalid_client");
    assert!(!run.stderr.contains("wrong-secret"));
    assert!(!world.az_ran(true), "the chain stopped at the refusal");
}

#[test]
fn auth_forces_each_kind() {
    let world = World::new();
    let az = ("PATH", world.az(true));
    let cache = ("ADU_TOKEN_CACHE", world.cache());
    let mut all = world.secret_env();
    all.extend([
        az.clone(),
        cache.clone(),
        ("ADU_ACCESS_TOKEN", "opaque-token".to_owned()),
    ]);

    for (kind, expected) in [
        ("access-token", "access-token"),
        ("environment", "environment"),
        ("azure-cli", "azure-cli"),
        ("login", "login"),
    ] {
        let run = show(&world, &["--auth", kind], &all);
        assert_eq!(chosen(&run), expected, "{kind}");
        assert!(run.json()["why"].as_str().unwrap().contains("--auth"));
    }
    // ADU_AUTH does the same.
    let mut env = all.clone();
    env.push(("ADU_AUTH", "login".to_owned()));
    assert_eq!(chosen(&show(&world, &[], &env)), "login");

    // Workload identity.
    let env = [
        ("AZURE_TENANT_ID", "tenant-1".to_owned()),
        ("AZURE_CLIENT_ID", "client-1".to_owned()),
        ("AZURE_FEDERATED_TOKEN_FILE", world.federated_token_file()),
        ("AZURE_AUTHORITY_HOST", world.authority.clone()),
        az.clone(),
    ];
    let run = show(&world, &["--auth", "workload-identity"], &env);
    assert_eq!(chosen(&run), "workload-identity");

    // Managed identity without App Service or Arc: IMDS (its host pointed at loopback).
    let _ = std::fs::remove_file(world.dir().join("az-in").join("ran"));
    let env = [
        ("AZURE_POD_IDENTITY_AUTHORITY_HOST", world.identity.clone()),
        az.clone(),
    ];
    let run = show(&world, &["--auth", "managed-identity"], &env);
    assert_eq!(chosen(&run), "managed-identity");
    assert_eq!(run.json()["detail"], "IMDS");
    let asked = world.identity_seen.lock().unwrap().clone();
    assert!(
        asked[0].uri.starts_with("/metadata/identity/oauth2/token?"),
        "{}",
        asked[0].uri
    );
    assert_eq!(asked[0].header("metadata"), Some("true"));
    assert!(!world.az_ran(true));

    // A forced credential that is not configured says what it needed.
    for (kind, needed) in [
        ("access-token", "ADU_ACCESS_TOKEN"),
        ("environment", "AZURE_CLIENT_SECRET"),
        ("workload-identity", "AZURE_FEDERATED_TOKEN_FILE"),
        ("azure-cli", "`az` is not on PATH"),
        ("login", "no sign-in is cached"),
    ] {
        let run = show(&world, &["--auth", kind], &[]);
        assert_eq!(run.code, 2, "{kind}: {run:?}");
        let error = &run.stderr_json()["error"];
        let text = format!("{} {}", error["message"], error["hint"]);
        assert!(text.contains(needed), "{kind}: {text}");
    }
    // An unknown kind is a usage error.
    assert_eq!(show(&world, &["--auth", "magic"], &[]).code, 2);
}

/// Two commands need a refresh of the same cached sign-in at once, and the token endpoint
/// accepts each refresh token once. The first holds the cache's lock while its refresh is
/// held at the server; the second waits for the lock (and says so), then reads the cache
/// again and uses the first one's token: one refresh in all, and the rotated refresh token
/// is kept.
#[test]
fn two_commands_refreshing_one_sign_in_send_its_refresh_token_once() {
    let world = World::new();
    let refreshed = jwt(
        serde_json::json!({"tid": "tenant-login", "azp": "adu", "upn": "grace@contoso.example"}),
    );
    let (arrived_tx, arrived) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let (arrived_tx, release_rx) = (Mutex::new(arrived_tx), Mutex::new(release_rx));
    let uses = Arc::new(Mutex::new(0u32));
    let answer = token_answer(&refreshed).replace(
        "\"token_type\"",
        "\"refresh_token\":\"rt-2\",\"token_type\"",
    );
    let counted = uses.clone();
    let (authority, seen) = serve(move |req| {
        if !req.body.contains("grant_type=refresh_token")
            || !req.body.contains("refresh_token=rt-1")
        {
            return (400, r#"{"error":"invalid_request"}"#.to_owned());
        }
        let first = {
            let mut uses = counted.lock().unwrap();
            *uses += 1;
            *uses == 1
        };
        if !first {
            return (400, r#"{"error":"invalid_grant","error_description":"AADSTS70008: The refresh token was already used."}"#.to_owned());
        }
        arrived_tx.lock().unwrap().send(()).unwrap();
        release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30))
            .unwrap();
        (200, answer.clone())
    });
    let path: PathBuf = world.dir().join("shared").join("token.json");
    write_cache(
        &path,
        serde_json::json!({
            "accessToken": "expired-token",
            "expiresAt": unix_now() - 10,
            "flow": "auth-code",
            "scope": SCOPE,
            "refreshToken": "rt-1",
            "authorityHost": format!("{authority}/"),
            "tenant": "emulator",
            "clientId": "adu-cli-test",
        }),
    );
    let cache = path.to_str().unwrap();
    let args = ["auth", "show", "--auth", "login", "--output", "json", "-v"];
    let envs = [("ADU_TOKEN_CACHE", cache)];

    let mut first = spawn(&args, &envs);
    arrived
        .recv_timeout(Duration::from_secs(30))
        .expect("the first refresh reaches the server");
    let mut second = spawn(&args, &envs);
    wait_for_line(&second.stderr, |l| {
        l.contains("refreshing the cached sign-in; waiting for it")
    });
    release.send(()).unwrap();

    for child in [&mut first, &mut second] {
        let line = wait_for_line(&child.stdout, |_| true);
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["credential"], "login");
        assert_eq!(json["token"]["user"], "grace@contoso.example");
        assert!(!line.contains(&refreshed));
        assert_eq!(wait_exit(&mut child.child), 0);
    }
    assert_eq!(seen.lock().unwrap().len(), 1, "one refresh in all");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["refreshToken"], "rt-2");
    assert_eq!(saved["accessToken"], refreshed.as_str());
}

#[test]
fn operation_show_reports_every_credential_tried() {
    let world = World::new();
    let mut env = world.app_service_env();
    env.extend([
        ("PATH", world.az(false)),
        ("AZURE_CLIENT_ID", "unknown-identity".to_owned()),
    ]);
    let envs: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    // The service is never reached: no credential gives a token.
    let args = [
        "operation",
        "show",
        "op-1",
        "--endpoint",
        "http://127.0.0.1:9",
        "--instance",
        "blue",
        "--output",
        "json",
    ];
    let run = adu(&args, &envs);
    assert_eq!(run.code, 3, "{run:?}");
    let message = run.stderr_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("(1) managed-identity"), "{message}");
    assert!(message.contains("(2) azure-cli"), "{message}");
}

#[test]
fn a_certificate_in_the_environment_signs_the_assertion() {
    let world = World::new();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["adu-test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = world.dir().join("client.pem");
    std::fs::write(&pem, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    let mut env = vec![
        ("AZURE_TENANT_ID", "tenant-1".to_owned()),
        ("AZURE_CLIENT_ID", "client-1".to_owned()),
        (
            "AZURE_CLIENT_CERTIFICATE_PATH",
            pem.to_str().unwrap().to_owned(),
        ),
        ("AZURE_AUTHORITY_HOST", world.authority.clone()),
        ("PATH", world.az(true)),
    ];
    let run = show(&world, &[], &env);
    assert_eq!(chosen(&run), "environment");
    let json = run.json();
    assert_eq!(json["detail"], "AZURE_CLIENT_CERTIFICATE_PATH");
    assert_eq!(json["token"]["client"], "app-cert-x5c-false");
    assert!(!world.az_ran(true));
    // AZURE_CLIENT_SEND_CERTIFICATE_CHAIN sends x5c.
    env.push(("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "1".to_owned()));
    let run = show(&world, &[], &env);
    assert_eq!(run.json()["token"]["client"], "app-cert-x5c-true");
    // A certificate file that cannot be read stops the chain with a configuration error.
    env[2].1 = world.dir().join("missing.pem").to_str().unwrap().to_owned();
    let run = show(&world, &[], &env);
    assert_eq!(run.code, 2, "{run:?}");
    let message = run.stderr_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("environment (misconfigured)"),
        "{message}"
    );
    assert!(!world.az_ran(true));
}
