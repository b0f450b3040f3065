//! End-to-end: every credential of `adu`'s chain obtains its token from the emulator (its
//! token endpoint, or its managed-identity endpoints) and is used for `adu operation show` and
//! `adu operation wait`. The emulator's scenario registers a client certificate and a federated
//! issuer made here; a fake `az` alone on the child's `PATH` prints a token the emulator issued.
//! Variables are set on each child process only, and nothing but loopback is contacted.

#![cfg(unix)]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adu_emulator::{Config, OperationSpec, RunningEmulator, Stats, Timings};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{adu, Run};
use rcgen::SigningKey as _;
use serde_json::{json, Value};

const CERT_APP: &str = "cert-app";
const FED_APP: &str = "fed-app";
const ISSUER: &str = "https://oidc.ci.example";
const SUBJECT: &str = "system:serviceaccount:firmware:adu";
const IDENTITY_HEADER: &str = "identity-header-e2e";
const UAMI: &str = "uami-1";

/// An RSA key with a self-signed certificate: the client certificate, and the federated
/// issuer's signing key.
struct TestKey {
    pair: rcgen::KeyPair,
    /// The certificate and its PKCS#8 private key, as `AZURE_CLIENT_CERTIFICATE_PATH` holds.
    pem_with_key: String,
    cert_pem: String,
    public_key_pem: String,
}

/// One key per test run (RSA key generation takes a moment).
fn key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec![CERT_APP.to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestKey {
            pem_with_key: format!("{}{}", cert.pem(), key.serialize_pem()),
            cert_pem: cert.pem(),
            public_key_pem: key.public_key_pem(),
            pair: key,
        }
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A federated token as a Kubernetes service account's: from [`ISSUER`] about [`SUBJECT`],
/// for Azure's token exchange, signed RS256 by [`key`].
fn federated_token() -> String {
    let now = now_secs();
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "k1" });
    let claims = json!({
        "iss": ISSUER, "sub": SUBJECT, "aud": ["api://AzureADTokenExchange"],
        "iat": now, "nbf": now, "exp": now + 3600,
    });
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signed = format!("{}.{}", b64(&header), b64(&claims));
    // RS256: the key's algorithm is RSA PKCS#1 v1.5 with SHA-256.
    let signature = key().pair.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The emulator (over https with `tls`) with the test key's certificate registered for
/// [`CERT_APP`], the test key as [`ISSUER`]'s for [`FED_APP`], and a managed identity with a
/// user-assigned one; a folder for the files the credentials read.
struct World {
    emulator: RunningEmulator,
    tmp: tempfile::TempDir,
    /// The emulator's certificate, for `ADU_CA_FILE`, with `tls`.
    ca_file: Option<PathBuf>,
}

impl World {
    async fn start(tls: bool) -> World {
        World::start_with(tls, json!({})).await
    }

    /// [`World::start`] with more scenario fields.
    async fn start_with(tls: bool, more: Value) -> World {
        let key = key();
        let mut scenario = json!({
            "clientCertificates": [ { "clientId": CERT_APP, "certificatePem": key.cert_pem } ],
            "federatedIssuers": [ { "issuer": ISSUER, "subject": SUBJECT, "clientId": FED_APP,
                                    "publicKeyPem": key.public_key_pem } ],
            "managedIdentity": { "identityHeader": IDENTITY_HEADER,
                                 "userAssigned": [ { "clientId": UAMI } ] },
        });
        scenario
            .as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
        let config = Config::from_scenario_json(&scenario.to_string())
            .unwrap()
            .with_tls(tls);
        let emulator = adu_emulator::start(config).await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let ca_file = tls.then(|| {
            let path = tmp.path().join("emulator-ca.pem");
            emulator.write_certificate(&path).unwrap();
            path
        });
        assert_eq!(emulator.base_url().starts_with("https://"), tls);
        World {
            emulator,
            tmp,
            ca_file,
        }
    }

    fn base_url(&self) -> String {
        self.emulator.base_url()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The endpoint, the instance and (over https) the CA file, then `envs`.
    fn envs<'a>(&'a self, base: &'a str, envs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = vec![("ADU_ENDPOINT", base), ("ADU_INSTANCE", "blue")];
        if let Some(ca) = &self.ca_file {
            all.push(("ADU_CA_FILE", ca.to_str().unwrap()));
        }
        all.extend_from_slice(envs);
        all
    }

