//! The registry's clients: skopeo and podman (real, from Debian; a missing one
//! fails the test, as `.ci/run` installs them), and a small HTTP client for
//! requests byte by byte.

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::Method;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The writer every registry test configures.
pub const USER: &str = "ci";
pub const PASSWORD: &str = "secret";
/// argon2id of "secret" (every test user has this password).
pub const PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$QzmutiUlAYnQzikR+1Rl4w$BOaQ/JtWxaGhQpvrtnPwq3WIuf8Xf/tFD2GRAteBOA4";

/// A config with the test writer and `extra` (e.g. an `[oci]` section).
pub fn oci_config(extra: &str) -> String {
    format!("[[users]]\nname = \"{USER}\"\npassword_hash = \"{PASSWORD_HASH}\"\n{extra}")
}

/// Fails (never skips) when a client is missing.
fn client(name: &str) -> PathBuf {
    let out = Command::new(name).arg("--version").output();
    match out {
        Ok(o) if o.status.success() => PathBuf::from(name),
        _ => panic!("{name} is missing: install it (Debian package `{name}`) as .ci/run does"),
    }
}

/// Runs skopeo; returns (success, stdout, stderr).
pub fn skopeo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(client("skopeo"))
        .args(args)
        .output()
        .expect("run skopeo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs skopeo and fails the test if it fails; returns stdout.
pub fn skopeo_ok(args: &[&str]) -> String {
    let (ok, out, err) = skopeo(args);
    assert!(ok, "skopeo {args:?} failed:\n{out}{err}");
    out
}

/// podman as root with its own storage under `dir` (vfs: no overlay mounts
/// needed) and a `registries.conf` marking `host` insecure.
pub struct Podman {
    dir: PathBuf,
}

impl Podman {
    pub fn new(dir: &Path, host: &str) -> Podman {
        std::fs::create_dir_all(dir).expect("podman dir");
        std::fs::write(
            dir.join("registries.conf"),
            format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"),
        )
        .expect("registries.conf");
        client("podman");
        Podman {
            dir: dir.to_owned(),
        }
    }

    /// Runs podman; returns (success, stdout + stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("podman")
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.join("registries.conf"),
            )
            .output()
            .expect("run podman");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// Registry requests against one airlock, with or without the writer's credentials.
pub struct Registry {
    pub base: String,
    client: reqwest::blocking::Client,
}

impl Registry {
    pub fn new(base: &str) -> Registry {
        Registry {
            base: base.to_owned(),
            client: reqwest::blocking::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    /// An anonymous request; `path` starts with `/v2/` or is a `Location`
    /// (absolute, as docker-registry sends it, or relative).
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        match path.starts_with("http") {
            true => self.client.request(method, path),
            false => self.client.request(method, format!("{}{path}", self.base)),
        }
    }

    /// A request with the writer's credentials.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.anon(method, path).basic_auth(USER, Some(PASSWORD))
    }

    /// Uploads a blob to `repo` with POST then PUT.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let location = self.start_upload(repo);
        let digest = super::ocifixture::sha256(bytes);
        let r = self
            .req(Method::PUT, &with_digest(&location, &digest))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("PUT blob");
        assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
        digest
    }

    /// POSTs a new upload session; returns its Location.
    pub fn start_upload(&self, repo: &str) -> String {
        let r = self
            .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
            .send()
            .expect("POST upload");
        assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
        location(&r)
    }

    /// PUTs a manifest; returns the response.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Response {
        self.req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .expect("PUT manifest")
    }

    /// Pushes an image's blobs and its manifest under `tag`.
    pub fn push_image(&self, repo: &str, tag: &str, image: &super::ocifixture::Image) {
        self.push_blob(repo, &image.layer);
        self.push_blob(repo, &image.config);
        let r = self.put_manifest(repo, tag, super::ocifixture::OCI_MANIFEST, &image.manifest);
        assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    }
}

/// The `Location` of a response.
pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .expect("Location")
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// `location` with `digest=` added to its query.
pub fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={}", digest.replace(':', "%3A"))
}

