//! `airlock gc` while the server runs: what no protocol references goes, what
//! any protocol references (a Go module, a tagged image) stays, untagged
//! manifests only when the config says so, and fsck stays clean.

use crate::support::ociclient::{oci_config, Registry};
use crate::support::ocifixture::{sha256, Image, OCI_MANIFEST};
use crate::support::server::{assert_fsck, go_config, http, run, without_prefetch, Airlock};
use crate::support::{file_url, scratch, write_go_upstream};
use reqwest::Method;

fn gc(data: &std::path::Path, config: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec![
        "gc",
        "-c",
        config.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn gc_frees_what_nothing_references_while_the_server_runs() {
    let w = scratch();
    write_go_upstream(w.path());
    // No prefetch: the one file asked for is the one whose store is awaited.
    let go = without_prefetch(&go_config(&file_url(&w.path().join("proxy")), &[], ""));
    // No grace: every unreferenced blob is old enough (the tests' clock is short).
    let config_text = format!("{}\n{go}\n[gc]\ngrace = \"0s\"\n", oci_config(""));
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &config_text, &[]);
    let config = data.with_extension("toml");
    let reg = Registry::new(&airlock.base);
    let client = http();

    // Kept: a Go module file and a tagged image.
    let module = airlock.url("/go/example.com/airlock/words/@v/v1.0.0.mod");
    assert_eq!(client.get(&module).send().expect("mod").status(), 200);
    let kept = Image::new("amd64", &[("kept.txt", b"kept")]);
    reg.push_image("team/app", "v1", &kept);
    // Untagged: an image pushed by digest only.
    let untagged = Image::new("amd64", &[("untagged.txt", b"untagged")]);
    reg.push_blob("team/app", &untagged.layer);
    reg.push_blob("team/app", &untagged.config);
    let r = reg.put_manifest(
        "team/app",
        &untagged.digest(),
        OCI_MANIFEST,
        &untagged.manifest,
    );
    assert_eq!(r.status(), 201);
    // Garbage: a layer whose manifest never came, and one deleted from its repository.
    let stray = reg.push_blob("team/app", b"a layer nobody references");
    let deleted = reg.push_blob("team/other", b"a layer deleted from its repository");
    let r = reg
        .req(Method::DELETE, &format!("/v2/team/other/blobs/{deleted}"))
        .send()
        .expect("DELETE blob");
    assert_eq!(r.status(), 202);
    // Fetched files are stored once clients are quiet (write-behind); until
    // then they are served from memory, without an ETag.
    crate::support::eventually("the go file stored", || {
        client
            .head(&module)
            .send()
            .is_ok_and(|r| r.headers().contains_key("etag"))
    });

    // A dry run counts what the real run deletes: the deleted layer, and the
    // stray layer that dropping its unused link frees.
    let dry = gc(&data, &config, &["--dry-run"]);
    assert!(dry.contains("dry run") && dry.contains("2 blobs"), "{dry}");
    assert!(dry.contains("1 unused OCI blob links"), "{dry}");
    let blob = |repo: &str, digest: &str| {
        reg.anon(Method::GET, &format!("/v2/{repo}/blobs/{digest}"))
            .send()
            .expect("GET blob")
            .status()
    };
    assert_eq!(blob("team/app", &stray), 200, "a dry run deletes nothing");

    let report = gc(&data, &config, &[]);
    assert!(report.contains("2 blobs"), "{report}");
    assert!(
        report.contains("0 OCI manifests, 1 unused OCI blob links and 0 OCI sha512 aliases"),
        "{report}"
    );
    assert_eq!(blob("team/app", &stray), 404);
    for digest in [sha256(&kept.layer), sha256(&kept.config)] {
        assert_eq!(
            blob("team/app", &digest),
            200,
            "a tagged image keeps its blobs"
        );
    }
    for digest in [sha256(&untagged.layer), sha256(&untagged.config)] {
        assert_eq!(
            blob("team/app", &digest),
            200,
            "untagged manifests are kept by default"
        );
    }
    let manifest = |reference: &str| {
        reg.anon(Method::GET, &format!("/v2/team/app/manifests/{reference}"))
            .header("accept", OCI_MANIFEST)
            .send()
            .expect("GET manifest")
            .status()
    };
    assert_eq!(manifest("v1"), 200);
    assert_eq!(manifest(&untagged.digest()), 200);
    let r = client.get(&module).send().expect("mod");
    assert_eq!(r.status(), 200, "the go module file is referenced");
    assert_fsck(&data, &[], "0 errors");

    // The config can ask for untagged manifests to go too.
    let report = gc(&data, &config, &[]);
    assert!(
        report.contains("0 blobs"),
        "nothing more by default: {report}"
    );
    std::fs::write(
        &config,
        config_text.replace("[gc]\n", "[gc]\ndelete_untagged_manifests = true\n"),
    )
    .expect("config");
    let dry = gc(&data, &config, &["--dry-run"]);
    assert!(dry.contains("1 OCI manifests"), "{dry}");
    assert!(
        dry.contains("3 blobs"),
        "the dry run counts them too: {dry}"
    );
    assert_eq!(
        manifest(&untagged.digest()),
        200,
        "a dry run deletes nothing"
    );
    let report = gc(&data, &config, &[]);
    assert!(report.contains("1 OCI manifests"), "{report}");
    assert!(
        report.contains("3 blobs"),
        "manifest, layer and config: {report}"
    );
    assert_eq!(manifest(&untagged.digest()), 404);
    assert_eq!(manifest("v1"), 200);
    assert_eq!(blob("team/app", &sha256(&untagged.layer)), 404);
    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}