    /// `AZURE_FEDERATED_TOKEN_FILE`'s file, holding a fresh federated token.
    fn federated_token_file(&self) -> PathBuf {
        let path = self.path("federated-token");
        std::fs::write(&path, federated_token()).unwrap();
        path
    }

    /// `AZURE_CLIENT_CERTIFICATE_PATH`'s file.
    fn certificate_file(&self) -> PathBuf {
        let path = self.path("cert-app.pem");
        std::fs::write(&path, &key().pem_with_key).unwrap();
        path
    }

    /// A folder holding only a fake `az` that prints `token` as `az account get-access-token
    /// --output json` does (Azure CLI 2.54 and newer: `expires_on` in Unix seconds), and
    /// writes its arguments to `az-args` beside it (shell builtins only: `PATH` is this folder).
    fn fake_az(&self, token: &str) -> PathBuf {
        let dir = self.path("az-bin");
        std::fs::create_dir_all(&dir).unwrap();
        let answer = json!({
            "accessToken": token,
            "expiresOn": "2030-01-01 00:00:00.000000",
            "expires_on": now_secs() + 3000,
            "subscription": "00000000-0000-0000-0000-000000000000",
            "tenant": "emulator",
            "tokenType": "Bearer",
        });
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nprintf '%s\\n' '{answer}'\n",
            dir.join("az-args").display()
        );
        let az = dir.join("az");
        std::fs::write(&az, script).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }
}

/// A token from the emulator's token endpoint, for the emulator's own client (as `az login`
/// would have obtained one).
async fn token_from_the_emulator(emulator: &RunningEmulator) -> String {
    use adu_transport::{http, HttpTransport, HyperTransport};
    let creds = emulator.credentials();
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fapi.adu.microsoft.com%2F.default",
        creds.client_id, creds.client_secret
    );
    let request = http::Request::builder()
        .method("POST")
        .uri(emulator.token_url())
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body.into_bytes())
        .unwrap();
    let transport = HyperTransport::builder().build().unwrap();
    let response = transport.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = serde_json::from_slice(response.body()).unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

fn quick() -> Timings {
    Timings::new(Duration::from_millis(100), Duration::from_millis(300))
        .with_retry_after(Duration::from_secs(1))
}

/// What the emulator's counters moved by.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    token_requests: u64,
    identity_requests: u64,
    tokens_issued: u64,
    unauthorized: u64,
}

fn seen(before: &Stats, after: &Stats) -> Seen {
    Seen {
        token_requests: after.token_requests - before.token_requests,
        identity_requests: after.identity_requests - before.identity_requests,
        tokens_issued: after.tokens_issued - before.tokens_issued,
        unauthorized: after.unauthorized - before.unauthorized,
    }
}

/// Runs `adu [pre...] operation show` then `adu [pre...] operation wait` on a new quick
/// operation with `envs`; both must succeed with the operation. Returns what the emulator
/// counted meanwhile.
fn show_and_wait(world: &World, pre: &[&str], envs: &[(&str, &str)]) -> Seen {
    let emulator = &world.emulator;
    let id = emulator.add_operation(OperationSpec::succeeding().with_timings(quick()));
    let base = world.base_url();
    let envs = world.envs(&base, envs);
    let before = emulator.stats();

    let mut args = pre.to_vec();
    args.extend(["operation", "show", &id, "--output", "json"]);
    let show = adu(&args, &envs);
    assert_eq!(show.code, 0, "{show:?}");
    let shown = show.json();
    assert_eq!(shown["operationId"], id.as_str(), "{show:?}");
    assert!(shown["status"].is_string(), "{show:?}");

    let mut args = pre.to_vec();
    args.extend([
        "operation",
        "wait",
        &id,
        "--output",
        "json",
        "--timeout",
        "30s",
        "--interval",
        "200ms",
    ]);
    let wait = adu(&args, &envs);
    assert_eq!(wait.code, 0, "{wait:?}");
    assert_eq!(wait.json()["operationId"], id.as_str(), "{wait:?}");
    assert_eq!(wait.json()["status"], "Succeeded", "{wait:?}");

    let after = emulator.stats();
    // show once, wait at least until Succeeded (it was not yet when shown).
    assert!(after.polls_of(&id) >= 2, "{after:?}");
    seen(&before, &after)
}

