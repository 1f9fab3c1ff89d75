//! The real `go` client against airlock: online pull-through, then offline from
//! the same data directory with the upstream gone, then seeding from a module cache.
//! Checksum verification stays on throughout, through airlock's sumdb proxy.

use crate::support::goclient::{go_binaries, version, GoEnv};
use crate::support::server::{fsck, go_config, run, verifying, write_config, Airlock};
use crate::support::{file_url, scratch, write_go_app, write_go_upstream};

/// Builds the fixture program with `env` and checks what it prints.
fn build_and_run(env: &GoEnv, app: &std::path::Path) {
    env.ok(app, &["build", "-o", "app", "."]);
    let out = std::process::Command::new(app.join("app"))
        .output()
        .expect("run app");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        APP_OUTPUT,
        "{}",
        version(&env.go)
    );
}

const APP_OUTPUT: &str =
    "hello from greet v1.1.0, word=alpha\nhello from greet v2.0.0\nUpper v0.1.0\n";

#[test]
fn go_builds_online_then_offline_with_checksums_verified() {
    for go in go_binaries() {
        let v = version(&go);
        let w = scratch();
        let sumdb = write_go_upstream(w.path());
        let upstream = w.path().join("proxy");
        let config = go_config(
            &file_url(&upstream),
            &[("sumdb.test", &file_url(&upstream.join("sumdb/sumdb.test")))],
            "",
        );
        let data = w.path().join("data");

        // Online: a fresh module cache fetches everything through airlock.
        let airlock = Airlock::start(&data, &config, &[]);
        let app = w.path().join("app");
        write_go_app(&app);
        let env = GoEnv::new(
            &go,
            &w.path().join("go-online"),
            &airlock.url("/go"),
            &sumdb.verifier_key,
        );
        env.ok(&app, &["mod", "download"]);
        build_and_run(&env, &app);
        let versions = env.ok(
            &app,
            &["list", "-m", "-versions", "example.com/airlock/greet"],
        );
        assert_eq!(
            versions.trim(),
            "example.com/airlock/greet v1.0.0 v1.1.0",
            "{v}"
        );
        let go_sum = std::fs::read_to_string(app.join("go.sum")).expect("go.sum");
        assert!(
            go_sum.contains("example.com/airlock/Upper v0.1.0 h1:"),
            "{v}: {go_sum}"
        );
        assert!(
            airlock.log().contains("/go/sumdb/sumdb.test/lookup/"),
            "{v}: go must verify through airlock"
        );
        drop(airlock);

        // Offline, upstream gone: a fresh module cache and no go.sum, so go must
        // verify every module again through airlock's cached checksum database.
        std::fs::rename(&upstream, w.path().join("gone")).expect("remove upstream");
        std::fs::remove_file(app.join("go.sum")).expect("rm go.sum");
        std::fs::remove_file(app.join("app")).expect("rm app");
        let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
        let env = GoEnv::new(
            &go,
            &w.path().join("go-offline"),
            &airlock.url("/go"),
            &sumdb.verifier_key,
        );
        build_and_run(&env, &app);
        // Offline lists only versions whose zip is stored (v1.0.0 never was).
        let versions = env.ok(
            &app,
            &["list", "-m", "-versions", "example.com/airlock/greet"],
        );
        assert_eq!(versions.trim(), "example.com/airlock/greet v1.1.0", "{v}");
        // A module airlock never stored: go's not-found error, promptly.
        let started = std::time::Instant::now();
        let out = env.run(
            &app,
            &["mod", "download", "example.com/airlock/notcached@v1.0.0"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{v}");
        assert!(stderr.contains("404 Not Found"), "{v}: {stderr}");
        assert!(
            started.elapsed().as_secs() < 60,
            "{v}: not-found must not hang"
        );
        drop(airlock);

        let (ok, report) = fsck(&data, &[]);
        assert!(ok && report.contains(" 0 errors"), "{v}: {report}");
    }
}

#[test]
fn a_module_cache_seeds_an_offline_airlock() {
    let go = go_binaries().remove(0);
    let w = scratch();
    let sumdb = write_go_upstream(w.path());
    let upstream = w.path().join("proxy");
    let app = w.path().join("app");
    write_go_app(&app);

    // On the "internet side": go fills its module cache straight from the upstream.
    let outside = GoEnv::new(
        &go,
        &w.path().join("outside"),
        &file_url(&upstream),
        &sumdb.verifier_key,
    );
    outside.ok(&app, &["mod", "download", "all"]);

    // Inside: import that cache into an airlock that never goes online,
    // verifying every module file against the cache's checksum-database files.
    let data = w.path().join("data");
    let config = verifying(
        &go_config("", &[("sumdb.test", "https://sumdb.invalid")], ""),
        &sumdb.verifier_key,
    );
    let config_path = write_config(&data, &config);
    let import = run(&[
        "import",
        "gomodcache",
        outside.gomodcache().to_str().expect("utf-8"),
        "-c",
        config_path.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&import.stdout);
    assert!(
        import.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(stdout.contains("0 rejected, 0 not verified"), "{stdout}");
    // Importing again stores nothing new.
    let again = run(&[
        "import",
        "gomodcache",
        outside.gomodcache().to_str().expect("utf-8"),
        "-c",
        config_path.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
    ]);
    assert!(String::from_utf8_lossy(&again.stdout)
        .contains("imported 0 module files and 0 checksum-database files"));

    std::fs::rename(&upstream, w.path().join("gone")).expect("remove upstream");
    std::fs::remove_file(app.join("go.sum")).expect("rm go.sum");
    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    let inside = GoEnv::new(
        &go,
        &w.path().join("inside"),
        &airlock.url("/go"),
        &sumdb.verifier_key,
    );
    build_and_run(&inside, &app);
}
