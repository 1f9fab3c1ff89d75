//! YUM hosted repositories end to end: fixture RPMs built by `rpmbuild`,
//! uploaded to the real airlock, and used by the real `dnf`; repodata compared
//! with `createrepo_c`'s field by field; bad uploads refused without a trace.

use crate::support::scratch;
use crate::support::server::{assert_fsck, binary, header, write_config, Airlock};
use crate::support::yumclient::Dnf;
use crate::support::yumfixture::{
    build_many_rpms, build_rpms, createrepo, fields, gunzip, repomd_href,
};
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

const REPO: &str = "internal/tools";
const USER: &str = "ci";
const PASSWORD: &str = "s3cret-upload";

/// A config with one hosted repository and one writer.
fn yum_config() -> String {
    let out = std::process::Command::new(binary())
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(PASSWORD.as_bytes())?;
            child.wait_with_output()
        })
        .expect("hash-password");
    let hash = String::from_utf8(out.stdout).expect("utf-8");
    format!(
        "[[users]]\nname = \"{USER}\"\npassword_hash = \"{}\"\n\n[yum]\n[[yum.repositories]]\nname = \"{REPO}\"\nkind = \"hosted\"\n",
        hash.trim()
    )
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn rpm_named<'a>(rpms: &'a [PathBuf], prefix: &str) -> &'a Path {
    rpms.iter()
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no fixture {prefix}"))
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).expect("name")
}

/// `PUT /yum/<repo>/<name>` with the writer's credentials.
fn upload(airlock: &Airlock, name: &str, body: Vec<u8>) -> Response {
    client()
        .put(airlock.url(&format!("/yum/{REPO}/{name}")))
        .basic_auth(USER, Some(PASSWORD))
        .body(body)
        .send()
        .expect("PUT")
}

/// `airlock yum add REPO FILES…` on the data directory (a server may be running on it).
fn yum_add(data: &Path, files: &[&Path]) -> std::process::Output {
    yum_add_command(data, files)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run airlock yum add")
}

