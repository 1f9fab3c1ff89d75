//! One host for many upstream registries: airlock pulls through Debian's
//! `docker-registry` (as `docker.io`) and a second airlock (behind the bearer
//! handshake, with credentials) at once, for skopeo, podman and containerd,
//! under both name forms; then serves the same pulls with the upstreams gone,
//! online (cached tags) and offline. A fault-injecting upstream proves that
//! faults store nothing and that concurrent pulls of a blob fetch it once.

use crate::support::faulty::{Fault, Faulty};
use crate::support::ociclient::{
    error_code, oci_config, skopeo, skopeo_ok, Containerd, DockerRegistry, Podman, Registry,
    PASSWORD, USER,
};
use crate::support::ocifixture::{index_of, sha256, Image, Layout, OCI_INDEX, OCI_MANIFEST};
use crate::support::server::{assert_fsck, Airlock};
use crate::support::{noise, scratch};
use reqwest::Method;
use std::path::Path;
use std::time::Duration;

/// `skopeo inspect --raw` of `reference` (over plain HTTP).
fn raw(reference: &str) -> String {
    skopeo_ok(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ])
}

/// `skopeo copy --all` of `reference` into a fresh OCI layout under `dir`
/// (skopeo checks every blob's digest); returns the manifest digest it wrote.
fn copy_out(reference: &str, dir: &Path) -> String {
    let _ = std::fs::remove_dir_all(dir);
    skopeo_ok(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("oci:{}:x", dir.display()),
    ]);
    let text = std::fs::read_to_string(dir.join("index.json")).expect("index.json");
    let index: serde_json::Value = serde_json::from_str(&text).expect("json");
    index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned()
}

