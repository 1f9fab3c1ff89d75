//! The GOPROXY protocol byte by byte: encodings, per-file caching, HEAD/Range/ETag,
//! single-flight, the checksum-database proxy, the operational endpoints, and
//! offline mode never connecting.

use crate::support::faulty::{Fault, Faulty};
use crate::support::gofixture::{module_zip, write_goproxy_tree};
use crate::support::server::{
    assert_fsck, go_config, header, http, raw_get, run, without_prefetch, Airlock,
};
use crate::support::{eventually, go_graph, go_upstream_and_airlock, scratch, write_go_upstream};
use std::time::Duration;

fn zip_of(path: &str, version: &str) -> Vec<u8> {
    let m = go_graph()
        .into_iter()
        .find(|m| m.path == path && m.version == version)
        .expect("in graph");
    module_zip(&m)
}

#[test]
fn online_protocol_then_offline_from_storage() {
    let w = scratch();
    write_go_upstream(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    let config = without_prefetch(&go_config(
        &upstream.base,
        &[("sumdb.test", &format!("{}/sumdb/sumdb.test", upstream.base))],
        "",
    ));
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &config, &[]);
    let client = http();
    let get = |path: &str| client.get(airlock.url(path)).send().expect("request");

    // `!` arrives percent-encoded from go, raw from others; both work.
    for path in [
        "/go/example.com/airlock/%21upper/@v/list",
        "/go/example.com/airlock/!upper/@v/list",
    ] {
        let r = get(path);
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.text().expect("body"), "v0.1.0\n");
    }
    // Per-file caching: a .mod never pulls its zip.
    let r = get("/go/example.com/airlock/words/@v/v1.2.0.mod");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert_eq!(
        r.text().expect("body"),
        "module example.com/airlock/words\n\ngo 1.16\n"
    );
    assert_eq!(
        get("/go/example.com/airlock/words/@v/v1.2.0.mod").headers()["x-cache"],
        "HIT"
    );
    assert_eq!(upstream.hits("/example.com/airlock/words/@v/v1.2.0.mod"), 1);
    assert_eq!(upstream.hits("/example.com/airlock/words/@v/v1.2.0.zip"), 0);

    // +incompatible, with `+` raw or percent-encoded.
    for path in [
        "/go/example.com/airlock/inc/@v/v2.0.0+incompatible.mod",
        "/go/example.com/airlock/inc/@v/v2.0.0%2Bincompatible.mod",
    ] {
        let r = get(path);
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.text().expect("body"), "module example.com/airlock/inc\n");
    }
    let info: serde_json::Value = get("/go/example.com/airlock/!upper/@v/v0.1.0.info")
        .json()
        .expect("json");
    assert_eq!(info["Version"], "v0.1.0");

    // Single flight: eight clients, one upstream fetch, identical bytes.
    let zip_path = "/example.com/airlock/greet/@v/v1.1.0.zip";
    upstream.set(zip_path, Fault::Slow(Duration::from_millis(500)));
    let want = zip_of("example.com/airlock/greet", "v1.1.0");
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    get(&format!("/go{zip_path}"))
                        .bytes()
                        .expect("zip")
                        .to_vec()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("thread"), want);
        }
    });
    assert_eq!(upstream.hits(zip_path), 1);
    upstream.clear(zip_path);

    // An untagged module: only a pseudo-version exists.
    let pseudo = "/go/example.com/airlock/pseudo/@v/v0.0.0-20240102030405-abcdefabcdef.zip";
    assert_eq!(get(pseudo).status(), 200);

    // HEAD, Range and ETag on a stored zip (fetched files are served from
    // memory, without an ETag, until they are durable: write-behind).
    let url = airlock.url(&format!("/go{zip_path}"));
    eventually("the zip stored", || {
        let head = client.head(&url).send().expect("head");
        head.headers().contains_key("etag")
    });
    let head = client.head(&url).send().expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        want.len().to_string().as_str()
    );
    assert_eq!(head.headers()["content-type"], "application/zip");
    let etag = head.headers()["etag"].clone();
    assert!(head.bytes().expect("body").is_empty());
    let part = client
        .get(&url)
        .header("range", "bytes=0-3")
        .send()
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().expect("body").as_ref(), b"PK\x03\x04");
    let r = client
        .get(&url)
        .header("range", "bytes=999999999-")
        .send()
        .expect("range");
    assert_eq!(r.status(), 416);
    let r = client
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .expect("conditional");
    assert_eq!(r.status(), 304);

    // The upstream has no @latest: airlock computes it from what it stored.
    let latest: serde_json::Value = get("/go/example.com/airlock/greet/@latest")
        .json()
        .expect("json");
    assert_eq!(latest["Version"], "v1.1.0");

    // Checksum database: probed, fetched once, then cached.
    assert_eq!(get("/go/sumdb/sumdb.test/supported").status(), 200);
    assert_eq!(get("/go/sumdb/sum.unknown.org/supported").status(), 404);
    let lookup = "/sumdb/sumdb.test/lookup/example.com/airlock/!upper@v0.1.0";
    let r = get(&format!("/go{lookup}"));
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .expect("body")
        .contains("example.com/airlock/Upper v0.1.0 h1:"));
    assert_eq!(get(&format!("/go{lookup}")).headers()["x-cache"], "HIT");
    assert_eq!(upstream.hits(lookup), 1);

    // Catalog, root page and operations endpoints.
    let catalog: serde_json::Value = get("/go/catalog").json().expect("json");
    assert_eq!(catalog["modules"][0]["module"], "example.com/airlock/greet");
    let root = get("/").text().expect("page");
    assert!(
        root.contains(&format!("export GOPROXY={}/go", airlock.base)),
        "{root}"
    );
    assert_eq!(get("/healthz").status(), 200);
    assert_eq!(get("/readyz").status(), 200);
    let metrics = get("/metrics").text().expect("metrics");
    assert!(
        metrics.contains("airlock_cache_lookups_total{protocol=\"go\",result=\"hit\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("airlock_upstream_fetches_total{outcome=\"ok\",protocol=\"go\"}"),
        "{metrics}"
    );
    assert!(
        airlock.log().contains("cache=HIT"),
        "one log line per request with the cache result"
    );
    drop(airlock);

    // Offline from the same data directory: nothing leaves the host.
    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    let before = upstream.total();
    let get = |path: &str| client.get(airlock.url(path)).send().expect("request");
    let r = get("/go/example.com/airlock/greet/@v/list");
    assert_eq!(
        r.text().expect("body"),
        "v1.1.0\n",
        "only versions with a stored zip"
    );
    let latest: serde_json::Value = get("/go/example.com/airlock/greet/@latest")
        .json()
        .expect("json");
    assert_eq!(latest["Version"], "v1.1.0");
    assert_eq!(
        get("/go/example.com/airlock/words/@v/v1.2.0.mod").status(),
        200
    );
    let r = get("/go/example.com/airlock/words/@v/v1.0.0.mod");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(r.text().expect("body").contains("offline"));
    assert_eq!(get("/go/example.com/airlock/words/@v/list").status(), 200);
    assert_eq!(get("/go/example.com/airlock/never/@v/list").status(), 404);
    // Pseudo-versions: not listed, but @latest and commit queries find them.
    let r = get("/go/example.com/airlock/pseudo/@v/list");
    assert_eq!(
        (r.status().as_u16(), r.text().expect("body")),
        (200, String::new())
    );
    for path in [
        "/go/example.com/airlock/pseudo/@latest",
        "/go/example.com/airlock/pseudo/@v/abcdefabcdef.info",
        "/go/example.com/airlock/pseudo/@v/abcdefabcdef0123456789abcdef0123456789ab.info",
    ] {
        let info: serde_json::Value = get(path).json().expect("json");
        assert_eq!(
            info["Version"], "v0.0.0-20240102030405-abcdefabcdef",
            "{path}"
        );
    }
    assert_eq!(
        get("/go/example.com/airlock/pseudo/@v/master.info").status(),
        404
    );
    assert_eq!(get(&format!("/go{lookup}")).status(), 200);
    let r = get("/go/sumdb/sumdb.test/lookup/example.com/airlock/words@v1.0.0");
    assert_eq!(r.status(), 404);
    assert!(r.text().expect("body").contains("GONOSUMDB"));
    assert_eq!(
        upstream.total(),
        before,
        "offline mode must not contact the upstream"
    );
    drop(airlock);
    assert_fsck(&data, &["--verify"], " 0 errors");
}

