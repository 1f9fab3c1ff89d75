//! airlock verifies every module file against the checksum database before it
//! stores it, so that a `go` client with `GOSUMDB=off` is protected too: a
//! `.zip` or `.mod` that differs from the database's record is refused with a
//! message naming both hashes, and nothing is stored. Modules matching
//! `go.private` pass unverified; a checksum database that forks is refused.

use crate::support::faulty::{Fault, Faulty};
use crate::support::goclient::{go_binaries, version, GoEnv};
use crate::support::gofixture::{
    self, h1_mod, h1_zip, write_goproxy_tree, write_sumdb_tree_with_seed, ModuleVersion, SumDb,
};
use crate::support::server::{assert_fsck, go_config, http, run, verifying, write_config, Airlock};
use crate::support::{file_url, go_graph, scratch};
use std::path::Path;

const SEED: [u8; 32] = [42; 32];
const PRIVATE: &str = "example.com/private/secret";

/// The fixture graph with one changed file: (what the database records, what
/// the upstream serves).
fn tampered(graph: &[ModuleVersion], path: &str, version: &str, file: &str) -> Vec<ModuleVersion> {
    graph
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if m.path == path && m.version == version {
                let (_, content) = m
                    .files
                    .iter_mut()
                    .find(|(name, _)| name == file)
                    .expect("file to tamper with");
                content.extend_from_slice(b"\n// and a backdoor\n");
            }
            m
        })
        .collect()
}

fn private_module() -> ModuleVersion {
    ModuleVersion::new(
        PRIVATE,
        "v1.0.0",
        &format!("module {PRIVATE}\n\ngo 1.16\n"),
        &[("secret.go", "package secret\n")],
    )
}

fn unrecorded_module() -> ModuleVersion {
    let path = "example.com/airlock/unrecorded";
    ModuleVersion::new(
        path,
        "v1.0.0",
        &format!("module {path}\n\ngo 1.16\n"),
        &[("u.go", "package unrecorded\n")],
    )
}

/// An upstream at `<dir>/proxy` serving `served` (plus a private and an
/// unrecorded module), with a checksum database at `<dir>/sumdb` that
/// records `recorded`.
fn upstream(dir: &Path, recorded: &[ModuleVersion], served: &[ModuleVersion]) -> SumDb {
    let mut all = served.to_vec();
    all.push(private_module());
    all.push(unrecorded_module());
    write_goproxy_tree(&dir.join("proxy"), &all);
    write_sumdb_tree_with_seed(&sumdb_dir(dir), "sumdb.test", SEED, recorded)
}

/// Where [`upstream`] puts its checksum database: where `go` finds it through
/// `GOPROXY=file://<dir>/proxy`.
fn sumdb_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("proxy/sumdb/sumdb.test")
}

fn config(dir: &Path, sumdb: &SumDb) -> String {
    verifying(
        &go_config(
            &file_url(&dir.join("proxy")),
            &[("sumdb.test", &file_url(&sumdb_dir(dir)))],
            "",
        )
        .replacen("[go]\n", "[go]\nprivate = \"example.com/private\"\n", 1),
        &sumdb.verifier_key,
    )
}

/// The catalog's entries: (module, version, verification).
fn catalog(airlock: &Airlock) -> Vec<(String, String, String)> {
    let body: serde_json::Value = http()
        .get(airlock.url("/go/catalog"))
        .send()
        .expect("catalog")
        .json()
        .expect("json");
    body["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .map(|m| {
            (
                m["module"].as_str().unwrap_or_default().to_owned(),
                m["version"].as_str().unwrap_or_default().to_owned(),
                m["verification"].as_str().unwrap_or("null").to_owned(),
            )
        })
        .collect()
}

fn stored(airlock: &Airlock, path: &str, version: &str, ext: &str) -> u16 {
    let url = airlock.url(&format!(
        "/go/{}/@v/{version}.{ext}",
        gofixture::escape(path)
    ));
    http()
        .get(url)
        .header("Disable-Module-Fetch", "true")
        .send()
        .expect("request")
        .status()
        .as_u16()
}