#[test]
fn pulls_through_many_upstreams_then_serves_them_without_upstreams() {
    let w = scratch();
    let mut layout = Layout::new(&w.path().join("layout"));
    let amd64 = Image::new("amd64", &[("arch", b"amd64\n")]);
    let arm64 = Image::new("arm64", &[("arch", b"arm64\n")]);
    let index = index_of(&[("amd64", &amd64), ("arm64", &arm64)]);
    let tool = Image::new("amd64", &[("tool", b"a tool\n")]);
    for image in [&amd64, &arm64, &tool] {
        layout.image(image);
    }
    layout.blob(&index);
    layout.tag("multi", OCI_INDEX, &index);
    layout.tag("tool", OCI_MANIFEST, &tool.manifest);
    let creds = format!("{USER}:{PASSWORD}");

    // Upstream 1: docker-registry, standing in for Docker Hub.
    let hub = DockerRegistry::start(&w.path().join("hub"));
    skopeo_ok(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &layout.reference("multi"),
        &format!("docker://{}/library/alpine:3.20", hub.host),
    ]);
    skopeo_ok(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &layout.reference("tool"),
        &format!("docker://{}/library/alpine:edge", hub.host),
    ]);
    // Upstream 2: an airlock whose reads need credentials (the bearer handshake).
    let upstream_data = w.path().join("upstream");
    let private = "[[oci.namespaces]]\nprefix = \"\"\nread = [\"ci\"]\n";
    let mut upstream = Airlock::start(&upstream_data, &oci_config(private), &[]);
    let upstream_host = upstream.base.trim_start_matches("http://").to_owned();
    skopeo_ok(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &layout.reference("tool"),
        &format!("docker://{upstream_host}/team/tool:1"),
    ]);

    let data = w.path().join("data");
    let config = oci_config(&format!(
        "[oci]\ntag_ttl = \"0s\"\ndefault_upstream = \"docker.io\"\n\
         [[oci.upstreams]]\nname = \"docker.io\"\nurl = \"http://{}\"\n\
         [[oci.upstreams]]\nname = \"airlock.test\"\nurl = \"{}\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n",
        hub.host, upstream.base
    ));
    let airlock = Airlock::start(&data, &config, &[]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    let reg = Registry::new(&airlock.base);
    let out = w.path().join("out");

    // skopeo, path prefix: by tag (Docker Hub's short name gets its library/),
    // every platform, then a child by digest; and the private upstream.
    let index_digest = sha256(&index);
    assert_eq!(
        raw(&format!("{host}/docker.io/alpine:3.20")).as_bytes(),
        index.as_slice()
    );
    assert_eq!(
        copy_out(&format!("{host}/docker.io/library/alpine:3.20"), &out),
        index_digest
    );
    assert_eq!(
        copy_out(
            &format!("{host}/docker.io/library/alpine@{}", arm64.digest()),
            &out
        ),
        arm64.digest()
    );
    let tokens = || upstream.log().matches("path=/v2/_token").count();
    let tokens_before = tokens();
    assert_eq!(
        copy_out(&format!("{host}/airlock.test/team/tool:1"), &out),
        tool.digest()
    );
    // Manifest, config and layer: one token, fetched with the credentials, then cached.
    assert_eq!(tokens() - tokens_before, 1, "{}", upstream.log());

    // Online, a mirror lists its upstream's tags (edge was never pulled).
    let tags = |host: &str| {
        let listed = skopeo_ok(&[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{host}/docker.io/library/alpine"),
        ]);
        let json: serde_json::Value = serde_json::from_str(&listed).expect("json");
        let mut tags: Vec<String> = serde_json::from_value(json["Tags"].clone()).expect("tags");
        tags.sort(); // in the upstream's order
        serde_json::json!(tags)
    };
    assert_eq!(tags(&host), serde_json::json!(["3.20", "edge"]));

    // containerd's form: the same stored repository.
    let r = reg
        .anon(
            Method::GET,
            "/v2/library/alpine/manifests/3.20?ns=docker.io",
        )
        .header("accept", OCI_INDEX)
        .send()
        .expect("GET ?ns=");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], index_digest.as_str());
    assert_eq!(r.bytes().expect("body").as_ref(), index.as_slice());
    let r = reg
        .anon(Method::GET, "/v2/nothing/here/manifests/1?ns=elsewhere.io")
        .send()
        .expect("GET unknown ns");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "NAME_UNKNOWN");

    // docker's registry-mirrors form (no prefix, no ns) goes to default_upstream;
    // a hosted repository still takes pushes and wins over it.
    let r = reg
        .anon(Method::HEAD, "/v2/library/alpine/manifests/3.20")
        .header("accept", OCI_INDEX)
        .send()
        .expect("HEAD unprefixed");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], index_digest.as_str());
    reg.push_image("team/own", "1", &tool);
    let r = reg
        .anon(Method::GET, "/v2/team/own/manifests/1")
        .send()
        .expect("GET hosted");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().expect("body").as_ref(), tool.manifest.as_slice());

    // Mirrored repositories take no pushes.
    let r = reg
        .req(Method::POST, "/v2/docker.io/library/alpine/blobs/uploads/")
        .send()
        .expect("POST");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "", "no method starts an upload here");
    assert_eq!(error_code(r), "UNSUPPORTED");
    let r = reg
        .req(
            Method::DELETE,
            "/v2/docker.io/library/alpine/manifests/latest",
        )
        .send()
        .expect("DELETE");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    let r = reg
        .req(
            Method::POST,
            "/v2/library/alpine/blobs/uploads/?ns=docker.io",
        )
        .send()
        .expect("POST ?ns=");
    assert_eq!(r.status(), 405);

    // podman, with a registries.conf mirror (path prefix) for docker.io.
    let podman = Podman::new(&w.path().join("podman"), &host);
    std::fs::write(
        w.path().join("podman/registries.conf"),
        format!(
            "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n\
             [[registry.mirror]]\nlocation = \"{host}/docker.io\"\ninsecure = true\n"
        ),
    )
    .expect("registries.conf");
    let (ok, log) = podman.run(&["pull", "--arch", "arm64", "docker.io/library/alpine:3.20"]);
    assert!(ok, "podman pull through the mirror:\n{log}");

    // containerd, one mirror for every registry: it sends ?ns=docker.io.
    let ctd = Containerd::start(&w.path().join("ctd"));
    ctd.hosts_toml(
        "_default",
        &format!("[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
    );
    let hosts = ctd.hosts_dir();
    let (ok, log) = ctd.ctr(&[
        "content",
        "fetch",
        "--hosts-dir",
        &hosts,
        "--platform",
        "linux/amd64",
        "docker.io/library/alpine:3.20",
    ]);
    // (Without ?ns=docker.io its /v2/library/alpine/… would name no repository.)
    assert!(ok, "ctr content fetch through _default/hosts.toml:\n{log}");

    // The upstreams go away. Online, the tags are served from the store (the
    // HEAD that revalidates them fails), and digests never needed upstream.
    drop(hub);
    upstream.stop();
    assert_eq!(
        raw(&format!("{host}/docker.io/library/alpine:3.20")).as_bytes(),
        index.as_slice()
    );
    assert_eq!(
        copy_out(&format!("{host}/airlock.test/team/tool:1"), &out),
        tool.digest()
    );
    assert!(
        airlock
            .log()
            .contains("upstream unavailable; serving the cached tag"),
        "the log says the cached tag was served"
    );
    drop(airlock);

    // Garbage collection with no grace keeps everything a mirror pulled: its
    // layers are held by their links alone (fetched after their manifest).
    let gc = std::process::Command::new(crate::support::server::binary())
        .arg("gc")
        .arg("-c")
        .arg(data.with_extension("toml"))
        .arg("--data-dir")
        .arg(&data)
        .env("AIRLOCK_GC__GRACE", "0s")
        .output()
        .expect("airlock gc");
    let report = String::from_utf8_lossy(&gc.stdout);
    assert!(gc.status.success(), "{report}");
    assert!(report.contains("gc: 0 blobs"), "{report}");

    // Offline: the same pulls, under both forms; misses are the spec's 404s.
    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    let reg = Registry::new(&airlock.base);
    assert_eq!(
        copy_out(&format!("{host}/docker.io/library/alpine:3.20"), &out),
        index_digest
    );
    assert_eq!(
        copy_out(
            &format!("{host}/docker.io/library/alpine@{}", amd64.digest()),
            &out
        ),
        amd64.digest()
    );
    assert_eq!(
        copy_out(&format!("{host}/airlock.test/team/tool:1"), &out),
        tool.digest()
    );
    let r = reg
        .anon(
            Method::GET,
            &format!(
                "/v2/library/alpine/blobs/{}?ns=docker.io",
                sha256(&amd64.layer)
            ),
        )
        .send()
        .expect("blob ?ns=");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().expect("body").as_ref(), amd64.layer.as_slice());
    let r = reg
        .anon(Method::GET, "/v2/docker.io/library/alpine/manifests/3.19")
        .send()
        .expect("GET");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "MANIFEST_UNKNOWN");
    let r = reg
        .anon(
            Method::GET,
            &format!("/v2/docker.io/library/alpine/blobs/{}", sha256(b"absent")),
        )
        .send()
        .expect("GET");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UNKNOWN");
    // Offline, what is stored.
    assert_eq!(tags(&host), serde_json::json!(["3.20"]));
    let (ok, _, _) = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/docker.io/library/busybox:1"),
    ]);
    assert!(!ok, "an image never pulled is not there offline");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// An upstream tree for [`Faulty`]: `team/app:v1`, one large layer.
