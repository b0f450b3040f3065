//! Managed identity against a loopback identity endpoint: App Service, Azure Arc, Cloud Shell and IMDS
//! (its host pointed at loopback), user-assigned ids, the retry classes, 400, and the Arc
//! challenge's key file checks. Nothing here contacts any address but 127.0.0.1.

mod identity_server;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use adu_auth::{
    Error, ManagedIdentityCredential, ManagedIdentitySource, TokenCacheOptions, TokenCredential,
    UserAssignedId,
};
use identity_server::{answer, http_client, token, Answer, IdentityServer, Pauses};

const SCOPE: &str = "https://api.adu.microsoft.com/.default";
const RESOURCE: &str = "https://api.adu.microsoft.com";
const HEADER: &str = "header-s3cret-value";
/// 2100-01-01, far enough that no cached token is refreshed during a test.
const EXPIRES_ON: u64 = 4_102_444_800;

/// The time the fixed clock shows.
const NOW: u64 = 1_700_000_000;

#[derive(Debug)]
struct Fixed;

impl adu_auth::Clock for Fixed {
    fn now(&self) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }
}

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn app_service(server: &IdentityServer) -> ManagedIdentityCredential {
    let endpoint = server.url("/MSI/token/");
    let vars = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", HEADER),
    ];
    ManagedIdentityCredential::from_lookup(env(&vars), http_client()).unwrap()
}

fn imds(server: &IdentityServer, pauses: &Pauses) -> ManagedIdentityCredential {
    let host = server.url("");
    let vars = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", host.as_str())];
    let credential = ManagedIdentityCredential::from_lookup(env(&vars), http_client()).unwrap();
    assert_eq!(credential.source(), ManagedIdentitySource::Imds);
    credential.with_sleep(pauses.sleep())
}

#[tokio::test]
async fn app_service_sends_the_header_and_reads_expires_on_as_a_string() {
    let server = IdentityServer::start(|_, _| token("tok-app", NOW + 7200)).await;
    let credential = app_service(&server);
    assert_eq!(credential.source(), ManagedIdentitySource::AppService);
    let credential =
        credential.with_cache_options(TokenCacheOptions::default().with_clock(Arc::new(Fixed)));
    let first = credential.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(first.secret(), "tok-app");
    assert_eq!(
        first.expires_at(),
        UNIX_EPOCH + Duration::from_secs(NOW + 7200)
    );
    // Cached: one request for two calls.
    assert_eq!(
        credential.get_token(&[SCOPE]).await.unwrap().secret(),
        "tok-app"
    );
    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/MSI/token/");
    assert_eq!(request.param("api-version"), Some("2019-08-01"));
    assert_eq!(request.param("resource"), Some(RESOURCE));
    assert_eq!(request.header("x-identity-header"), Some(HEADER));
    assert_eq!(request.header("metadata"), None);
    assert_eq!(request.query.len(), 2, "{:?}", request.query);
    // The header is a secret: never in Debug.
    assert!(!format!("{credential:?}").contains(HEADER));
}