/// The first error code of a spec error body.
pub fn error_code(r: Response) -> String {
    let body: serde_json::Value = r.json().expect("a JSON error body");
    body["errors"][0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
        .to_owned()
}

/// A containerd daemon of the test's own (root, state and socket under `dir`),
/// driven with `ctr`; killed on drop. Registry hosts come from `hosts.toml`
/// files under `dir/certs.d`, as on a Kubernetes node.
pub struct Containerd {
    dir: PathBuf,
    daemon: std::process::Child,
}

impl Containerd {
    pub fn start(dir: &Path) -> Containerd {
        std::fs::create_dir_all(dir.join("certs.d")).expect("containerd dir");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n[grpc]\n  address = \"{d}/ctd.sock\"\n\
                 [ttrpc]\n  address = \"{d}/ctd-ttrpc.sock\"\n",
                d = dir.display()
            ),
        )
        .expect("config.toml");
        client("ctr");
        let log = std::fs::File::create(dir.join("containerd.log")).expect("log");
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("containerd is missing ({e}): install it as .ci/run does"));
        let ctd = Containerd {
            dir: dir.to_owned(),
            daemon,
        };
        super::eventually("containerd to answer", || ctd.ctr(&["version"]).0);
        ctd
    }

    /// Writes `certs.d/<host>/hosts.toml` with `body`.
    pub fn hosts_toml(&self, host: &str, body: &str) {
        let dir = self.dir.join("certs.d").join(host);
        std::fs::create_dir_all(&dir).expect("hosts dir");
        std::fs::write(dir.join("hosts.toml"), body).expect("hosts.toml");
    }

    /// Runs `ctr` against this daemon (with `--hosts-dir` where it applies);
    /// returns (success, stdout + stderr).
    pub fn ctr(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.dir.join("ctd.sock"))
            .args(args);
        let out = cmd.output().expect("run ctr");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    pub fn hosts_dir(&self) -> String {
        self.dir.join("certs.d").display().to_string()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// Debian's `docker-registry` (distribution 2.8) on a free loopback port, with
/// deletes enabled: the registry airlock replaces, for copies between the two.
/// Killed on drop.
pub struct DockerRegistry {
    pub host: String,
    daemon: std::process::Child,
}

impl DockerRegistry {
    pub fn start(dir: &Path) -> DockerRegistry {
        std::fs::create_dir_all(dir).expect("registry dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
                dir.join("data").display()
            ),
        )
        .expect("config.yml");
        let log = std::fs::File::create(dir.join("registry.log")).expect("log");
        let daemon = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("docker-registry is missing ({e}): install it (Debian package docker-registry) as .ci/run does")
            });
        let registry = DockerRegistry { host, daemon };
        let url = format!("http://{}/v2/", registry.host);
        super::eventually("docker-registry to answer", || {
            reqwest::blocking::get(&url).is_ok_and(|r| r.status() == 200)
        });
        registry
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A docker daemon of the test's own (data, sockets and pid file under `dir`;
/// vfs storage, no networking set-up) that treats `registry` as an insecure
/// registry, driven with the `docker` CLI. Stopped with SIGTERM on drop, so it
/// stops the containerd it started.
pub struct Docker {
    dir: PathBuf,
    daemon: std::process::Child,
}

impl Docker {
    pub fn start(dir: &Path, registry: &str) -> Docker {
        Docker::start_with(dir, registry, &[])
    }

    /// [`Docker::start`] with more `dockerd` flags (e.g. `--registry-mirror`).
    pub fn start_with(dir: &Path, registry: &str, flags: &[&str]) -> Docker {
        std::fs::create_dir_all(dir).expect("docker dir");
        client("docker");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("log");
        let daemon = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args(["--storage-driver=vfs", "--insecure-registry", registry])
            .args(flags)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("dockerd is missing ({e}): install docker.io as .ci/run does")
            });
        let docker = Docker {
            dir: dir.to_owned(),
            daemon,
        };
        super::eventually("dockerd to answer", || docker.run(&["version"], None).0);
        docker
    }

    /// Runs the docker CLI with its own config directory (`config`, for
    /// logins; `None`: a fresh one without credentials); returns (success,
    /// stdout + stderr).
    pub fn run(&self, args: &[&str], config: Option<&str>) -> (bool, String) {
        let config = self.dir.join(config.unwrap_or("anonymous"));
        let out = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.dir.join("docker.sock").display()))
            .args(args)
            .env("DOCKER_CONFIG", config)
            .output()
            .expect("run docker");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `docker login` with `password` on stdin.
    pub fn login(&self, host: &str, user: &str, password: &str, config: &str) -> (bool, String) {
        use std::io::Write as _;
        let mut child = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.dir.join("docker.sock").display()))
            .args(["login", host, "-u", user, "--password-stdin"])
            .env("DOCKER_CONFIG", self.dir.join(config))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("docker login");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(password.as_bytes()).expect("password");
        }
        let out = child.wait_with_output().expect("docker login");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.daemon.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
