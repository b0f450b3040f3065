//! Helpers of the end-to-end tests: run the built `adu` binary with a clean environment.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The variables `adu` reads; removed so the user's own setup cannot leak into a test.
const VARIABLES: [&str; 26] = [
    "ADU_ENDPOINT",
    "ADU_INSTANCE",
    "ADU_API_VERSION",
    "ADU_CA_FILE",
    "ADU_ACCESS_TOKEN",
    "ADU_TOKEN_CACHE",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_AUTHORITY_HOST",
    "RUST_LOG",
    "ADU_EMULATOR_CLIENT_SECRET",
    "ADU_AUTH",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
    "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "BROWSER",
];

/// What a run of `adu` produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    pub fn stderr_json(&self) -> serde_json::Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}): {self:?}"))
    }
}

/// `adu` with a clean environment: no ADU_* or AZURE_* variables, no identity endpoint, no
/// `BROWSER`, a `PATH` without `az` or a browser, and a token cache path that does not exist
/// (so a developer's own sign-ins are never used).
pub fn command(envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_adu"));
    for name in VARIABLES {
        cmd.env_remove(name);
    }
    cmd.env(
        "ADU_TOKEN_CACHE",
        std::env::temp_dir().join(format!(
            "adu-cli-e2e-none-{}/token.json",
            std::process::id()
        )),
    );
    cmd.env(
        "PATH",
        std::env::temp_dir().join(format!("adu-cli-e2e-no-path-{}", std::process::id())),
    );
    for (name, value) in envs {
        cmd.env(name, value);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `adu args...` to the end.
pub fn adu(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let output = command(envs)
        .args(args)
        .output()
        .expect("the adu binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A running child whose output lines are read by threads (and kept draining).
pub struct Spawned {
    pub child: Child,
    pub stdout: mpsc::Receiver<String>,
    pub stderr: mpsc::Receiver<String>,
}

fn pump(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Keep draining so the child never blocks on a full pipe.
                continue;
            }
        }
    });
    rx
}

/// Starts `adu args...` with piped output.
pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Spawned {
    let mut child = command(envs)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the adu binary starts");
    let stdout = pump(child.stdout.take().unwrap());
    let stderr = pump(child.stderr.take().unwrap());
    Spawned {
        child,
        stdout,
        stderr,
    }
}

/// Waits for the first line matching `pred` (bounded, so a broken binary fails the test).
pub fn wait_for_line(rx: &mpsc::Receiver<String>, pred: impl Fn(&str) -> bool) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if pred(&line) => return line,
            Ok(_) => continue,
            Err(e) => panic!("no matching line: {e}"),
        }
    }
}

/// Waits for a child to exit; a watchdog kills it if it has not after 30 seconds, so a
/// broken binary fails the test instead of hanging it.
pub fn wait_exit(child: &mut Child) -> i32 {
    let (exited, watched) = mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = std::thread::spawn(move || {
        let timed_out = watched.recv_timeout(Duration::from_secs(30)).is_err();
        if timed_out {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        timed_out
    });
    let status = child.wait().unwrap();
    let _ = exited.send(());
    assert!(!watchdog.join().unwrap(), "the child did not exit");
    status.code().unwrap_or(-1)
}

/// The value of query parameter `name` in `url`, decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).expect("an absolute URL");
    url.query_pairs()
        .find_map(|(k, v)| (k == name).then(|| v.into_owned()))
}

/// One request to a loopback URL, sent as a browser would (redirects are not followed):
/// the status, the `Location` header if any, and the body.
pub async fn browse(method: &str, url: &str, body: &str) -> (u16, Option<String>, String) {
    use adu_transport::{http, HttpTransport, HyperTransport};
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(body.as_bytes().to_vec())
        .unwrap();
    let transport = HyperTransport::builder().build().unwrap();
    let response = transport.call(request).await.unwrap();
    let location = response.headers().get(http::header::LOCATION);
    let location = location.map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8_lossy(response.body()).into_owned();
    (response.status().as_u16(), location, body)
}

/// The file mode bits of `path`.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