#[tokio::test]
async fn expires_on_as_a_number_and_expires_in_alone_are_read() {
    let server = IdentityServer::start(|_, i| match i {
        0 => answer(
            200,
            r#"{"access_token":"n","expires_on":1700003600,"token_type":"Bearer"}"#,
        ),
        1 => answer(200, r#"{"access_token":"i","expires_in":"3600"}"#),
        2 => answer(
            200,
            r#"{"access_token":"f","expires_on":"4102444800","expires_in":"86399"}"#,
        ),
        _ => answer(
            200,
            r#"{"access_token":"x","token_type":"Bearer","resource":"r"}"#,
        ),
    })
    .await;
    let credential = app_service(&server)
        .with_cache_options(TokenCacheOptions::default().with_clock(Arc::new(Fixed)));
    let number = credential.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(number.secret(), "n");
    assert_eq!(
        number.expires_at(),
        UNIX_EPOCH + Duration::from_secs(NOW + 3600)
    );
    let relative = credential.get_token(&["b"]).await.unwrap();
    assert_eq!(relative.secret(), "i");
    assert_eq!(
        relative.expires_at(),
        UNIX_EPOCH + Duration::from_secs(NOW + 3600)
    );
    // A day at most is believed.
    let far = credential.get_token(&["c"]).await.unwrap();
    assert_eq!(
        far.expires_at(),
        UNIX_EPOCH + Duration::from_secs(NOW + 86_400)
    );
    // Neither: an error, which never shows the token.
    let missing = credential.get_token(&["d"]).await.unwrap_err();
    let shown = format!("{missing} {missing:?}");
    assert!(
        shown.contains("neither `expires_on` nor `expires_in`"),
        "{shown}"
    );
    assert!(!shown.contains("\"x\""), "{shown}");
}

#[tokio::test]
async fn answers_that_are_not_tokens_are_errors_without_their_body() {
    let server = IdentityServer::start(|_, i| match i {
        0 => answer(200, "<html>secret-ish-token</html>"),
        1 => answer(
            200,
            r#"{"access_token":"secret-ish-token","expires_on":"soon"}"#,
        ),
        _ => answer(
            200,
            r#"{"access_token":"secret-ish-token","expires_on":"1","token_type":"pop"}"#,
        ),
    })
    .await;
    let credential = app_service(&server);
    for (scope, expected) in [
        ("a", "is not a token"),
        ("b", "is not a token"),
        ("c", "pop"),
    ] {
        let error = credential.get_token(&[scope]).await.unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(shown.contains(expected), "{shown}");
        assert!(!shown.contains("secret-ish-token"), "{shown}");
    }
}

#[tokio::test]
async fn user_assigned_ids_use_each_sources_parameter() {
    let server = IdentityServer::start(|_, _| token("t", EXPIRES_ON)).await;
    let pauses = Pauses::default();
    let ids = [
        UserAssignedId::ClientId("cid".to_owned()),
        UserAssignedId::ObjectId("oid".to_owned()),
        UserAssignedId::ResourceId("/subscriptions/s/rg/x".to_owned()),
    ];
    for id in ids {
        let credential = app_service(&server).with_user_assigned(id.clone()).unwrap();
        credential.get_token(&[SCOPE]).await.unwrap();
        let credential = imds(&server, &pauses).with_user_assigned(id).unwrap();
        credential.get_token(&[SCOPE]).await.unwrap();
    }
    let received = server.received();
    let params: Vec<_> = received.iter().map(|r| r.query[2].clone()).collect();
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("client_id", "cid"),
            ("client_id", "cid"),
            ("object_id", "oid"),
            ("object_id", "oid"),
            ("mi_res_id", "/subscriptions/s/rg/x"),
            ("msi_res_id", "/subscriptions/s/rg/x"),
        ]
    );
}

#[tokio::test]
async fn imds_sends_metadata_to_its_path_at_the_overridden_host() {
    let server = IdentityServer::start(|_, _| token("tok-imds", EXPIRES_ON)).await;
    let pauses = Pauses::default();
    let credential = imds(&server, &pauses);
    assert_eq!(
        credential.get_token(&[SCOPE]).await.unwrap().secret(),
        "tok-imds"
    );
    let received = server.received();
    assert_eq!(received[0].path, "/metadata/identity/oauth2/token");
    assert_eq!(received[0].param("api-version"), Some("2018-02-01"));
    assert_eq!(received[0].param("resource"), Some(RESOURCE));
    assert_eq!(received[0].header("metadata"), Some("true"));
    assert_eq!(received[0].header("x-identity-header"), None);
}

#[tokio::test]
async fn transient_answers_are_retried_with_backoff() {
    for status in [404, 408, 429, 500, 503] {
        let server = IdentityServer::start(move |_, i| match i {
            0 | 1 => answer(status, "{}"),
            _ => token("after-retries", EXPIRES_ON),
        })
        .await;
        let pauses = Pauses::default();
        let token = imds(&server, &pauses).get_token(&[SCOPE]).await.unwrap();
        assert_eq!(token.secret(), "after-retries");
        assert_eq!(server.count(), 3, "{status}");
        assert_eq!(pauses.secs(), [1, 2], "{status}");
    }
}