#[test]
fn asking_for_part_of_a_version_prefetches_the_rest() {
    let w = scratch();
    write_go_upstream(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &go_config(&upstream.base, &[], ""), &[]);
    let client = http();
    let get = |path: &str, fetch: bool| {
        client
            .get(airlock.url(&format!("/go/example.com/airlock/words/@v/{path}")))
            .header("disable-module-fetch", if fetch { "false" } else { "true" })
            .send()
            .expect("request")
    };
    let upstream_path = |file: &str| format!("/example.com/airlock/words/@v/{file}");

    // A fetched .mod brings its .info, not its zip.
    assert_eq!(get("v1.2.0.mod", true).headers()["x-cache"], "MISS");
    eventually("the .info prefetch", || {
        get("v1.2.0.info", false).status() == 200
    });
    assert_eq!(upstream.hits(&upstream_path("v1.2.0.info")), 1);
    assert_eq!(upstream.hits(&upstream_path("v1.2.0.zip")), 0);

    // A cache-only .info request starts nothing.
    assert_eq!(get("v1.2.0.info", false).headers()["x-cache"], "HIT");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream.hits(&upstream_path("v1.2.0.zip")), 0);

    // A client's .info request brings the zip; the client's zip request is a hit.
    assert_eq!(get("v1.2.0.info", true).status(), 200);
    eventually("the zip prefetch", || {
        get("v1.2.0.zip", false).status() == 200
    });
    let r = get("v1.2.0.zip", true);
    assert_eq!(r.headers()["x-cache"], "HIT");
    assert_eq!(
        r.bytes().expect("zip").as_ref(),
        zip_of("example.com/airlock/words", "v1.2.0").as_slice()
    );
    assert_eq!(upstream.hits(&upstream_path("v1.2.0.zip")), 1);

    // A version the upstream lacks: the prefetch fails quietly, nothing is stored.
    assert_eq!(get("v9.9.9.mod", true).status(), 404);
    drop(airlock);
    assert_fsck(&data, &[], "3 blobs in the index, 3 on disk; 0 errors");

    // Offline, from the same store: all three files, and no prefetch reaches out.
    let airlock = Airlock::start(
        &data,
        &go_config(&upstream.base, &[], ""),
        &["--mode", "offline"],
    );
    let before = upstream.total();
    for file in ["v1.2.0.mod", "v1.2.0.info", "v1.2.0.zip"] {
        let r = client
            .get(airlock.url(&format!("/go/example.com/airlock/words/@v/{file}")))
            .send()
            .expect("request");
        assert_eq!(r.status(), 200, "{file}");
    }
    assert_eq!(
        client
            .get(airlock.url("/go/example.com/airlock/words/@v/v1.0.0.info"))
            .send()
            .expect("request")
            .status(),
        404
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream.total(), before, "offline: no prefetch");
}