/// Each of the two commands asked the token endpoint once.
const TWO_TOKEN_REQUESTS: Seen = Seen {
    token_requests: 2,
    identity_requests: 0,
    tokens_issued: 2,
    unauthorized: 0,
};

/// Each of the two commands asked the identity endpoint once.
const TWO_IDENTITY_REQUESTS: Seen = Seen {
    token_requests: 0,
    identity_requests: 2,
    tokens_issued: 2,
    unauthorized: 0,
};

/// `adu auth show --output json` with `envs`.
fn auth_show(world: &World, pre: &[&str], envs: &[(&str, &str)]) -> Run {
    let base = world.base_url();
    let mut args = pre.to_vec();
    args.extend(["auth", "show", "--output", "json"]);
    adu(&args, &world.envs(&base, envs))
}

/// Whether `text` holds a run of 32 hex digits: an emulator token (a UUID's simple form).
fn holds_an_emulator_token(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .any(|word| word.len() >= 32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_client_secret_over_http_and_https() {
    for tls in [false, true] {
        let world = World::start(tls).await;
        let base = world.base_url();
        let creds = world.emulator.credentials().clone();
        let envs = [
            ("AZURE_AUTHORITY_HOST", base.as_str()),
            ("AZURE_TENANT_ID", creds.tenant.as_str()),
            ("AZURE_CLIENT_ID", creds.client_id.as_str()),
            ("AZURE_CLIENT_SECRET", creds.client_secret.as_str()),
        ];
        assert_eq!(show_and_wait(&world, &[], &envs), TWO_TOKEN_REQUESTS);

        let show = auth_show(&world, &[], &envs);
        assert_eq!(show.code, 0, "{show:?}");
        assert_eq!(show.json()["credential"], "environment", "{show:?}");
        assert_eq!(show.json()["detail"], "AZURE_CLIENT_SECRET", "{show:?}");
        let all = format!("{}{}", show.stdout, show.stderr);
        assert!(!all.contains(&creds.client_secret), "{all}");
        assert!(!holds_an_emulator_token(&all), "{all}");
        world.emulator.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_client_certificate_over_http_and_https() {
    for tls in [false, true] {
        let world = World::start(tls).await;
        let base = world.base_url();
        let cert = world.certificate_file();
        let envs = [
            ("AZURE_AUTHORITY_HOST", base.as_str()),
            ("AZURE_TENANT_ID", "emulator"),
            ("AZURE_CLIENT_ID", CERT_APP),
            ("AZURE_CLIENT_CERTIFICATE_PATH", cert.to_str().unwrap()),
        ];
        assert_eq!(show_and_wait(&world, &[], &envs), TWO_TOKEN_REQUESTS);
        // The authority host with a trailing slash: the assertion's `aud` is still the
        // token endpoint.
        let slash = format!("{base}/");
        let mut slashed = envs.to_vec();
        slashed[0] = ("AZURE_AUTHORITY_HOST", slash.as_str());
        assert_eq!(show_and_wait(&world, &[], &slashed), TWO_TOKEN_REQUESTS);
        // With the chain in the assertion (x5c), as AZURE_CLIENT_SEND_CERTIFICATE_CHAIN asks.
        let mut chain = envs.to_vec();
        chain.push(("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true"));
        assert_eq!(show_and_wait(&world, &[], &chain), TWO_TOKEN_REQUESTS);

        let show = auth_show(&world, &[], &envs);
        assert_eq!(show.code, 0, "{show:?}");
        assert_eq!(show.json()["credential"], "environment", "{show:?}");
        assert_eq!(
            show.json()["detail"],
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "{show:?}"
        );
        assert!(!show.stdout.contains("PRIVATE KEY"), "{show:?}");

        // Another client id: the emulator refuses the assertion, and adu says so (exit 3).
        let mut other = envs.to_vec();
        other[2] = ("AZURE_CLIENT_ID", "adu-emulator");
        let base = world.base_url();
        let refused = adu(&["operation", "show", "op"], &world.envs(&base, &other));
        assert_eq!(refused.code, 3, "{refused:?}");
        assert!(refused.stderr.contains("AADSTS"), "{refused:?}");
        world.emulator.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_identity_exchanges_a_federated_token() {
    for tls in [false, true] {
        let world = World::start(tls).await;
        let base = world.base_url();
        let file = world.federated_token_file();
        let envs = [
            ("AZURE_AUTHORITY_HOST", base.as_str()),
            ("AZURE_TENANT_ID", "emulator"),
            ("AZURE_CLIENT_ID", FED_APP),
            ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
        ];
        assert_eq!(show_and_wait(&world, &[], &envs), TWO_TOKEN_REQUESTS);
        // Forced, as ADU_AUTH.
        let mut forced = envs.to_vec();
        forced.push(("ADU_AUTH", "workload-identity"));
        assert_eq!(show_and_wait(&world, &[], &forced), TWO_TOKEN_REQUESTS);
        // AKS's webhook writes the authority host with a trailing slash.
        let slash = format!("{base}/");
        let mut aks = envs.to_vec();
        aks[0] = ("AZURE_AUTHORITY_HOST", slash.as_str());
        assert_eq!(show_and_wait(&world, &[], &aks), TWO_TOKEN_REQUESTS);

        let show = auth_show(&world, &[], &envs);
        assert_eq!(show.code, 0, "{show:?}");
        assert_eq!(show.json()["credential"], "workload-identity", "{show:?}");
        let all = format!("{}{}", show.stdout, show.stderr);
        let federated = std::fs::read_to_string(&file).unwrap();
        let signature = federated.rsplit('.').next().unwrap();
        assert!(!all.contains(signature), "{all}");
        assert!(!holds_an_emulator_token(&all), "{all}");
        world.emulator.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_in_app_service_shape() {
    let world = World::start(false).await;
    let endpoint = world.emulator.identity_endpoint();
    let envs = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", IDENTITY_HEADER),
    ];
    assert_eq!(show_and_wait(&world, &[], &envs), TWO_IDENTITY_REQUESTS);

    // A user-assigned identity, named by AZURE_CLIENT_ID as in Azure's default chain.
    let mut user = envs.to_vec();
    user.push(("AZURE_CLIENT_ID", UAMI));
    assert_eq!(show_and_wait(&world, &[], &user), TWO_IDENTITY_REQUESTS);

    let show = auth_show(&world, &[], &envs);
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(show.json()["credential"], "managed-identity", "{show:?}");
    let all = format!("{}{}", show.stdout, show.stderr);
    assert!(!all.contains(IDENTITY_HEADER), "{all}");
    assert!(!holds_an_emulator_token(&all), "{all}");

    // An identity this host does not have: exit 3, saying so.
    let mut unknown = envs.to_vec();
    unknown.push(("AZURE_CLIENT_ID", "not-assigned-here"));
    let base = world.base_url();
    let refused = adu(&["operation", "show", "op"], &world.envs(&base, &unknown));
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("no identity matching this request is assigned"),
        "{refused:?}"
    );
    world.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_through_imds_when_asked() {
    let world = World::start(false).await;
    let base = world.base_url();
    let envs = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.as_str())];
    assert_eq!(
        show_and_wait(&world, &["--auth", "managed-identity"], &envs),
        TWO_IDENTITY_REQUESTS
    );
    let mut user = envs.to_vec();
    user.push(("AZURE_CLIENT_ID", UAMI));
    assert_eq!(
        show_and_wait(&world, &["--auth", "managed-identity"], &user),
        TWO_IDENTITY_REQUESTS
    );

    let show = auth_show(&world, &["--auth", "managed-identity"], &envs);
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(show.json()["credential"], "managed-identity", "{show:?}");
    assert!(!holds_an_emulator_token(&show.stdout), "{show:?}");

    // Not asked: IMDS is never probed, and nothing else is configured (exit 2).
    let before = world.emulator.stats();
    let none = adu(&["operation", "show", "op"], &world.envs(&base, &envs));
    assert_eq!(none.code, 2, "{none:?}");
    assert_eq!(
        world.emulator.stats().identity_requests,
        before.identity_requests
    );
    world.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_cli_token_from_a_fake_az() {
    let world = World::start(false).await;
    let token = token_from_the_emulator(&world.emulator).await;
    let bin = world.fake_az(&token);
    let envs = [("PATH", bin.to_str().unwrap())];
    let before = world.emulator.stats();
    let seen_now = show_and_wait(&world, &[], &envs);
    assert_eq!(
        seen_now,
        Seen {
            token_requests: 0,
            identity_requests: 0,
            tokens_issued: 0,
            unauthorized: 0
        }
    );
    assert_eq!(world.emulator.stats().token_requests, before.token_requests);
    let args = std::fs::read_to_string(bin.join("az-args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "account",
            "get-access-token",
            "--output",
            "json",
            "--scope",
            "https://api.adu.microsoft.com/.default"
        ]
    );

    let show = auth_show(&world, &[], &envs);
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(show.json()["credential"], "azure-cli", "{show:?}");
    let all = format!("{}{}", show.stdout, show.stderr);
    assert!(!all.contains(&token), "the token is shown: {all}");
    world.emulator.shutdown().await;
}

/// Every credential configured at once: `auth show` and the commands take them in the
/// documented order (environment, workload identity, managed identity, Azure CLI), and only
/// the chosen one is asked for a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_takes_the_first_configured_in_order() {
    let world = World::start(false).await;
    let base = world.base_url();
    let creds = world.emulator.credentials().clone();
    let az_token = token_from_the_emulator(&world.emulator).await;
    let bin = world.fake_az(&az_token);
    let endpoint = world.emulator.identity_endpoint();
    let file = world.federated_token_file();
    let secret = [("AZURE_CLIENT_SECRET", creds.client_secret.as_str())];
    let workload = [
        ("AZURE_AUTHORITY_HOST", base.as_str()),
        ("AZURE_TENANT_ID", "emulator"),
        ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
    ];
    let managed = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", IDENTITY_HEADER),
    ];
    let az = [("PATH", bin.to_str().unwrap())];
    let az_args = bin.join("az-args");

    struct Step<'a> {
        credential: &'static str,
        envs: Vec<(&'a str, &'a str)>,
        expected: Seen,
    }
    let one_token = Seen {
        token_requests: 1,
        identity_requests: 0,
        tokens_issued: 1,
        unauthorized: 0,
    };
    let mut all: Vec<(&str, &str)> = [&secret[..], &workload, &managed, &az].concat();
    all.push(("AZURE_CLIENT_ID", creds.client_id.as_str()));
    let mut fed: Vec<(&str, &str)> = [&workload[..], &managed, &az].concat();
    fed.push(("AZURE_CLIENT_ID", FED_APP));
    let steps = [
        Step {
            credential: "environment",
            envs: all,
            expected: one_token,
        },
        Step {
            credential: "workload-identity",
            envs: fed,
            expected: Seen {
                token_requests: 1,
                identity_requests: 0,
                tokens_issued: 1,
                unauthorized: 0,
            },
        },
        Step {
            credential: "managed-identity",
            envs: [&managed[..], &az].concat(),
            expected: Seen {
                token_requests: 0,
                identity_requests: 1,
                tokens_issued: 1,
                unauthorized: 0,
            },
        },
        Step {
            credential: "azure-cli",
            envs: az.to_vec(),
            expected: Seen {
                token_requests: 0,
                identity_requests: 0,
                tokens_issued: 0,
                unauthorized: 0,
            },
        },
    ];
    for step in steps {
        let _ = std::fs::remove_file(&az_args);
        let before = world.emulator.stats();
        let show = auth_show(&world, &[], &step.envs);
        assert_eq!(show.code, 0, "{show:?}");
        let json = show.json();
        assert_eq!(json["credential"], step.credential, "{show:?}");
        assert!(
            json["why"]
                .as_str()
                .unwrap()
                .contains("environment, workload-identity, managed-identity, azure-cli, login"),
            "{show:?}"
        );
        let text = format!("{}{}", show.stdout, show.stderr);
        assert!(!text.contains(&az_token), "{text}");
        assert!(!holds_an_emulator_token(&text), "{text}");
        assert!(!text.contains(&creds.client_secret), "{text}");
        assert_eq!(seen(&before, &world.emulator.stats()), step.expected);
        // `az` runs only when it is the one chosen.
        assert_eq!(
            az_args.exists(),
            step.credential == "azure-cli",
            "{}",
            step.credential
        );

        // The commands pick the same one: twice its requests.
        let Seen {
            token_requests,
            identity_requests,
            tokens_issued,
            unauthorized,
        } = step.expected;
        assert_eq!(
            show_and_wait(&world, &[], &step.envs),
            Seen {
                token_requests: 2 * token_requests,
                identity_requests: 2 * identity_requests,
                tokens_issued: 2 * tokens_issued,
                unauthorized,
            },
            "{}",
            step.credential
        );
    }
    world.emulator.shutdown().await;
}

/// A credential that is present but gives no token lets the chain go on to the next one, and
/// `auth show` says why it was passed over; when none gives a token, exit 3 names each one's
/// reason, never its secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_credential_lets_the_chain_go_on_and_all_failing_is_exit_3() {
    let world = World::start(false).await;
    let base = world.base_url();
    let endpoint = world.emulator.identity_endpoint();
    let az_token = token_from_the_emulator(&world.emulator).await;
    let bin = world.fake_az(&az_token);
    // An identity endpoint that is not there (nothing listens on port 1 of loopback): the
    // fake `az` comes next.
    let absent = "http://127.0.0.1:1/msi/token";
    let envs = [
        ("IDENTITY_ENDPOINT", absent),
        ("IDENTITY_HEADER", "some-header"),
        ("PATH", bin.to_str().unwrap()),
    ];
    let before = world.emulator.stats();
    let show = auth_show(&world, &[], &envs);
    assert_eq!(show.code, 0, "{show:?}");
    let json = show.json();
    assert_eq!(json["credential"], "azure-cli", "{show:?}");
    assert_eq!(
        json["unavailable"][0]["credential"],
        "managed-identity (App Service)"
    );
    assert!(
        json["unavailable"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("could not reach"),
        "{show:?}"
    );
    assert!(!show.stdout.contains("some-header"), "{show:?}");
    assert!(!show.stdout.contains(&az_token), "{show:?}");
    let seen_now = show_and_wait(&world, &[], &envs);
    assert_eq!(seen_now.token_requests, 0, "{seen_now:?}");
    assert_eq!(
        world.emulator.stats().unauthorized - before.unauthorized,
        0,
        "the API never saw a bad token"
    );

    // An identity endpoint that refuses (the emulator, a wrong header: 401) ends the chain
    // there: exit 3 naming it, and `az` is never run.
    let args_file = bin.join("az-args");
    let _ = std::fs::remove_file(&args_file);
    let refusing = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "wrong-header"),
        ("PATH", bin.to_str().unwrap()),
    ];
    let before = world.emulator.stats();
    let refused = adu(&["operation", "show", "op"], &world.envs(&base, &refusing));
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("401"), "{refused:?}");
    assert!(!refused.stderr.contains("wrong-header"), "{refused:?}");
    assert!(!args_file.exists(), "az must not run after a refusal");
    assert_eq!(
        world.emulator.stats().identity_requests - before.identity_requests,
        1
    );

    // `az` signed out as well: nothing gives a token, exit 3 with both reasons and fixes.
    let signed_out = world.path("az-signed-out");
    std::fs::create_dir_all(&signed_out).unwrap();
    let az = signed_out.join("az");
    std::fs::write(
        &az,
        "#!/bin/sh\nprintf '%s\\n' \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let envs = [
        ("IDENTITY_ENDPOINT", absent),
        ("IDENTITY_HEADER", "some-header"),
        ("PATH", signed_out.to_str().unwrap()),
    ];
    let failed = adu(&["operation", "show", "op"], &world.envs(&base, &envs));
    assert_eq!(failed.code, 3, "{failed:?}");
    assert!(failed.stderr.contains("managed-identity"), "{failed:?}");
    assert!(failed.stderr.contains("azure-cli"), "{failed:?}");
    assert!(failed.stderr.contains("az login"), "{failed:?}");
    assert!(!failed.stderr.contains("some-header"), "{failed:?}");

    // A federated token the emulator does not accept: exit 3 with its reason
    // (`AADSTS...`), never the token.
    let file = world.path("bad-federated-token");
    std::fs::write(&file, "bm90.YS1rbm93bi10b2tlbg.c2ln").unwrap();
    let envs = [
        ("AZURE_AUTHORITY_HOST", base.as_str()),
        ("AZURE_TENANT_ID", "emulator"),
        ("AZURE_CLIENT_ID", FED_APP),
        ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
    ];
    let refused = adu(&["operation", "show", "op"], &world.envs(&base, &envs));
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("AADSTS"), "{refused:?}");
    assert!(
        !refused.stderr.contains("YS1rbm93bi10b2tlbg"),
        "{refused:?}"
    );
    world.emulator.shutdown().await;
}

