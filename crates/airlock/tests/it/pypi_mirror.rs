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

    let data = work.join("data");
    let config = mirror_config(&upstream.url("/pypi/root/dev/simple/"));
    let mirror = Airlock::start(&data, &config, &[]);
    let mirror_url = mirror.url("/pypi/root/pypi/simple/");

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
    let (ok, text) = pip_install(work, "venv-never", &mirror_url, &["never-cached"]);
    assert!(!ok && text.contains("No matching distribution"), "{text}");
    drop(mirror);

    // Offline: the same install works; a project never cached is pip's
    // "no matching distribution".
    let mirror = Airlock::start(&data, &config, &["--mode", "offline"]);
    let mirror_url = mirror.url("/pypi/root/pypi/simple/");
    let (ok, text) = pip_install(work, "venv-offline", &mirror_url, &["Foo.Bar_baz"]);
    assert!(ok, "pip offline:\n{text}\nlog:\n{}", mirror.log());
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
    drop(mirror);
    assert_fsck(&data, &[], "0 errors");
}
