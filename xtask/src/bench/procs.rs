//! The servers under test and what /proc says about them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server on loopback, stopped on drop.
pub struct Server {
    /// Shown in reports: `airlock`, `nginx-default`, `nginx-tuned`, a peer's name.
    pub name: String,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets nginx take its workers down and airlock finish storing what
        // it served (the next measurement must not share the machine with that);
        // then make sure.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The process and its children (nginx workers).
    pub fn pids(&self) -> Vec<u32> {
        let root = self.child.id();
        let mut pids = vec![root];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                if stat_fields(pid).and_then(|f| f.get(1).and_then(|p| p.parse::<u32>().ok()))
                    == Some(root)
                {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    /// CPU seconds used so far by the process tree.
    pub fn cpu_seconds(&self) -> f64 {
        self.pids().into_iter().map(cpu_seconds).sum()
    }

    /// Resets the peak-RSS counters (Linux `clear_refs` 5).
    pub fn reset_peak(&self) {
        for pid in self.pids() {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// Peak RSS since the last reset, summed over the tree, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    /// Current RSS, in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.status_mib("VmRSS:")
    }

    /// A /proc/PID/status field summed over the tree, in MiB.
    fn status_mib(&self, field: &str) -> f64 {
        self.pids()
            .into_iter()
            .map(|p| status_kib(p, field))
            .sum::<f64>()
            / 1024.0
    }
}

/// Fields of /proc/PID/stat after the command name: [state, ppid, …].
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of one process, in seconds (USER_HZ is 100 on Linux).
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_fields(pid)
        .map(|f| {
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (ticks(11) + ticks(12)) / 100.0
        })
        .unwrap_or(0.0)
}

/// A `kB` field of /proc/PID/status.
pub fn status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0.0)
}

/// Starts `airlock serve` and waits for its address line.
pub fn airlock(
    binary: &Path,
    data: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    log: &Path,
) -> Result<Server, String> {
    let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting airlock: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let base = line
        .trim()
        .strip_prefix("airlock listening on ")
        .ok_or_else(|| format!("airlock did not start: {line:?}"))?
        .to_owned();
    Ok(Server {
        name: "airlock".into(),
        base,
        child,
    })
}

/// nginx configurations compared.
#[derive(Clone, Copy)]
pub enum NginxFlavor {
    /// Debian's defaults: sendfile on, tcp_nopush on, access log on.
    Default,
    /// What is faster on this VM: sendfile off, large output buffers.
    Tuned,
}

/// Starts nginx on `port`, in its own prefix directory, serving each directory
/// of `locations` at its URL prefix (`("/go/", tree)`; the prefix ends in `/`).
pub fn nginx(
    flavor: NginxFlavor,
    locations: &[(&str, &Path)],
    prefix: &Path,
    port: u16,
) -> Result<Server, String> {
    std::fs::create_dir_all(prefix.join("logs")).map_err(|e| e.to_string())?;
    let (name, io) = match flavor {
        NginxFlavor::Default => ("nginx-default", "sendfile on;\n    tcp_nopush on;"),
        NginxFlavor::Tuned => ("nginx-tuned", "sendfile off;\n    output_buffers 2 1m;"),
    };
    let locations: String = locations
        .iter()
        .map(|(at, dir)| format!("        location {at} {{ alias {}/; }}\n", dir.display()))
        .collect();
    let conf = format!(
        "daemon off;\nworker_processes auto;\npid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n    {io}\n    \
         types_hash_max_size 2048;\n    keepalive_requests 1000000;\n    access_log {prefix}/logs/access.log;\n    \
         server {{\n        listen 127.0.0.1:{port};\n{locations}    }}\n}}\n",
        prefix = prefix.display(),
    );
    let conf_path: PathBuf = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("nginx");
    cmd.arg("-p").arg(prefix).arg("-c").arg(&conf_path);
    spawn(name, &mut cmd, port).map_err(|e| format!("{e}; see {}/logs/error.log", prefix.display()))
}

/// Starts any server (docker-registry, devpi, pypiserver, …) that will listen on
/// `port` on loopback, and waits until it accepts connections (up to 60 s: some
/// peers take a while to start). Its output goes to the null device.
pub fn spawn(name: &str, cmd: &mut Command, port: u16) -> Result<Server, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {name}: {e}"))?;
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Server {
                name: name.into(),
                base,
                child,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{name} exited with {status} before listening"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("{name} did not listen on {port}"))
}

/// A free loopback port (for nginx, which cannot report one).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}