#[tokio::test]
async fn a_429_waits_the_retry_after_it_gives() {
    let server = IdentityServer::start(|_, i| match i {
        0 => Answer {
            status: 429,
            headers: vec![("retry-after", "9".to_owned())],
            body: "{}".to_owned(),
        },
        1 => Answer {
            status: 429,
            headers: vec![("retry-after", "86400".to_owned())],
            body: "{}".to_owned(),
        },
        2 => answer(429, "{}"),
        _ => token("after-waiting", EXPIRES_ON),
    })
    .await;
    let pauses = Pauses::default();
    let token = imds(&server, &pauses).get_token(&[SCOPE]).await.unwrap();
    assert_eq!(token.secret(), "after-waiting");
    // Its own pause, then one cut to 60 s, then the backoff (third retry: 4 s).
    assert_eq!(pauses.secs(), [9, 60, 4]);
}

fn cloud_shell(server: &IdentityServer) -> ManagedIdentityCredential {
    let endpoint = server.url("/oauth2/token");
    let vars = [("MSI_ENDPOINT", endpoint.as_str())];
    let credential = ManagedIdentityCredential::from_lookup(env(&vars), http_client()).unwrap();
    assert_eq!(credential.source(), ManagedIdentitySource::CloudShell);
    credential.with_sleep(Pauses::default().sleep())
}

