//! Mirror indexes and inheritance against the real clients. The upstream is a
//! second airlock (a hosted index with the fixture wheels) on loopback, or a
//! fault-injecting server for the hostile cases.

use crate::support::faulty::{Fault, Faulty};
use crate::support::pyclient::{self, command, fresh_venv, output, python, run_ok, tool};
use crate::support::pyfixture::{dists, sha256_file, upload_body, upload_fields, Dist};
use crate::support::scratch;
use crate::support::server::{assert_fsck, http, Airlock};
use std::path::Path;

/// A config with the user `ci`, a mirror `root/pypi` of `upstream` whose pages
/// are revalidated on every request, and `root/prod` inheriting from it.
fn mirror_config(upstream: &str) -> String {
    format!(
        "[upstream]\nproxy = \"none\"\nretries = 0\nfetch_timeout = \"5s\"\n\n\
         [[users]]\nname = \"ci\"\npassword_hash = \"{}\"\n\n\
         [pypi]\npage_max_age = \"0s\"\nmirror_page_ttl = \"0s\"\n\
         [[pypi.index]]\nname = \"root/pypi\"\nkind = \"mirror\"\nupstream = \"{upstream}\"\n\
         [[pypi.index]]\nname = \"root/prod\"\nkind = \"hosted\"\nbases = [\"root/pypi\"]\n",
        pyclient::password_hash("secret")
    )
}

