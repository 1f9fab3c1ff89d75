//! Test support: fixtures, the airlock process, the real `go`, skopeo, podman,
//! pip, twine and uv clients, and a fault-injecting upstream.
pub mod faulty;
pub mod goclient;
pub mod gofixture;
pub mod ociclient;
pub mod ocifixture;
pub mod pyclient;
pub mod pyfixture;
pub mod server;
pub mod yumclient;
pub mod yumfixture;

use std::path::PathBuf;

/// A scratch directory under the target dir, removed on drop.
pub fn scratch() -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base).expect("target tmp dir");
    tempfile::Builder::new()
        .prefix("it-")
        .tempdir_in(base)
        .expect("scratch dir")
}

use gofixture::ModuleVersion;
use std::path::Path;

/// The fixture module graph: several modules and versions, a path with a capital
/// letter, a `/v2` major version, a dependency only needed for its go.mod
/// (words v1.2.0 is never selected), a `+incompatible` version and an untagged
/// module known only by a pseudo-version.
pub fn go_graph() -> Vec<ModuleVersion> {
    let gm = |p: &str, extra: &str| format!("module {p}\n\ngo 1.16\n{extra}");
    vec![
        ModuleVersion::new(
            "example.com/airlock/greet",
            "v1.0.0",
            &gm("example.com/airlock/greet", ""),
            &[("greet.go", "package greet\n\nfunc Hello() string { return \"hello from greet v1.0.0\" }\n")],
        ),
        ModuleVersion::new(
            "example.com/airlock/greet",
            "v1.1.0",
            &gm("example.com/airlock/greet", "\nrequire example.com/airlock/words v1.0.0\n"),
            &[(
                "greet.go",
                "package greet\n\nimport \"example.com/airlock/words\"\n\nfunc Hello() string { return \"hello from greet v1.1.0, word=\" + words.Word() }\n",
            )],
        ),
        ModuleVersion::new(
            "example.com/airlock/words",
            "v1.0.0",
            &gm("example.com/airlock/words", ""),
            &[("words.go", "package words\n\nfunc Word() string { return \"alpha\" }\n")],
        ),
        ModuleVersion::new(
            "example.com/airlock/words",
            "v1.2.0",
            &gm("example.com/airlock/words", ""),
            &[("words.go", "package words\n\nfunc Word() string { return \"gamma\" }\n")],
        ),
        // Its zip is over 1 MiB, so airlock streams it to go while fetching it.
        {
            let mut upper = ModuleVersion::new(
                "example.com/airlock/Upper",
                "v0.1.0",
                &gm("example.com/airlock/Upper", ""),
                &[("upper.go", "package upper\n\nfunc Name() string { return \"Upper v0.1.0\" }\n")],
            );
            upper.files.push(("testdata/noise.bin".into(), noise(2 << 20)));
            upper
        },
        ModuleVersion::new(
            "example.com/airlock/greet/v2",
            "v2.0.0",
            &gm("example.com/airlock/greet/v2", ""),
            &[("greet.go", "package greet\n\nfunc Hello() string { return \"hello from greet v2.0.0\" }\n")],
        ),
                ModuleVersion::new(
            "example.com/airlock/inc",
            "v2.0.0+incompatible",
            "module example.com/airlock/inc\n",
            &[("inc.go", "package inc\n\nconst V = 2\n")],
        ),
        ModuleVersion::new(
            "example.com/airlock/pseudo",
            "v0.0.0-20240102030405-abcdefabcdef",
            &gm("example.com/airlock/pseudo", ""),
            &[("pseudo.go", "package pseudo\n\nconst V = 0\n")],
        ),
    ]
}

/// Writes the program that uses the graph: `go build` of it is the test.
pub fn write_go_app(dir: &Path) {
    std::fs::create_dir_all(dir).expect("app dir");
    std::fs::write(
        dir.join("go.mod"),
        "module example.com/app\n\ngo 1.19\n\nrequire (\n\texample.com/airlock/Upper v0.1.0\n\texample.com/airlock/greet v1.1.0\n\texample.com/airlock/greet/v2 v2.0.0\n)\n",
    )
    .expect("go.mod");
    std::fs::write(
        dir.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\tupper \"example.com/airlock/Upper\"\n\t\"example.com/airlock/greet\"\n\tgreet2 \"example.com/airlock/greet/v2\"\n)\n\nfunc main() {\n\tfmt.Println(greet.Hello())\n\tfmt.Println(greet2.Hello())\n\tfmt.Println(upper.Name())\n}\n",
    )
    .expect("main.go");
}

/// The graph written as a GOPROXY tree at `<dir>/proxy` with its checksum
/// database at `<dir>/proxy/sumdb/sumdb.test`. Returns the GOSUMDB key.
pub fn write_go_upstream(dir: &Path) -> gofixture::SumDb {
    let graph = go_graph();
    let proxy = dir.join("proxy");
    gofixture::write_goproxy_tree(&proxy, &graph);
    gofixture::write_sumdb_tree(
        &proxy.join("sumdb").join("sumdb.test"),
        "sumdb.test",
        &graph,
    )
}

/// [`write_go_upstream`] under `dir`, served by a [`faulty::Faulty`], and an
/// airlock (no prefetch, no checksum database) whose upstream it is, its
/// data under `<dir>/data`.
pub fn go_upstream_and_airlock(dir: &Path) -> (faulty::Faulty, server::Airlock) {
    write_go_upstream(dir);
    let upstream = faulty::Faulty::start(&dir.join("proxy"));
    let config = server::without_prefetch(&server::go_config(&upstream.base, &[], ""));
    let airlock = server::Airlock::start(&dir.join("data"), &config, &[]);
    (upstream, airlock)
}

/// `file://` URL of a directory.
pub fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// Incompressible bytes (xorshift), so a zip is as large as its content.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Waits until `done` holds (background work finished), or fails after 20 s.
pub fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