fn module_dir(root: &Path) -> std::path::PathBuf {
    let app = root.join("app");
    std::fs::create_dir_all(&app).expect("app");
    std::fs::write(app.join("go.mod"), "module example.com/app\n\ngo 1.19\n").expect("go.mod");
    app
}

#[test]
fn go_with_gosumdb_off_gets_only_what_the_checksum_database_recorded() {
    let graph = go_graph();
    // The upstream's words v1.0.0 zip and greet v1.0.0 .mod differ from the records.
    let served = tampered(&graph, "example.com/airlock/words", "v1.0.0", "words.go");
    let greet_mod = "module example.com/airlock/greet\n\ngo 1.16\n// changed\n";
    for go in go_binaries() {
        let v = version(&go);
        let w = scratch();
        let sumdb = upstream(w.path(), &graph, &served);
        let greet = w
            .path()
            .join("proxy/example.com/airlock/greet/@v/v1.0.0.mod");
        std::fs::write(&greet, greet_mod).expect("tamper with .mod");
        let data = w.path().join("data");
        let airlock = Airlock::start(&data, &config(w.path(), &sumdb), &[]);
        let app = module_dir(w.path());
        let env = GoEnv::new(&go, &w.path().join("go"), &airlock.url("/go"), "off");

        // A changed zip: go fails with airlock's message, naming both hashes.
        let words = graph
            .iter()
            .find(|m| m.path == "example.com/airlock/words" && m.version == "v1.0.0")
            .expect("words");
        let bad_words = served
            .iter()
            .find(|m| m.path == "example.com/airlock/words" && m.version == "v1.0.0")
            .expect("words");
        let out = env.run(
            &app,
            &["mod", "download", "example.com/airlock/words@v1.0.0"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{v}: {stderr}");
        for want in [
            "SECURITY ERROR",
            "example.com/airlock/words@v1.0.0",
            &h1_zip(words),
            &h1_zip(bad_words),
        ] {
            assert!(stderr.contains(want), "{v}: want {want:?} in {stderr}");
        }
        // A changed go.mod: the same.
        let out = env.run(
            &app,
            &["mod", "download", "example.com/airlock/greet@v1.0.0"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{v}: {stderr}");
        let recorded = graph
            .iter()
            .find(|m| m.path == "example.com/airlock/greet" && m.version == "v1.0.0")
            .expect("greet");
        for want in [
            "SECURITY ERROR",
            "example.com/airlock/greet@v1.0.0",
            &h1_mod(&recorded.go_mod),
            &h1_mod(greet_mod),
        ] {
            assert!(stderr.contains(want), "{v}: want {want:?} in {stderr}");
        }
        // A version the database has no record of: refused too.
        let out = env.run(
            &app,
            &["mod", "download", "example.com/airlock/unrecorded@v1.0.0"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("no record"),
            "{v}: {stderr}"
        );

        // Recorded versions verify, the large streamed zip included; the private
        // module passes unverified.
        for (module, version) in [
            ("example.com/airlock/greet", "v1.1.0"),
            ("example.com/airlock/Upper", "v0.1.0"),
            ("example.com/airlock/inc", "v2.0.0+incompatible"),
            (PRIVATE, "v1.0.0"),
        ] {
            env.ok(&app, &["mod", "download", &format!("{module}@{version}")]);
        }
        // A client that verifies too gets the checksum-database files airlock
        // fetched for its own verification (served while they are stored).
        let verifying_env = GoEnv::new(
            &go,
            &w.path().join("go-sumdb"),
            &airlock.url("/go"),
            &sumdb.verifier_key,
        );
        verifying_env.ok(
            &app,
            &["mod", "download", "example.com/airlock/words@v1.2.0"],
        );
        let log = airlock.log();
        assert!(
            log.contains("security=true") && log.contains("checksum mismatch: module file refused"),
            "{v}: {log}"
        );
        let metrics = http()
            .get(airlock.url("/metrics"))
            .send()
            .expect("metrics")
            .text()
            .expect("text");
        assert!(
            metrics.contains(
                "airlock_security_events_total{event=\"checksum_mismatch\",protocol=\"go\"}"
            ),
            "{v}: {metrics}"
        );
        crate::support::eventually("the verified files recorded", || {
            let catalog = catalog(&airlock);
            [
                PRIVATE,
                "example.com/airlock/Upper",
                "example.com/airlock/inc",
            ]
            .iter()
            .all(|m| catalog.iter().any(|e| e.0 == *m))
        });
        // Nothing of the refused versions was stored.
        assert_eq!(
            stored(&airlock, "example.com/airlock/words", "v1.0.0", "zip"),
            404,
            "{v}"
        );
        assert_eq!(
            stored(&airlock, "example.com/airlock/greet", "v1.0.0", "mod"),
            404,
            "{v}"
        );
        assert_eq!(
            stored(&airlock, "example.com/airlock/unrecorded", "v1.0.0", "zip"),
            404,
            "{v}"
        );
        let catalog = catalog(&airlock);
        let find = |module: &str| catalog.iter().find(|e| e.0 == module).map(|e| e.2.clone());
        assert_eq!(
            find("example.com/airlock/greet").as_deref(),
            Some("verified"),
            "{v}: {catalog:?}"
        );
        assert_eq!(
            find(PRIVATE).as_deref(),
            Some("not-covered"),
            "{v}: {catalog:?}"
        );
        assert!(
            !catalog
                .iter()
                .any(|e| e.0 == "example.com/airlock/words" && e.1 == "v1.0.0"),
            "{v}: {catalog:?}"
        );
        drop(airlock);
        assert_fsck(&data, &[], " 0 errors, 0 warnings");
    }
}

#[test]
fn a_forked_checksum_database_is_refused() {
    let w = scratch();
    let graph = go_graph();
    let sumdb = upstream(w.path(), &graph, &graph);
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &config(w.path(), &sumdb), &[]);
    let get = |module: &str, version: &str| {
        http()
            .get(airlock.url(&format!(
                "/go/{}/@v/{version}.mod",
                gofixture::escape(module)
            )))
            .send()
            .expect("request")
    };
    assert_eq!(get("example.com/airlock/greet", "v1.0.0").status(), 200);

    // The database now signs (with the same key) a larger tree in which an
    // earlier record differs: its history was rewritten.
    let mut forked = tampered(&graph, "example.com/airlock/words", "v1.2.0", "words.go");
    forked.push(unrecorded_module());
    std::fs::remove_dir_all(sumdb_dir(w.path())).expect("rm sumdb");
    write_sumdb_tree_with_seed(&sumdb_dir(w.path()), "sumdb.test", SEED, &forked);
    let r = get("example.com/airlock/greet/v2", "v2.0.0");
    assert_eq!(r.status(), 502);
    let body = r.text().expect("body");
    assert!(
        body.contains("SECURITY ERROR") && body.contains("forked"),
        "{body}"
    );
    assert_eq!(
        stored(&airlock, "example.com/airlock/greet/v2", "v2.0.0", "mod"),
        404
    );
    let log = airlock.log();
    assert!(
        log.contains("checksum database forked") && log.contains("security=true"),
        "{log}"
    );

    // The same size with another root hash: refused as well.
    std::fs::remove_dir_all(sumdb_dir(w.path())).expect("rm sumdb");
    let same_size = tampered(&graph, "example.com/airlock/words", "v1.2.0", "words.go");
    write_sumdb_tree_with_seed(&sumdb_dir(w.path()), "sumdb.test", SEED, &same_size);
    let r = get(
        "example.com/airlock/pseudo",
        "v0.0.0-20240102030405-abcdefabcdef",
    );
    assert_eq!(r.status(), 502);
    assert!(r.text().expect("body").contains("forked"));
    drop(airlock);

    // A restarted airlock still knows the head it verified first.
    let airlock = Airlock::start(&data, &config(w.path(), &sumdb), &[]);
    let r = http()
        .get(airlock.url("/go/example.com/airlock/inc/@v/v2.0.0+incompatible.mod"))
        .send()
        .expect("request");
    assert_eq!(r.status(), 502);
    drop(airlock);
    assert_fsck(&data, &[], " 0 errors");
}

#[test]
fn an_import_verifies_against_the_checksum_database_and_offline_serves_only_that() {
    for go in go_binaries() {
        let v = version(&go);
        let w = scratch();
        let graph = go_graph();
        let sumdb = upstream(w.path(), &graph, &graph);
        // Outside: go fills a module cache with verification on (so it holds the
        // checksum database's lookups and tiles).
        let app = module_dir(w.path());
        let outside = GoEnv::new(
            &go,
            &w.path().join("outside"),
            &file_url(&w.path().join("proxy")),
            &sumdb.verifier_key,
        );
        for m in [
            "example.com/airlock/words@v1.0.0",
            "example.com/airlock/greet@v1.1.0",
        ] {
            outside.ok(&app, &["mod", "download", m]);
        }
        let download = outside.gomodcache().join("cache/download");
        // Then its zip of words v1.0.0 is swapped (with a matching .ziphash), and
        // a private and an unrecorded module are added.
        let bad = tampered(&graph, "example.com/airlock/words", "v1.0.0", "words.go");
        let bad_words = bad
            .iter()
            .find(|m| m.path == "example.com/airlock/words" && m.version == "v1.0.0")
            .expect("words");
        let zip = download.join("example.com/airlock/words/@v/v1.0.0.zip");
        std::fs::write(&zip, gofixture::module_zip(bad_words)).expect("swap zip");
        std::fs::write(zip.with_extension("ziphash"), h1_zip(bad_words)).expect("ziphash");
        write_goproxy_tree(&download, &[private_module(), unrecorded_module()]);

        let data = w.path().join("data");
        let config = config(w.path(), &sumdb);
        let config_path = write_config(&data, &config);
        let import = |extra: &[&str]| {
            let mut args = vec![
                "import",
                "gomodcache",
                download.to_str().expect("utf-8"),
                "-c",
                config_path.to_str().expect("utf-8"),
                "--data-dir",
                data.to_str().expect("utf-8"),
            ];
            args.extend_from_slice(extra);
            let out = run(&args);
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        };
        let (ok, report) = import(&[]);
        assert!(!ok, "{v}: {report}");
        for want in [
            "SECURITY ERROR: example.com/airlock/words@v1.0.0",
            &h1_zip(bad_words),
            "unrecorded/@v/v1.0.0.zip: no record",
            "private/secret/@v/v1.0.0.zip: not covered: its path matches go.private",
            "3 rejected",
        ] {
            assert!(report.contains(want), "{v}: want {want:?} in {report}");
        }
        // Kept on request, marked; the mismatch never.
        let (ok, report) = import(&["--keep-unverified"]);
        assert!(
            !ok && report.contains("1 rejected, 2 not verified"),
            "{v}: {report}"
        );
        assert!(
            report.contains("stored unverified") && report.contains("unrecorded"),
            "{v}: {report}"
        );
        let (_, fsck) = crate::support::server::fsck(&data, &[]);
        assert!(
            fsck.contains(
                "note: go example.com/airlock/unrecorded@v1.0.0.zip is stored unverified"
            ),
            "{v}: {fsck}"
        );

        // Offline, a client with GOSUMDB=off gets the verified and the private
        // modules, and never the swapped zip.
        let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
        let inside = GoEnv::new(&go, &w.path().join("inside"), &airlock.url("/go"), "off");
        inside.ok(
            &app,
            &[
                "mod",
                "download",
                "example.com/airlock/greet@v1.1.0",
                &format!("{PRIVATE}@v1.0.0"),
            ],
        );
        let out = inside.run(
            &app,
            &["mod", "download", "example.com/airlock/words@v1.0.0"],
        );
        assert!(!out.status.success(), "{v}");
        assert_eq!(
            stored(&airlock, "example.com/airlock/words", "v1.0.0", "zip"),
            404,
            "{v}"
        );
        let catalog = catalog(&airlock);
        assert!(
            catalog.contains(&(
                "example.com/airlock/greet".into(),
                "v1.1.0".into(),
                "verified".into()
            )),
            "{v}: {catalog:?}"
        );
        drop(airlock);
        assert_fsck(&data, &[], " 0 errors, 0 warnings");
    }
}

#[test]
fn an_unreachable_checksum_database_fails_closed_unless_unverified_files_are_kept() {
    let w = scratch();
    let graph = go_graph();
    let sumdb = upstream(w.path(), &graph, &graph);
    // Nothing listens on the database's port.
    let unreachable =
        config(w.path(), &sumdb).replace(&file_url(&sumdb_dir(w.path())), "http://127.0.0.1:9");
    let data = w.path().join("data");
    let zip = "/go/example.com/airlock/words/@v/v1.2.0.zip";
    {
        let airlock = Airlock::start(&data, &unreachable, &[]);
        let r = http().get(airlock.url(zip)).send().expect("request");
        assert_eq!(r.status(), 502);
        let body = r.text().expect("body");
        assert!(
            body.contains("example.com/airlock/words@v1.2.0")
                && body.contains("checksum database sumdb.test unreachable"),
            "{body}"
        );
        assert_eq!(
            stored(&airlock, "example.com/airlock/words", "v1.2.0", "zip"),
            404
        );
    }
    let keep = unreachable.replacen("[go]\n", "[go]\nstore_unverified = true\n", 1);
    let airlock = Airlock::start(&data, &keep, &[]);
    let r = http().get(airlock.url(zip)).send().expect("request");
    assert_eq!(r.status(), 200);
    crate::support::eventually("the zip recorded", || {
        catalog(&airlock)
            == [(
                "example.com/airlock/words".to_owned(),
                "v1.2.0".to_owned(),
                "unverified".to_owned(),
            )]
    });
    drop(airlock);
    assert_fsck(
        &data,
        &[],
        "note: go example.com/airlock/words@v1.2.0.zip is stored unverified",
    );
}

#[test]
fn a_truncated_go_mod_is_refused_by_its_checksum() {
    // An upstream whose wrong Content-Length cuts a .mod short after its module
    // line sends a valid-looking go.mod: its hash is not the database's.
    let w = scratch();
    let graph = go_graph();
    let sumdb = upstream(w.path(), &graph, &graph);
    let faulty = Faulty::start(&w.path().join("proxy"));
    let path = "/example.com/airlock/words/@v/v1.0.0.mod";
    faulty.set(
        path,
        Fault::Body(b"module example.com/airlock/words\n\ngo 1.".to_vec()),
    );
    let config = verifying(
        &go_config(
            &faulty.base,
            &[("sumdb.test", &format!("{}/sumdb/sumdb.test", faulty.base))],
            "",
        ),
        &sumdb.verifier_key,
    );
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &config, &[]);
    let r = http()
        .get(airlock.url(&format!("/go{path}")))
        .send()
        .expect("request");
    assert_eq!(r.status(), 502);
    let body = r.text().expect("body");
    let words = &graph[2];
    assert_eq!(
        (words.path.as_str(), words.version.as_str()),
        ("example.com/airlock/words", "v1.0.0")
    );
    assert!(
        body.contains("SECURITY ERROR") && body.contains(&h1_mod(&words.go_mod)),
        "{body}"
    );
    assert_eq!(
        stored(&airlock, "example.com/airlock/words", "v1.0.0", "mod"),
        404
    );
    drop(airlock);
    assert_fsck(&data, &[], " 0 errors, 0 warnings");
}

#[test]
fn a_large_zip_that_differs_from_the_record_is_cut_short_and_not_stored() {
    // Zips over 1 MiB stream while they arrive: the mismatch shows only once
    // the whole zip is in, so the client's download ends short instead.
    let w = scratch();
    let graph = go_graph();
    let served = tampered(&graph, "example.com/airlock/Upper", "v0.1.0", "upper.go");
    let sumdb = upstream(w.path(), &graph, &served);
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &config(w.path(), &sumdb), &[]);
    let url = airlock.url("/go/example.com/airlock/!upper/@v/v0.1.0.zip");
    let response = http().get(&url).send().expect("request");
    let complete = response
        .bytes()
        .is_ok_and(|b| b.as_ref() == gofixture::module_zip(&served[4]).as_slice());
    assert!(!complete, "the whole differing zip reached the client");
    crate::support::eventually("the mismatch logged", || {
        airlock
            .log()
            .contains("checksum mismatch: module file refused")
    });
    assert_eq!(
        stored(&airlock, "example.com/airlock/Upper", "v0.1.0", "zip"),
        404
    );
    drop(airlock);
    assert_fsck(&data, &[], " 0 errors, 0 warnings");
}