#[tokio::test]
async fn cloud_shell_posts_the_resource_as_a_form_with_metadata() {
    let server = IdentityServer::start(|_, _| token("tok-shell", NOW + 7200)).await;
    let credential = cloud_shell(&server)
        .with_cache_options(TokenCacheOptions::default().with_clock(Arc::new(Fixed)));
    let token = credential.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(token.secret(), "tok-shell");
    // `expires_on` is a string of Unix seconds, as from IMDS.
    assert_eq!(
        token.expires_at(),
        UNIX_EPOCH + Duration::from_secs(NOW + 7200)
    );
    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/oauth2/token");
    assert!(request.query.is_empty(), "{:?}", request.query);
    assert_eq!(request.form, [("resource".to_owned(), RESOURCE.to_owned())]);
    assert_eq!(request.header("metadata"), Some("true"));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn cloud_shell_reads_400_as_no_identity_and_retries_503() {
    let server = IdentityServer::start(|_, i| match i {
        0 => answer(503, "{}"),
        _ => answer(
            400,
            r#"{"error":"invalid_request","error_description":"no identity here"}"#,
        ),
    })
    .await;
    let error = cloud_shell(&server).get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(server.count(), 2);
    assert!(
        matches!(
            &error,
            Error::IdentityNotAssigned {
                identity_source: ManagedIdentitySource::CloudShell,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("no identity here"), "{error}");
}

#[test]
fn cloud_shell_is_chosen_after_app_service_and_arc_and_refuses_what_it_cannot_do() {
    let shell = "http://localhost:50342/oauth2/token";
    let local = "http://localhost:40342/metadata/identity/oauth2/token";
    let pick = |vars: &[(&str, &str)]| {
        ManagedIdentityCredential::from_lookup(env(vars), http_client()).map(|c| c.source())
    };
    assert_eq!(
        pick(&[("MSI_ENDPOINT", shell)]).unwrap(),
        ManagedIdentitySource::CloudShell
    );
    assert_eq!(
        pick(&[
            ("MSI_ENDPOINT", shell),
            ("IDENTITY_ENDPOINT", local),
            ("IDENTITY_HEADER", "h")
        ])
        .unwrap(),
        ManagedIdentitySource::AppService
    );
    assert_eq!(
        pick(&[
            ("MSI_ENDPOINT", shell),
            ("IDENTITY_ENDPOINT", local),
            ("IMDS_ENDPOINT", local)
        ])
        .unwrap(),
        ManagedIdentitySource::AzureArc
    );
    assert_eq!(
        pick(&[("MSI_ENDPOINT", " ")]).unwrap(),
        ManagedIdentitySource::Imds
    );
    // Azure Machine Learning's MSI_ENDPOINT comes with MSI_SECRET.
    let ml = pick(&[("MSI_ENDPOINT", shell), ("MSI_SECRET", "s3cret")]).unwrap_err();
    assert!(ml.to_string().contains("Azure Machine Learning"), "{ml}");
    assert!(!format!("{ml} {ml:?}").contains("s3cret"));
    // Plain http only to loopback.
    let remote = pick(&[("MSI_ENDPOINT", "http://shell.example/oauth2/token")]).unwrap_err();
    assert!(
        remote.to_string().contains("MSI_ENDPOINT must use https"),
        "{remote}"
    );
    // No user-assigned identity in Cloud Shell, as in Azure's libraries.
    let credential =
        ManagedIdentityCredential::from_lookup(env(&[("MSI_ENDPOINT", shell)]), http_client())
            .unwrap();
    let error = credential
        .with_user_assigned(UserAssignedId::ClientId("c".to_owned()))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Cloud Shell supports only the system-assigned identity"),
        "{error}"
    );
}

#[tokio::test]
async fn transient_answers_give_up_after_three_retries() {
    let server = IdentityServer::start(|_, _| {
        answer(
            503,
            r#"{"error":"unavailable","error_description":"busy right now"}"#,
        )
    })
    .await;
    let pauses = Pauses::default();
    let error = imds(&server, &pauses)
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    assert_eq!(server.count(), 4);
    assert_eq!(pauses.secs(), [1, 2, 4]);
    assert_eq!(error.status(), Some(503));
    assert!(error.is_transient());
    let shown = error.to_string();
    assert!(
        shown.contains("HTTP 503 (busy right now) after 3 retries"),
        "{shown}"
    );
}

#[tokio::test]
async fn gone_is_retried_every_10_seconds_for_70_seconds() {
    let server = IdentityServer::start(|_, _| answer(410, "")).await;
    let pauses = Pauses::default();
    let error = imds(&server, &pauses)
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    assert_eq!(server.count(), 8);
    assert_eq!(pauses.secs(), [10; 7]);
    assert!(
        error.to_string().contains("being upgraded (HTTP 410)"),
        "{error}"
    );
    // And an upgrade that ends is waited out.
    let server = IdentityServer::start(|_, i| match i {
        0..=2 => answer(410, ""),
        _ => token("upgraded", EXPIRES_ON),
    })
    .await;
    let pauses = Pauses::default();
    let token = imds(&server, &pauses).get_token(&[SCOPE]).await.unwrap();
    assert_eq!(token.secret(), "upgraded");
    assert_eq!(pauses.secs(), [10; 3]);
}

#[tokio::test]
async fn bad_request_means_not_assigned_without_retry() {
    let server = IdentityServer::start(|_, _| {
        answer(
            400,
            format!(r#"{{"error":"invalid_request","error_description":"Identity not found (header {HEADER})"}}"#),
        )
    })
    .await;
    let credential = app_service(&server).with_sleep(Pauses::default().sleep());
    let error = credential.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(server.count(), 1);
    assert!(
        matches!(error, Error::IdentityNotAssigned { .. }),
        "{error:?}"
    );
    let shown = format!("{error} {error:?}");
    assert!(
        shown.contains("no identity matching this request is assigned to this resource"),
        "{shown}"
    );
    assert!(shown.contains("Identity not found"), "{shown}");
    // The header echoed back is scrubbed.
    assert!(!shown.contains(HEADER), "{shown}");
    assert_eq!(error.status(), Some(400));
}

#[tokio::test]
async fn other_refusals_and_unreachable_endpoints_are_not_retried() {
    let server = IdentityServer::start(|_, _| answer(403, "{}")).await;
    let pauses = Pauses::default();
    let error = imds(&server, &pauses)
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    assert_eq!((server.count(), pauses.secs().len()), (1, 0));
    assert_eq!(error.status(), Some(403));
    // A loopback port with nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let credential = ManagedIdentityCredential::imds_at(&url, http_client())
        .unwrap()
        .with_sleep(pauses.sleep());
    let error = credential.get_token(&[SCOPE]).await.unwrap_err();
    assert!(
        error.to_string().contains("could not reach IMDS"),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some());
    assert!(pauses.secs().is_empty());
}

#[tokio::test]
async fn one_scope_only_and_endpoints_must_be_https_or_loopback() {
    let server = IdentityServer::start(|_, _| token("t", EXPIRES_ON)).await;
    let error = app_service(&server)
        .get_token(&[SCOPE, "other"])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("exactly one scope"), "{error}");
    assert_eq!(server.count(), 0);
    for (vars, setting) in [
        (
            vec![
                ("IDENTITY_ENDPOINT", "http://10.0.0.4/MSI/token"),
                ("IDENTITY_HEADER", "h"),
            ],
            "IDENTITY_ENDPOINT",
        ),
        (
            vec![
                ("IDENTITY_ENDPOINT", "http://example.test/"),
                ("IMDS_ENDPOINT", "x"),
            ],
            "IDENTITY_ENDPOINT",
        ),
        (
            vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://example.test")],
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        ),
    ] {
        let error = ManagedIdentityCredential::from_lookup(env(&vars), http_client()).unwrap_err();
        assert!(error.to_string().contains(setting), "{error}");
        assert!(error.to_string().contains("must use https"), "{error}");
    }
    // The sources chosen by the variables.
    let pick = |vars: &[(&str, &str)]| {
        ManagedIdentityCredential::from_lookup(env(vars), http_client())
            .unwrap()
            .source()
    };
    let local = "http://localhost:40342/metadata/identity/oauth2/token";
    assert_eq!(
        pick(&[
            ("IDENTITY_ENDPOINT", local),
            ("IMDS_ENDPOINT", "http://localhost:40342")
        ]),
        ManagedIdentitySource::AzureArc
    );
    assert_eq!(
        pick(&[("IDENTITY_ENDPOINT", local), ("IDENTITY_HEADER", "h")]),
        ManagedIdentitySource::AppService
    );
    assert_eq!(
        pick(&[("IDENTITY_ENDPOINT", local), ("IDENTITY_HEADER", " ")]),
        ManagedIdentitySource::Imds
    );
    assert_eq!(pick(&[]), ManagedIdentitySource::Imds);
}

/// An Azure Arc endpoint that challenges with `realm` and accepts `Basic <key>`.
async fn arc_server(realm: String, key: &'static str) -> IdentityServer {
    IdentityServer::start(move |request, _| match request.header("authorization") {
        None => Answer {
            status: 401,
            headers: vec![("www-authenticate", format!("Basic realm={realm}"))],
            body: String::new(),
        },
        Some(auth) if auth == format!("Basic {key}") => token("tok-arc", EXPIRES_ON),
        Some(_) => answer(401, "{}"),
    })
    .await
}

fn arc(server: &IdentityServer, folder: &Path) -> ManagedIdentityCredential {
    let endpoint = server.url("/metadata/identity/oauth2/token");
    let vars = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IMDS_ENDPOINT", "http://localhost:40342"),
    ];
    let credential = ManagedIdentityCredential::from_lookup(env(&vars), http_client()).unwrap();
    assert_eq!(credential.source(), ManagedIdentitySource::AzureArc);
    credential
        .with_arc_token_folder(folder)
        .with_sleep(Pauses::default().sleep())
}

#[tokio::test]
async fn azure_arc_answers_the_challenge_with_the_key_file() {
    let folder = tempfile::tempdir().unwrap();
    let key_path = folder.path().join("abc123.key");
    std::fs::write(&key_path, "arc-k3y-content").unwrap();
    let server = arc_server(key_path.display().to_string(), "arc-k3y-content").await;
    let credential = arc(&server, folder.path());
    let token = credential.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(token.secret(), "tok-arc");
    let received = server.received();
    assert_eq!(received.len(), 2);
    for request in received.iter() {
        assert_eq!(request.param("api-version"), Some("2020-06-01"));
        assert_eq!(request.param("resource"), Some(RESOURCE));
        assert_eq!(request.header("metadata"), Some("true"));
    }
    assert_eq!(received[0].header("authorization"), None);
    assert!(!format!("{credential:?}").contains("arc-k3y-content"));
    // Arc has only the machine's own identity.
    let error = arc(&server, folder.path())
        .with_user_assigned(UserAssignedId::ClientId("c".to_owned()))
        .unwrap_err();
    assert!(error.to_string().contains("system-assigned"), "{error}");
}

#[tokio::test]
async fn azure_arc_refuses_key_files_outside_the_token_folder() {
    let folder = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("outside.key");
    std::fs::write(&outside, "stolen").unwrap();
    let directory = folder.path().join("dir.key");
    std::fs::create_dir(&directory).unwrap();
    let large = folder.path().join("large.key");
    std::fs::write(&large, vec![b'k'; 4097]).unwrap();
    let not_key = folder.path().join("notes.txt");
    std::fs::write(&not_key, "k").unwrap();
    let mut cases = vec![
        (
            outside.display().to_string(),
            "is not in the agent's token folder",
        ),
        (
            format!(
                "{}/../{}/outside.key",
                folder.path().display(),
                elsewhere.path().file_name().unwrap().to_str().unwrap()
            ),
            "is not in the agent's token folder",
        ),
        (directory.display().to_string(), "is not a regular file"),
        (large.display().to_string(), "larger than 4096 bytes"),
        (not_key.display().to_string(), "is not a `.key` file"),
        ("relative.key".to_owned(), "is not an absolute path"),
        (
            folder.path().join("missing.key").display().to_string(),
            "cannot be read",
        ),
    ];
    #[cfg(unix)]
    {
        let link = folder.path().join("link.key");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        cases.push((
            link.display().to_string(),
            "is not in the agent's token folder",
        ));
    }
    for (realm, why) in cases {
        let server = arc_server(realm.clone(), "stolen").await;
        let error = arc(&server, folder.path())
            .get_token(&[SCOPE])
            .await
            .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(shown.contains(why), "{realm}: {shown}");
        assert!(!shown.contains("stolen"), "{shown}");
        assert_eq!(server.count(), 1, "{realm}: the key must not be sent");
    }
    // A 401 without a challenge is explained too.
    let server = IdentityServer::start(|_, _| answer(401, "")).await;
    let error = arc(&server, folder.path())
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("without a `Basic realm=<key file>` challenge"),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_key_is_not_sent_twice() {
    let folder = tempfile::tempdir().unwrap();
    let key_path = folder.path().join("k.key");
    std::fs::write(&key_path, "wrong-key").unwrap();
    let server = arc_server(key_path.display().to_string(), "right-key").await;
    let error = arc(&server, folder.path())
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    assert_eq!(server.count(), 2);
    assert_eq!(error.status(), Some(401));
    assert!(!format!("{error} {error:?}").contains("wrong-key"));
}

#[tokio::test]
async fn tokens_are_cached_per_resource_and_refreshed_after_invalidate() {
    let server = IdentityServer::start(|_, i| token(&format!("t{i}"), EXPIRES_ON)).await;
    let credential = app_service(&server).with_cache_options(TokenCacheOptions::default());
    let credential: Arc<dyn TokenCredential> = Arc::new(credential);
    assert_eq!(credential.get_token(&[SCOPE]).await.unwrap().secret(), "t0");
    assert_eq!(
        credential
            .get_token(&["https://other/.default"])
            .await
            .unwrap()
            .secret(),
        "t1"
    );
    assert_eq!(credential.get_token(&[SCOPE]).await.unwrap().secret(), "t0");
    credential.invalidate(&[SCOPE]);
    assert_eq!(credential.get_token(&[SCOPE]).await.unwrap().secret(), "t2");
    assert_eq!(
        server.received()[1].param("resource"),
        Some("https://other")
    );
}

#[tokio::test]
async fn a_token_type_echoing_the_header_or_the_arc_key_is_shown_scrubbed() {
    let echo = |secret: &str| {
        answer(
            200,
            format!(r#"{{"access_token":"t","expires_on":"1","token_type":"x-{secret}"}}"#),
        )
    };
    let server = IdentityServer::start(move |_, _| echo(HEADER)).await;
    let error = app_service(&server).get_token(&[SCOPE]).await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("x-[redacted]"), "{shown}");
    assert!(!shown.contains(HEADER), "{shown}");

    let folder = tempfile::tempdir().unwrap();
    let key_path = folder.path().join("k.key");
    std::fs::write(&key_path, "arc-k3y-content").unwrap();
    let realm = key_path.display().to_string();
    let server = IdentityServer::start(move |request, _| match request.header("authorization") {
        None => Answer {
            status: 401,
            headers: vec![("www-authenticate", format!("Basic realm={realm}"))],
            body: String::new(),
        },
        Some(_) => echo("arc-k3y-content"),
    })
    .await;
    let error = arc(&server, folder.path())
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("x-[redacted]"), "{shown}");
    assert!(!shown.contains("arc-k3y-content"), "{shown}");
}
