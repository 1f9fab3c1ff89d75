//! YUM mirrors end to end: an upstream repository made by the real
//! `createrepo_c` from `rpmbuild` fixtures, served on loopback by the
//! fault-injecting file server; `airlock sync yum` into the real binary's
//! store; the real `dnf` against the mirror online and offline. Upstream
//! faults and `kill -9` leave the previous snapshot served, and a rerun
//! completes.

use crate::support::faulty::{Fault, Faulty};
use crate::support::scratch;
use crate::support::server::{assert_fsck, binary, run, write_config, Airlock};
use crate::support::yumclient::Dnf;
use crate::support::yumfixture::{build_rpms, repomd_href};
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = "rocky/10/baseos";

fn mirror_config(upstream: &str, extra: &str) -> String {
    format!(
        "[upstream]\nproxy = \"none\"\nfetch_timeout = \"20s\"\nretries = 0\n\n[yum]\n\
         [[yum.repositories]]\nname = \"{REPO}\"\nkind = \"mirror\"\nupstream = \"{upstream}\"\n{extra}"
    )
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).expect("name")
}

fn rpm_named<'a>(rpms: &'a [PathBuf], prefix: &str) -> &'a Path {
    rpms.iter()
        .find(|p| file_name(p).starts_with(prefix))
        .unwrap_or_else(|| panic!("no fixture {prefix}"))
}

/// (Re)writes the upstream repository at `dir` with `rpms` under
/// `Packages/`: createrepo_c's default metadata (xml and sqlite), plus an
/// unknown record type (`productid`) added by modifyrepo_c.
fn write_upstream(dir: &Path, rpms: &[&Path]) {
    write_upstream_with(dir, rpms, &[]);
}

/// [`write_upstream`] with more createrepo_c options, e.g.
/// `--general-compress-type=xz` or `--checksum=sha1`.
fn write_upstream_with(dir: &Path, rpms: &[&Path], options: &[&str]) {
    let packages = dir.join("Packages");
    let _ = std::fs::remove_dir_all(&packages);
    let _ = std::fs::remove_dir_all(dir.join("repodata"));
    std::fs::create_dir_all(&packages).expect("Packages");
    for rpm in rpms {
        std::fs::copy(rpm, packages.join(file_name(rpm))).expect("copy");
    }
    let tool = |args: &[&str]| {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{} is missing ({e}): install createrepo-c, as .ci/run does",
                    args[0]
                )
            });
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let d = dir.to_str().expect("utf-8");
    let mut createrepo = vec!["createrepo_c", "--quiet"];
    createrepo.extend_from_slice(options);
    createrepo.push(d);
    tool(&createrepo);
    let productid = dir.join("productid");
    std::fs::write(&productid, "airlock test product certificate\n").expect("productid");
    tool(&[
        "modifyrepo_c",
        "--mdtype=productid",
        productid.to_str().expect("utf-8"),
        dir.join("repodata").to_str().expect("utf-8"),
    ]);
    std::fs::remove_file(productid).expect("rm");
}

/// `airlock sync yum REPO` on a data directory.
fn sync(data: &Path, config: &str) -> std::process::Output {
    let path = write_config(data, config);
    run(&[
        "sync",
        "yum",
        REPO,
        "--config",
        path.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
    ])
}