#[test]
fn an_import_into_a_running_online_airlock_is_served_when_the_upstream_lacks_it() {
    let w = scratch();
    std::fs::create_dir(w.path().join("empty")).expect("mkdir");
    let upstream = Faulty::start(&w.path().join("empty"));
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &go_config(&upstream.base, &[], ""), &[]);
    eventually("the stored keys", || {
        airlock.log().contains("go index keys loaded")
    });
    let client = http();
    let get = |file: &str| {
        let url = airlock.url(&format!("/go/example.com/airlock/words/@v/{file}"));
        client.get(url).send().expect("request")
    };
    assert_eq!(get("v1.2.0.mod").status(), 404);

    // Another process imports a module cache while the server runs: the server
    // learnt at start that nothing is stored, and its upstream has nothing.
    // (The cache has no checksum-database files: its modules are kept unverified.)
    let cache = w.path().join("gomodcache");
    write_goproxy_tree(&cache.join("cache").join("download"), &go_graph());
    let import = run(&[
        "import",
        "gomodcache",
        cache.to_str().expect("utf-8"),
        "--keep-unverified",
        "--data-dir",
        data.to_str().expect("utf-8"),
    ]);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    for file in ["v1.2.0.mod", "v1.2.0.info", "v1.2.0.zip"] {
        let r = get(file);
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(r.headers()["x-cache"], "HIT", "{file}");
    }
    assert_eq!(
        get("v1.2.0.zip").bytes().expect("zip").as_ref(),
        zip_of("example.com/airlock/words", "v1.2.0").as_slice()
    );
}

