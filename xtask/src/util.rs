//! Small helpers shared by the tasks.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The workspace root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo target directory: `CARGO_TARGET_DIR` (made absolute) or `target/`.
pub fn target_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    project_root().join(dir)
}

/// A `cargo` command using the same cargo that runs xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

/// Runs a command (from the workspace root unless it has a directory of its own), echoing
/// it, and fails if it fails.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(project_root());
    }
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("could not start `{}`: {e}", display(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed with {status}", display(cmd)))
    }
}

/// Runs a command like [`run`] and returns its stdout; fails with its stderr if it fails.
pub fn stdout_of(cmd: &mut Command) -> Result<String, String> {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(project_root());
    }
    let output = cmd
        .output()
        .map_err(|e| format!("could not start `{}`: {e}", display(cmd)))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`{}` failed with {}: {stderr}",
            display(cmd),
            output.status
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// A server process of ours, killed (by its pid) when dropped, also on failure.
pub struct Server {
    /// The process.
    pub child: Child,
    /// What followed the ready prefix on its ready line (its address).
    pub url: String,
}

impl Server {
    /// Starts `cmd` and waits (at most a minute) for a stdout line starting with `ready`. A
    /// thread drains the rest of stdout, so the server never writes into a full or closed pipe.
    pub fn start(cmd: &mut Command, ready: &'static str) -> Result<Server, String> {
        eprintln!("$ {}", display(cmd));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start `{}`: {e}", display(cmd)))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            if let Some(url) = lines
                .by_ref()
                .find_map(|l| l.strip_prefix(ready).map(str::to_owned))
            {
                let _ = tx.send(url.trim().to_owned());
            }
            lines.for_each(drop);
        });
        let mut server = Server {
            child,
            url: String::new(),
        };
        server.url = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| format!("`{}` did not print `{ready}`", display(cmd)))?;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces the text between the `begin` and `end` markers of `path` with `block`.
pub fn write_block(path: &Path, begin: &str, end: &str, block: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let missing = || format!("{} lacks the markers {begin} … {end}", path.display());
    let start = text.find(begin).ok_or_else(missing)?;
    let stop = start + text[start..].find(end).ok_or_else(missing)?;
    let updated = format!("{}{begin}\n{block}{}", &text[..start], &text[stop..]);
    std::fs::write(path, updated).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Creates (once) a Python virtual environment `target/interop/NAME` with the pinned
/// requirements file installed, and returns its `python`. A stamp holding the requirements'
/// text skips the install when nothing changed.
pub fn ensure_python_venv(name: &str, requirements: &Path) -> Result<PathBuf, String> {
    let venv = target_dir().join("interop").join(name);
    let python = venv.join("bin").join("python");
    let wanted = std::fs::read_to_string(requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    let stamp = venv.join(".requirements-installed");
    if python.exists() && std::fs::read_to_string(&stamp).ok() == Some(wanted.clone()) {
        return Ok(python);
    }
    let system_python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(Command::new(system_python).args(["-m", "venv"]).arg(&venv))?;
    let install = "-m pip install --quiet --disable-pip-version-check -r";
    run(Command::new(&python)
        .args(install.split(' '))
        .arg(requirements))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(python)
}