struct Tree {
    image: Image,
    layer_path: String,
}

fn fault_tree(root: &Path) -> Tree {
    let image = Image::new("amd64", &[("big", &noise(3 << 20))]);
    let dir = root.join("v2/team/app");
    std::fs::create_dir_all(dir.join("manifests")).expect("dirs");
    std::fs::create_dir_all(dir.join("blobs")).expect("dirs");
    std::fs::write(dir.join("manifests/v1"), &image.manifest).expect("tag");
    std::fs::write(dir.join("manifests").join(image.digest()), &image.manifest).expect("digest");
    for bytes in [&image.config, &image.layer] {
        std::fs::write(dir.join("blobs").join(sha256(bytes)), bytes).expect("blob");
    }
    let layer_path = format!("/v2/team/app/blobs/{}", sha256(&image.layer));
    Tree { image, layer_path }
}

#[test]
fn upstream_faults_store_nothing_and_clients_share_one_streamed_fetch() {
    let w = scratch();
    let tree = fault_tree(&w.path().join("tree"));
    let faulty = Faulty::start(&w.path().join("tree"));
    let data = w.path().join("data");
    let config = oci_config(&format!(
        "[upstream]\nfetch_timeout = \"2s\"\nretries = 0\n\
         [oci]\ntag_ttl = \"0s\"\n[[oci.upstreams]]\nname = \"faulty.test\"\nurl = \"{}\"\n",
        faulty.base
    ));
    let airlock = Airlock::start(&data, &config, &[]);
    let reg = Registry::new(&airlock.base);
    let layer = sha256(&tree.image.layer);
    let blob_url = format!("/v2/faulty.test/team/app/blobs/{layer}");
    // The whole body, or the error that cut it.
    let get_blob = || -> Result<Vec<u8>, String> {
        let r = reg
            .anon(Method::GET, &blob_url)
            .send()
            .map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("status {}", r.status()));
        }
        r.bytes().map(|b| b.to_vec()).map_err(|e| e.to_string())
    };

    // Manifest faults: a 500, then bytes that are not what the digest names.
    faulty.set("/v2/team/app/manifests/v1", Fault::Status(500));
    let r = reg
        .anon(Method::GET, "/v2/faulty.test/team/app/manifests/v1")
        .send()
        .expect("GET");
    assert_eq!(r.status(), 502);
    assert_eq!(error_code(r), "UNAVAILABLE");
    faulty.set("/v2/team/app/manifests/v1", Fault::Status(429));
    let r = reg
        .anon(Method::GET, "/v2/faulty.test/team/app/manifests/v1")
        .send()
        .expect("GET");
    assert_eq!(
        r.status(),
        429,
        "a rate limit is passed on when nothing is stored"
    );
    assert_eq!(error_code(r), "TOOMANYREQUESTS");
    faulty.clear("/v2/team/app/manifests/v1");
    let by_digest = format!("/v2/team/app/manifests/{}", tree.image.digest());
    faulty.set(&by_digest, Fault::Body(b"{\"schemaVersion\":2}".to_vec()));
    let r = reg
        .anon(Method::GET, &format!("/v2/faulty.test{}", &by_digest[3..]))
        .send()
        .expect("GET");
    assert_eq!(r.status(), 502);
    faulty.clear(&by_digest);

    // Blob faults: truncated, wrong bytes, a 500, a stall past the deadline.
    let mut wrong = tree.image.layer.clone();
    wrong[1000] ^= 1;
    for (what, fault) in [
        ("truncated", Fault::Truncate(1 << 20)),
        ("wrong digest", Fault::Body(wrong)),
        ("500", Fault::Status(500)),
        ("stall", Fault::Stall(1 << 20, Duration::from_secs(4))),
    ] {
        faulty.set(&tree.layer_path, fault);
        match get_blob() {
            Ok(body) => panic!("{what}: the client got a whole body ({} bytes)", body.len()),
            Err(e) => eprintln!("{what}: {e}"),
        }
        // Nothing was stored: the next request asks the upstream again.
        let before = faulty.hits(&tree.layer_path);
        faulty.clear(&tree.layer_path);
        faulty.set(&tree.layer_path, Fault::Status(503));
        assert!(get_blob().is_err(), "{what}: nothing cached");
        assert_eq!(faulty.hits(&tree.layer_path), before + 1, "{what}");
    }

    // Clients are served while the blob arrives, a later one from the same
    // fetch: the upstream sends 1 MiB and stalls, yet each client reads most
    // of it (all but the held-back tail); then the fetch fails and cuts both.
    faulty.set(
        &tree.layer_path,
        Fault::Stall(1 << 20, Duration::from_secs(4)),
    );
    let before = faulty.hits(&tree.layer_path);
    let mut first = reg.anon(Method::GET, &blob_url).send().expect("GET");
    let mut head = vec![0u8; 900_000];
    std::io::Read::read_exact(&mut first, &mut head).expect("the first client streams");
    assert_eq!(head, tree.image.layer[..900_000]);
    let mut later = reg.anon(Method::GET, &blob_url).send().expect("GET");
    std::io::Read::read_exact(&mut later, &mut head).expect("a later client follows");
    assert_eq!(head, tree.image.layer[..900_000]);
    assert_eq!(
        faulty.hits(&tree.layer_path),
        before + 1,
        "one upstream fetch"
    );
    for mut client in [first, later] {
        let mut rest = Vec::new();
        assert!(
            std::io::Read::read_to_end(&mut client, &mut rest).is_err(),
            "the failed fetch cuts the client"
        );
    }

    // Eight clients at once, one upstream fetch; each gets every byte.
    faulty.set(&tree.layer_path, Fault::Slow(Duration::from_millis(500)));
    let before = faulty.hits(&tree.layer_path);
    let pulls: Vec<_> = (0..8)
        .map(|_| {
            let base = airlock.base.clone();
            let url = blob_url.clone();
            std::thread::spawn(move || {
                crate::support::server::http()
                    .get(format!("{base}{url}"))
                    .send()
                    .and_then(|r| r.bytes())
                    .map(|b| b.to_vec())
            })
        })
        .collect();
    for pull in pulls {
        let body = pull.join().expect("thread").expect("pull");
        assert_eq!(body, tree.image.layer);
    }
    assert_eq!(
        faulty.hits(&tree.layer_path),
        before + 1,
        "one upstream fetch"
    );

    // A stored tag whose upstream is rate-limited is served, and the log says so.
    let tag = "/v2/faulty.test/team/app/manifests/v1";
    let r = reg.anon(Method::GET, tag).send().expect("GET");
    assert_eq!(r.status(), 200);
    faulty.set("/v2/team/app/manifests/v1", Fault::Status(429));
    let r = reg.anon(Method::GET, tag).send().expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().expect("body").as_ref(),
        tree.image.manifest.as_slice()
    );
    assert!(airlock
        .log()
        .contains("upstream unavailable; serving the cached tag"));
    drop(airlock);

    // Offline: what is stored, and not one connection to the upstream.
    let seen = faulty.total();
    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    let reg = Registry::new(&airlock.base);
    let r = reg.anon(Method::GET, tag).send().expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(get_blob_from(&reg, &blob_url).len(), tree.image.layer.len());
    let config_blob = format!(
        "/v2/faulty.test/team/app/blobs/{}",
        sha256(&tree.image.config)
    );
    let r = reg.anon(Method::GET, &config_blob).send().expect("GET");
    assert_eq!(
        (r.status().as_u16(), error_code(r)),
        (404, "BLOB_UNKNOWN".into())
    );
    let r = reg
        .anon(Method::HEAD, "/v2/faulty.test/team/app/manifests/v2")
        .send()
        .expect("HEAD");
    assert_eq!(r.status(), 404);
    assert_eq!(faulty.total(), seen, "offline opened a connection");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

