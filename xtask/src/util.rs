//! Small helpers shared by the tasks.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs a command from the workspace root, echoing it, and fails if it fails.
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

/// Runs a command from the workspace root (unless it has a directory of its own) and returns
/// what it printed on stdout; fails with its stderr if it fails.
pub fn stdout_of(cmd: &mut Command) -> Result<String, String> {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(project_root());
    }
    let output = cmd
        .output()
        .map_err(|e| format!("could not start `{}`: {e}", display(cmd)))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed with {}: {}",
            display(cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A `cargo` command using the same cargo that runs xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Where the interop peers are installed: `target/interop/`.
pub fn interop_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        project_root().join(target)
    };
    target.join("interop")
}

/// Creates (once) a Python virtual environment under `target/interop/NAME`
/// and installs the pinned requirements file into it. Returns the path of its
/// `python` executable. A stamp file holding the requirements' text makes
/// later runs skip the install when nothing changed.
pub fn ensure_python_venv(name: &str, requirements: &Path) -> Result<PathBuf, String> {
    let venv = interop_dir().join(name);
    let python = venv.join("bin").join("python");
    let wanted = std::fs::read_to_string(requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    let stamp = venv.join(".requirements-installed");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    std::fs::create_dir_all(interop_dir())
        .map_err(|e| format!("cannot create target/interop: {e}"))?;
    let system_python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(Command::new(system_python).arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(python)
}

/// Installs a pinned npm project (a folder with `package.json` and
/// `package-lock.json`) with `npm ci`, once. Returns the folder.
pub fn ensure_npm_project(dir: &Path) -> Result<PathBuf, String> {
    let lock = dir.join("package-lock.json");
    let wanted = std::fs::read_to_string(&lock)
        .map_err(|e| format!("cannot read {}: {e}", lock.display()))?;
    let stamp = dir.join("node_modules").join(".lock-installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(dir.to_path_buf());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(dir.to_path_buf())
}