/// `adu emulator serve` says how to point managed identity at it; what it prints works.
#[test]
fn emulator_serve_names_its_managed_identity_endpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("scenario.json");
    std::fs::write(
        &scenario,
        r#"{ "operations": [ { "id": "op-mi", "timings": { "notStartedMs": 0, "runningMs": 0 } } ] }"#,
    )
    .unwrap();
    let mut serve = common::spawn(
        &[
            "emulator",
            "serve",
            "--port",
            "0",
            "--identity-header",
            IDENTITY_HEADER,
            "--scenario",
            scenario.to_str().unwrap(),
        ],
        &[],
    );
    let mut lines = Vec::new();
    loop {
        let line = common::wait_for_line(&serve.stdout, |_| true);
        let done = line.starts_with("Stop it");
        lines.push(line);
        if done {
            break;
        }
    }
    let text = lines.join("\n");
    assert!(!text.contains(IDENTITY_HEADER), "{text}");
    let value = |name: &str| -> String {
        let start = text
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("{name} in\n{text}"));
        text[start + name.len() + 1..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let base = value("ADU_ENDPOINT");
    let endpoint = value("IDENTITY_ENDPOINT");
    assert_eq!(endpoint, format!("{base}/msi/token"));
    assert_eq!(value("AZURE_POD_IDENTITY_AUTHORITY_HOST"), base);

    let common_envs = [("ADU_ENDPOINT", base.as_str()), ("ADU_INSTANCE", "blue")];
    let app_service = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", IDENTITY_HEADER),
    ];
    let imds = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.as_str())];
    for (pre, envs) in [
        (&[][..], &app_service[..]),
        (&["--auth", "managed-identity"], &imds),
    ] {
        let envs = [&common_envs[..], envs].concat();
        for command in ["show", "wait"] {
            let mut args = pre.to_vec();
            args.extend(["operation", command, "op-mi", "--output", "json"]);
            let run = adu(&args, &envs);
            assert_eq!(run.code, 0, "{args:?}: {run:?}");
            assert_eq!(run.json()["status"], "Succeeded", "{run:?}");
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(common::wait_exit(&mut serve.child), 0);
}

/// The sign-in `adu login` cached (the authorization code flow, the browser played by two
/// requests) is used for show and wait without a token request, comes last in the chain, and
/// `--auth login` picks it over the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_sign_in_of_adu_login() {
    let world = World::start(false).await;
    let cache = world.path("cache").join("token.json");
    let cache_str = cache.to_str().unwrap().to_owned();
    let authority = world.emulator.authority_url();
    let mut login = common::spawn(
        &[
            "login",
            "--flow",
            "auth-code",
            "--client-id",
            "adu-emulator",
            "--tenant",
            "emulator",
            "--authority-host",
            &authority,
            "--timeout",
            "60s",
        ],
        &[("ADU_TOKEN_CACHE", &cache_str)],
    );
    let url = common::wait_for_line(&login.stderr, |l| l.trim_start().starts_with("http"));
    let (status, location, _) = common::browse("GET", url.trim(), "").await;
    assert_eq!(status, 302);
    let (status, _, page) = common::browse("GET", &location.unwrap(), "").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(common::wait_exit(&mut login.child), 0);

    let envs = [("ADU_TOKEN_CACHE", cache_str.as_str())];
    let nothing = Seen {
        token_requests: 0,
        identity_requests: 0,
        tokens_issued: 0,
        unauthorized: 0,
    };
    assert_eq!(show_and_wait(&world, &[], &envs), nothing);
    let show = auth_show(&world, &[], &envs);
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(show.json()["credential"], "login", "{show:?}");
    assert!(!holds_an_emulator_token(&show.stdout), "{show:?}");

    // Last in the chain: the environment comes first; `--auth login` picks the sign-in.
    let creds = world.emulator.credentials().clone();
    let base = world.base_url();
    let both = [
        ("ADU_TOKEN_CACHE", cache_str.as_str()),
        ("AZURE_AUTHORITY_HOST", base.as_str()),
        ("AZURE_TENANT_ID", creds.tenant.as_str()),
        ("AZURE_CLIENT_ID", creds.client_id.as_str()),
        ("AZURE_CLIENT_SECRET", creds.client_secret.as_str()),
    ];
    assert_eq!(
        auth_show(&world, &[], &both).json()["credential"],
        "environment"
    );
    assert_eq!(show_and_wait(&world, &["--auth", "login"], &both), nothing);
    world.emulator.shutdown().await;
}