fn get_blob_from(reg: &Registry, url: &str) -> Vec<u8> {
    let r = reg.anon(Method::GET, url).send().expect("GET");
    assert_eq!(r.status(), 200);
    r.bytes().expect("body").to_vec()
}

/// `airlock sync oci` fills the store from an image list, one platform of a
/// multi-platform image only, and the result serves offline: the index keeps
/// its bytes and digest, the platform left out is `MANIFEST_UNKNOWN`.
#[test]
fn sync_fills_the_store_for_offline_use_with_a_platform_filter() {
    let w = scratch();
    let mut layout = Layout::new(&w.path().join("layout"));
    let amd64 = Image::new("amd64", &[("arch", b"amd64\n")]);
    let arm64 = Image::new("arm64", &[("arch", b"arm64\n")]);
    let index = index_of(&[("amd64", &amd64), ("arm64", &arm64)]);
    let tool = Image::new("amd64", &[("tool", b"a tool\n")]);
    for image in [&amd64, &arm64, &tool] {
        layout.image(image);
    }
    layout.blob(&index);
    layout.tag("multi", OCI_INDEX, &index);
    layout.tag("tool", OCI_MANIFEST, &tool.manifest);
    let hub = DockerRegistry::start(&w.path().join("hub"));
    for (tag, to) in [("multi", "library/alpine:3.20"), ("tool", "team/tool:1")] {
        skopeo_ok(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &layout.reference(tag),
            &format!("docker://{}/{to}", hub.host),
        ]);
    }
    let data = w.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let config = oci_config(&format!(
        "[[oci.upstreams]]\nname = \"docker.io\"\nurl = \"http://{}\"\n",
        hub.host
    ));
    let config_path = crate::support::server::write_config(&data, &config);
    let list = w.path().join("images.txt");
    std::fs::write(
        &list,
        format!(
            "# what the cluster needs\ndocker.io/library/alpine:3.20\n\ndocker.io/team/tool@{}\n",
            tool.digest()
        ),
    )
    .expect("list");
    let out = crate::support::server::run(&[
        "sync",
        "oci",
        "-c",
        config_path.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--platform",
        "linux/amd64",
        "--file",
        list.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sync failed:\n{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "synced docker.io/library/alpine:3.20 {}",
            sha256(&index)
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("left out"),
        "plain lines without a terminal:\n{stderr}"
    );
    drop(hub);

    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    let reg = Registry::new(&airlock.base);
    assert_eq!(
        raw(&format!(
            "{host}/docker.io/library/alpine@{}",
            sha256(&index)
        ))
        .as_bytes(),
        index.as_slice()
    );
    let out_dir = w.path().join("out");
    assert_eq!(
        copy_out(
            &format!("{host}/docker.io/library/alpine@{}", amd64.digest()),
            &out_dir
        ),
        amd64.digest()
    );
    assert_eq!(
        copy_out(
            &format!("{host}/docker.io/team/tool@{}", tool.digest()),
            &out_dir
        ),
        tool.digest()
    );
    let r = reg
        .anon(
            Method::GET,
            &format!("/v2/docker.io/library/alpine/manifests/{}", arm64.digest()),
        )
        .send()
        .expect("GET");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "MANIFEST_UNKNOWN");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// docker's `registry-mirrors` sends Docker Hub images without a prefix or
/// `?ns=` (`/v2/library/alpine/…`): with `default_upstream = "docker.io"`
/// they pull through. No internet: a failed mirror would fail the pull.
#[test]
fn docker_pulls_docker_hub_images_through_registry_mirrors() {
    let w = scratch();
    let mut layout = Layout::new(&w.path().join("layout"));
    let amd64 = Image::new("amd64", &[("hello.txt", b"hello through the mirror\n")]);
    let arm64 = Image::new("arm64", &[("hello.txt", b"arm64\n")]);
    let index = index_of(&[("amd64", &amd64), ("arm64", &arm64)]);
    layout.image(&amd64);
    layout.image(&arm64);
    layout.blob(&index);
    layout.tag("multi", OCI_INDEX, &index);
    let hub = DockerRegistry::start(&w.path().join("hub"));
    skopeo_ok(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &layout.reference("multi"),
        &format!("docker://{}/library/alpine:3.20", hub.host),
    ]);
    let data = w.path().join("data");
    let config = oci_config(&format!(
        "[oci]\ndefault_upstream = \"docker.io\"\n[[oci.upstreams]]\nname = \"docker.io\"\nurl = \"http://{}\"\n",
        hub.host
    ));
    let airlock = Airlock::start(&data, &config, &[]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    let docker = crate::support::ociclient::Docker::start_with(
        &w.path().join("docker"),
        &host,
        &["--registry-mirror", &airlock.base],
    );
    let (ok, out) = docker.run(&["pull", "--platform", "linux/amd64", "alpine:3.20"], None);
    assert!(ok, "docker pull through registry-mirrors:\n{out}");
    assert!(out.contains(&sha256(&index)), "{out}");
    assert!(
        airlock
            .log()
            .contains("path=/v2/library/alpine/manifests/3.20"),
        "docker asked the mirror"
    );
    drop(docker);
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// An upstream that, like Docker Hub, wants a bearer token for every request:
/// `/v2/…` without `Authorization: Bearer anon-token` is a 401 challenge, and
/// `/token` hands that token to anyone. Otherwise it serves files of `root`.
struct TokenUpstream {
    base: String,
    /// The query strings of the token requests.
    token_requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TokenUpstream {
    fn start(root: &Path) -> TokenUpstream {
        use std::io::{BufRead as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let token_requests: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let (root, seen, realm) = (
            root.to_owned(),
            std::sync::Arc::clone(&token_requests),
            base.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                let (mut line, mut authorized) = (String::new(), false);
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    authorized |=
                        header.to_ascii_lowercase().trim() == "authorization: bearer anon-token";
                    header.clear();
                }
                let mut out = stream;
                let answer = |out: &mut std::net::TcpStream,
                              status: &str,
                              extra: &str,
                              body: &[u8]| {
                    let _ = write!(out, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n", body.len());
                    let _ = out.write_all(body);
                };
                if let Some(query) = target.strip_prefix("/token?") {
                    seen.lock().expect("lock").push(query.to_owned());
                    answer(
                        &mut out,
                        "200 OK",
                        "Content-Type: application/json\r\n",
                        br#"{"token":"anon-token","expires_in":300}"#,
                    );
                } else if !authorized {
                    let challenge = format!(
                        "WWW-Authenticate: Bearer realm=\"{realm}/token\",service=\"fake.test\",scope=\"repository:team/app:pull\"\r\n"
                    );
                    answer(&mut out, "401 Unauthorized", &challenge, b"{}");
                } else {
                    match std::fs::read(root.join(target.trim_start_matches('/'))) {
                        Ok(body) => answer(&mut out, "200 OK", "", &body),
                        Err(_) => answer(&mut out, "404 Not Found", "", b"{}"),
                    }
                }
            }
        });
        TokenUpstream {
            base,
            token_requests,
        }
    }
}

#[test]
fn an_upstream_behind_anonymous_bearer_tokens_is_pulled_through_with_one_token() {
    let w = scratch();
    let tree = fault_tree(&w.path().join("tree"));
    let hub = TokenUpstream::start(&w.path().join("tree"));
    let data = w.path().join("data");
    let config = oci_config(&format!(
        "[[oci.upstreams]]\nname = \"hub.test\"\nurl = \"{}\"\n",
        hub.base
    ));
    let airlock = Airlock::start(&data, &config, &[]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    assert_eq!(
        copy_out(
            &format!("{host}/hub.test/team/app:v1"),
            &w.path().join("out")
        ),
        tree.image.digest()
    );
    let requests = hub.token_requests.lock().expect("lock").clone();
    assert_eq!(
        requests.len(),
        1,
        "one token for the manifest and both blobs: {requests:?}"
    );
    assert!(
        requests[0].contains("service=fake.test")
            && requests[0].contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{requests:?}"
    );
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// Answers every request with a `307` to the same path on `target`, as
/// registry.k8s.io sends clients to its storage. Another port is another
/// origin: the client drops `Authorization` on the way.
fn start_redirector(target: &str) -> String {
    use std::io::{BufRead as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let target = target.to_owned();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    base
}

#[test]
fn a_redirect_to_storage_that_wants_a_token_is_followed_with_one() {
    let w = scratch();
    let tree = fault_tree(&w.path().join("tree"));
    let storage = TokenUpstream::start(&w.path().join("tree"));
    let front = start_redirector(&storage.base);
    let data = w.path().join("data");
    let config = oci_config(&format!(
        "[[oci.upstreams]]\nname = \"k8s.test\"\nurl = \"{front}\"\n"
    ));
    let airlock = Airlock::start(&data, &config, &[]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    assert_eq!(
        copy_out(
            &format!("{host}/k8s.test/team/app:v1"),
            &w.path().join("out")
        ),
        tree.image.digest()
    );
    let requests = storage.token_requests.lock().expect("lock").len();
    assert_eq!(requests, 1, "one token, reused at the storage host");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// An upstream answering 429 with `Retry-After` is not asked again before
/// that time: cached tags are served meanwhile, misses get 429
/// `TOOMANYREQUESTS` with `Retry-After`; once it passed, the upstream is
/// asked again. Each upstream waits on its own.
#[test]
fn an_upstreams_retry_after_is_honoured() {
    let w = scratch();
    let tree = fault_tree(&w.path().join("tree"));
    let faulty = Faulty::start(&w.path().join("tree"));
    let data = w.path().join("data");
    let config = oci_config(&format!(
        "[upstream]\nretries = 0\n[oci]\ntag_ttl = \"0s\"\n\
         [[oci.upstreams]]\nname = \"a.test\"\nurl = \"{0}\"\n\
         [[oci.upstreams]]\nname = \"b.test\"\nurl = \"{0}\"\n",
        faulty.base
    ));
    let airlock = Airlock::start(&data, &config, &[]);
    let reg = Registry::new(&airlock.base);
    let tag = "/v2/a.test/team/app/manifests/v1";
    let r = reg.anon(Method::GET, tag).send().expect("GET");
    assert_eq!(r.status(), 200, "stored");

    // The tag's revalidation meets a 429 with Retry-After: the cached tag is served.
    faulty.set("/v2/team/app/manifests/v1", Fault::RetryAfter(429, 3600));
    let r = reg.anon(Method::GET, tag).send().expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().expect("body").as_ref(),
        tree.image.manifest.as_slice()
    );
    faulty.clear("/v2/team/app/manifests/v1");
    let seen = faulty.total();
    // Meanwhile nothing goes to it: the tag is served, the tag list is the
    // stored one, a miss is 429 with Retry-After.
    let r = reg.anon(Method::GET, tag).send().expect("GET");
    assert_eq!(r.status(), 200);
    let r = reg
        .anon(Method::GET, "/v2/a.test/team/app/tags/list")
        .send()
        .expect("tags");
    assert_eq!(r.status(), 200);
    let r = reg
        .anon(
            Method::GET,
            &format!("/v2/a.test/team/app/blobs/{}", sha256(&tree.image.config)),
        )
        .send()
        .expect("GET");
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((3500..=3601).contains(&wait), "{wait}");
    assert_eq!(error_code(r), "TOOMANYREQUESTS");
    assert_eq!(
        faulty.total(),
        seen,
        "the upstream was asked before its Retry-After"
    );
    assert!(airlock.log().contains("upstream asks to wait"));

    // The other upstream (same server, its own name) waits on its own; a
    // short Retry-After passes and the upstream is asked again.
    let config_path = format!("/v2/team/app/blobs/{}", sha256(&tree.image.config));
    faulty.set(&config_path, Fault::RetryAfter(503, 2));
    let b_config = format!("/v2/b.test/team/app/blobs/{}", sha256(&tree.image.config));
    let r = reg.anon(Method::GET, &b_config).send().expect("GET");
    assert_eq!(r.status(), 429);
    assert_eq!(error_code(r), "TOOMANYREQUESTS");
    faulty.clear(&config_path);
    std::thread::sleep(Duration::from_millis(2500));
    let r = reg.anon(Method::GET, &b_config).send().expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().expect("body").as_ref(),
        tree.image.config.as_slice()
    );
    // Stored in the background: wait for its row before stopping.
    crate::support::eventually("the fetched blob to be stored", || {
        reg.anon(Method::HEAD, &b_config)
            .send()
            .is_ok_and(|r| r.headers().get("x-cache").is_some_and(|v| v == "HIT"))
    });
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// An upstream without the referrers API (docker-registry 2.8 answers 404)
/// is read through the referrers tag schema: the index under the tag
/// `sha256-<hex>` answers as the referrers index, filtered by artifactType,
/// online and then offline from the store.
#[test]
fn referrers_of_an_upstream_without_the_api_come_from_its_tag_schema() {
    use crate::support::ocifixture::{artifact, descriptor};
    let w = scratch();
    let hub = DockerRegistry::start(&w.path().join("hub"));
    let upstream = Registry::new(&format!("http://{}", hub.host));
    let image = Image::new("amd64", &[("app", b"the app\n")]);
    upstream.push_image("team/app", "v1", &image);
    upstream.push_blob("team/app", b"{}");
    let mut referrers = Vec::new();
    for (kind, blob) in [
        ("application/vnd.example.sig", &b"signature"[..]),
        ("application/vnd.example.sbom", b"sbom"),
    ] {
        upstream.push_blob("team/app", blob);
        let doc = artifact(kind, blob, &image.manifest, kind);
        let r = upstream.put_manifest("team/app", &sha256(&doc), OCI_MANIFEST, &doc);
        assert_eq!(r.status(), 201, "{:?}", r.text());
        let mut d = descriptor(OCI_MANIFEST, &doc);
        d["artifactType"] = kind.into();
        referrers.push(d);
    }
    // What a v1.1 client pushing to a registry without the API maintains.
    let schema_tag = image.digest().replace(':', "-");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": referrers,
    }))
    .expect("index");
    let r = upstream.put_manifest("team/app", &schema_tag, OCI_INDEX, &index);
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let r = upstream
        .anon(
            Method::GET,
            &format!("/v2/team/app/referrers/{}", image.digest()),
        )
        .send()
        .expect("GET");
    assert_eq!(r.status(), 404, "docker-registry has no referrers API");

    let data = w.path().join("data");
    let config = oci_config(&format!(
        "[[oci.upstreams]]\nname = \"docker.io\"\nurl = \"http://{}\"\n",
        hub.host
    ));
    let path = format!("/v2/docker.io/team/app/referrers/{}", image.digest());
    let check = |airlock: &Airlock| {
        let reg = Registry::new(&airlock.base);
        let r = reg.anon(Method::GET, &path).send().expect("referrers");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], OCI_INDEX);
        let body: serde_json::Value = r.json().expect("json");
        assert_eq!(body["manifests"], serde_json::json!(referrers), "{body}");
        let r = reg
            .anon(
                Method::GET,
                &format!("{path}?artifactType=application/vnd.example.sbom"),
            )
            .send()
            .expect("referrers");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
        let body: serde_json::Value = r.json().expect("json");
        assert_eq!(
            body["manifests"],
            serde_json::json!([referrers[1]]),
            "{body}"
        );
    };
    let airlock = Airlock::start(&data, &config, &[]);
    check(&airlock);
    drop(airlock);
    drop(hub);
    let airlock = Airlock::start(&data, &config, &["--mode", "offline"]);
    check(&airlock);
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}
