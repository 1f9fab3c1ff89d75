//! The Python index at the HTTP level: what pip and uv depend on in pages and
//! file answers, and uploads that must be refused without changing anything.

use crate::support::pyclient::hosted_config;
use crate::support::pyfixture::{dists, hex, sha256_file, upload_body, upload_fields, Dist};
use crate::support::scratch;
use crate::support::server::{assert_fsck, header, http, Airlock};
use reqwest::blocking::Client;
use reqwest::header;
use sha2::{Digest as _, Sha256};

const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// POSTs an upload body; returns (status, body).
fn post(client: &Client, url: &str, auth: Option<&str>, body: (String, Vec<u8>)) -> (u16, String) {
    let mut req = client
        .post(url)
        .header(header::CONTENT_TYPE, body.0)
        .body(body.1);
    if let Some(auth) = auth {
        req = req.header(header::AUTHORIZATION, auth);
    }
    let resp = req.send().expect("upload");
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

/// Uploads `path` (a wheel or sdist of `name` `version`) as twine would.
fn upload(
    client: &Client,
    url: &str,
    name: &str,
    version: &str,
    path: &std::path::Path,
) -> (u16, String) {
    let bytes = std::fs::read(path).expect("read dist");
    let sha = hex(&Sha256::digest(&bytes));
    let filename = path.file_name().and_then(|f| f.to_str()).expect("filename");
    post(
        client,
        url,
        Some(&basic("ci", "secret")),
        upload_body(
            &upload_fields(name, version, &sha),
            Some((filename, &bytes)),
        ),
    )
}

/// The fixture wheel `airlock_dep` 2.0, built under `dir`: its path, bytes
/// and file name.
fn dep_wheel(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>, String) {
    let dist_dir = dir.join("dist");
    std::fs::create_dir_all(&dist_dir).expect("dist");
    let dep = dists().remove(2);
    let whl = dep.wheel(&dist_dir);
    let bytes = std::fs::read(&whl).expect("whl");
    (whl, bytes, dep.wheel_name())
}

fn no_redirects() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[test]
fn pypi_pages_negotiate_and_files_serve_exactly() {
    let dir = scratch();
    let dist_dir = dir.path().join("dist");
    std::fs::create_dir_all(&dist_dir).expect("dist");
    let foo = dists().remove(0);
    let whl = foo.wheel(&dist_dir);
    let sdist = foo.sdist(&dist_dir);
    // Beside the hosted index, a mirror (of nothing reachable: only its 405s
    // are asked for).
    let config = format!(
        "{}[[pypi.index]]\nname = \"root/pypi\"\nkind = \"mirror\"\nupstream = \"http://127.0.0.1:9/simple/\"\n",
        hosted_config()
    );
    let airlock = Airlock::start(&dir.path().join("data"), &config, &[]);
    let client = http();
    // With and without the trailing slash: the upload URL never redirects.
    let no_redirect = no_redirects();
    for (path, url) in [(&whl, "/pypi/root/dev/"), (&sdist, "/pypi/root/dev")] {
        let (status, body) = upload(
            &no_redirect,
            &airlock.url(url),
            "Foo.Bar_baz",
            "1.0+local",
            path,
        );
        assert_eq!(status, 200, "{url}: {body}");
    }
    let page_url = airlock.url("/pypi/root/dev/simple/foo-bar-baz/");
    let root = client
        .get(airlock.url("/"))
        .send()
        .expect("root")
        .text()
        .expect("text");
    assert!(
        root.contains("/pypi/root/dev/simple/") && root.contains("1 projects, 2 files"),
        "{root}"
    );

    // JSON for pip's and uv's Accept, with every PEP 691/700/714 field.
    let resp = client
        .get(&page_url)
        .header(header::ACCEPT, PIP_ACCEPT)
        .send()
        .expect("json page");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/vnd.pypi.simple.v1+json"
    );
    assert_eq!(resp.headers()[header::VARY], "Accept, Accept-Encoding");
    assert!(resp.headers()[header::CACHE_CONTROL]
        .to_str()
        .expect("ascii")
        .contains("max-age="));
    let etag = resp.headers()[header::ETAG].clone();
    let page: serde_json::Value = resp.json().expect("json");
    assert_eq!(page["name"], "foo-bar-baz");
    assert_eq!(page["versions"], serde_json::json!(["1.0+local"]));
    let files = page["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    let wheel = files
        .iter()
        .find(|f| f["filename"] == foo.wheel_name())
        .expect("wheel listed");
    let sdist_entry = files
        .iter()
        .find(|f| f["filename"] != foo.wheel_name())
        .expect("sdist listed");
    assert_eq!(wheel["hashes"]["sha256"], sha256_file(&whl));
    assert_eq!(wheel["requires-python"], ">=3.8");
    assert_eq!(wheel["size"], std::fs::metadata(&whl).expect("size").len());
    assert!(wheel["upload-time"].as_str().expect("time").ends_with('Z'));
    assert!(
        sdist_entry.get("core-metadata").is_none(),
        "no metadata file for an sdist"
    );
    let url = wheel["url"].as_str().expect("url");
    assert!(url.contains("%2B"), "{url}");

    // gzip when asked (pip and uv ask) and the page is over 1 KiB; never for files.
    let plain_len = client
        .get(&page_url)
        .header(header::ACCEPT, PIP_ACCEPT)
        .send()
        .expect("page")
        .bytes()
        .expect("bytes")
        .len();
    let resp = client
        .get(&page_url)
        .header(header::ACCEPT, PIP_ACCEPT)
        .header(header::ACCEPT_ENCODING, "gzip, deflate, zstd")
        .send()
        .expect("gzip page");
    let gzipped = resp
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|e| e == "gzip");
    assert_eq!(gzipped, plain_len >= 1024, "{plain_len} bytes");

    // 304 on a matching ETag.
    let resp = client
        .get(&page_url)
        .header(header::ACCEPT, PIP_ACCEPT)
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .expect("conditional");
    assert_eq!(resp.status(), 304);

    // HTML without Accept: escaped once, hashes in fragments, metadata advertised.
    let resp = client.get(&page_url).send().expect("html page");
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let html = resp.text().expect("html");
    assert!(html.contains("data-requires-python=\"&gt;=3.8\""), "{html}");
    assert!(
        html.contains(&format!("#sha256={}", sha256_file(&whl))),
        "{html}"
    );
    assert_eq!(html.matches("data-core-metadata=").count(), 1, "{html}");

    // The .metadata file exists with the advertised hash and is the wheel's METADATA.
    let file_url = format!("{page_url}{url}");
    let metadata = client
        .get(format!("{file_url}.metadata"))
        .send()
        .expect("metadata")
        .bytes()
        .expect("bytes");
    assert_eq!(metadata.as_ref(), foo.metadata().as_bytes());
    assert_eq!(
        wheel["core-metadata"]["sha256"],
        hex(&Sha256::digest(&metadata))
    );

    // The file: `%2B` and a raw `+` alike, exact bytes, no Content-Encoding, ranges.
    let raw_plus = airlock.url(&format!("/pypi/root/dev/files/{}", foo.wheel_name()));
    for file in [&file_url, &raw_plus] {
        let resp = client.get(file).send().expect("file");
        assert_eq!(resp.status(), 200, "{file}");
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/octet-stream"
        );
        assert!(resp.headers()[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("immutable"));
        assert_eq!(
            resp.bytes().expect("bytes").as_ref(),
            std::fs::read(&whl).expect("whl")
        );
    }
    // HEAD: the headers of a GET, with its length, and no body.
    let head = client.head(&raw_plus).send().expect("head file");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        std::fs::metadata(&whl)
            .expect("size")
            .len()
            .to_string()
            .as_str()
    );
    let head = client.head(&page_url).send().expect("head page");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let resp = client
        .get(&raw_plus)
        .header(header::RANGE, "bytes=0-3")
        .send()
        .expect("range");
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().expect("bytes").as_ref(), b"PK\x03\x04");
    let sdist_url = airlock.url(&format!(
        "/pypi/root/dev/files/{}",
        sdist.file_name().and_then(|f| f.to_str()).expect("name")
    ));
    let resp = client
        .get(&sdist_url)
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .expect("sdist");
    assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(
        resp.bytes().expect("bytes").as_ref(),
        std::fs::read(&sdist).expect("sdist")
    );

    // Names: redirects to the normalized page, 404 for unknown projects and
    // indexes, 406 for a format nobody serves, the project list in both formats.
    let plain = no_redirects();
    for (path, location) in [
        ("/pypi/root/dev/simple/Foo.Bar_baz/", "../foo-bar-baz/"),
        ("/pypi/root/dev/simple/foo-bar-baz", "foo-bar-baz/"),
        ("/pypi/root/dev/simple", "simple/"),
    ] {
        let resp = plain.get(airlock.url(path)).send().expect("redirect");
        assert_eq!(resp.status(), 301, "{path}");
        assert_eq!(resp.headers()[header::LOCATION], location, "{path}");
    }
    for path in [
        "/pypi/root/dev/simple/nothing-here/",
        "/pypi/root/other/simple/foo-bar-baz/",
        "/pypi/root/dev/files/nothing-1.0.tar.gz",
        "/pypi/root/dev/files/..%2F..%2Fairlock.db",
        "/pypi/root/dev/files/foo_bar_baz-1.0+local.tar.gz.metadata",
    ] {
        let resp = client.get(airlock.url(path)).send().expect("404");
        assert_eq!(resp.status(), 404, "{path}");
    }
    let resp = client
        .get(&page_url)
        .header(header::ACCEPT, "application/json")
        .send()
        .expect("406");
    assert_eq!(resp.status(), 406);
    let list: serde_json::Value = client
        .get(airlock.url("/pypi/root/dev/simple/"))
        .header(header::ACCEPT, PIP_ACCEPT)
        .send()
        .expect("list")
        .json()
        .expect("json list");
    assert_eq!(
        list["projects"],
        serde_json::json!([{"name": "Foo.Bar_baz"}])
    );
    let html = client
        .get(airlock.url("/pypi/root/dev/simple/"))
        .send()
        .expect("list")
        .text()
        .expect("html");
    assert!(
        html.contains("<a href=\"foo-bar-baz/\">Foo.Bar_baz</a>"),
        "{html}"
    );

    // Yank, unyank and delete: a configured user only; the page follows at once.
    let yank_url = airlock.url(&format!("/pypi/root/dev/yanked/{}", foo.wheel_name()));
    let resp = client.put(&yank_url).body("bad").send().expect("yank");
    assert_eq!(resp.status(), 401);
    let resp = client
        .put(&yank_url)
        .basic_auth("ci", Some("secret"))
        .body("CVE-2026-1 <\"quoted\">")
        .send()
        .expect("yank");
    assert_eq!(resp.status(), 200);
    let json = |client: &Client| -> serde_json::Value {
        client
            .get(&page_url)
            .header(header::ACCEPT, PIP_ACCEPT)
            .send()
            .expect("page")
            .json()
            .expect("json")
    };
    let page = json(&client);
    let yanked: Vec<_> = page["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f.get("yanked"))
        .collect();
    assert_eq!(yanked, [&serde_json::json!("CVE-2026-1 <\"quoted\">")]);
    let html = client
        .get(&page_url)
        .send()
        .expect("html")
        .text()
        .expect("text");
    assert!(
        html.contains("data-yanked=\"CVE-2026-1 &lt;&quot;quoted&quot;&gt;\""),
        "{html}"
    );
    let resp = client
        .delete(&yank_url)
        .basic_auth("ci", Some("secret"))
        .send()
        .expect("unyank");
    assert_eq!(resp.status(), 200);
    let page = json(&client);
    let files = page["files"].as_array().expect("files");
    assert!(files.iter().all(|f| f.get("yanked").is_none()), "{page}");
    let resp = client
        .delete(airlock.url(&format!("/pypi/root/dev/files/{}", foo.wheel_name())))
        .basic_auth("ci", Some("secret"))
        .send()
        .expect("delete file");
    assert_eq!(resp.status(), 200);
    assert_eq!(json(&client)["files"].as_array().expect("files").len(), 1);
    // A method a URL does not answer: 405 before credentials are asked for,
    // with the methods it does answer; a mirror takes no changes.
    let file_path = format!("/pypi/root/dev/files/{}", foo.wheel_name());
    let yank_path = format!("/pypi/root/dev/yanked/{}", foo.wheel_name());
    for (method, path, allow) in [
        ("PUT", "/pypi/root/dev/", "GET, HEAD, POST"),
        ("POST", "/pypi/root/dev/simple/", "GET, HEAD"),
        ("DELETE", "/pypi/root/dev/simple/foo-bar-baz/", "GET, HEAD"),
        ("PUT", &file_path, "GET, HEAD, DELETE"),
        ("DELETE", &format!("{file_path}.metadata"), "GET, HEAD"),
        ("POST", &yank_path, "PUT, DELETE"),
        ("PUT", "/pypi/root/dev/versions/foo-bar-baz/1.0", "DELETE"),
        ("OPTIONS", "/pypi/root/dev/simple/", "GET, HEAD"),
        ("POST", "/pypi/root/pypi/", "GET, HEAD"),
        ("DELETE", "/pypi/root/pypi/files/x-1.0.tar.gz", "GET, HEAD"),
        ("PUT", "/pypi/root/pypi/yanked/x-1.0.tar.gz", ""),
    ] {
        let verb = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = client
            .request(verb, airlock.url(path))
            .send()
            .expect("send");
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(header(&resp, "allow"), allow, "{method} {path}");
    }
    let resp = client
        .delete(airlock.url("/pypi/root/dev/versions/Foo.Bar_baz/1.0+local"))
        .basic_auth("ci", Some("secret"))
        .send()
        .expect("delete version");
    assert_eq!(resp.status(), 200);
    let resp = client.get(&page_url).send().expect("page");
    assert_eq!(resp.status(), 404, "no files left");
}

