//! Interop: Microsoft's official Python client (`azure-iot-deviceupdate`)
//! against `adu-emulator` in https mode.
//!
//! Installs the pinned client into `target/interop/python-sdk-venv`, builds
//! and starts the emulator with a scenario of pre-seeded operations (running,
//! succeeded, failed), waits for its ready line, runs
//! `xtask/interop/python-sdk/check_emulator.py`, and stops the emulator by
//! its pid, also when something fails.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::{cargo, ensure_python_venv, interop_dir, project_root, run as run_cmd};

/// The scenario the script expects: three seeded operations, quick imports.
const SCENARIO: &str = r#"{
  "instances": ["blue"],
  "imports": { "timings": { "notStartedMs": 200, "runningMs": 1500, "retryAfterSecs": 1 } },
  "operations": [
    { "id": "op-running", "timings": { "notStartedMs": 0, "runningMs": 86400000 } },
    { "id": "op-succeeded", "timings": { "notStartedMs": 0, "runningMs": 0 } },
    { "id": "op-failed", "outcome": "failed", "timings": { "notStartedMs": 0, "runningMs": 0 } }
  ]
}
"#;

/// Stops the emulator (by its pid) when dropped, whatever happened before.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the Python SDK against the emulator.
pub fn run() -> Result<(), String> {
    let root = project_root();
    let sdk_dir = root.join("xtask").join("interop").join("python-sdk");
    let python = ensure_python_venv("python-sdk-venv", &sdk_dir.join("requirements.txt"))?;

    run_cmd(cargo().args(["build", "-p", "adu-emulator", "--bin", "adu-emulator"]))?;
    let binary = target_dir()
        .join("debug")
        .join(format!("adu-emulator{}", std::env::consts::EXE_SUFFIX));

    let work = interop_dir().join("emulator");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let scenario = work.join("scenario.json");
    let cert = work.join("emulator-cert.pem");
    std::fs::write(&scenario, SCENARIO)
        .map_err(|e| format!("cannot write {}: {e}", scenario.display()))?;
    let _ = std::fs::remove_file(&cert);

    eprintln!(
        "$ {} --port 0 --tls-cert {} --scenario {}",
        binary.display(),
        cert.display(),
        scenario.display()
    );
    let mut child = Command::new(&binary)
        .args(["--port", "0", "--tls-cert"])
        .arg(&cert)
        .arg("--scenario")
        .arg(&scenario)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("the emulator's stdout is not piped")?;
    let emulator = Emulator(child);
    let endpoint = wait_ready(stdout)?;

    let status = Command::new(&python)
        .arg(sdk_dir.join("check_emulator.py"))
        .args(["--endpoint", &endpoint, "--cert"])
        .arg(&cert)
        .status()
        .map_err(|e| format!("could not run the Python check: {e}"))?;
    drop(emulator);
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the Python SDK check against adu-emulator failed ({status})"
        ))
    }
}

/// Waits (at most a minute) for `adu-emulator listening on https://HOST:PORT`
/// and returns `HOST:PORT`. A thread keeps draining stdout afterwards, so
/// the emulator never writes into a closed pipe.
fn wait_ready(stdout: impl Read + Send + 'static) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "adu-emulator did not print its ready line within 60 s".to_owned())?;
    line.trim()
        .strip_prefix("adu-emulator listening on https://")
        .map(str::to_owned)
        .ok_or_else(|| format!("unexpected ready line from adu-emulator: {line:?}"))
}

/// The cargo target directory (`CARGO_TARGET_DIR` or `target/`).
fn target_dir() -> PathBuf {
    interop_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| project_root().join("target"))
}