/// The command [`yum_add`] runs, not yet started.
fn yum_add_command(data: &Path, files: &[&Path]) -> std::process::Command {
    let config = write_config(data, &yum_config());
    let mut command = std::process::Command::new(binary());
    command
        .args(["yum", "add", "-c"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .arg(REPO)
        .args(files);
    command
}

fn get(airlock: &Airlock, path: &str) -> Response {
    client().get(airlock.url(path)).send().expect("GET")
}

fn repomd(airlock: &Airlock) -> String {
    let response = get(airlock, &format!("/yum/{REPO}/repodata/repomd.xml"));
    assert_eq!(response.status(), StatusCode::OK);
    response.text().expect("repomd body")
}

/// The published primary.xml, decompressed.
fn published_primary(airlock: &Airlock) -> String {
    let href = repomd_href(&repomd(airlock), "primary");
    let response = get(airlock, &format!("/yum/{REPO}/{href}"));
    assert_eq!(response.status(), StatusCode::OK);
    gunzip(&response.bytes().expect("primary"))
}

#[test]
fn dnf_installs_from_a_hosted_repository_after_uploads() {
    eprintln!("dnf: {}", Dnf::version());
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let data = dir.path().join("data");
    let airlock = Airlock::start(&data, &yum_config(), &[]);

    // Two packages over HTTP, the third with `airlock yum add` while the server runs.
    for prefix in ["hello-airlock", "airlock-lib"] {
        let rpm = rpm_named(&rpms, prefix);
        let response = upload(&airlock, file_name(rpm), std::fs::read(rpm).expect("rpm"));
        assert_eq!(response.status(), StatusCode::CREATED, "{prefix}");
    }
    let fake_sh = rpm_named(&rpms, "fake-sh");
    let out = yum_add(&data, &[fake_sh]);
    assert!(
        out.status.success(),
        "airlock yum add: {}",
        String::from_utf8_lossy(&out.stderr)
    );

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
    let provides = dnf.ok(&["repoquery", "--whatprovides", "airlock-hello"]);
    assert!(
        provides.contains("hello-airlock-0:1.0-1.el10.noarch"),
        "{provides}"
    );

    let downloads = dir.path().join("downloads");
    dnf.ok(&[
        "download",
        &format!("--destdir={}", downloads.display()),
        "hello-airlock",
    ]);
    let hello = rpm_named(&rpms, "hello-airlock");
    assert_eq!(
        std::fs::read(downloads.join(file_name(hello))).expect("downloaded"),
        std::fs::read(hello).expect("fixture")
    );

    // reposync checks every package against primary's checksum and size.
    let mirror = dir.path().join("reposync");
    dnf.ok(&[
        "reposync",
        "--download-metadata",
        &format!("--download-path={}", mirror.display()),
    ]);
    for prefix in ["hello-airlock", "airlock-lib", "fake-sh"] {
        let rpm = rpm_named(&rpms, prefix);
        assert_eq!(
            std::fs::read(mirror.join("air").join(file_name(rpm))).expect("synced package"),
            std::fs::read(rpm).expect("fixture"),
            "{}",
            rpm.display()
        );
    }
    assert!(mirror.join("air/repodata/repomd.xml").is_file());

    // An empty installroot has no shell: scriptlets cannot run there.
    dnf.ok(&["--setopt=tsflags=noscripts", "install", "hello-airlock"]);
    let installed = std::process::Command::new("rpm")
        .arg("--root")
        .arg(dnf.installroot())
        .args(["-qa", "--qf", "%{NAME}-%{EPOCH}:%{VERSION}\\n"])
        .output()
        .expect("rpm -qa");
    let installed = String::from_utf8_lossy(&installed.stdout);
    for package in [
        "hello-airlock-(none):1.0",
        "airlock-lib-1:2.1",
        "fake-sh-(none):1",
    ] {
        assert!(installed.contains(package), "{package} in {installed}");
    }
    assert!(dnf.installroot().join("usr/bin/hello-airlock").is_file());

    // Deleting a package republishes: dnf no longer sees it.
    let lib = rpm_named(&rpms, "airlock-lib");
    let deleted = client()
        .delete(airlock.url(&format!("/yum/{REPO}/{}", file_name(lib))))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::OK);
    let listed = dnf.ok(&["repoquery", "--qf", "%{name}"]);
    assert!(
        !listed.contains("airlock-lib") && listed.contains("hello-airlock"),
        "{listed}"
    );

    // The same bytes again change nothing.
    let before = repomd(&airlock);
    let again = upload(
        &airlock,
        file_name(hello),
        std::fs::read(hello).expect("rpm"),
    );
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(repomd(&airlock), before);

    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}

#[test]
fn repodata_matches_createrepo_c_field_by_field() {
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let data = dir.path().join("data");
    let airlock = Airlock::start(&data, &yum_config(), &[]);
    // All at once: concurrent publishes must end with every package listed.
    std::thread::scope(|threads| {
        for rpm in &rpms {
            let airlock = &airlock;
            threads.spawn(move || {
                let response = upload(airlock, file_name(rpm), std::fs::read(rpm).expect("rpm"));
                assert_eq!(response.status(), StatusCode::CREATED);
            });
        }
    });
    let reference = createrepo(dir.path(), &rpms);
    let reference_repomd =
        std::fs::read_to_string(reference.join("repodata/repomd.xml")).expect("repomd");
    let ours_repomd = repomd(&airlock);
    for kind in ["primary", "filelists", "other"] {
        let href = repomd_href(&ours_repomd, kind);
        let compressed = get(&airlock, &format!("/yum/{REPO}/{href}"))
            .bytes()
            .expect("metadata");
        // Named by its checksum, as createrepo_c names it.
        let digest = hex::encode(Sha256::digest(&compressed));
        assert!(href.ends_with(&format!("{digest}-{kind}.xml.gz")), "{href}");
        let ours = gunzip(&compressed);
        if kind == "primary" {
            // The binary fixture exercises the libc require rule.
            assert!(ours.contains("libc.so.6(GLIBC_"), "{ours}");
        }
        let theirs = gunzip(
            &std::fs::read(reference.join(repomd_href(&reference_repomd, kind))).expect("theirs"),
        );
        // <time file> is the file's mtime for createrepo_c and the upload time for airlock.
        let (ours, theirs) = (
            fields(&ours, &["time@file"]),
            fields(&theirs, &["time@file"]),
        );
        assert!(ours.len() > 10, "{kind}: {ours:?}");
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(a, b, "{kind}: item {i} differs");
        }
        assert_eq!(ours.len(), theirs.len(), "{kind}: item count");
    }
    // repomd.xml: the same records, each with the size and checksum of its file.
    let types = |repomd: &str| -> Vec<String> {
        fields(repomd, &[])
            .into_iter()
            .filter(|f| f.starts_with("repomd/data ["))
            .collect()
    };
    let reference_types: Vec<String> = types(&reference_repomd);
    assert_eq!(types(&ours_repomd), reference_types);
}