#[test]
fn bad_paths_get_404_and_change_nothing() {
    let w = scratch();
    write_go_upstream(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &go_config(&upstream.base, &[], ""), &[]);
    for path in [
        "/go/../../etc/passwd",
        "/go/example.com/airlock/../../../etc/@v/list",
        "/go/example.com/airlock/greet/@v/..%2F..%2Fetc%2Fpasswd.zip",
        "/go/example.com/airlock/Upper/@v/list",
        "/go/example.com/airlock/!/@v/list",
        "/go/example.com/airlock/greet/@v/v1.1.zip",
        "/go/example.com/airlock/greet/@v/latest.info",
        "/go/example.com/airlock/greet/@v/v2.0.0.zip",
        "/go/example.com/airlock/greet/v2/@v/v1.0.0.mod",
        "/go/example.com/airlock/greet/@v/v1.1.0.tar",
        "/go/example.com/airlock/greet/@v/v1.1.0+build.zip",
        "/go/example.com/airlock/greet",
        "/go/com/@v/list",
        "/go/sumdb/sumdb.test/lookup/../../../etc/passwd@v1.0.0",
        "/go/sumdb/sumdb.test/tile/8/0/../../../x",
        "/go/%ff%fe/@v/list",
    ] {
        let (status, body) = raw_get(&airlock.base, path);
        assert!(status == 404 || status == 400, "{path}: {status} {body}");
        if status == 404 && path.starts_with("/go/") {
            assert!(body.starts_with("not found: "), "{path}: {body:?}");
        }
    }
    // Writes: the proxy is read-only over HTTP; 405 says what it answers.
    let client = http();
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let url = airlock.url("/go/example.com/airlock/greet/@v/v1.1.0.zip");
        let response = client.request(method.clone(), &url).send().expect("send");
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(header(&response, "allow"), "GET, HEAD", "{method}");
    }
    assert_eq!(
        upstream.total(),
        0,
        "invalid requests never reach the upstream"
    );
    drop(airlock);
    assert_fsck(&data, &[], "0 blobs in the index, 0 on disk");
}

/// A version just fetched is in `@v/list`, `@latest` and queries answered
/// from storage at once, while its row still waits for its write-behind
/// turn: `go get m@v1.0.0` and then `go list -m -versions m` agree.
#[test]
fn a_version_just_fetched_is_listed_at_once() {
    let w = scratch();
    let (_upstream, airlock) = go_upstream_and_airlock(w.path());
    let client = http();
    let get = |path: &str, fetch: bool| {
        client
            .get(airlock.url(path))
            .header("disable-module-fetch", if fetch { "false" } else { "true" })
            .send()
            .expect("request")
    };
    let module = "/go/example.com/airlock/words/@v";
    for kind in ["info", "mod", "zip"] {
        assert_eq!(get(&format!("{module}/v1.0.0.{kind}"), true).status(), 200);
    }
    let list = get(&format!("{module}/list"), false);
    assert_eq!(list.status(), 200);
    assert_eq!(list.text().expect("list"), "v1.0.0\n");
    let latest = get("/go/example.com/airlock/words/@latest", false);
    assert_eq!(latest.status(), 200);
    assert!(latest.text().expect("latest").contains("\"v1.0.0\""));
    assert_eq!(get(&format!("{module}/v1.info"), false).status(), 200);
}
