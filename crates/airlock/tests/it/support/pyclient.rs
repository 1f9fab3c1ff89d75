//! The real Python clients: pip, twine and uv from a venv that `cargo xtask ci`
//! creates (`target/tools/py-venv`, or `E2E_PY_VENV`). A missing client fails
//! the test with what to run; it never skips.
//!
//! The machine's own pip and uv configuration (`/etc/pip.conf`, `PIP_*`, `UV_*`,
//! proxies) is neutralized, so that only airlock is asked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The venv holding pip, twine and uv.
pub fn venv() -> PathBuf {
    let venv = std::env::var_os("E2E_PY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("target dir")
                .join("tools/py-venv")
        });
    for tool in ["pip", "twine", "uv"] {
        assert!(
            venv.join("bin").join(tool).is_file(),
            "{tool} is missing from {}: run `cargo xtask ci` (it installs pip, twine and uv \
             there, as .ci/run does), or set E2E_PY_VENV to a venv that has them",
            venv.display()
        );
    }
    venv
}

/// A tool of the venv (`pip`, `twine`, `uv`).
pub fn tool(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

/// `program` with a clean environment: no machine pip/uv/twine configuration,
/// no proxies, no prompts, caches under `scratch`.
pub fn command(program: &Path, scratch: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let upper = key.to_ascii_uppercase();
        if upper.starts_with("PIP_")
            || upper.starts_with("UV_")
            || upper.starts_with("TWINE_")
            || upper.ends_with("_PROXY")
            || upper == "VIRTUAL_ENV"
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("UV_NO_CONFIG", "1")
        .env("UV_CACHE_DIR", scratch.join("uv-cache"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .env("HOME", scratch)
        .stdin(Stdio::null());
    cmd
}

/// A new, empty venv (no pip of its own: the tools' pip installs into it with
/// `--python`). Returns its python.
pub fn fresh_venv(dir: &Path) -> PathBuf {
    let out = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .output()
        .expect("python3 -m venv (install python3-venv)");
    assert!(
        out.status.success(),
        "venv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("bin/python")
}

/// Runs `cmd`; returns its output whatever the status.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// Runs `cmd` and requires success; returns stdout + stderr.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Runs `python -c code` in a venv and returns its stdout, trimmed.
pub fn python(python: &Path, code: &str) -> String {
    let out = output(Command::new(python).args(["-c", code]));
    assert!(
        out.status.success(),
        "python -c {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An argon2 hash of `password`, from `airlock hash-password`.
pub fn password_hash(password: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new(super::server::binary())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn airlock hash-password");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(password.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A config with one hosted index `root/dev` and the user `ci` / `secret`.
pub fn hosted_config() -> String {
    format!(
        "[upstream]\nproxy = \"none\"\n\n[[users]]\nname = \"ci\"\npassword_hash = \"{}\"\n\n\
         [pypi]\npage_max_age = \"0s\"\n[[pypi.index]]\nname = \"root/dev\"\nkind = \"hosted\"\n",
        password_hash("secret")
    )
}