#[test]
fn yum_add_of_many_files_takes_them_in_order_and_skips_the_bad_ones() {
    let dir = scratch();
    let rpms = build_many_rpms(&dir.path().join("many"), 40);
    // Among the 40: a file that is no RPM, and at the end a copy of the
    // first under another name (its NEVRA a second time).
    let garbage = dir.path().join("garbage-1.0-1.noarch.rpm");
    std::fs::write(&garbage, b"not an rpm").expect("garbage");
    let copy = dir.path().join("copy-of-many-000.rpm");
    std::fs::copy(&rpms[0], &copy).expect("copy");
    let mut files: Vec<&Path> = rpms.iter().map(PathBuf::as_path).collect();
    files.insert(20, &garbage);
    files.push(&copy);
    let data = dir.path().join("data");

    let out = yum_add(&data, &files);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let added: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("adding "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let given: Vec<&str> = rpms.iter().map(|p| file_name(p)).collect();
    assert_eq!(added, given, "added in the order given");
    assert!(
        stdout.contains("40 added, 0 unchanged, 2 refused"),
        "{stdout}"
    );
    assert!(
        stderr.contains("garbage-1.0-1.noarch.rpm:")
            && stderr.contains("copy-of-many-000.rpm: another file of this run"),
        "{stderr}"
    );

    // The same files again, while a server runs on the data directory.
    let airlock = Airlock::start(&data, &yum_config(), &[]);
    let out = yum_add(&data, &files[..files.len() - 1]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 added, 40 unchanged, 1 refused"),
        "{stdout}"
    );
    let primary = published_primary(&airlock);
    assert!(primary.contains("packages=\"40\""), "{primary}");
    for name in &given {
        assert!(primary.contains(&format!("href=\"{name}\"")), "{name}");
    }
    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}

#[test]
fn yum_add_killed_at_any_moment_leaves_a_clean_store_and_the_rerun_completes() {
    let dir = scratch();
    let rpms = build_many_rpms(&dir.path().join("many"), 40);
    let files: Vec<&Path> = rpms.iter().map(PathBuf::as_path).collect();
    // A whole run takes about 0.1 s: kill -9 at moments spread over it (the
    // index being created, files staged, a batch committed, the publish),
    // each into a data directory of its own.
    for delay_ms in (0..=120).step_by(10) {
        let data = dir.path().join(format!("data-{delay_ms}"));
        let mut child = yum_add_command(&data, &files)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn yum add");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        assert_fsck(&data, &[], "0 errors");
        // The rerun takes every file, as added or as already there.
        let out = yum_add(&data, &files);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(" 0 refused"),
            "after a kill at {delay_ms} ms: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let taken = stdout
            .lines()
            .filter(|l| l.starts_with("adding ") || l.starts_with("unchanged "))
            .count();
        assert_eq!(taken, 40, "after a kill at {delay_ms} ms: {stdout}");
        assert_fsck(&data, &[], "0 errors");
    }
    let data = dir.path().join("data-60");
    let airlock = Airlock::start(&data, &yum_config(), &[]);
    let primary = published_primary(&airlock);
    assert!(primary.contains("packages=\"40\""), "{primary}");
}

#[test]
fn bad_uploads_are_refused_and_change_nothing() {
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let data = dir.path().join("data");
    let airlock = Airlock::start(&data, &yum_config(), &[]);
    let hello = rpm_named(&rpms, "hello-airlock");
    let hello_bytes = std::fs::read(hello).expect("rpm");
    assert_eq!(
        upload(&airlock, file_name(hello), hello_bytes.clone()).status(),
        StatusCode::CREATED
    );
    let repomd_before = repomd(&airlock);
    let listing_before = get(&airlock, &format!("/yum/{REPO}/"))
        .text()
        .expect("listing");

    let lib = std::fs::read(rpm_named(&rpms, "airlock-lib")).expect("rpm");
    let mut flipped = lib.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut in the payload",
            lib[..lib.len() * 3 / 4].to_vec(),
            "truncated",
        ),
        ("cut in the header", lib[..3000].to_vec(), "truncated"),
        (
            "not an RPM",
            b"#!/bin/sh\necho not an rpm\n".to_vec(),
            "not an RPM",
        ),
        ("a flipped payload byte", flipped, "altered"),
        ("empty", Vec::new(), "truncated"),
    ];
    for (what, body, expect) in cases {
        let response = upload(&airlock, "airlock-lib-2.1-3.noarch.rpm", body);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        let text = response.text().expect("body");
        assert!(text.contains(expect), "{what}: {text}");
    }
    // Another file's bytes under a stored path.
    let conflict = upload(&airlock, file_name(hello), lib.clone());
    assert_eq!(conflict.status(), StatusCode::CONFLICT);

    let put = |path: &str, auth: Option<(&str, &str)>| {
        let mut request = client().put(airlock.url(path)).body(lib.clone());
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        request.send().expect("PUT").status()
    };
    let writer = Some((USER, PASSWORD));
    let cases = [
        (format!("/yum/{REPO}/a.rpm"), None, StatusCode::UNAUTHORIZED),
        (
            format!("/yum/{REPO}/a.rpm"),
            Some((USER, "wrong")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            format!("/yum/{REPO}/..%2Fevil.rpm"),
            writer,
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/yum/{REPO}/repodata/x.rpm"),
            writer,
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/yum/{REPO}/notes.txt"),
            writer,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/yum/no/such/repo/a.rpm".to_owned(),
            writer,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, auth, status) in cases {
        assert_eq!(put(&path, auth), status, "PUT {path}");
    }
    assert_eq!(
        get(&airlock, &format!("/yum/{REPO}/..%2F..%2Fairlock.db")).status(),
        StatusCode::BAD_REQUEST
    );
    // Dot segments as sent on the wire (HTTP clients would resolve them first).
    for (method, path) in [
        ("PUT", format!("/yum/{REPO}/../evil.rpm")),
        ("PUT", format!("/yum/{REPO}/%2e%2e/evil.rpm")),
        ("GET", format!("/yum/{REPO}/../../airlock.db")),
        ("GET", format!("/yum/{REPO}/%2E%2E/%2e%2e/airlock.db")),
        ("GET", format!("/yum/{REPO}/./repodata/repomd.xml")),
    ] {
        assert_eq!(
            raw_status(&airlock, method, &path, &lib),
            400,
            "{method} {path}"
        );
    }
    assert_eq!(
        get(&airlock, &format!("/yum/{REPO}/blobs/x")).status(),
        StatusCode::NOT_FOUND
    );

    assert_eq!(repomd(&airlock), repomd_before);
    assert_eq!(
        get(&airlock, &format!("/yum/{REPO}/"))
            .text()
            .expect("listing"),
        listing_before
    );

    // `airlock yum add` refuses a bad file, names it, and still adds the good ones.
    let bad = dir.path().join("broken-1-1.noarch.rpm");
    std::fs::write(&bad, &lib[..lib.len() / 2]).expect("bad file");
    let good = rpm_named(&rpms, "fake-sh");
    let out = yum_add(&data, &[&bad, good]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("broken-1-1.noarch.rpm"),
        "{stderr}"
    );
    assert!(stderr.contains("truncated"), "{stderr}");
    assert_eq!(
        get(&airlock, &format!("/yum/{REPO}/{}", file_name(good))).status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&airlock, &format!("/yum/{REPO}/broken-1-1.noarch.rpm")).status(),
        StatusCode::NOT_FOUND
    );
    drop(airlock);
    let (ok, report) = crate::support::server::fsck(&data, &[]);
    assert!(ok && report.contains("0 errors, 0 warnings"), "{report}");
}

