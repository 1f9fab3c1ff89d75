//! The YUM section's fixture RPMs: one spec whose subpackages are the
//! packages, built once by the real `rpmbuild` and cached under
//! `target/bench/yum/fixtures-{quick,full}`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The package of 5,000,000 random bytes, among the set.
pub const BIG: &str = "bench-big";
/// The package added to a published set (not in it).
pub const EXTRA: &str = "bench-extra";
/// Written last, with the package count: its presence means a complete build.
const DONE: &str = "done";

/// The built packages.
pub struct Rpms {
    /// The set a repository starts with, sorted by file name: `count - 1`
    /// small packages and the 5 MB one.
    pub set: Vec<PathBuf>,
    /// The one added to the set afterwards.
    pub extra: PathBuf,
    /// The 5 MB package's file name.
    pub big_name: String,
    /// Bytes in the set.
    pub bytes: u64,
}

/// The packages for a run: `count` in the set (built unless cached).
pub fn build(dir: &Path, count: usize) -> Result<Rpms, String> {
    let done = dir.join(DONE);
    if std::fs::read_to_string(&done).ok().as_deref() != Some(&count.to_string()) {
        let _ = std::fs::remove_dir_all(dir);
        eprintln!("bench: yum: building {count} fixture RPMs with rpmbuild (once; about a minute per 500)");
        rpmbuild(dir, count)?;
        std::fs::write(&done, count.to_string()).map_err(io)?;
    }
    let mut set = rpms_in(&dir.join("set"))?;
    set.sort();
    let extra = rpms_in(&dir.join("extra"))?
        .pop()
        .ok_or("no extra fixture RPM")?;
    let big_name = set
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .find(|n| n.starts_with(BIG))
        .ok_or("no 5 MB fixture RPM")?
        .to_owned();
    let mut bytes = 0;
    for rpm in &set {
        bytes += std::fs::metadata(rpm).map_err(io)?.len();
    }
    Ok(Rpms {
        set,
        extra,
        big_name,
        bytes,
    })
}

fn io(e: impl std::fmt::Display) -> String {
    format!("yum fixtures: {e}")
}

fn rpms_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| io(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .collect())
}

/// Builds the spec and moves its packages into `set/` and `extra/`; the
/// build tree (with its buildroot) is removed.
fn rpmbuild(dir: &Path, count: usize) -> Result<(), String> {
    let top = dir.join("rpmbuild");
    std::fs::create_dir_all(top.join("SPECS")).map_err(io)?;
    let spec = top.join("SPECS/bench.spec");
    std::fs::write(&spec, spec_text(count - 1)).map_err(io)?;
    let out = Command::new("rpmbuild")
        .arg("--quiet")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--define", "_build_id_links none"])
        .args(["--define", "debug_package %{nil}"])
        .args(["--define", "__os_install_post %{nil}"])
        .arg("-bb")
        .arg(&spec)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("rpmbuild: {e} (apt-get install rpm)"))?;
    if !out.status.success() {
        return Err(format!(
            "rpmbuild failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for sub in ["set", "extra"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io)?;
    }
    for rpm in rpms_in(&top.join("RPMS/noarch"))? {
        let name = rpm.file_name().ok_or("no file name")?.to_owned();
        let sub = if name.to_string_lossy().starts_with(EXTRA) {
            "extra"
        } else {
            "set"
        };
        std::fs::rename(&rpm, dir.join(sub).join(name)).map_err(io)?;
    }
    std::fs::remove_dir_all(&top).map_err(io)
}

/// Changelog entries of every package (createrepo_c keeps the newest 10).
const CHANGELOG_ENTRIES: usize = 12;

/// A spec with `small` packages `bench-NNNN`, the 5 MB `bench-big` and
/// `bench-extra`. Each small one has a script in `/usr/bin` (primary's file
/// list; its shebang brings `Requires: /bin/sh`), a `%config` file in `/etc`,
/// a directory of data files (2–120 KB of random bytes), a provide, a require
/// of the next one, and the changelog. Payloads are gzip level 1: the random
/// bytes do not compress anyway.
fn spec_text(small: usize) -> String {
    let mut s = String::from(
        "Name: bench\nVersion: 1.0\nRelease: 1\nSummary: airlock bench fixtures\nLicense: MIT\n\
         URL: https://example.invalid/bench\nBuildArch: noarch\n\
         %define _binary_payload w1.gzdio\n\n%description\nFixtures for the airlock YUM bench.\n\n",
    );
    let mut names: Vec<String> = (0..small).map(|i| format!("bench-{i:04}")).collect();
    names.push(EXTRA.to_owned());
    for (i, name) in names.iter().enumerate() {
        let next = (i + 1) % names.len();
        let _ = write!(
            s,
            "%package -n {name}\nSummary: Bench package {i}\nProvides: bench-cap-{i} = 1.0\n\
             Requires: bench-cap-{next} >= 1.0\n\n%description -n {name}\n\
             Bench package number {i}, with files in /usr/bin, /etc and /usr/share.\n\n\
             %files -n {name}\n%dir /etc/{name}\n%config(noreplace) /etc/{name}/{name}.conf\n\
             /usr/bin/{name}\n/usr/share/{name}\n\n"
        );
    }
    let _ = write!(
        s,
        "%package -n {BIG}\nSummary: 5 MB of random bytes\n\n%description -n {BIG}\n\
         A large package.\n\n%files -n {BIG}\n/usr/share/{BIG}\n\n"
    );
    let _ = write!(
        s,
        "%install\ni=0\nfor n in {names}; do\n  \
         mkdir -p %{{buildroot}}/etc/$n %{{buildroot}}/usr/bin %{{buildroot}}/usr/share/$n\n  \
         echo \"setting=$i\" > %{{buildroot}}/etc/$n/$n.conf\n  \
         printf '#!/bin/sh\\necho %s\\n' $n > %{{buildroot}}/usr/bin/$n\n  \
         chmod 755 %{{buildroot}}/usr/bin/$n\n  \
         head -c $(( (i * 7919) % 118000 + 2000 )) /dev/urandom > %{{buildroot}}/usr/share/$n/data.bin\n  \
         for f in a b c d e f g h; do echo $f > %{{buildroot}}/usr/share/$n/$f.txt; done\n  \
         i=$((i + 1))\n\
         done\nmkdir -p %{{buildroot}}/usr/share/{BIG}\n\
         head -c 5000000 /dev/urandom > %{{buildroot}}/usr/share/{BIG}/data.bin\n\n%changelog\n",
        names = names.join(" "),
    );
    // Newest first, a day apart, as rpmbuild wants them.
    for k in 0..CHANGELOG_ENTRIES {
        let day = 28 - k;
        // 1 December 2024 was a Sunday.
        let weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][(day - 1) % 7];
        let _ = write!(
            s,
            "* {weekday} Dec {day:02} 2024 Airlock Bench <bench@example.invalid> - 1.0-{}\n\
             - Change number {} of the bench fixtures.\n",
            CHANGELOG_ENTRIES - k,
            CHANGELOG_ENTRIES - k
        );
    }
    s
}
