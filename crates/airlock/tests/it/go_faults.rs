//! Upstream faults and crashes: a bad answer or a killed process never leaves
//! anything half-stored or wrongly cached.

use crate::support::faulty::{Fault, Faulty};
use crate::support::gofixture::{module_zip, ModuleVersion};
use crate::support::server::{assert_fsck, fsck, go_config, http, without_prefetch, Airlock};
use crate::support::{eventually, go_upstream_and_airlock, noise, scratch, write_go_upstream};
use std::io::Write as _;
use std::time::{Duration, Instant};
use zip::write::SimpleFileOptions;

const ZIP: &str = "/example.com/airlock/words/@v/v1.0.0.zip";
const MOD: &str = "/example.com/airlock/words/@v/v1.0.0.mod";
const INFO: &str = "/example.com/airlock/words/@v/v1.0.0.info";

/// A zip built entry by entry, for archives no honest module tool would make.
fn raw_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(
            *name,
            SimpleFileOptions::default().large_file(data.len() > u32::MAX as usize / 2),
        )
        .expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

fn words_zip() -> Vec<u8> {
    module_zip(&ModuleVersion::new(
        "example.com/airlock/words",
        "v1.0.0",
        "module example.com/airlock/words\n\ngo 1.16\n",
        &[(
            "words.go",
            "package words\n\nfunc Word() string { return \"alpha\" }\n",
        )],
    ))
}