/// The status of a request sent byte for byte as given, with the writer's
/// credentials and `body` for a PUT.
fn raw_status(airlock: &Airlock, method: &str, path: &str, body: &[u8]) -> u16 {
    use base64::Engine as _;
    use std::io::{Read as _, Write as _};
    let host = airlock.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let body = if method == "PUT" { body } else { &[] };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("request head");
    stream.write_all(body).expect("request body");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

#[test]
fn files_are_served_like_a_static_tree() {
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let data = dir.path().join("data");
    let airlock = Airlock::start(&data, &yum_config(), &[]);
    for rpm in &rpms {
        assert_eq!(
            upload(&airlock, file_name(rpm), std::fs::read(rpm).expect("rpm")).status(),
            StatusCode::CREATED
        );
    }
    let repomd_url = airlock.url(&format!("/yum/{REPO}/repodata/repomd.xml"));
    let first = client().get(&repomd_url).send().expect("GET");
    assert_eq!(header(&first, "content-type"), "text/xml");
    let (etag, modified) = (header(&first, "etag"), header(&first, "last-modified"));
    assert!(
        etag.starts_with("\"sha256:") && modified.ends_with(" GMT"),
        "{etag} {modified}"
    );
    let length = first.bytes().expect("body").len();
    let head = client().head(&repomd_url).send().expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "content-length"), length.to_string());
    let not_modified = |name: &str, value: &str| {
        client()
            .get(&repomd_url)
            .header(name, value)
            .send()
            .expect("conditional GET")
            .status()
    };
    assert_eq!(
        not_modified("if-none-match", &etag),
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        not_modified("if-modified-since", &modified),
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        not_modified("if-modified-since", "Thu, 01 Jan 2004 00:00:00 GMT"),
        StatusCode::OK
    );

    // dnf resumes downloads with Range.
    let hello = rpm_named(&rpms, "hello-airlock");
    let hello_bytes = std::fs::read(hello).expect("rpm");
    let ranged = client()
        .get(airlock.url(&format!("/yum/{REPO}/{}", file_name(hello))))
        .header("range", "bytes=100-")
        .send()
        .expect("range GET");
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&ranged, "content-type"), "application/x-rpm");
    assert_eq!(
        header(&ranged, "content-range"),
        format!("bytes 100-{}/{}", hello_bytes.len() - 1, hello_bytes.len())
    );
    assert_eq!(ranged.bytes().expect("body").as_ref(), &hello_bytes[100..]);

    // A package larger than one read chunk, whole and from inside.
    let lib = rpm_named(&rpms, "airlock-lib");
    let lib_bytes = std::fs::read(lib).expect("rpm");
    assert!(lib_bytes.len() > 2 << 20);
    let lib_url = airlock.url(&format!("/yum/{REPO}/{}", file_name(lib)));
    let whole = client()
        .get(&lib_url)
        .send()
        .expect("GET")
        .bytes()
        .expect("body");
    assert!(whole.as_ref() == lib_bytes.as_slice());
    let middle = client()
        .get(&lib_url)
        .header("range", "bytes=500000-1600000")
        .send()
        .expect("range GET");
    assert_eq!(middle.status(), StatusCode::PARTIAL_CONTENT);
    assert!(middle.bytes().expect("body").as_ref() == &lib_bytes[500_000..=1_600_000]);

    // Directories, as nginx autoindex shows them.
    let repo_dir = get(&airlock, &format!("/yum/{REPO}"));
    assert_eq!(repo_dir.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&repo_dir, "location"), format!("/yum/{REPO}/"));
    let listing = get(&airlock, &format!("/yum/{REPO}/"))
        .text()
        .expect("listing");
    assert!(
        listing.contains("<title>Index of /yum/internal/tools/</title>"),
        "{listing}"
    );
    assert!(
        listing.contains("<a href=\"repodata/\">repodata/</a>"),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("<a href=\"{0}\">{0}</a>", file_name(hello))),
        "{listing}"
    );
    assert_eq!(header(&get(&airlock, "/yum"), "location"), "/yum/");
    assert!(get(&airlock, "/yum/")
        .text()
        .expect("root")
        .contains("href=\"internal/\""));
    assert!(get(&airlock, "/yum/internal/")
        .text()
        .expect("dir")
        .contains("href=\"tools/\""));
    let repodata = get(&airlock, &format!("/yum/{REPO}/repodata/"))
        .text()
        .expect("repodata");
    assert!(repodata.contains("href=\"repomd.xml\""), "{repodata}");
    assert_eq!(
        get(&airlock, &format!("/yum/{REPO}/repodata")).status(),
        StatusCode::MOVED_PERMANENTLY
    );
    for missing in [
        format!("/yum/{REPO}/nothing.rpm"),
        format!("/yum/{REPO}/nothing/"),
        "/yum/elsewhere/".to_owned(),
    ] {
        assert_eq!(
            get(&airlock, &missing).status(),
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }

    let metrics = get(&airlock, "/metrics").text().expect("metrics");
    assert!(
        metrics.contains("airlock_yum_packages{repository=\"internal/tools\",kind=\"hosted\"} 4"),
        "{metrics}"
    );
    let root = get(&airlock, "/").text().expect("root page");
    assert!(root.contains("/yum/internal/tools/"), "{root}");

    // A republish switches repomd.xml; the files the old one lists stay servable.
    let old_repomd = repomd(&airlock);
    let old_primary = repomd_href(&old_repomd, "primary");
    let fake_sh = rpm_named(&rpms, "fake-sh");
    let deleted = client()
        .delete(airlock.url(&format!("/yum/{REPO}/{}", file_name(fake_sh))))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::OK);
    let new_repomd = repomd(&airlock);
    assert_ne!(repomd_href(&new_repomd, "primary"), old_primary);
    assert_eq!(
        get(&airlock, &format!("/yum/{REPO}/{old_primary}")).status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&airlock, &format!("/yum/{REPO}/{}", file_name(fake_sh))).status(),
        StatusCode::OK,
        "a deleted package stays servable for the grace period"
    );
    let again = client()
        .delete(airlock.url(&format!("/yum/{REPO}/{}", file_name(fake_sh))))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .expect("DELETE");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // A restart publishes nothing new: repomd.xml stays byte-identical, so
    // clients' metadata caches stay valid.
    drop(airlock);
    let airlock = Airlock::start(&data, &yum_config(), &[]);
    assert_eq!(repomd(&airlock), new_repomd);
}