#[test]
fn pypi_bad_uploads_are_refused_and_change_nothing() {
    let dir = scratch();
    let (_, bytes, name) = dep_wheel(dir.path());
    let sha = hex(&Sha256::digest(&bytes));
    let data = dir.path().join("data");
    // Small enough for an oversize case, large enough for the fixture wheel.
    let config = hosted_config().replace("[pypi]\n", "[pypi]\nmax_upload_bytes = 8192\n");
    let airlock = Airlock::start(&data, &config, &[]);
    let client = http();
    let url = airlock.url("/pypi/root/dev/");
    let auth = basic("ci", "secret");
    let mut oversize = bytes.clone();
    oversize.resize(64 << 10, b'x');
    let wrong = basic("ci", "wrong");
    let fields = upload_fields("airlock-dep", "2.0", &sha);
    // The fields with `key` set to `value` ("" drops it).
    let with = |key: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut f: Vec<(&str, &str)> = fields.iter().filter(|(k, _)| *k != key).copied().collect();
        if !value.is_empty() {
            f.push((key, value));
        }
        f
    };
    let not_zip = b"this is not a zip file".to_vec();
    let not_zip_sha = hex(&Sha256::digest(&not_zip));
    let mut not_zip_fields = with("sha256_digest", "");
    not_zip_fields.push(("sha256_digest", &not_zip_sha));
    // The same wheel with one more member, written outside the install
    // directory when unpacked (zip-slip).
    let slip = {
        let mut wheel = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).expect("wheel");
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..wheel.len() {
            out.raw_copy_file(wheel.by_index_raw(i).expect("member"))
                .expect("copy");
        }
        out.start_file("../../evil.py", zip::write::SimpleFileOptions::default())
            .expect("member");
        std::io::Write::write_all(&mut out, b"import os\n").expect("write");
        out.finish().expect("finish").into_inner()
    };
    let slip_sha = hex(&Sha256::digest(&slip));
    let mut slip_fields = with("sha256_digest", "");
    slip_fields.push(("sha256_digest", &slip_sha));
    // (what, credentials, (content type, body), expected status)
    type Case<'a> = (&'a str, Option<&'a str>, (String, Vec<u8>), u16);
    let cases: Vec<Case> = vec![
        ("no credentials", None, upload_body(&fields, Some((&name, &bytes))), 401),
        (
            "wrong password",
            Some(&wrong),
            upload_body(&fields, Some((&name, &bytes))),
            401,
        ),
        (
            "a wheel with a member outside the archive",
            Some(&auth),
            upload_body(&slip_fields, Some((&name, &slip))),
            400,
        ),
        (
            "traversal in the filename",
            Some(&auth),
            upload_body(&fields, Some(("../airlock_dep-2.0-py3-none-any.whl", &bytes))),
            400,
        ),
        (
            "a path as the filename",
            Some(&auth),
            upload_body(&fields, Some(("x/airlock_dep-2.0-py3-none-any.whl", &bytes))),
            400,
        ),
        (
            "another project's name",
            Some(&auth),
            upload_body(&with("name", "other"), Some((&name, &bytes))),
            400,
        ),
        (
            "another version",
            Some(&auth),
            upload_body(&with("version", "3.0"), Some((&name, &bytes))),
            400,
        ),
        (
            "a wrong sha256_digest",
            Some(&auth),
            upload_body(
                &with(
                    "sha256_digest",
                    "0000000000000000000000000000000000000000000000000000000000000000",
                ),
                Some((&name, &bytes)),
            ),
            400,
        ),
        (
            "a wheel that is not a zip",
            Some(&auth),
            upload_body(&not_zip_fields, Some((&name, &not_zip))),
            400,
        ),
        (
            "no :action",
            Some(&auth),
            upload_body(&with(":action", ""), Some((&name, &bytes))),
            400,
        ),
        ("no file", Some(&auth), upload_body(&fields, None), 400),
        (
            "a file over max_upload_bytes",
            Some(&auth),
            upload_body(&fields, Some((&name, &oversize))),
            413,
        ),
        (
            "an egg",
            Some(&auth),
            upload_body(&fields, Some(("airlock_dep-2.0-py3.11.egg", &bytes))),
            400,
        ),
        (
            "not multipart",
            Some(&auth),
            ("application/json".into(), b"{}".to_vec()),
            400,
        ),
        (
            "a malformed multipart body",
            Some(&auth),
            (
                "multipart/form-data; boundary=xyz".into(),
                b"--xyz\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a.whl\"\r\n\r\nPK truncated".to_vec(),
            ),
            400,
        ),
    ];
    for (what, auth, body, status) in cases {
        let (got, text) = post(&client, &url, auth, body);
        assert_eq!(got, status, "{what}: {text}");
    }
    // Not an upload URL, and not an index.
    let (got, _) = post(
        &client,
        &airlock.url("/pypi/root/dev/simple/"),
        Some(&auth),
        upload_body(&fields, Some((&name, &bytes))),
    );
    assert_eq!(got, 405);
    let (got, _) = post(
        &client,
        &airlock.url("/pypi/root/nope/"),
        Some(&auth),
        upload_body(&fields, Some((&name, &bytes))),
    );
    assert_eq!(got, 404);

    // Nothing changed: no project, no blob.
    let list = client
        .get(airlock.url("/pypi/root/dev/simple/"))
        .header(header::ACCEPT, PIP_ACCEPT)
        .send()
        .expect("list")
        .text()
        .expect("text");
    assert!(list.contains("\"projects\":[]"), "{list}");
    drop(airlock);
    assert_fsck(
        &data,
        &[],
        "0 blobs in the index, 0 on disk; 0 errors, 0 warnings",
    );
}

