//! Version queries as the real `go` sends them (`go list -m MODULE@QUERY`):
//! a version that is not canonical for the path, a branch, a commit prefix;
//! online through an upstream, offline from what was stored, and after an
//! import of a module tree that holds query answers.

use crate::support::goclient::{go_binaries, version, GoEnv};
use crate::support::gofixture::{escape, write_goproxy_tree, ModuleVersion};
use crate::support::server::{assert_fsck, go_config, http, run, Airlock};
use crate::support::{file_url, scratch};
use std::path::Path;

const INC: &str = "example.com/q/inc";
const TAGS: &str = "example.com/q/tags";
/// The commit of `tags` v1.0.0 (and of its pseudo-version).
const H1: &str = "abcdef0123456789abcdef0123456789abcdef01";
/// The commit of `tags` v1.1.0: shares 7 hex digits with H1.
const H2: &str = "abcdef0999999999999999999999999999999999";
const PSEUDO: &str = "v0.0.0-20240101000000-abcdef012345";

/// Writes the upstream tree: the module files, `.info` files with the commit
/// (`Origin`) as proxy.golang.org serves them, and the answers an upstream
/// gives to queries, as files named by the query.
fn write_upstream(dir: &Path) {
    let gm = |p: &str| format!("module {p}\n\ngo 1.16\n");
    let src = |v: &str| format!("package q\n\nconst V = {v:?}\n");
    let mods = vec![
        ModuleVersion::new(INC, "v1.0.0", &gm(INC), &[("q.go", &src("1"))]),
        ModuleVersion::new(
            INC,
            "v2.0.0+incompatible",
            &format!("module {INC}\n"),
            &[("q.go", &src("2"))],
        ),
        ModuleVersion::new(
            INC,
            "v2.1.0-pre+incompatible",
            &format!("module {INC}\n"),
            &[("q.go", &src("2.1"))],
        ),
        ModuleVersion::new(TAGS, "v1.0.0", &gm(TAGS), &[("q.go", &src("1.0"))]),
        ModuleVersion::new(TAGS, "v1.1.0", &gm(TAGS), &[("q.go", &src("1.1"))]),
        ModuleVersion::new(TAGS, PSEUDO, &gm(TAGS), &[("q.go", &src("1.0"))]),
    ];
    write_goproxy_tree(dir, &mods);
    let info = |module: &str, name: &str, json: String| {
        let path = dir
            .join(escape(module))
            .join("@v")
            .join(format!("{name}.info"));
        std::fs::write(path, json).expect("write info");
    };
    let origin = |v: &str, hash: &str| {
        format!(
            r#"{{"Version":"{v}","Time":"2024-01-02T03:04:05Z","Origin":{{"VCS":"git","URL":"https://example.com/q/tags","Hash":"{hash}","Ref":"refs/tags/{v}"}}}}"#
        )
    };
    info(TAGS, "v1.0.0", origin("v1.0.0", H1));
    info(TAGS, "v1.1.0", origin("v1.1.0", H2));
    info(
        TAGS,
        PSEUDO,
        format!(r#"{{"Version":"{PSEUDO}","Time":"2024-01-01T00:00:00Z"}}"#),
    );
    // What an upstream answers to queries.
    let plain = |v: &str| format!(r#"{{"Version":"{v}","Time":"2024-01-02T03:04:05Z"}}"#);
    info(INC, "v2.0.0", plain("v2.0.0+incompatible"));
    info(INC, "v2.1.0-pre", plain("v2.1.0-pre+incompatible"));
    info(TAGS, "v1.0.0+meta", plain("v1.0.0"));
    info(
        TAGS,
        "master",
        format!(r#"{{"Version":"{PSEUDO}","Time":"2024-01-01T00:00:00Z"}}"#),
    );
    // A module tree may also hold the .mod of a query; go never asks for it.
    std::fs::write(
        dir.join(escape(INC)).join("@v/v2.0.0.mod"),
        format!("module {INC}\n"),
    )
    .expect("write alias mod");
}

/// `go list -m` of `module@query`, as the version go resolved it to.
fn resolve(env: &GoEnv, app: &Path, query: &str) -> String {
    let out = env.ok(app, &["list", "-m", "-f", "{{.Version}}", query]);
    out.trim().to_owned()
}

/// The queries every mode must answer alike, with what `go` must print.
const QUERIES: &[(&str, &str)] = &[
    ("example.com/q/inc@v2.0.0", "v2.0.0+incompatible"),
    ("example.com/q/inc@v2.1.0-pre", "v2.1.0-pre+incompatible"),
    ("example.com/q/tags@v1.0.0+meta", "v1.0.0"),
    ("example.com/q/tags@master", PSEUDO),
    // A commit prefix: the tag beats the pseudo-version of the same commit.
    ("example.com/q/tags@abcdef01", "v1.0.0"),
    ("example.com/q/tags@abcdef012345", "v1.0.0"),
    ("example.com/q/tags@abcdef09", "v1.1.0"),
];

fn app_dir(root: &Path) -> std::path::PathBuf {
    let app = root.join("app");
    std::fs::create_dir_all(&app).expect("app");
    std::fs::write(app.join("go.mod"), "module example.com/app\n\ngo 1.19\n").expect("go.mod");
    app
}

fn check_queries(go: &Path, root: &Path, goproxy: &str, label: &str) {
    let env = GoEnv::new(go, root, goproxy, "off");
    let app = app_dir(root);
    for (query, want) in QUERIES {
        assert_eq!(
            resolve(&env, &app, query),
            *want,
            "{label} {query} ({})",
            version(go)
        );
    }
    // A prefix of two different commits is refused, saying why.
    let out = env.run(&app, &["list", "-m", "example.com/q/tags@abcdef0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{label}: {stderr}");
    assert!(stderr.contains("ambiguous"), "{label}: {stderr}");
}

#[test]
fn go_resolves_queries_online_offline_and_after_an_import() {
    let w = scratch();
    let upstream = w.path().join("proxy");
    write_upstream(&upstream);
    let config = go_config(&file_url(&upstream), &[], "");
    let data = w.path().join("data");
    let gos = go_binaries();

    let airlock = Airlock::start(&data, &config, &[]);
    let goproxy = airlock.url("/go");
    // The tagged versions' .info (with their commits) are stored first, as a
    // client that had used them would have left them.
    let client = http();
    for v in ["v1.0.0", "v1.1.0", PSEUDO] {
        let url = airlock.url(&format!("/go/{TAGS}/@v/{v}.info"));
        assert_eq!(client.get(&url).send().expect("info").status(), 200);
    }
    // The upstream has no answer for a commit prefix: it resolves from storage
    // at once, from the .info files just fetched even while their write-behind
    // turn has not come (the tag must beat the pseudo-version of its commit).
    let prefix = airlock.url(&format!("/go/{TAGS}/@v/abcdef01.info"));
    let answer = client.get(&prefix).send().expect("prefix query");
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = answer.json().expect("prefix .info");
    assert_eq!(answer["Version"], "v1.0.0", "{answer}");
    for (i, go) in gos.iter().enumerate() {
        check_queries(
            go,
            &w.path().join(format!("online-{i}")),
            &goproxy,
            "online",
        );
    }
    drop(airlock); // SIGTERM: what was served is stored before it exits

    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    for (i, go) in gos.iter().enumerate() {
        check_queries(
            go,
            &w.path().join(format!("offline-{i}")),
            &airlock.url("/go"),
            "offline",
        );
    }
    drop(airlock);
    assert_fsck(&data, &[], "0 errors");

    // A module tree carried across: its query answers are kept, the .mod of a
    // query is left out with a reason, nothing is rejected. (It holds no
    // checksum-database files: its modules are kept unverified.)
    let inside = w.path().join("inside");
    let out = run(&[
        "import",
        "gomodcache",
        upstream.to_str().expect("utf-8"),
        "--keep-unverified",
        "--data-dir",
        inside.to_str().expect("utf-8"),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("4 query answers"), "{stdout}");
    assert!(stdout.contains("1 left out, 0 rejected"), "{stdout}");
    assert!(
        stderr.contains("v2.0.0.mod: the .mod or .zip of a query"),
        "{stderr}"
    );
    let airlock = Airlock::start(&inside, &config, &["--mode", "offline"]);
    for (i, go) in gos.iter().enumerate() {
        check_queries(
            go,
            &w.path().join(format!("imported-{i}")),
            &airlock.url("/go"),
            "imported",
        );
    }
    drop(airlock);
    assert_fsck(&inside, &[], "0 errors");
}
