//! `cargo xtask interop`: installs independent peers (pinned by version) under
//! `target/interop/`, starts them on free loopback ports, runs our side against them, and
//! stops them (by their pids), also when something fails.
//!
//! 1. OAuth2: adu-auth (the `oauth2_interop` test of adu-transport) against
//!    oauth2-mock-server (npm) and an authlib server (PyPI), which also verifies the
//!    certificate and assertion credentials' `private_key_jwt`.
//! 2. Emulator fidelity: Microsoft's Python client (`azure-iot-deviceupdate`, PyPI) against
//!    `adu-emulator` in https mode (`xtask/interop/python-sdk/check_emulator.py`), once at the
//!    client's default API version and once at 2022-10-01, each against a fresh emulator
//!    serving `xtask/interop/python-sdk/scenario.json`.
//! 3. Azure's Rust credentials: `azure_identity` against `adu-emulator` in https mode,
//!    through adu-auth's `azure-core` feature (the `azure_identity_interop` test of
//!    adu-transport, which starts the emulator itself).

use std::fs::File;
use std::path::Path;
use std::process::Command;

use crate::util::{cargo, ensure_python_venv, project_root, run as sh, target_dir, Server};

/// What the OAuth2 peers are configured with (the interop tests use the same values; see
/// `crates/adu-transport/tests/oauth2_interop.rs`).
const OAUTH2_PEER_ENV: [(&str, &str); 4] = [
    ("INTEROP_TENANT", "interop-tenant"),
    ("INTEROP_CLIENT_SECRET", "interop-secret"),
    ("INTEROP_USER_PASSWORD", "alice-password"),
    ("INTEROP_REDIRECT_URI", "http://localhost:8400/callback"),
];

/// The runs of `check_emulator.py`: the API version it is told to use (`None`: the client's
/// own default) and the `--page-size` the emulator is given over its scenario's `pageSize`.
/// Each run gets a fresh emulator, so each sees the scenario's operations and its own imports.
const PYTHON_SDK_RUNS: [(Option<&str>, Option<&str>); 2] =
    [(None, None), (Some("2022-10-01"), Some("3"))];

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!(
            "unexpected argument `{extra}`: `cargo xtask interop` takes none"
        ));
    }
    eprintln!("== xtask interop: adu-auth against oauth2-mock-server (npm) and authlib (PyPI)");
    oauth2_peers().map_err(|e| format!("oauth2 peers: {e}"))?;
    eprintln!("== xtask interop: Microsoft's Python client against adu-emulator");
    python_sdk().map_err(|e| format!("Python client against adu-emulator: {e}"))?;
    eprintln!("== xtask interop: azure_identity against adu-emulator");
    sh(cargo().args([
        "test",
        "-p",
        "adu-transport",
        "--features",
        "azure-interop-tests",
        "--test",
        "azure_identity_interop",
    ]))
    .map_err(|e| format!("azure_identity against adu-emulator: {e}"))?;
    eprintln!("== xtask interop: all steps passed");
    Ok(())
}

fn oauth2_peers() -> Result<(), String> {
    let sources = project_root().join("xtask/interop/oauth2");
    let work = target_dir().join("interop");

    // oauth2-mock-server, installed from its lockfile into a copy under target/interop, so
    // node_modules never lands in the source tree. A stamp holding the lockfile skips `npm ci`
    // when nothing changed.
    let node_dir = work.join("oauth2-node");
    std::fs::create_dir_all(&node_dir)
        .map_err(|e| format!("cannot create {}: {e}", node_dir.display()))?;
    for name in ["package.json", "package-lock.json", "server.mjs"] {
        std::fs::copy(sources.join("node").join(name), node_dir.join(name))
            .map_err(|e| format!("cannot copy {name} to {}: {e}", node_dir.display()))?;
    }
    let lock = std::fs::read(node_dir.join("package-lock.json")).map_err(|e| e.to_string())?;
    let stamp = node_dir.join("node_modules/.lock-installed");
    if std::fs::read(&stamp).ok() != Some(lock.clone()) {
        sh(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&node_dir))?;
        std::fs::write(&stamp, lock)
            .map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    }
    let mut node = Command::new("node");
    node.args(["server.mjs", "0"]).current_dir(&node_dir);
    let mock = start_peer("oauth2-mock-server", &mut node, &work)?;

    // authlib + Flask, in a virtual environment from the pinned requirements. It makes the
    // `private_key_jwt` client's certificate at start and writes it (with its key) here.
    let python = ensure_python_venv("oauth2-authlib", &sources.join("authlib/requirements.txt"))?;
    let client_cert = work.join("authlib-client-cert.pem");
    let _ = std::fs::remove_file(&client_cert);
    let mut py = Command::new(python);
    py.arg("-u").arg(sources.join("authlib/server.py")).arg("0");
    py.env("INTEROP_CLIENT_CERT_FILE", &client_cert);
    let authlib = start_peer("authlib", &mut py, &work)?;

    sh(cargo()
        .args([
            "test",
            "-p",
            "adu-transport",
            "--features",
            "interop-tests",
            "--test",
            "oauth2_interop",
        ])
        .env("ADU_INTEROP_MOCK_URL", &mock.url)
        .env("ADU_INTEROP_AUTHLIB_URL", &authlib.url)
        .env("ADU_INTEROP_AUTHLIB_CERT", &client_cert))
}

/// Starts an OAuth2 peer with [`OAUTH2_PEER_ENV`], its stderr in `work/NAME.log`, and waits
/// for its `READY <url>` line.
fn start_peer(name: &str, cmd: &mut Command, work: &Path) -> Result<Server, String> {
    let log = work.join(format!("{name}.log"));
    let stderr = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let peer = Server::start(cmd.envs(OAUTH2_PEER_ENV).stderr(stderr), "READY ")
        .map_err(|e| format!("{name}: {e} (its log: {})", log.display()))?;
    eprintln!(
        "{name} is ready at {} (pid {}, log {})",
        peer.url,
        peer.child.id(),
        log.display()
    );
    Ok(peer)
}

fn python_sdk() -> Result<(), String> {
    let sdk_dir = project_root().join("xtask/interop/python-sdk");
    let python = ensure_python_venv("python-sdk-venv", &sdk_dir.join("requirements.txt"))?;
    sh(cargo().args(["build", "-p", "adu-emulator", "--bin", "adu-emulator"]))?;
    let binary = target_dir()
        .join("debug")
        .join(format!("adu-emulator{}", std::env::consts::EXE_SUFFIX));
    let scenario = sdk_dir.join("scenario.json");

    let work = target_dir().join("interop/emulator");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let cert = work.join("emulator-cert.pem");
    for (api_version, page_size) in PYTHON_SDK_RUNS {
        let _ = std::fs::remove_file(&cert);
        let mut emulator = Command::new(&binary);
        emulator
            .args(["--port", "0", "--tls-cert"])
            .arg(&cert)
            .arg("--scenario")
            .arg(&scenario);
        let mut check = Command::new(&python);
        // No compiled files beside the sources.
        check.env("PYTHONDONTWRITEBYTECODE", "1");
        check.arg(sdk_dir.join("check_emulator.py"));
        if let Some(size) = page_size {
            emulator.args(["--page-size", size]);
            check.args(["--page-size", size]);
        }
        if let Some(version) = api_version {
            check.args(["--api-version", version]);
        }
        let emulator = Server::start(&mut emulator, "adu-emulator listening on https://")?;
        sh(check
            .args(["--endpoint", &emulator.url, "--cert"])
            .arg(&cert)
            .arg("--scenario")
            .arg(&scenario))?;
    }
    Ok(())
}
