//! Runs the real `dnf` against airlock with nothing from the host: no host
//! repositories, no host `dnf.conf` defaults, its own cache and installroot.
//! A missing `dnf` (or its `download` plugin) fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A `dnf` environment with one repository, `air`, at `baseurl`.
pub struct Dnf {
    root: PathBuf,
    baseurl: String,
}

impl Dnf {
    /// A fresh environment under `root` for the repository at `baseurl`.
    pub fn new(root: &Path, baseurl: &str) -> Dnf {
        for dir in ["repos.d", "cache", "installroot"] {
            std::fs::create_dir_all(root.join(dir)).expect("dnf dir");
        }
        // Debian's /etc/dnf/dnf.conf sets gpgcheck and skip_if_unavailable=True;
        // a config of our own keeps both (and anything else) out.
        std::fs::write(
            root.join("dnf.conf"),
            "[main]\ngpgcheck=0\nskip_if_unavailable=0\ninstall_weak_deps=0\n",
        )
        .expect("dnf.conf");
        Dnf {
            root: root.to_owned(),
            baseurl: baseurl.to_owned(),
        }
    }

    /// The installroot.
    pub fn installroot(&self) -> PathBuf {
        self.root.join("installroot")
    }

    /// `dnf ARGS` with the hermetic options; the output, whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        let path = |p: &str| self.root.join(p).display().to_string();
        Command::new("dnf")
            .arg("-y")
            .arg(format!("--config={}", path("dnf.conf")))
            .arg(format!("--setopt=reposdir={}", path("repos.d")))
            .arg(format!("--setopt=cachedir={}", path("cache")))
            .arg(format!("--repofrompath=air,{}", self.baseurl))
            .args(["--repo=air", "--releasever=9", "--refresh", "--nogpgcheck"])
            .args([
                "--setopt=skip_if_unavailable=0",
                "--setopt=air.skip_if_unavailable=0",
            ])
            .arg(format!("--installroot={}", path("installroot")))
            .args(args)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap_or_else(|e| {
                panic!("dnf is missing ({e}): install dnf and dnf-plugins-core, as .ci/run does")
            })
    }

    /// [`Dnf::run`] that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "dnf {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `dnf --version`'s first line.
    pub fn version() -> String {
        let out = Command::new("dnf").arg("--version").output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
            _ => panic!("dnf is missing: install dnf and dnf-plugins-core, as .ci/run does"),
        }
    }
}
