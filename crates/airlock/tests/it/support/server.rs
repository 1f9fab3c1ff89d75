//! Starts the real `airlock` binary on an ephemeral port.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The built binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_airlock")
}

/// A running airlock. Killed (SIGKILL) on drop.
pub struct Airlock {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Where its log (stderr) goes.
    pub log: PathBuf,
}

/// Writes `config` next to `data_dir` and returns its path.
pub fn write_config(data_dir: &Path, config: &str) -> PathBuf {
    let path = data_dir.with_extension("toml");
    std::fs::write(&path, config).expect("write config");
    path
}

impl Airlock {
    /// Starts `airlock serve` with this TOML config (listen/data dir are set here).
    pub fn start(data_dir: &Path, config: &str, extra: &[&str]) -> Airlock {
        Airlock::start_with_env(data_dir, config, extra, &[])
    }

    /// [`Airlock::start`] with extra environment variables.
    pub fn start_with_env(
        data_dir: &Path,
        config: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Airlock {
        let config_path = write_config(data_dir, config);
        let log = data_dir.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut child = Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "-c"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("AIRLOCK_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn airlock");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {} // keep draining
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "airlock did not start; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let base = line
            .strip_prefix("airlock listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Airlock { child, base, log }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as systemd stops it: in-flight work finishes first.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg(self.child.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("airlock did not stop within 20 s of SIGTERM");
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Airlock {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.kill();
        } else {
            self.stop();
        }
    }
}

/// Runs an `airlock` subcommand to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run airlock")
}

/// `airlock fsck` passes on a data directory and its report contains `expected`.
pub fn assert_fsck(data_dir: &Path, extra: &[&str], expected: &str) {
    let (ok, report) = fsck(data_dir, extra);
    assert!(
        ok && report.contains(expected),
        "fsck {}: want {expected:?} in:\n{report}",
        data_dir.display()
    );
}

/// `airlock fsck` on a data directory: (success, stdout).
pub fn fsck(data_dir: &Path, extra: &[&str]) -> (bool, String) {
    let dir = data_dir.to_str().expect("utf-8 path");
    let mut args = vec!["fsck", "--data-dir", dir];
    args.extend_from_slice(extra);
    let out = run(&args);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A minimal config with the Go upstream and checksum databases given.
pub fn go_config(upstream: &str, sumdbs: &[(&str, &str)], extra: &str) -> String {
    let mut config = format!(
        "[upstream]\nproxy = \"none\"\nfetch_timeout = \"20s\"\nretries = 0\n{extra}\n[go]\nupstream = \"{upstream}\"\n"
    );
    if sumdbs.is_empty() {
        config.push_str("sumdb = []\n");
    }
    for (name, url) in sumdbs {
        config.push_str(&format!(
            "[[go.sumdb]]\nname = \"{name}\"\nurl = \"{url}\"\n"
        ));
    }
    config
}

/// `config` with the Go proxy fetching only what clients ask for: for tests that
/// count upstream requests or stored files exactly.
pub fn without_prefetch(config: &str) -> String {
    config.replacen("[go]\n", "[go]\nprefetch = false\n", 1)
}

/// `config` with the checksum database that `key` (`name+hash+key`) names
/// given that key: airlock then verifies every module file against it.
pub fn verifying(config: &str, key: &str) -> String {
    let name = key.split('+').next().unwrap_or_default();
    let entry = format!("[[go.sumdb]]\nname = \"{name}\"\n");
    assert!(
        config.contains(&entry),
        "no [[go.sumdb]] {name} in {config}"
    );
    config.replacen(&entry, &format!("{entry}key = \"{key}\"\n"), 1)
}

/// A response header's value ("" when absent).
pub fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A blocking HTTP client for protocol-level checks.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Sends a GET with `path` exactly as given (no URL normalisation, unlike
/// reqwest), returning (status, body).
pub fn raw_get(base: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