/// With proxy variables set, the token, identity and API requests to loopback go direct: the
/// proxy (a listener here) is never connected to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_token_and_identity_endpoints_are_not_proxied() {
    let world = World::start(true).await;
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let proxies = [
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("HTTP_PROXY", proxy_url.as_str()),
        ("ALL_PROXY", proxy_url.as_str()),
    ];
    let base = world.base_url();
    let endpoint = world.emulator.identity_endpoint();
    let file = world.federated_token_file();
    let app_service = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", IDENTITY_HEADER),
    ];
    let imds = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.as_str())];
    let workload = [
        ("AZURE_AUTHORITY_HOST", base.as_str()),
        ("AZURE_TENANT_ID", "emulator"),
        ("AZURE_CLIENT_ID", FED_APP),
        ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
    ];
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], Seen);
    let cases: [Case<'_>; 3] = [
        (&[], &app_service, TWO_IDENTITY_REQUESTS),
        (
            &["--auth", "managed-identity"],
            &imds,
            TWO_IDENTITY_REQUESTS,
        ),
        (&[], &workload, TWO_TOKEN_REQUESTS),
    ];
    for (pre, envs, expected) in cases {
        let envs = [envs, &proxies[..]].concat();
        assert_eq!(show_and_wait(&world, pre, &envs), expected, "{envs:?}");
    }
    let err = proxy.accept().unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::WouldBlock,
        "the proxy was used"
    );
    world.emulator.shutdown().await;
}