#[test]
fn pypi_concurrent_uploads_of_one_distribution_have_one_winner() {
    let dir = scratch();
    let data = dir.path().join("data");
    let airlock = Airlock::start(&data, &hosted_config(), &[]);
    let url = airlock.url("/pypi/root/dev/");
    // Two different wheels of one distribution, under two spellings of its
    // filename: still one file, whichever comes first.
    let wheels: Vec<Vec<u8>> = (0..2)
        .map(|i| {
            let d = dir.path().join(format!("d{i}"));
            std::fs::create_dir_all(&d).expect("dir");
            let dist = Dist {
                requires: if i == 0 { &[] } else { &["airlock-leaf"] },
                ..dists().remove(1)
            };
            std::fs::read(dist.wheel(&d)).expect("wheel")
        })
        .collect();
    let name = dists().remove(1).wheel_name();
    let names = [name.clone(), name.replacen("airlock_dep", "Airlock.Dep", 1)];
    assert_ne!(names[0], names[1]);
    let results: Vec<(usize, u16)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let (bytes, url, name) = (&wheels[n % 2], &url, &names[n % 2]);
                s.spawn(move || {
                    let sha = hex(&Sha256::digest(bytes));
                    let (status, _) = post(
                        &http(),
                        url,
                        Some(&basic("ci", "secret")),
                        upload_body(
                            &upload_fields("airlock-dep", "1.0", &sha),
                            Some((name, bytes)),
                        ),
                    );
                    (n % 2, status)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(w, _)| *w)
        .collect();
    assert!(
        results.iter().all(|(_, s)| *s == 200 || *s == 409),
        "{results:?}"
    );
    assert_eq!(
        winners.len(),
        4,
        "one wheel's four uploads win: {results:?}"
    );
    assert!(winners.iter().all(|w| *w == winners[0]), "{results:?}");
    let served = http()
        .get(airlock.url(&format!("/pypi/root/dev/files/{}", names[winners[0]])))
        .send()
        .expect("file")
        .bytes()
        .expect("bytes");
    assert_eq!(served.as_ref(), wheels[winners[0]].as_slice());
    let loser = http()
        .get(airlock.url(&format!("/pypi/root/dev/files/{}", names[1 - winners[0]])))
        .send()
        .expect("file");
    assert_eq!(loser.status(), 404, "one file, not two");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}

#[test]
fn pypi_an_upload_cut_by_kill_9_leaves_nothing() {
    use std::io::Write as _;
    let dir = scratch();
    let dist_dir = dir.path().join("dist");
    std::fs::create_dir_all(&dist_dir).expect("dist");
    let dep = dists().remove(2);
    let bytes = std::fs::read(dep.wheel(&dist_dir)).expect("wheel");
    let sha = hex(&Sha256::digest(&bytes));
    let data = dir.path().join("data");
    let mut airlock = Airlock::start(&data, &hosted_config(), &[]);
    let (content_type, body) = upload_body(
        &upload_fields("airlock-dep", "2.0", &sha),
        Some((&dep.wheel_name(), &bytes)),
    );
    // Half of the body, then the server dies mid-upload.
    let addr = airlock.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "POST /pypi/root/dev/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        basic("ci", "secret"),
        body.len()
    )
    .expect("headers");
    stream.write_all(&body[..body.len() - 200]).expect("half");
    std::thread::sleep(std::time::Duration::from_millis(500));
    airlock.kill();
    drop(stream);
    drop(airlock);
    // Restarted, it lists nothing, and the partial file is gone.
    let airlock = Airlock::start(&data, &hosted_config(), &[]);
    let resp = http()
        .get(airlock.url("/pypi/root/dev/simple/airlock-dep/"))
        .send()
        .expect("page");
    assert_eq!(resp.status(), 404);
    drop(airlock);
    assert_fsck(
        &data,
        &[],
        "0 blobs in the index, 0 on disk; 0 errors, 0 warnings",
    );
}