/// RFC 9110's conditional requests and methods, as nginx answers them: a
/// download resumed with `If-Range` across a change gets the whole new file,
/// never old bytes joined to new ones.
#[test]
fn conditional_requests_and_methods_follow_rfc_9110() {
    let dir = scratch();
    let rpms = build_rpms(dir.path());
    let data = dir.path().join("data");
    // A second repository under the same `internal/`, and a mirror.
    let config = format!(
        "{}\n[[yum.repositories]]\nname = \"internal/el9\"\nkind = \"hosted\"\n\n\
         [[yum.repositories]]\nname = \"mirror/upstream\"\nkind = \"mirror\"\n\
         upstream = \"http://127.0.0.1:9/\"\n",
        yum_config()
    );
    let mut airlock = Airlock::start(&data, &config, &[]);
    let hello = rpm_named(&rpms, "hello-airlock");
    let other = rpm_named(&rpms, "fake-sh");
    let name = file_name(hello);
    let url = airlock.url(&format!("/yum/{REPO}/{name}"));
    assert_eq!(
        upload(&airlock, name, std::fs::read(hello).expect("rpm")).status(),
        StatusCode::CREATED
    );
    let first = client().get(&url).send().expect("GET");
    let (old_etag, old_modified) = (header(&first, "etag"), header(&first, "last-modified"));
    let ranged = |if_range: &str| {
        client()
            .get(&url)
            .header("range", "bytes=100-")
            .header("if-range", if_range)
            .send()
            .expect("GET")
            .status()
    };
    assert_eq!(ranged(&old_etag), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged(&old_modified), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged(&format!("W/{old_etag}")), StatusCode::OK);

    // Other bytes at the same path: the old validators no longer hold.
    let deleted = client()
        .delete(&url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::OK);
    let other_bytes = std::fs::read(other).expect("rpm");
    assert_eq!(
        upload(&airlock, name, other_bytes.clone()).status(),
        StatusCode::CREATED
    );
    let resumed = client()
        .get(&url)
        .header("range", "bytes=100-")
        .header("if-range", &old_etag)
        .send()
        .expect("GET");
    assert_eq!(resumed.status(), StatusCode::OK);
    assert!(resumed.bytes().expect("body").as_ref() == other_bytes.as_slice());
    let conditional =
        |name: &str, value: &str| client().get(&url).header(name, value).send().expect("GET");
    let etag = header(&client().get(&url).send().expect("GET"), "etag");
    assert_ne!(etag, old_etag);
    let weak = conditional("if-none-match", &format!("W/{etag}"));
    assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&weak, "cache-control"), "public, max-age=3600");
    assert!(header(&weak, "last-modified").ends_with(" GMT"));
    assert_eq!(
        conditional("if-match", &old_etag).status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(conditional("if-match", &etag).status(), StatusCode::OK);
    assert_eq!(
        conditional("range", "BYTES=0-9").status(),
        StatusCode::PARTIAL_CONTENT
    );

    // Methods: 405 with Allow, HEAD wherever GET works.
    let post = client().post(&url).send().expect("POST");
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&post, "allow"), "GET, HEAD, PUT, DELETE");
    let to_mirror = client()
        .put(airlock.url("/yum/mirror/upstream/x.rpm"))
        .basic_auth(USER, Some(PASSWORD))
        .body(other_bytes)
        .send()
        .expect("PUT");
    assert_eq!(to_mirror.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&to_mirror, "allow"), "GET, HEAD");
    for page in ["/", "/metrics", "/healthz", "/readyz"] {
        let head = client().head(airlock.url(page)).send().expect("HEAD");
        assert_eq!(head.status(), StatusCode::OK, "HEAD {page}");
    }

    // Caching: only checksum-named metadata is immutable.
    let repomd_text = repomd(&airlock);
    let primary = repomd_href(&repomd_text, "primary");
    let cache_of = |path: &str| header(&get(&airlock, path), "cache-control");
    assert_eq!(
        cache_of(&format!("/yum/{REPO}/repodata/repomd.xml")),
        "no-cache"
    );
    assert_eq!(
        cache_of(&format!("/yum/{REPO}/{primary}")),
        "public, max-age=604800, immutable"
    );

    // Listings: `internal/` once, though two repositories are under it.
    let top = get(&airlock, "/yum/").text().expect("listing");
    assert_eq!(top.matches("href=\"internal/\"").count(), 1, "{top}");

    // The root page and /metrics show the configured repositories only.
    airlock.stop();
    let fewer = config.replace("name = \"internal/el9\"", "name = \"internal/el10\"");
    // `yum add` refuses a mirror before reading anything, and does not
    // publish it (empty, before its first sync).
    let refused = std::process::Command::new(binary())
        .args(["yum", "add", "-c"])
        .arg(write_config(&data, &fewer))
        .arg("--data-dir")
        .arg(&data)
        .args(["mirror/upstream"])
        .arg(hello)
        .output()
        .expect("run airlock yum add");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("mirror"), "{said}");
    let airlock = Airlock::start(&data, &fewer, &[]);
    assert_eq!(
        get(&airlock, "/yum/mirror/upstream/repodata/repomd.xml").status(),
        StatusCode::NOT_FOUND
    );
    let root = get(&airlock, "/").text().expect("root page");
    let metrics = get(&airlock, "/metrics").text().expect("metrics");
    for shown in [&root, &metrics] {
        assert!(shown.contains("internal/el10"), "{shown}");
        assert!(shown.contains("mirror/upstream"), "{shown}");
        assert!(!shown.contains("internal/el9"), "{shown}");
    }
}