/// Tokens that expire while `wait` polls are fetched again before they do (the refresh margin
/// is capped at half a short token's lifetime): the API never sees an expired one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_outlives_short_tokens_of_each_credential() {
    let world = World::start_with(false, json!({ "tokenLifetimeSecs": 2 })).await;
    let base = world.base_url();
    let endpoint = world.emulator.identity_endpoint();
    let file = world.federated_token_file();
    let cert = world.certificate_file();
    let creds = world.emulator.credentials().clone();
    let cases: [Vec<(&str, &str)>; 4] = [
        vec![
            ("AZURE_AUTHORITY_HOST", base.as_str()),
            ("AZURE_TENANT_ID", "emulator"),
            ("AZURE_CLIENT_ID", creds.client_id.as_str()),
            ("AZURE_CLIENT_SECRET", creds.client_secret.as_str()),
        ],
        vec![
            ("AZURE_AUTHORITY_HOST", base.as_str()),
            ("AZURE_TENANT_ID", "emulator"),
            ("AZURE_CLIENT_ID", CERT_APP),
            ("AZURE_CLIENT_CERTIFICATE_PATH", cert.to_str().unwrap()),
        ],
        vec![
            ("AZURE_AUTHORITY_HOST", base.as_str()),
            ("AZURE_TENANT_ID", "emulator"),
            ("AZURE_CLIENT_ID", FED_APP),
            ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
        ],
        vec![
            ("IDENTITY_ENDPOINT", endpoint.as_str()),
            ("IDENTITY_HEADER", IDENTITY_HEADER),
        ],
    ];
    for envs in cases {
        let id = world.emulator.add_operation(
            OperationSpec::succeeding().with_timings(
                Timings::new(Duration::ZERO, Duration::from_millis(2500))
                    .with_retry_after(Duration::from_secs(1)),
            ),
        );
        let before = world.emulator.stats();
        let all = world.envs(&base, &envs);
        let wait = adu(
            &[
                "operation",
                "wait",
                &id,
                "--output",
                "json",
                "--timeout",
                "30s",
            ],
            &all,
        );
        assert_eq!(wait.code, 0, "{wait:?}");
        assert_eq!(wait.json()["status"], "Succeeded");
        let seen = seen(&before, &world.emulator.stats());
        assert_eq!(seen.unauthorized, 0, "{envs:?}: {seen:?}");
        let fetched = seen.token_requests + seen.identity_requests;
        assert!(fetched >= 2, "{envs:?}: {seen:?}");
    }
    world.emulator.shutdown().await;
}