/// `Airlock.Dep-2.0-…whl` and `airlock_dep-2.0-…whl` name one distribution:
/// files are immutable however the name is spelled (other bytes: 409; the
/// same bytes: 200, nothing added). And an index URL without its slash
/// redirects to its own simple page.
#[test]
fn pypi_one_distribution_is_one_file_however_its_name_is_spelled() {
    let dir = scratch();
    let (whl, bytes, name) = dep_wheel(dir.path());
    let airlock = Airlock::start(&dir.path().join("data"), &hosted_config(), &[]);
    let client = http();
    let url = airlock.url("/pypi/root/dev/");
    assert_eq!(upload(&client, &url, "airlock-dep", "2.0", &whl).0, 200);
    let respelled = name.replacen("airlock_dep", "Airlock.Dep", 1);
    assert_ne!(respelled, name);
    let send = |body: &[u8]| {
        let sha = hex(&Sha256::digest(body));
        post(
            &client,
            &url,
            Some(&basic("ci", "secret")),
            upload_body(
                &upload_fields("airlock-dep", "2.0", &sha),
                Some((&respelled, body)),
            ),
        )
    };
    let mut other = bytes.clone();
    other.extend_from_slice(b"other bytes");
    let (status, said) = send(&other);
    assert_eq!(status, 409, "{said}");
    assert!(said.contains(&name), "{said}");
    assert_eq!(send(&bytes).0, 200);
    let page = client
        .get(airlock.url("/pypi/root/dev/simple/airlock-dep/"))
        .header(header::ACCEPT, PIP_ACCEPT)
        .send()
        .expect("page")
        .text()
        .expect("body");
    let files: serde_json::Value = serde_json::from_str(&page).expect("json");
    assert_eq!(files["files"].as_array().map(Vec::len), Some(1), "{page}");

    let root = no_redirects()
        .get(airlock.url("/pypi/root/dev"))
        .send()
        .expect("GET");
    assert_eq!(root.status(), 301);
    assert_eq!(
        root.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/pypi/root/dev/simple/")
    );
}
