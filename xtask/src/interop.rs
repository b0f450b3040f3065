//! `cargo xtask interop`: installs independent peers (pinned by version),
//! starts them on free loopback ports, runs our interop tests against them,
//! and stops them.
//!
//! The task is a list of [`Step`]s run in order, stopping at the first
//! failure; add a step by appending to [`steps`]. A step that needs a peer
//! process starts it with [`Peer::start`], which waits for the peer's ready
//! line (`READY <url>` on stdout), keeps draining its stdout afterwards, and
//! kills it (by the pid it started) when dropped, also on failure.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::{
    cargo, ensure_npm_project, ensure_python_venv, interop_dir, project_root, run as run_cmd,
};

/// How long a peer may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One step of `cargo xtask interop`.
pub struct Step {
    /// Shown before the step runs.
    pub name: &'static str,
    /// Does the work.
    pub run: fn() -> Result<(), String>,
}

/// The steps, in order. Append new ones at the end.
pub fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "oauth2: adu-auth against oauth2-mock-server (npm) and an authlib server (PyPI)",
            run: oauth2_peers,
        },
        Step {
            name: "emulator fidelity: Microsoft's Python client (azure-iot-deviceupdate) against adu-emulator",
            run: crate::interop_emulator::run,
        },
    ]
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!(
            "unexpected argument `{extra}`: `cargo xtask interop` takes none"
        ));
    }
    for step in steps() {
        eprintln!("== xtask interop: {}", step.name);
        (step.run)().map_err(|e| format!("{}: {e}", step.name))?;
    }
    eprintln!("== xtask interop: all steps passed");
    Ok(())
}

/// What the OAuth2 peers are configured with (the interop tests use the same
/// values; see `crates/adu-transport/tests/oauth2_interop.rs`).
const OAUTH2_PEER_ENV: &[(&str, &str)] = &[
    ("INTEROP_TENANT", "interop-tenant"),
    ("INTEROP_CLIENT_SECRET", "interop-secret"),
    ("INTEROP_USER_PASSWORD", "alice-password"),
    ("INTEROP_REDIRECT_URI", "http://localhost:8400/callback"),
];

fn oauth2_peers() -> Result<(), String> {
    let sources = project_root().join("xtask/interop/oauth2");

    // npm oauth2-mock-server: installed from its lockfile into a copy under
    // target/interop, so node_modules never lands in the source tree.
    let node_dir = interop_dir().join("oauth2-node");
    copy_files(
        &sources.join("node"),
        &node_dir,
        &["package.json", "package-lock.json", "server.mjs"],
    )?;
    ensure_npm_project(&node_dir)?;
    let mut node = Command::new("node");
    node.arg("server.mjs").arg("0").current_dir(&node_dir);
    let mock = Peer::start("oauth2-mock-server", node, OAUTH2_PEER_ENV)?;

    // authlib + Flask, in a virtual environment from the pinned requirements.
    let python = ensure_python_venv("oauth2-authlib", &sources.join("authlib/requirements.txt"))?;
    let mut py = Command::new(python);
    py.arg("-u").arg(sources.join("authlib/server.py")).arg("0");
    let authlib = Peer::start("authlib", py, OAUTH2_PEER_ENV)?;

    run_cmd(
        cargo()
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
            .env("ADU_INTEROP_AUTHLIB_URL", &authlib.url),
    )
    // `mock` and `authlib` are dropped here, which stops them.
}

fn copy_files(from: &Path, to: &Path, names: &[&str]) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    for name in names {
        let (src, dst) = (from.join(name), to.join(name));
        let wanted =
            std::fs::read(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
        if std::fs::read(&dst).ok().as_deref() != Some(wanted.as_slice()) {
            std::fs::write(&dst, wanted)
                .map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
        }
    }
    Ok(())
}

/// A running peer process, killed when dropped.
pub struct Peer {
    /// A short name, for messages.
    pub name: &'static str,
    /// The base URL from its ready line.
    pub url: String,
    /// Where its stderr goes.
    pub log: PathBuf,
    child: Child,
}

impl Peer {
    /// Starts `cmd` with `env`, its stderr to `target/interop/NAME.log`, and
    /// waits until it prints `READY <url>` on stdout. The rest of its stdout
    /// is drained (and echoed) by a thread, so the peer never blocks on a
    /// full or closed pipe.
    pub fn start(
        name: &'static str,
        mut cmd: Command,
        env: &[(&str, &str)],
    ) -> Result<Peer, String> {
        std::fs::create_dir_all(interop_dir())
            .map_err(|e| format!("cannot create target/interop: {e}"))?;
        let log = interop_dir().join(format!("{name}.log"));
        let stderr =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("READY ") {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(url.trim().to_owned());
                        continue;
                    }
                }
                eprintln!("[{name}] {line}");
            }
        });
        let mut peer = Peer {
            name,
            url: String::new(),
            log,
            child,
        };
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(url) => {
                eprintln!(
                    "{name} is ready at {url} (pid {}, log {})",
                    peer.child.id(),
                    peer.log.display()
                );
                peer.url = url;
                Ok(peer)
            }
            Err(_) => {
                let status = peer.child.try_wait().ok().flatten();
                let log_text = std::fs::read_to_string(&peer.log).unwrap_or_default();
                let tail: String = log_text
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                Err(match status {
                    Some(status) => {
                        format!("{name} exited ({status}) before it was ready:\n{tail}")
                    }
                    None => format!("{name} was not ready within {READY_TIMEOUT:?}:\n{tail}"),
                })
                // `peer` is dropped here, which kills it.
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Our own child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("stopped {} (pid {})", self.name, self.child.id());
    }
}