/// Uploads `path` (a wheel of `dist`) to `index_url` as `ci`.
fn upload(index_url: &str, dist: &Dist, path: &Path) {
    let bytes = std::fs::read(path).expect("wheel");
    let sha = sha256_file(path);
    let filename = path.file_name().and_then(|f| f.to_str()).expect("name");
    let (content_type, body) = upload_body(
        &upload_fields(dist.name, dist.version, &sha),
        Some((filename, &bytes)),
    );
    let response = http()
        .post(index_url)
        .basic_auth("ci", Some("secret"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .expect("upload");
    assert_eq!(response.status(), 200, "{:?}", response.text());
}

/// The project names of an index's JSON root list.
fn root_names(airlock: &Airlock, index: &str) -> Vec<String> {
    let list: serde_json::Value = http()
        .get(airlock.url(&format!("/pypi/{index}/simple/")))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .expect("root list");
    list["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect()
}

fn pip_install(work: &Path, venv: &str, index_url: &str, what: &[&str]) -> (bool, String) {
    let py = fresh_venv(&work.join(venv));
    let out = output(
        command(&tool("pip"), work)
            .arg("--python")
            .arg(&py)
            .args(["install", "--no-cache-dir", "--index-url", index_url])
            .args(what),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        let check =
            "import foo_bar_baz, airlock_dep; print(foo_bar_baz.VERSION, airlock_dep.VERSION)";
        assert_eq!(python(&py, check), "1.0+local 1.0");
    }
    (out.status.success(), text)
}

#[test]
fn pypi_mirror_online_stale_offline_and_inheritance() {
    let dir = scratch();
    let work = dir.path();
    let dist_dir = work.join("dist");
    std::fs::create_dir_all(&dist_dir).expect("dist dir");
    let fixtures = dists();
    let (foo, dep1, dep2) = (&fixtures[0], &fixtures[1], &fixtures[2]);

    // The upstream: a hosted index with the fixture wheels.
    let mut upstream = Airlock::start(&work.join("up"), &pyclient::hosted_config(), &[]);
    for dist in [foo, dep1, dep2] {
        upload(
            &upstream.url("/pypi/root/dev/"),
            dist,
            &dist.wheel(&dist_dir),
        );
    }

    // A project no client asks for: listed in the mirror's root all the same.
    let unasked = Dist {
        name: "Never.Asked",
        version: "0.1",
        build: None,
        requires: &[],
        requires_python: None,
    };
    upload(
        &upstream.url("/pypi/root/dev/"),
        &unasked,
        &unasked.wheel(&dist_dir),
    );

    let data = work.join("data");
    let config = mirror_config(&upstream.url("/pypi/root/dev/simple/"));
    let mirror = Airlock::start(&data, &config, &[]);
    let mirror_url = mirror.url("/pypi/root/pypi/simple/");
    let upstream_projects = ["airlock-dep", "Foo.Bar_baz", "Never.Asked"];
    assert_eq!(root_names(&mirror, "root/pypi"), upstream_projects);
    // Revalidated (TTL 0 here) with the upstream's ETag: a 304, the same list.
    assert_eq!(root_names(&mirror, "root/pypi"), upstream_projects);
    // (The log is written just after the answer.)
    crate::support::eventually("the upstream's 304 in its log", || {
        upstream
            .log()
            .contains("path=/pypi/root/dev/simple/ status=304")
    });
    let html = http()
        .get(&mirror_url)
        .send()
        .expect("root")
        .text()
        .expect("html");
    assert!(
        html.contains("<a href=\"never-asked/\">Never.Asked</a>"),
        "{html}"
    );

    // Online: pip and uv install through the mirror.
    let (ok, text) = pip_install(work, "venv-pip", &mirror_url, &["Foo.Bar_baz"]);
    assert!(
        ok,
        "pip through the mirror:\n{text}\nlog:\n{}",
        mirror.log()
    );
    let py = fresh_venv(&work.join("venv-uv"));
    run_ok(
        command(&tool("uv"), work)
            .args(["pip", "install", "--no-cache", "--python"])
            .arg(&py)
            .args(["--index-url", &mirror_url, "Foo.Bar_baz"]),
    );

    // The page now offers PEP 658 metadata for the fetched wheel.
    let page: serde_json::Value = http()
        .get(mirror.url("/pypi/root/pypi/simple/airlock-dep/"))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .expect("page")
        .json()
        .expect("json");
    let files = page["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{page}");
    let dep1_file = files
        .iter()
        .find(|f| f["filename"] == dep1.wheel_name().as_str())
        .expect("dep 1.0 listed");
    assert!(dep1_file["core-metadata"].is_object(), "{dep1_file}");
    assert_eq!(
        dep1_file["hashes"]["sha256"],
        sha256_file(&dep1.wheel(&dist_dir)).as_str()
    );

    // Inheritance: root/prod serves its own upload and the mirror's files in one page.
    let own = Dist {
        name: "airlock-leaf",
        version: "3.0",
        build: None,
        requires: &[],
        requires_python: None,
    };
    upload(&mirror.url("/pypi/root/prod/"), &own, &own.wheel(&dist_dir));
    let prod_url = mirror.url("/pypi/root/prod/simple/");
    let (ok, text) = pip_install(
        work,
        "venv-prod",
        &prod_url,
        &["Foo.Bar_baz", "airlock-leaf"],
    );
    assert!(ok, "pip through root/prod:\n{text}\nlog:\n{}", mirror.log());
    let leaf = http()
        .get(mirror.url("/pypi/root/prod/simple/airlock-leaf/"))
        .send()
        .expect("page");
    assert_eq!(leaf.status(), 200);
    // root/prod's list is the union of its own and the mirror's.
    assert_eq!(
        root_names(&mirror, "root/prod"),
        ["airlock-dep", "airlock-leaf", "Foo.Bar_baz", "Never.Asked"]
    );

    // Each index's requests are counted apart, on /metrics and the root page.
    let metrics = http()
        .get(mirror.url("/metrics"))
        .send()
        .and_then(|r| r.text())
        .expect("metrics");
    for series in [
        "airlock_repository_requests_total{protocol=\"pypi\",repository=\"root/pypi\"}",
        "airlock_repository_requests_total{protocol=\"pypi\",repository=\"root/prod\"}",
        "airlock_repository_cache_lookups_total{protocol=\"pypi\",repository=\"root/pypi\",result=\"miss\"}",
        "airlock_pypi_files{index=\"root/pypi\",kind=\"mirror\"}",
    ] {
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{series} in {metrics}"));
        assert!(value > 0, "{series} counted: {metrics}");
    }
    let home = http()
        .get(mirror.url("/"))
        .send()
        .and_then(|r| r.text())
        .expect("root page");
    assert!(home.contains("<td>hosted, bases: root/pypi</td>"), "{home}");

    // A project uploaded to root/prod hides the mirror's files of that name.
    let shadow = Dist {
        name: "airlock-dep",
        version: "9.0",
        build: None,
        requires: &[],
        requires_python: None,
    };
    let shadow_dir = work.join("shadow");
    std::fs::create_dir_all(&shadow_dir).expect("shadow dir");
    upload(
        &mirror.url("/pypi/root/prod/"),
        &shadow,
        &shadow.wheel(&shadow_dir),
    );
    let page = http()
        .get(mirror.url("/pypi/root/prod/simple/airlock-dep/"))
        .send()
        .expect("page")
        .text()
        .expect("body");
    assert!(page.contains(&shadow.wheel_name()), "{page}");
    assert!(!page.contains(&dep1.wheel_name()), "{page}");
    let hidden = http()
        .get(mirror.url(&format!("/pypi/root/prod/files/{}", dep1.wheel_name())))
        .send()
        .expect("file");
    assert_eq!(
        hidden.status(),
        404,
        "a hidden mirror file is not served either"
    );

    // devpi's URL shapes answer too.
    let devpi = http()
        .get(mirror.url("/root/pypi/+simple/airlock-dep/"))
        .send()
        .expect("devpi url");
    assert_eq!(devpi.status(), 200);
    assert!(devpi.text().expect("body").contains(&dep1.wheel_name()));

    // The upstream is gone: the stored pages are served, and the log says so.
    upstream.stop();
    let (ok, text) = pip_install(work, "venv-stale", &mirror_url, &["Foo.Bar_baz"]);
    assert!(
        ok,
        "pip with the upstream gone:\n{text}\nlog:\n{}",
        mirror.log()
    );
    assert!(mirror.log().contains("serving the stored page"));
    assert_eq!(root_names(&mirror, "root/pypi"), upstream_projects);
    assert!(mirror
        .log()
        .contains("pypi upstream project list unavailable"));
    let (ok, text) = pip_install(work, "venv-never", &mirror_url, &["never-cached"]);
    assert!(!ok && text.contains("No matching distribution"), "{text}");
    drop(mirror);

    // Offline: the same install works; a project never cached is pip's
    // "no matching distribution".
    let mirror = Airlock::start(&data, &config, &["--mode", "offline"]);
    let mirror_url = mirror.url("/pypi/root/pypi/simple/");
    let (ok, text) = pip_install(work, "venv-offline", &mirror_url, &["Foo.Bar_baz"]);
    assert!(ok, "pip offline:\n{text}\nlog:\n{}", mirror.log());
    assert_eq!(
        root_names(&mirror, "root/pypi"),
        upstream_projects,
        "offline: the stored copy of the upstream's list"
    );
    let (ok, text) = pip_install(work, "venv-offline-never", &mirror_url, &["never-cached"]);
    assert!(!ok && text.contains("No matching distribution"), "{text}");
    drop(mirror);
    assert_fsck(&data, &[], "0 errors");
}

#[test]
fn pypi_mirror_refuses_truncated_and_wrong_files() {
    let dir = scratch();
    let work = dir.path();
    let root = work.join("up");
    let files_dir = root.join("files");
    std::fs::create_dir_all(&files_dir).expect("files dir");
    let fixtures = dists();
    let (good, bad) = (&fixtures[1], &fixtures[2]);
    let good_whl = good.wheel(&files_dir);
    bad.wheel(&files_dir);
    let upstream = Faulty::start(&root);
    // An HTML page (PEP 503): the second file's sha256 is wrong.
    let page = format!(
        "<!DOCTYPE html><html><body>\n\
         <a href=\"../../files/{}#sha256={}\">{}</a><br>\n\
         <a href=\"../../files/{}#sha256={}\" data-requires-python=\"&gt;=3.99\">{}</a><br>\n\
         </body></html>\n",
        good.wheel_name(),
        sha256_file(&good_whl),
        good.wheel_name(),
        bad.wheel_name(),
        "0".repeat(64),
        bad.wheel_name(),
    );
    upstream.set("/simple/airlock-dep/", Fault::Body(page.into_bytes()));
    let good_path = format!("/files/{}", good.wheel_name());
    let bad_path = format!("/files/{}", bad.wheel_name());

    let data = work.join("data");
    let mirror = Airlock::start(
        &data,
        &mirror_config(&format!("{}/simple/", upstream.base)),
        &[],
    );
    let get = |path: &str| {
        http()
            .get(mirror.url(path))
            .send()
            .and_then(|r| Ok((r.status().as_u16(), r.bytes()?)))
    };
    assert_eq!(
        get("/pypi/root/pypi/simple/airlock-dep/").expect("page").0,
        200
    );
    assert_eq!(get("/pypi/root/pypi/simple/unknown/").expect("page").0, 404);

    // A truncated transfer: the client's body is cut, nothing is stored.
    upstream.set(&good_path, Fault::Truncate(100));
    let file_url = format!("/pypi/root/pypi/files/{}", good.wheel_name());
    assert!(
        get(&file_url).is_err(),
        "a cut transfer must not look complete"
    );
    // A wrong sha256: the same.
    assert!(get(&format!("/pypi/root/pypi/files/{}", bad.wheel_name())).is_err());
    // Fixed (and slow) upstream: fetched again (nothing was kept), once for four
    // clients at a time, whole and right for each.
    upstream.set(
        &good_path,
        Fault::Slow(std::time::Duration::from_millis(300)),
    );
    let expected = std::fs::read(&good_whl).expect("wheel");
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4).map(|_| scope.spawn(|| get(&file_url))).collect();
        for client in clients {
            let (status, bytes) = client.join().expect("client").expect("file");
            assert_eq!(status, 200);
            assert_eq!(bytes, expected);
        }
    });
    assert_eq!(
        upstream.hits(&good_path),
        2,
        "one fetch for concurrent clients"
    );
    let bytes = expected;
    // Stored: no third fetch.
    assert_eq!(get(&file_url).expect("file").1.len(), bytes.len());
    assert_eq!(upstream.hits(&good_path), 2);
    assert!(get(&format!("/pypi/root/pypi/files/{}", bad.wheel_name())).is_err());
    assert_eq!(upstream.hits(&bad_path), 2);

    // The upstream fails: the stored page is served, and the log says so.
    upstream.set("/simple/airlock-dep/", Fault::Status(500));
    let (status, body) = get("/pypi/root/pypi/simple/airlock-dep/").expect("page");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(&good.wheel_name()));
    assert!(mirror.log().contains("serving the stored page"));
    drop(mirror);
    assert_fsck(&data, &[], "0 errors");
}