#[test]
fn upstream_faults_store_nothing() {
    let w = scratch();
    write_go_upstream(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    let client = http();
    let good = words_zip();
    let mut corrupt = good.clone();
    // Flip a byte of the first entry's compressed data; the directory stays intact.
    let name_len = u16::from_le_bytes([good[26], good[27]]) as usize;
    let extra_len = u16::from_le_bytes([good[28], good[29]]) as usize;
    corrupt[30 + name_len + extra_len + 2] ^= 0xff;
    let prefix = "example.com/airlock/words@v1.0.0/";
    let cases: Vec<(&str, Fault, u16, &str)> = vec![
        (ZIP, Fault::Status(500), 502, "answered 500"),
        (ZIP, Fault::Status(429), 502, "answered 429"),
        (ZIP, Fault::Truncate(100), 502, "of"),
        (ZIP, Fault::Body(corrupt), 502, "invalid module zip"),
        (
            ZIP,
            Fault::Body(b"<html>proxy login</html>".to_vec()),
            502,
            "invalid module zip",
        ),
        (
            ZIP,
            Fault::Body(raw_zip(&[("example.com/other@v1.0.0/x.go", b"package x")])),
            502,
            "does not start",
        ),
        (
            ZIP,
            Fault::Body(raw_zip(&[(
                &format!("{prefix}../../../../etc/cron.d/x"),
                b"* * * * * root sh",
            )])),
            502,
            "invalid module zip",
        ),
        (
            ZIP,
            Fault::Body(raw_zip(&[
                (&format!("{prefix}A.go"), b"package a"),
                (&format!("{prefix}a.go"), b"package a"),
            ])),
            502,
            "collision",
        ),
        (
            ZIP,
            Fault::Body(raw_zip(&[(
                &format!("{prefix}go.mod"),
                &vec![b'\n'; 17 << 20],
            )])),
            502,
            "too large",
        ),
        (ZIP, Fault::DeclareOnly(600 << 20), 502, "limit"),
        (
            MOD,
            Fault::Body(b"<html>proxy login</html>".to_vec()),
            502,
            "no module directive",
        ),
        (MOD, Fault::Truncate(5), 502, "of"),
        // A Content-Length shorter than the body: the go.mod arrives cut short
        // ("module example.com/airlock/wo"), which nothing at the HTTP level sees.
        (
            MOD,
            Fault::ShortLength("module example.com/airlock/wo".len() as u64),
            502,
            "truncated",
        ),
        (
            MOD,
            Fault::Body(b"module example.com/airlock/words/v2\n".to_vec()),
            502,
            "another major version",
        ),
        // x/mod's collision rule holds for every path prefix, directories too.
        (
            ZIP,
            Fault::Body(raw_zip(&[
                (&format!("{prefix}x/y/a.go"), b"package y"),
                (&format!("{prefix}x/Y/b.go"), b"package y"),
            ])),
            502,
            "collision",
        ),
        (
            INFO,
            Fault::Body(br#"{"Version":"v9.9.9"}"#.to_vec()),
            502,
            "not \"v1.0.0\"",
        ),
        (INFO, Fault::Status(503), 502, "answered 503"),
        // The go command cannot read such a Time: stored, it would fail
        // every later `go mod download` of the version.
        (
            INFO,
            Fault::Body(br#"{"Version":"v1.0.0","Time":"yesterday"}"#.to_vec()),
            502,
            "invalid Time",
        ),
    ];
    for (i, (path, fault, status, reason)) in cases.into_iter().enumerate() {
        let data = w.path().join(format!("data{i}"));
        let config = without_prefetch(&go_config(&upstream.base, &[], ""));
        let airlock = Airlock::start(&data, &config, &[]);
        let label = format!("{path} {fault:?}");
        let label = &label[..label.len().min(120)];
        upstream.set(path, fault);
        let r = client
            .get(airlock.url(&format!("/go{path}")))
            .send()
            .expect("request");
        assert_eq!(r.status(), status, "{label}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{label}");
        let body = r.text().expect("body");
        assert!(body.contains(reason), "{label}: {body}");
        // Nothing was cached: once the upstream is healthy, the real file is fetched.
        upstream.clear(path);
        let hits = upstream.hits(path);
        let r = client
            .get(airlock.url(&format!("/go{path}")))
            .send()
            .expect("request");
        assert_eq!(r.status(), 200, "{label}");
        assert_eq!(
            r.headers()["x-cache"],
            "MISS",
            "{label}: a fault must not be cached"
        );
        assert_eq!(upstream.hits(path), hits + 1, "{label}");
        if path == ZIP {
            assert_eq!(r.bytes().expect("zip").as_ref(), good.as_slice(), "{label}");
        }
        drop(airlock);
        let (ok, report) = fsck(&data, &[]);
        assert!(
            ok && report.contains("1 blobs in the index, 1 on disk; 0 errors"),
            "{label}: {report}"
        );
    }
}

#[test]
fn a_checksum_database_error_page_is_not_cached() {
    let w = scratch();
    let tree = write_go_upstream(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    let data = w.path().join("data");
    let sumdb = format!("{}/sumdb/sumdb.test", upstream.base);
    let airlock = Airlock::start(
        &data,
        &go_config(&upstream.base, &[("sumdb.test", &sumdb)], ""),
        &[],
    );
    let lookup = "/sumdb/sumdb.test/lookup/example.com/airlock/words@v1.0.0";
    let tile = &format!("/sumdb/sumdb.test/tile/8/0/000.p/{}", tree.tree_size);
    for path in [lookup, tile] {
        upstream.set(path, Fault::Body(b"<html>maintenance</html>".to_vec()));
        let r = http()
            .get(airlock.url(&format!("/go{path}")))
            .send()
            .expect("request");
        assert_eq!(r.status(), 502, "{path}");
        upstream.clear(path);
        let r = http()
            .get(airlock.url(&format!("/go{path}")))
            .send()
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-cache"], "MISS", "{path}");
    }
}

#[test]
fn a_zip_bomb_is_refused_without_filling_memory() {
    let w = scratch();
    write_go_upstream(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &go_config(&upstream.base, &[], ""), &[]);
    // 600 MiB of zeros deflate to well under a megabyte.
    let bomb = raw_zip(&[(
        "example.com/airlock/words@v1.0.0/zeros.txt",
        &vec![0u8; 600 << 20],
    )]);
    assert!(bomb.len() < 2 << 20);
    upstream.set(ZIP, Fault::Body(bomb));
    let r = http()
        .get(airlock.url(&format!("/go{ZIP}")))
        .send()
        .expect("request");
    assert_eq!(r.status(), 502);
    assert!(r.text().expect("body").contains("too large"));
    drop(airlock);
    assert_fsck(&data, &[], "0 blobs in the index, 0 on disk");
}

#[test]
fn a_hung_upstream_times_out_and_caches_nothing() {
    let w = scratch();
    write_go_upstream(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    let data = w.path().join("data");
    let config = go_config(&upstream.base, &[], "")
        .replace("fetch_timeout = \"20s\"", "fetch_timeout = \"2s\"");
    let airlock = Airlock::start(&data, &config, &[]);
    upstream.set(ZIP, Fault::Stall(50, Duration::from_secs(30)));
    let started = Instant::now();
    let r = http()
        .get(airlock.url(&format!("/go{ZIP}")))
        .send()
        .expect("request");
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(15));
    upstream.clear(ZIP);
    let r = http()
        .get(airlock.url(&format!("/go{ZIP}")))
        .send()
        .expect("request");
    assert_eq!(r.status(), 200);
}

#[test]
fn goproxy_list_falls_through_like_go() {
    let w = scratch();
    write_go_upstream(w.path());
    let empty = w.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let missing = Faulty::start(&empty);
    let good = Faulty::start(&w.path().join("proxy"));
    let broken = Faulty::start(&w.path().join("proxy"));
    broken.set(MOD, Fault::Status(500));
    let cases = [
        (format!("{},{}", missing.base, good.base), 200),
        (format!("{},{}", broken.base, good.base), 502),
        (format!("{}|{}", broken.base, good.base), 200),
        (missing.base.clone(), 404),
    ];
    for (i, (list, status)) in cases.iter().enumerate() {
        let data = w.path().join(format!("data{i}"));
        let airlock = Airlock::start(&data, &go_config(list, &[], ""), &[]);
        let r = http()
            .get(airlock.url(&format!("/go{MOD}")))
            .send()
            .expect("request");
        assert_eq!(r.status(), *status, "{list}");
    }
}

/// A module whose zip (4 MiB of noise) is too large to be checked in memory:
/// it streams to the client while it is fetched. Written as a GOPROXY tree.
fn big_module(root: &std::path::Path) -> ModuleVersion {
    let big = ModuleVersion {
        files: vec![("blob.bin".into(), noise(4 << 20))],
        ..ModuleVersion::new(
            "example.com/airlock/big",
            "v1.0.0",
            "module example.com/airlock/big\n",
            &[],
        )
    };
    crate::support::gofixture::write_goproxy_tree(&root.join("proxy"), std::slice::from_ref(&big));
    big
}

const BIG_ZIP: &str = "/example.com/airlock/big/@v/v1.0.0.zip";

/// Reads a response body to its end: the bytes, or the error that cut it short.
fn read_body(mut r: reqwest::blocking::Response) -> (Vec<u8>, bool) {
    use std::io::Read as _;
    let mut got = Vec::new();
    let failed = r.read_to_end(&mut got).is_err();
    (got, failed)
}

#[test]
fn a_large_zip_streams_while_fetched_and_is_checked_before_its_end() {
    let w = scratch();
    let big = big_module(w.path());
    let want = module_zip(&big);
    let upstream = Faulty::start(&w.path().join("proxy"));
    let data = w.path().join("data");
    let config = go_config(&upstream.base, &[], "")
        .replace("fetch_timeout = \"20s\"", "fetch_timeout = \"3s\"");
    let airlock = Airlock::start(&data, &config, &[]);
    let url = airlock.url(&format!("/go{BIG_ZIP}"));

    // The upstream sends half, then stalls past the fetch deadline: the client
    // already has bytes while the upstream is stalled, then its body fails.
    upstream.set(BIG_ZIP, Fault::Stall(2 << 20, Duration::from_secs(60)));
    let mut r = http().get(&url).send().expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        want.len().to_string().as_str()
    );
    assert!(r.headers().get("etag").is_none(), "no digest yet");
    let mut first = [0u8; 4096];
    let n = std::io::Read::read(&mut r, &mut first).expect("first bytes while the upstream stalls");
    assert_eq!(first[..n], want[..n]);
    let (rest, failed) = read_body(r);
    assert!(failed, "a truncated fetch must not end like a whole zip");
    assert!(n + rest.len() < want.len());

    // A zip that fails the checks: the client never gets its last bytes.
    let mut bad = want.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0xff; // the CRC of the file it falls in no longer matches
    upstream.set(BIG_ZIP, Fault::Body(bad));
    let r = http().get(&url).send().expect("request");
    assert_eq!(r.status(), 200);
    let (got, failed) = read_body(r);
    assert!(failed && got.len() < want.len(), "{} bytes", got.len());
    assert!(airlock
        .log()
        .contains("a streamed go module zip was not stored"));

    // The real zip: streamed whole, then stored; the next answer is a hit.
    upstream.clear(BIG_ZIP);
    let r = http().get(&url).send().expect("request");
    assert_eq!(r.headers()["x-cache"], "MISS");
    let (got, failed) = read_body(r);
    assert!(!failed);
    assert!(got == want, "streamed bytes differ");
    eventually("the streamed zip to be stored", || {
        http().get(&url).send().expect("request").headers()["x-cache"] == "HIT"
    });
    let r = http().get(&url).send().expect("request");
    assert!(r.headers().get("etag").is_some());
    assert!(r.bytes().expect("zip").as_ref() == want.as_slice());
    assert_eq!(upstream.hits(BIG_ZIP), 3);
    drop(airlock);
    assert_fsck(
        &data,
        &["--verify"],
        "1 blobs in the index, 1 on disk; 0 errors",
    );

    // HEAD on a cold large zip answers at once; the zip is stored behind it.
    let data = w.path().join("data-head");
    let airlock = Airlock::start(&data, &config, &[]);
    let url = airlock.url(&format!("/go{BIG_ZIP}"));
    let head = http().head(&url).send().expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        want.len().to_string().as_str()
    );
    eventually("HEAD to store the zip", || {
        http()
            .get(&url)
            .header("disable-module-fetch", "true")
            .send()
            .expect("request")
            .status()
            == 200
    });
}

#[test]
fn sigterm_drops_fetches_stuck_on_a_stalled_upstream() {
    let w = scratch();
    big_module(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    upstream.set(BIG_ZIP, Fault::Stall(1 << 20, Duration::from_secs(120)));
    let data = w.path().join("data");
    // A fetch left to run would hold the shutdown for a minute.
    let config = go_config(&upstream.base, &[], "")
        .replace("fetch_timeout = \"20s\"", "fetch_timeout = \"60s\"");
    let mut airlock = Airlock::start(&data, &config, &[]);
    // The .info request starts a prefetch of the zip, which stalls.
    let info = airlock.url("/go/example.com/airlock/big/@v/v1.0.0.info");
    assert_eq!(http().get(info).send().expect("info").status(), 200);
    eventually("the zip prefetch", || upstream.hits(BIG_ZIP) > 0);
    airlock.stop(); // panics unless airlock exits within 20 s
                    // Only the .info is stored.
    assert_fsck(&data, &[], "1 blobs in the index, 1 on disk; 0 errors");
}

#[test]
fn kill_9_during_a_fetch_leaves_nothing_partial() {
    let w = scratch();
    let big = big_module(w.path());
    let zip_path = BIG_ZIP;
    let upstream = Faulty::start(&w.path().join("proxy"));
    upstream.set(zip_path, Fault::Stall(2 << 20, Duration::from_secs(60)));
    let data = w.path().join("data");
    let config = go_config(&upstream.base, &[], "");
    let mut airlock = Airlock::start(&data, &config, &[]);
    let url = airlock.url(&format!("/go{zip_path}"));
    // The client gets the start of the zip while it is fetched, never all of it.
    let client =
        std::thread::spawn(move || http().get(url).send().map_or((Vec::new(), true), read_body));
    // Wait until half the zip sits in airlock's temp file, then kill it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let partial = loop {
        let part = walk(&data.join("tmp"))
            .into_iter()
            .find(|(p, len)| p.extension().is_some_and(|e| e == "part") && *len > 0);
        if let Some(found) = part {
            break found;
        }
        assert!(Instant::now() < deadline, "the fetch never started writing");
        std::thread::sleep(Duration::from_millis(20));
    };
    airlock.kill();
    let (got, failed) = client.join().expect("client");
    assert!(failed && got.len() < module_zip(&big).len());
    assert!(
        partial.0.exists(),
        "killed mid-write: the temp file is still there"
    );

    // Restarted: the dead process's temp files are gone, nothing partial is served.
    upstream.clear(zip_path);
    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    assert!(!partial.0.exists());
    let r = http()
        .get(airlock.url(&format!("/go{zip_path}")))
        .send()
        .expect("request");
    assert_eq!(r.status(), 404, "offline: never stored, so not served");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");

    // Online again, the fetch completes and the bytes are whole.
    let airlock = Airlock::start(&data, &config, &[]);
    let r = http()
        .get(airlock.url(&format!("/go{zip_path}")))
        .send()
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().expect("zip").as_ref(),
        module_zip(&big).as_slice()
    );
    drop(airlock);
    assert_fsck(&data, &["--verify"], "0 errors, 0 warnings");
}

fn walk(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else if let Ok(m) = e.metadata() {
                out.push((path, m.len()));
            }
        }
    }
    out
}