/// `airlock sync yum` started in the background, its output dropped (a
/// test that kills it midway).
fn spawn_sync(data: &Path, config: &str) -> std::process::Child {
    Command::new(binary())
        .args(["sync", "yum", REPO, "--config"])
        .arg(write_config(data, config))
        .arg("--data-dir")
        .arg(data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sync")
}

fn sync_ok(data: &Path, config: &str) -> String {
    let out = sync(data, config);
    assert!(
        out.status.success(),
        "airlock sync yum failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sync_fails(data: &Path, config: &str) -> String {
    let out = sync(data, config);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the sync should fail:\n{text}");
    text
}

fn get(airlock: &Airlock, path: &str) -> reqwest::blocking::Response {
    crate::support::server::http()
        .get(airlock.url(&format!("/yum/{REPO}/{path}")))
        .send()
        .expect("GET")
}

fn get_bytes(airlock: &Airlock, path: &str) -> Vec<u8> {
    let response = get(airlock, path);
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.bytes().expect("body").to_vec()
}

/// Every file of the upstream tree (relative path, bytes).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for sub in ["repodata", "Packages"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("dir") {
            let path = entry.expect("entry").path();
            files.push((
                format!("{sub}/{}", file_name(&path)),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
    files.sort();
    files
}

/// Whether the store holds a blob with these bytes.
fn stored(data: &Path, bytes: &[u8]) -> bool {
    let hex = hex::encode(Sha256::digest(bytes));
    data.join("blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .exists()
}

fn installed(dnf: &Dnf) -> String {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(dnf.installroot())
        .args(["-qa", "--qf", "%{NAME}\\n"])
        .output()
        .expect("rpm -qa");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dnf_uses_a_synced_mirror_online_then_offline() {
    eprintln!("dnf: {}", Dnf::version());
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let upstream_dir = dir.path().join("upstream");
    write_upstream(
        &upstream_dir,
        &rpms.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    let upstream = Faulty::start(&upstream_dir);
    let config = mirror_config(&format!("{}/", upstream.base), "");
    let data = dir.path().join("data");

    let out = sync_ok(&data, &config);
    assert!(out.contains("new snapshot published"), "{out}");
    let fetched_once = upstream.total();

    // Offline: the upstream is never asked again.
    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    // Every upstream file, metadata (sqlite databases and productid too) and
    // packages, is served byte for byte under its upstream path.
    let files = tree(&upstream_dir);
    assert!(
        files.iter().any(|(p, _)| p.contains("-productid")),
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(files.iter().any(|(p, _)| p.ends_with(".sqlite.bz2")));
    for (path, bytes) in &files {
        assert!(get_bytes(&airlock, path) == *bytes, "{path} differs");
    }
    let repomd = String::from_utf8(get_bytes(&airlock, "repodata/repomd.xml")).expect("utf-8");

    let dnf = Dnf::new(
        &dir.path().join("dnf"),
        &airlock.url(&format!("/yum/{REPO}/")),
    );
    dnf.ok(&["makecache"]);
    let requires = dnf.ok(&["repoquery", "--requires", "hello-airlock"]);
    assert!(
        requires.contains("airlock-lib >= 2.0") && requires.contains("/bin/sh"),
        "{requires}"
    );
    let downloads = dir.path().join("downloads");
    dnf.ok(&[
        "download",
        &format!("--destdir={}", downloads.display()),
        "airlock-lib",
    ]);
    let lib = rpm_named(&rpms, "airlock-lib");
    assert!(
        std::fs::read(downloads.join(file_name(lib))).expect("downloaded")
            == std::fs::read(lib).expect("fixture")
    );
    dnf.ok(&["--setopt=tsflags=noscripts", "install", "hello-airlock"]);
    let names = installed(&dnf);
    for package in ["hello-airlock", "airlock-lib", "fake-sh"] {
        assert!(names.contains(package), "{package} in {names}");
    }
    assert_eq!(
        upstream.total(),
        fetched_once,
        "offline, the upstream is never asked"
    );

    // A second sync of an unchanged upstream reads repomd.xml only and
    // changes nothing: clients' metadata caches stay valid.
    let out = sync_ok(&data, &config);
    assert!(out.contains("unchanged"), "{out}");
    assert!(!out.contains(": 0 packages"), "{out}");
    assert_eq!(upstream.total(), fetched_once + 1);
    assert_eq!(
        String::from_utf8(get_bytes(&airlock, "repodata/repomd.xml")).expect("utf-8"),
        repomd
    );
    let root = crate::support::server::http()
        .get(airlock.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        root.contains(&format!(
            "airlock_yum_packages{{repository=\"{REPO}\",kind=\"mirror\"}} 4"
        )),
        "{root}"
    );
    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}

#[test]
fn upstream_faults_and_kill_9_leave_the_previous_snapshot_served() {
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let (hello, fake_sh, lib, tru) = (
        rpm_named(&rpms, "hello-airlock"),
        rpm_named(&rpms, "fake-sh"),
        rpm_named(&rpms, "airlock-lib"),
        rpm_named(&rpms, "airlock-true"),
    );
    let upstream_dir = dir.path().join("upstream");
    // sha1 checksums, as some older repositories declare: checked as they
    // stream, and a stored package is recognised by its bytes.
    let sha1 = ["--checksum=sha1"];
    write_upstream_with(&upstream_dir, &[hello, fake_sh, lib], &sha1);
    let upstream = Faulty::start(&upstream_dir);
    let config = mirror_config(&upstream.base, "");
    let data = dir.path().join("data");
    sync_ok(&data, &config);
    let airlock = Airlock::start(&data, &config, &[]);
    let first_repomd = get_bytes(&airlock, "repodata/repomd.xml");
    let first_primary = repomd_href(&String::from_utf8_lossy(&first_repomd), "primary");

    // Upstream moves on: airlock-true is new.
    write_upstream_with(&upstream_dir, &[hello, fake_sh, lib, tru], &sha1);
    let lib_path = format!("/Packages/{}", file_name(lib));
    let true_path = format!("/Packages/{}", file_name(tru));
    let lib_bytes = std::fs::read(lib).expect("lib");
    let true_bytes = std::fs::read(tru).expect("true");
    let served_unchanged = |airlock: &Airlock| {
        assert!(get_bytes(airlock, "repodata/repomd.xml") == first_repomd);
        assert_eq!(
            get(airlock, &true_path[1..]).status(),
            StatusCode::NOT_FOUND
        );
    };

    // A flipped byte in a package: its check fails, nothing of it is stored.
    // airlock-lib was stored by the first sync; the new package is the target.
    let mut flipped = true_bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    upstream.set(&true_path, Fault::Body(flipped.clone()));
    let out = sync_fails(&data, &config);
    assert!(
        out.contains("checksum mismatch") && out.contains(file_name(tru)),
        "{out}"
    );
    assert!(!stored(&data, &flipped) && !stored(&data, &true_bytes));
    served_unchanged(&airlock);

    for (fault, expect) in [
        (Fault::Status(503), "503"),
        (Fault::Truncate(1000), "bytes"),
        (
            Fault::Body(true_bytes[..true_bytes.len() - 1].to_vec()),
            "bytes",
        ),
    ] {
        upstream.set(&true_path, fault);
        let out = sync_fails(&data, &config);
        assert!(out.contains(expect), "{expect}: {out}");
        assert!(!stored(&data, &true_bytes));
        served_unchanged(&airlock);
    }
    // The other new files (metadata) were stored and are not fetched again.
    upstream.clear(&true_path);

    // kill -9 in the middle of a package: nothing changes for clients.
    upstream.set(
        &true_path,
        Fault::Stall(1000, std::time::Duration::from_secs(30)),
    );
    let mut child = spawn_sync(&data, &config);
    let hits = upstream.hits(&true_path);
    crate::support::eventually("the sync to reach the stalled package", || {
        upstream.hits(&true_path) > hits
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    served_unchanged(&airlock);
    let dnf = Dnf::new(
        &dir.path().join("dnf"),
        &airlock.url(&format!("/yum/{REPO}/")),
    );
    let listed = dnf.ok(&["repoquery", "--qf", "%{name}"]);
    assert!(
        listed.contains("hello-airlock") && !listed.contains("airlock-true"),
        "{listed}"
    );

    // The rerun completes, fetching only what is missing.
    upstream.clear(&true_path);
    let lib_hits = upstream.hits(&lib_path);
    sync_ok(&data, &config);
    assert_eq!(
        upstream.hits(&lib_path),
        lib_hits,
        "stored packages are not fetched again"
    );
    assert!(
        get_bytes(&airlock, "repodata/repomd.xml")
            == std::fs::read(upstream_dir.join("repodata/repomd.xml")).expect("repomd")
    );
    assert!(get_bytes(&airlock, &true_path[1..]) == true_bytes);
    assert!(get_bytes(&airlock, &lib_path[1..]) == lib_bytes);
    // A dnf that read the previous repomd.xml still finds what it lists.
    assert_eq!(get(&airlock, &first_primary).status(), StatusCode::OK);
    let listed = dnf.ok(&["repoquery", "--qf", "%{name}"]);
    assert!(listed.contains("airlock-true"), "{listed}");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}

/// Builds one more noarch package with rpmbuild; returns its path.
fn build_extra(dir: &Path, name: &str, version: &str) -> PathBuf {
    let top = dir.join(format!("rpmbuild-{name}-{version}"));
    std::fs::create_dir_all(top.join("SPECS")).expect("SPECS");
    let spec = top.join("SPECS").join(format!("{name}.spec"));
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: An older build\nLicense: MIT\n\
             BuildArch: noarch\n\n%description\nOlder.\n\n%files\n"
        ),
    )
    .expect("spec");
    let out = Command::new("rpmbuild")
        .arg("--quiet")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("-bb")
        .arg(&spec)
        .env("LC_ALL", "C")
        .output()
        .expect("rpmbuild is missing: install the rpm package, as .ci/run does");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    top.join("RPMS/noarch")
        .join(format!("{name}-{version}-1.noarch.rpm"))
}

#[test]
fn newest_only_and_arches_serve_metadata_for_exactly_the_kept_packages() {
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let older = build_extra(dir.path(), "hello-airlock", "0.9");
    let mut all: Vec<&Path> = rpms.iter().map(PathBuf::as_path).collect();
    all.push(&older);
    let upstream_dir = dir.path().join("upstream");
    // xz metadata, as EL8-era repositories have.
    write_upstream_with(&upstream_dir, &all, &["--general-compress-type=xz"]);
    let upstream = Faulty::start(&upstream_dir);
    // No package is built for this architecture: only noarch ones are kept.
    let config = mirror_config(
        &upstream.base,
        "newest_only = true\narches = [\"riscv64\"]\n",
    );
    let data = dir.path().join("data");
    sync_ok(&data, &config);
    let tru = rpm_named(&rpms, "airlock-true");
    assert_eq!(
        upstream.hits(&format!("/Packages/{}", file_name(&older))),
        0,
        "left-out packages are not fetched"
    );
    assert_eq!(upstream.hits(&format!("/Packages/{}", file_name(tru))), 0);

    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    let repomd = String::from_utf8(get_bytes(&airlock, "repodata/repomd.xml")).expect("utf-8");
    assert!(!repomd.contains("_db\""), "no sqlite records: {repomd}");
    assert!(
        repomd.contains("-primary.xml.gz"),
        "airlock's own primary: {repomd}"
    );
    assert!(repomd.contains("type=\"productid\""), "{repomd}");
    let dnf = Dnf::new(
        &dir.path().join("dnf"),
        &airlock.url(&format!("/yum/{REPO}/")),
    );
    let listed = dnf.ok(&["repoquery", "--qf", "%{name}-%{version}.%{arch}"]);
    let mut listed: Vec<&str> = listed.lines().filter(|l| !l.is_empty()).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "airlock-lib-2.1.noarch",
            "fake-sh-1.noarch",
            "hello-airlock-1.0.noarch"
        ]
    );
    assert_eq!(
        get(&airlock, &format!("Packages/{}", file_name(&older))).status(),
        StatusCode::NOT_FOUND
    );
    dnf.ok(&["--setopt=tsflags=noscripts", "install", "hello-airlock"]);
    assert!(installed(&dnf).contains("hello-airlock"));
    // filelists and other were filtered too: dnf reads changelogs from other.
    let changelog = dnf.ok(&["repoquery", "--changelog", "hello-airlock"]);
    assert!(changelog.contains("Initial package"), "{changelog}");

    // Nothing changed upstream: the served repomd.xml stays byte-identical.
    let out = sync_ok(&data, &config);
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(
        String::from_utf8(get_bytes(&airlock, "repodata/repomd.xml")).expect("utf-8"),
        repomd
    );
    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}

#[test]
fn an_on_demand_mirror_fetches_packages_as_clients_ask() {
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let upstream_dir = dir.path().join("upstream");
    write_upstream(
        &upstream_dir,
        &rpms.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    let upstream = Faulty::start(&upstream_dir);
    // No `airlock sync yum`: the server's refresh syncs at start.
    let config = mirror_config(&upstream.base, "on_demand = true\nrefresh = \"1h\"\n");
    let data = dir.path().join("data");
    let mut airlock = Airlock::start(&data, &config, &[]);
    crate::support::eventually("the first refresh", || {
        get(&airlock, "repodata/repomd.xml").status() == StatusCode::OK
    });
    let package_hits: usize = rpms
        .iter()
        .map(|r| upstream.hits(&format!("/Packages/{}", file_name(r))))
        .sum();
    assert_eq!(package_hits, 0, "metadata only");

    // A flipped byte: the client's download ends short, nothing is stored.
    let tru = rpm_named(&rpms, "airlock-true");
    let true_bytes = std::fs::read(tru).expect("rpm");
    let mut flipped = true_bytes.clone();
    flipped[true_bytes.len() / 2] ^= 0x01;
    let true_path = format!("/Packages/{}", file_name(tru));
    upstream.set(&true_path, Fault::Body(flipped.clone()));
    let cut = get(&airlock, &true_path[1..]).bytes();
    assert!(
        cut.as_deref()
            .map_or(true, |got| got.len() < true_bytes.len()),
        "the download must end short"
    );
    crate::support::eventually("the refusal to be logged", || {
        airlock.log().contains("nothing stored")
    });
    assert!(!stored(&data, &flipped) && !stored(&data, &true_bytes));

    // dnf installs, each package fetched as it asks for it.
    let dnf = Dnf::new(
        &dir.path().join("dnf"),
        &airlock.url(&format!("/yum/{REPO}/")),
    );
    dnf.ok(&["--setopt=tsflags=noscripts", "install", "hello-airlock"]);
    assert!(installed(&dnf).contains("airlock-lib"));
    let hello = rpm_named(&rpms, "hello-airlock");
    let hello_bytes = std::fs::read(hello).expect("rpm");
    crate::support::eventually("the fetched packages to be stored", || {
        stored(&data, &hello_bytes)
    });
    let hello_path = format!("Packages/{}", file_name(hello));
    assert_eq!(upstream.hits(&format!("/{hello_path}")), 1);
    // Stored now: served from the store, not fetched again.
    assert!(get_bytes(&airlock, &hello_path) == hello_bytes);
    assert_eq!(upstream.hits(&format!("/{hello_path}")), 1);

    // Offline: what was fetched is served; the rest is a 404, never fetched.
    airlock.stop();
    drop(airlock);
    let hits = upstream.total();
    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    assert!(get_bytes(&airlock, &hello_path) == hello_bytes);
    assert_eq!(
        get(&airlock, &true_path[1..]).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        upstream.total(),
        hits,
        "offline, the upstream is never asked"
    );
    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}

/// While one package stalls, those fetched beside it are committed once the
/// batch is five seconds old: a `kill -9` then loses only the stalled one,
/// and the rerun fetches nothing else again.
#[test]
fn a_stalled_package_does_not_hold_back_the_others_commit() {
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let (hello, tru) = (
        rpm_named(&rpms, "hello-airlock"),
        rpm_named(&rpms, "airlock-true"),
    );
    let upstream_dir = dir.path().join("upstream");
    write_upstream(&upstream_dir, &[hello, tru]);
    let upstream = Faulty::start(&upstream_dir);
    let (hello_path, true_path) = (
        format!("/Packages/{}", file_name(hello)),
        format!("/Packages/{}", file_name(tru)),
    );
    upstream.set(
        &true_path,
        Fault::Stall(1000, std::time::Duration::from_secs(60)),
    );
    let config = mirror_config(&upstream.base, "");
    let data = dir.path().join("data");
    let mut child = spawn_sync(&data, &config);
    crate::support::eventually("both packages to be asked for", || {
        upstream.hits(&hello_path) > 0 && upstream.hits(&true_path) > 0
    });
    // The batch commits after its age (5 s): first the blob, then its row.
    let hello_bytes = std::fs::read(hello).expect("rpm");
    crate::support::eventually("the batch committed", || stored(&data, &hello_bytes));
    // The row follows the blob by a transaction.
    std::thread::sleep(std::time::Duration::from_secs(1));
    child.kill().expect("kill -9");
    child.wait().expect("wait");

    upstream.clear(&true_path);
    let hello_hits = upstream.hits(&hello_path);
    sync_ok(&data, &config);
    assert_eq!(
        upstream.hits(&hello_path),
        hello_hits,
        "the package committed before the kill is not fetched again"
    );
    assert_fsck(&data, &[], "0 errors");
}