#[test]
fn pypi_sync_fills_a_mirror_for_offline_installs() {
    let dir = scratch();
    let work = dir.path();
    let dist_dir = work.join("dist");
    std::fs::create_dir_all(&dist_dir).expect("dist dir");
    let fixtures = dists();
    let mut upstream = Airlock::start(&work.join("up"), &pyclient::hosted_config(), &[]);
    for dist in &fixtures {
        upload(
            &upstream.url("/pypi/root/dev/"),
            dist,
            &dist.wheel(&dist_dir),
        );
    }

    // The bastion: `airlock sync pypi` with no server running.
    let data = work.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let config = mirror_config(&upstream.url("/pypi/root/dev/simple/"));
    let config_path = crate::support::server::write_config(&data, &config);
    let requirements = work.join("requirements.txt");
    std::fs::write(&requirements, "# the app\nFoo.Bar_baz>=1.0\n").expect("requirements");
    let data_arg = data.to_str().expect("utf-8");
    let config_arg = config_path.to_str().expect("utf-8");
    let requirements_arg = requirements.to_str().expect("utf-8");
    let out = crate::support::server::run(&[
        "sync",
        "pypi",
        "-c",
        config_arg,
        "--data-dir",
        data_arg,
        "--index",
        "root/pypi",
        "-r",
        requirements_arg,
        "--python-version",
        "3.11",
        "--only-binary",
        ":all:",
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "sync:\n{text}");
    // The closure: Foo.Bar_baz and airlock-dep 1.0 (2.0 needs Python >= 3.99).
    assert!(text.contains("synced 2 projects, 2 files"), "{text}");
    assert!(text.contains(&fixtures[1].wheel_name()), "{text}");
    upstream.stop();

    // Across the gap: offline, pip installs the whole set.
    let mirror = Airlock::start(&data, &config, &["--mode", "offline"]);
    let (ok, text) = pip_install(
        work,
        "venv-synced",
        &mirror.url("/pypi/root/pypi/simple/"),
        &["Foo.Bar_baz"],
    );
    assert!(
        ok,
        "pip offline after sync:\n{text}\nlog:\n{}",
        mirror.log()
    );
    // No copy of the upstream's list was ever fetched: the projects held.
    assert_eq!(
        root_names(&mirror, "root/pypi"),
        ["airlock-dep", "foo-bar-baz"]
    );
    drop(mirror);
    assert_fsck(&data, &[], "0 errors");
}

/// Appends a stored (uncompressible) member of `size` pseudo-random bytes to
/// the wheel at `path`, so that it arrives in many chunks.
fn pad_wheel(path: &Path, size: usize) {
    use std::io::Write as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("wheel");
    let mut zip = zip::ZipWriter::new_append(file).expect("append");
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("airlock_pad.bin", options).expect("member");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    zip.write_all(&bytes).expect("pad");
    zip.finish().expect("finish");
}

/// Reads `response` until at least `n` bytes came, returning them.
fn read_at_least(response: &mut reqwest::blocking::Response, n: usize) -> Vec<u8> {
    use std::io::Read as _;
    let mut got = vec![0; n];
    response.read_exact(&mut got).expect("the first bytes");
    got
}

#[test]
fn pypi_mirror_streams_one_fetch_to_every_client() {
    let dir = scratch();
    let work = dir.path();
    let root = work.join("up");
    let files_dir = root.join("files");
    std::fs::create_dir_all(&files_dir).expect("files dir");
    let fixtures = dists();
    let (good, bad) = (&fixtures[1], &fixtures[2]);
    let good_whl = good.wheel(&files_dir);
    let bad_whl = bad.wheel(&files_dir);
    pad_wheel(&good_whl, 2 << 20);
    pad_wheel(&bad_whl, 2 << 20);
    let upstream = Faulty::start(&root);
    // The second file's advertised sha256 is not its bytes'.
    let page = format!(
        "<!DOCTYPE html><html><body>\n\
         <a href=\"../../files/{}#sha256={}\">{}</a><br>\n\
         <a href=\"../../files/{}#sha256={}\">{}</a><br>\n\
         </body></html>\n",
        good.wheel_name(),
        sha256_file(&good_whl),
        good.wheel_name(),
        bad.wheel_name(),
        "0".repeat(64),
        bad.wheel_name(),
    );
    upstream.set("/simple/airlock-dep/", Fault::Body(page.into_bytes()));
    let good_path = format!("/files/{}", good.wheel_name());
    let bad_path = format!("/files/{}", bad.wheel_name());
    // The upstream sends the first MiB, then waits for the test.
    upstream.set(&good_path, Fault::Gate(1 << 20));
    upstream.set(&bad_path, Fault::Gate(1 << 20));

    let data = work.join("data");
    let config = mirror_config(&format!("{}/simple/", upstream.base));
    let mirror = Airlock::start(&data, &config, &[]);
    let page_url = mirror.url("/pypi/root/pypi/simple/airlock-dep/");
    assert_eq!(http().get(&page_url).send().expect("page").status(), 200);
    let expected = std::fs::read(&good_whl).expect("wheel");

    // Three HTTP clients and pip ask for the cold file while the upstream is
    // held: each HTTP client receives its first 512 KiB before the upstream
    // sends the rest (they follow the one fetch as it arrives).
    let file_url = mirror.url(&format!("/pypi/root/pypi/files/{}", good.wheel_name()));
    let mut first = http().get(&file_url).send().expect("first client");
    let mut clients = vec![read_at_least(&mut first, 512 << 10)];
    let mut responses = vec![first];
    for _ in 0..2 {
        let mut later = http().get(&file_url).send().expect("later client");
        assert_eq!(later.status(), 200);
        clients.push(read_at_least(&mut later, 512 << 10));
        responses.push(later);
    }
    let pip = std::thread::spawn({
        let (work, index) = (work.to_owned(), mirror.url("/pypi/root/pypi/simple/"));
        move || {
            output(
                command(&tool("pip"), &work)
                    .args(["download", "--no-deps", "--no-cache-dir", "-d"])
                    .arg(work.join("pip-dl"))
                    .args(["--index-url", &index, "airlock-dep==1.0"]),
            )
        }
    });
    // pip's request is in (or pip finished its page and waits on the file).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    upstream.open_gate(true);
    for (mut response, mut got) in responses.into_iter().zip(clients) {
        use std::io::Read as _;
        response.read_to_end(&mut got).expect("the rest");
        assert!(got == expected, "every client gets the whole file");
    }
    let pip = pip.join().expect("pip");
    assert!(
        pip.status.success(),
        "pip download: {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    assert_eq!(
        std::fs::read(work.join("pip-dl").join(good.wheel_name())).expect("pip's file"),
        expected
    );
    assert_eq!(upstream.hits(&good_path), 1, "one upstream fetch");

    // A file whose bytes are not the advertised sha256: every follower's
    // connection is cut, and nothing is cached.
    upstream.open_gate(false);
    let bad_url = mirror.url(&format!("/pypi/root/pypi/files/{}", bad.wheel_name()));
    let mut followers = Vec::new();
    for _ in 0..3 {
        let mut response = http().get(&bad_url).send().expect("follower");
        read_at_least(&mut response, 512 << 10);
        followers.push(response);
    }
    upstream.open_gate(true);
    for mut response in followers {
        use std::io::Read as _;
        let mut rest = Vec::new();
        assert!(
            response.read_to_end(&mut rest).is_err(),
            "a wrong file must not look complete"
        );
    }
    assert_eq!(upstream.hits(&bad_path), 1, "one upstream fetch");
    assert!(mirror.log().contains("nothing stored"), "{}", mirror.log());
    // Asked again, it is fetched again (nothing was kept), and refused again.
    assert!(http().get(&bad_url).send().and_then(|r| r.bytes()).is_err());
    assert_eq!(upstream.hits(&bad_path), 2);
    drop(mirror);
    let bad_sha = sha256_file(&bad_whl);
    let blob = data.join("blobs/sha256").join(&bad_sha[..2]).join(&bad_sha);
    assert!(!blob.exists(), "the wrong file is in no blob");
    // Offline, only the good file is listed and served.
    let mirror = Airlock::start(&data, &config, &["--mode", "offline"]);
    let bad_url = mirror.url(&format!("/pypi/root/pypi/files/{}", bad.wheel_name()));
    let listed = http()
        .get(mirror.url("/pypi/root/pypi/simple/airlock-dep/"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("page: {e}\n{}", mirror.log()));
    assert!(listed.contains(&good.wheel_name()), "{listed}");
    assert!(!listed.contains(&bad.wheel_name()), "{listed}");
    assert_eq!(
        http().get(&bad_url).send().expect("bad").status(),
        404,
        "not cached"
    );
    drop(mirror);
    assert_fsck(&data, &[], "0 errors");
}

#[test]
fn pypi_mirror_passes_core_metadata_through() {
    let dir = scratch();
    let work = dir.path();
    let root = work.join("up");
    let files_dir = root.join("files");
    std::fs::create_dir_all(&files_dir).expect("files dir");
    let fixtures = dists();
    let (good, bad) = (&fixtures[1], &fixtures[2]);
    let good_whl = good.wheel(&files_dir);
    let bad_whl = bad.wheel(&files_dir);
    // The upstream offers each wheel's `.metadata`: the first with its hash,
    // the second with a hash its bytes do not have.
    let metadata = good.metadata();
    std::fs::write(
        files_dir.join(format!("{}.metadata", good.wheel_name())),
        &metadata,
    )
    .expect("metadata");
    std::fs::write(
        files_dir.join(format!("{}.metadata", bad.wheel_name())),
        bad.metadata(),
    )
    .expect("metadata");
    let metadata_sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(metadata.as_bytes()))
    };
    let page = format!(
        "<!DOCTYPE html><html><body>\n\
         <a href=\"../../files/{g}#sha256={gs}\" data-core-metadata=\"sha256={metadata_sha}\">{g}</a><br>\n\
         <a href=\"../../files/{b}#sha256={bs}\" data-dist-info-metadata=\"sha256={zeros}\">{b}</a><br>\n\
         </body></html>\n",
        g = good.wheel_name(),
        gs = sha256_file(&good_whl),
        b = bad.wheel_name(),
        bs = sha256_file(&bad_whl),
        zeros = "0".repeat(64),
    );
    let upstream = Faulty::start(&root);
    upstream.set("/simple/airlock-dep/", Fault::Body(page.into_bytes()));
    let data = work.join("data");
    let config = mirror_config(&format!("{}/simple/", upstream.base));
    let mirror = Airlock::start(&data, &config, &[]);
    let json_page = |mirror: &Airlock| -> serde_json::Value {
        http()
            .get(mirror.url("/pypi/root/pypi/simple/airlock-dep/"))
            .header("accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .and_then(|r| r.json())
            .expect("page")
    };
    let page = json_page(&mirror);
    assert_eq!(
        page["files"][0]["core-metadata"]["sha256"],
        metadata_sha.as_str(),
        "offered with the upstream's hash before anything is fetched: {page}"
    );

    // The `.metadata` is fetched on demand, checked, stored: the wheel is not fetched.
    let meta_url = mirror.url(&format!(
        "/pypi/root/pypi/files/{}.metadata",
        good.wheel_name()
    ));
    for _ in 0..2 {
        let response = http().get(&meta_url).send().expect("metadata");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().expect("body"), metadata);
    }
    let upstream_meta = format!("/files/{}.metadata", good.wheel_name());
    assert_eq!(upstream.hits(&upstream_meta), 1, "stored after one fetch");
    assert_eq!(upstream.hits(&format!("/files/{}", good.wheel_name())), 0);

    // A `.metadata` whose bytes are not the advertised hash: refused, not stored.
    let bad_meta = mirror.url(&format!(
        "/pypi/root/pypi/files/{}.metadata",
        bad.wheel_name()
    ));
    assert_eq!(http().get(&bad_meta).send().expect("bad").status(), 502);
    assert!(mirror.log().contains("pypi upstream metadata refused"));

    // pip reads the `.metadata`, then downloads the wheel.
    let out = output(
        command(&tool("pip"), work)
            .args(["download", "--no-deps", "--no-cache-dir", "-d"])
            .arg(work.join("dl"))
            .args([
                "--index-url",
                &mirror.url("/pypi/root/pypi/simple/"),
                "airlock-dep==1.0",
            ]),
    );
    assert!(
        out.status.success(),
        "pip download: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(mirror);

    // Offline: the stored wheel is listed with its stored `.metadata`.
    let mirror = Airlock::start(&data, &config, &["--mode", "offline"]);
    let meta_url = mirror.url(&format!(
        "/pypi/root/pypi/files/{}.metadata",
        good.wheel_name()
    ));
    let bad_meta = mirror.url(&format!(
        "/pypi/root/pypi/files/{}.metadata",
        bad.wheel_name()
    ));
    let page = json_page(&mirror);
    let files = page["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{page}");
    assert_eq!(files[0]["core-metadata"]["sha256"], metadata_sha.as_str());
    assert_eq!(
        http()
            .get(&meta_url)
            .send()
            .and_then(|r| r.text())
            .expect("metadata"),
        metadata
    );
    assert_eq!(http().get(&bad_meta).send().expect("bad").status(), 404);
    drop(mirror);
    assert_fsck(&data, &[], "0 errors");
}