/// Requests `/healthz` every few milliseconds until dropped: clients are active,
/// so files served from memory wait to be stored (write-behind, at most 2 s).
struct Busy(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<std::thread::JoinHandle<()>>,
);

impl Busy {
    /// Starts the pollers and returns once the server has answered one: two
    /// of them, so one stalled by a loaded machine leaves no quiet gap.
    fn start(airlock: &Airlock) -> Busy {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered = std::sync::Arc::new(std::sync::Barrier::new(3));
        let pollers = (0..2)
            .map(|_| {
                let (flag, url, answered) =
                    (stop.clone(), airlock.url("/healthz"), answered.clone());
                std::thread::spawn(move || {
                    let client = http();
                    let _ = client.get(&url).send();
                    answered.wait();
                    while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = client.get(&url).send();
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        answered.wait();
        Busy(stop, pollers)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        for poller in self.1.drain(..) {
            let _ = poller.join();
        }
    }
}

#[test]
fn a_file_served_before_it_is_stored_is_lost_to_kill_9_and_kept_by_sigterm() {
    let w = scratch();
    write_go_upstream(w.path());
    let upstream = Faulty::start(&w.path().join("proxy"));
    let data = w.path().join("data");
    let config = without_prefetch(&go_config(&upstream.base, &[], ""));
    let get = |airlock: &Airlock| {
        let r = http()
            .get(airlock.url(&format!("/go{MOD}")))
            .send()
            .expect("request");
        (r.status().as_u16(), r.text().expect("body"))
    };
    let go_mod = "module example.com/airlock/words\n\ngo 1.16\n".to_owned();

    // Served from memory while clients are busy, then killed before it was stored.
    let mut airlock = Airlock::start(&data, &config, &[]);
    let busy = Busy::start(&airlock);
    assert_eq!(get(&airlock), (200, go_mod.clone()));
    airlock.kill();
    drop(busy);
    let offline = Airlock::start(&data, &config, &["--mode", "offline"]);
    assert_eq!(
        get(&offline).0,
        404,
        "never stored: not served, nothing partial"
    );
    drop(offline);
    assert_fsck(&data, &[], "0 blobs in the index, 0 on disk; 0 errors");

    // The same, stopped with SIGTERM: stored before the process exits.
    let airlock = Airlock::start(&data, &config, &[]);
    let busy = Busy::start(&airlock);
    assert_eq!(get(&airlock), (200, go_mod.clone()));
    drop(airlock);
    drop(busy);
    let offline = Airlock::start(&data, &config, &["--mode", "offline"]);
    assert_eq!(get(&offline), (200, go_mod));
    drop(offline);
    assert_fsck(
        &data,
        &["--verify"],
        "1 blobs in the index, 1 on disk; 0 errors",
    );
}

/// When the upstreams fail and storage has nothing, `@latest` and queries
/// answer with the upstream's error (502), not a 404: with
/// `GOPROXY=airlock,next` the go command must not take an outage for "no
/// such module" (a 404 makes it try the next proxy, hiding the cause).
#[test]
fn an_upstream_outage_is_not_a_not_found_for_latest_and_queries() {
    let w = scratch();
    let (upstream, airlock) = go_upstream_and_airlock(w.path());
    let client = http();
    for path in [
        "/example.com/airlock/words/@latest",
        "/example.com/airlock/words/@v/master.info",
    ] {
        upstream.set(path, Fault::Status(503));
        let r = client
            .get(airlock.url(&format!("/go{path}")))
            .send()
            .expect("request");
        assert_eq!(r.status(), 502, "{path}");
        let body = r.text().expect("body");
        assert!(body.contains("answered 503"), "{path}: {body}");
    }
}
