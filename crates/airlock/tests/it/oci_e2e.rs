//! The real registry clients against airlock: skopeo pushes, inspects, lists,
//! copies back and deletes (a single image and a multi-arch index with
//! `--all`); podman pulls and pushes. Digests must survive every round trip.

use crate::support::ociclient::{oci_config, skopeo, skopeo_ok, Podman, PASSWORD, USER};
use crate::support::ocifixture::{index_of, Image, Layout, OCI_INDEX, OCI_MANIFEST};
use crate::support::scratch;
use crate::support::server::{assert_fsck, http, Airlock};

#[test]
fn skopeo_and_podman_push_pull_and_delete() {
    let w = scratch();
    let mut layout = Layout::new(&w.path().join("layout"));
    let small = Image::new("amd64", &[("hello.txt", b"hello from airlock\n")]);
    layout.image(&small);
    layout.tag("small", OCI_MANIFEST, &small.manifest);
    let amd64 = Image::new("amd64", &[("arch", b"amd64\n")]);
    let arm64 = Image::new("arm64", &[("arch", b"arm64\n")]);
    let index = index_of(&[("amd64", &amd64), ("arm64", &arm64)]);
    layout.image(&amd64);
    layout.image(&arm64);
    layout.blob(&index);
    layout.tag("multi", OCI_INDEX, &index);

    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    let docker = |repo: &str| format!("docker://{host}/{repo}");
    let creds = format!("{USER}:{PASSWORD}");

    // A push without credentials is refused and stores nothing.
    let (ok, out, err) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &layout.reference("small"),
        &docker("team/app:v1"),
    ]);
    assert!(!ok, "an anonymous push succeeded:\n{out}{err}");
    assert!(
        err.contains("401") || err.to_lowercase().contains("unauthorized"),
        "{err}"
    );
    let catalog: serde_json::Value = http()
        .get(airlock.url("/v2/_catalog"))
        .send()
        .expect("catalog")
        .json()
        .expect("json");
    assert_eq!(catalog["repositories"], serde_json::json!([]));

    // Recompressing on the way (first, before skopeo knows the plain layer is
    // in the registry): skopeo streams the gzip it makes in one
    // PATCH of unknown length (chunked transfer encoding).
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &layout.reference("small"),
        &docker("team/gz:v1"),
    ]);
    let gz: serde_json::Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        &docker("team/gz:v1"),
    ]))
    .expect("inspect json");
    assert_ne!(gz["Digest"], small.digest(), "the layer was recompressed");
    assert!(
        gz["Layers"][0]
            .as_str()
            .is_some_and(|l| l.starts_with("sha256:")),
        "{gz}"
    );

    // Push, inspect, list tags, copy back: the digest never changes. (The
    // layers are plain tars: without --preserve-digests skopeo would gzip them.)
    skopeo_ok(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &layout.reference("small"),
        &docker("team/app:v1"),
    ]);
    let inspect: serde_json::Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        &docker("team/app:v1"),
    ]))
    .expect("inspect json");
    assert_eq!(inspect["Digest"], small.digest());
    assert_eq!(inspect["Architecture"], "amd64");
    let raw = skopeo_ok(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &docker("team/app:v1"),
    ]);
    assert_eq!(
        raw.as_bytes(),
        small.manifest.as_slice(),
        "byte-exact manifest"
    );
    let tags: serde_json::Value = serde_json::from_str(&skopeo_ok(&[
        "list-tags",
        "--tls-verify=false",
        &docker("team/app"),
    ]))
    .expect("tags json");
    assert_eq!(tags["Tags"], serde_json::json!(["v1"]));
    let back = Layout::new(&w.path().join("back"));
    skopeo_ok(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &docker("team/app:v1"),
        &back.reference("v1"),
    ]);
    assert_eq!(back.digest_of("v1"), small.digest());
    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        &docker("team/gz:v1"),
        &back.reference("gz"),
    ]);
    assert_eq!(back.digest_of("gz"), gz["Digest"].as_str().expect("digest"));

    // A multi-arch index with --all: index and both children, same digests back.
    skopeo_ok(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &layout.reference("multi"),
        &docker("team/multi:v1"),
    ]);
    let raw = skopeo_ok(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &docker("team/multi:v1"),
    ]);
    assert_eq!(raw.as_bytes(), index.as_slice());
    assert_eq!(
        layout.digest_of("multi"),
        crate::support::ocifixture::sha256(&index)
    );
    for image in [&amd64, &arm64] {
        let by_digest = docker(&format!("team/multi@{}", image.digest()));
        let raw = skopeo_ok(&["inspect", "--raw", "--tls-verify=false", &by_digest]);
        assert_eq!(raw.as_bytes(), image.manifest.as_slice());
    }
    skopeo_ok(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &docker("team/multi:v1"),
        &back.reference("multi"),
    ]);
    assert_eq!(back.digest_of("multi"), layout.digest_of("multi"));

    // podman pulls the image (and its file is there), then pushes it elsewhere.
    let podman = Podman::new(&w.path().join("podman"), &host);
    let image = format!("{host}/team/app:v1");
    let (ok, out) = podman.run(&["pull", &image]);
    assert!(ok, "podman pull:\n{out}");
    let (ok, out) = podman.run(&["image", "inspect", "--format", "{{.Architecture}}", &image]);
    assert!(ok && out.trim() == "amd64", "{out}");
    let (ok, out) = podman.run(&[
        "push",
        "--creds",
        &creds,
        &image,
        &format!("{host}/team/copy:v1"),
    ]);
    assert!(ok, "podman push:\n{out}");
    skopeo_ok(&["inspect", "--tls-verify=false", &docker("team/copy:v1")]);

    // Delete: the tag's manifest is gone, the other repositories are not.
    skopeo_ok(&[
        "delete",
        "--tls-verify=false",
        "--creds",
        &creds,
        &docker("team/app:v1"),
    ]);
    let (ok, _, err) = skopeo(&["inspect", "--tls-verify=false", &docker("team/app:v1")]);
    assert!(!ok, "deleted image still inspects");
    assert!(err.contains("manifest unknown"), "{err}");
    skopeo_ok(&["inspect", "--tls-verify=false", &docker("team/multi:v1")]);
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

#[test]
fn containerd_pulls_and_pushes_through_hosts_toml() {
    let w = scratch();
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    let reg = crate::support::ociclient::Registry::new(&airlock.base);
    let image = Image::new("amd64", &[("hello.txt", b"hello, containerd\n")]);
    reg.push_image("team/app", "v1", &image);

    let ctd = crate::support::ociclient::Containerd::start(&w.path().join("ctd"));
    ctd.hosts_toml(
        &host,
        &format!("server = \"http://{host}\"\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n"),
    );
    let hosts = ctd.hosts_dir();
    // Resolve by tag (HEAD), fetch by digest, unpack.
    let app = format!("{host}/team/app:v1");
    let (ok, out) = ctd.ctr(&[
        "images",
        "pull",
        "--hosts-dir",
        &hosts,
        "--snapshotter",
        "native",
        &app,
    ]);
    assert!(ok, "ctr pull:\n{out}");
    let (ok, out) = ctd.ctr(&["images", "ls"]);
    assert!(ok && out.contains(&image.digest()), "{out}");
    // Push under another name (containerd mounts the blobs from team/app).
    let copy = format!("{host}/team/ctr:v1");
    assert!(ctd.ctr(&["images", "tag", &app, &copy]).0);
    let creds = format!("{USER}:{PASSWORD}");
    let (ok, out) = ctd.ctr(&["images", "push", "--hosts-dir", &hosts, "-u", &creds, &copy]);
    assert!(ok, "ctr push:\n{out}");
    let raw = skopeo_ok(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{copy}"),
    ]);
    assert_eq!(raw.as_bytes(), image.manifest.as_slice());
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// Moving off registry:2: skopeo copies and syncs images from Debian's
/// docker-registry into airlock and back, and every manifest keeps its bytes.
#[test]
fn images_move_between_docker_registry_and_airlock_unchanged() {
    let w = scratch();
    let mut layout = Layout::new(&w.path().join("layout"));
    let amd64 = Image::new("amd64", &[("arch", b"amd64\n")]);
    let arm64 = Image::new("arm64", &[("arch", b"arm64\n")]);
    let index = index_of(&[("amd64", &amd64), ("arm64", &arm64)]);
    layout.image(&amd64);
    layout.image(&arm64);
    layout.blob(&index);
    layout.tag("multi", OCI_INDEX, &index);
    layout.tag("single", OCI_MANIFEST, &amd64.manifest);

    let old = crate::support::ociclient::DockerRegistry::start(&w.path().join("registry"));
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    let creds = format!("{USER}:{PASSWORD}");
    let raw = |reference: &str| {
        skopeo_ok(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
    };
    for tag in ["multi", "single"] {
        skopeo_ok(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &layout.reference(tag),
            &format!("docker://{}/team/app:{tag}", old.host),
        ]);
    }
    // Registry to registry, one image with all its platforms.
    skopeo_ok(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("docker://{}/team/app:multi", old.host),
        &format!("docker://{host}/team/app:multi"),
    ]);
    assert_eq!(
        raw(&format!("{host}/team/app:multi")),
        raw(&format!("{}/team/app:multi", old.host))
    );
    // A whole repository, every tag (the migration).
    skopeo_ok(&[
        "sync",
        "--all",
        "--preserve-digests",
        "--src",
        "docker",
        "--dest",
        "docker",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("{}/team/app", old.host),
        &format!("{host}/mirror"),
    ]);
    for tag in ["multi", "single"] {
        assert_eq!(
            raw(&format!("{host}/mirror/app:{tag}")),
            raw(&format!("{}/team/app:{tag}", old.host)),
            "{tag}"
        );
    }
    // And back.
    skopeo_ok(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/mirror/app:multi"),
        &format!("docker://{}/back/app:multi", old.host),
    ]);
    assert_eq!(
        raw(&format!("{}/back/app:multi", old.host)).as_bytes(),
        index.as_slice()
    );
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// docker (Debian's 20.10 engine) through the bearer-token handshake: an
/// anonymous pull, a refused and a good login, a push (mounting the layer
/// from the repository it came from), and an anonymous push refused.
#[test]
fn docker_pulls_logs_in_and_pushes() {
    let w = scratch();
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let host = airlock.base.trim_start_matches("http://").to_owned();
    let reg = crate::support::ociclient::Registry::new(&airlock.base);
    let image = Image::new("amd64", &[("hello.txt", b"hello, docker\n")]);
    reg.push_image("team/app", "v1", &image);

    let docker = crate::support::ociclient::Docker::start(&w.path().join("dk"), &host);
    let app = format!("{host}/team/app:v1");
    let (ok, out) = docker.run(&["pull", &app], None);
    assert!(ok && out.contains(&image.digest()), "docker pull:\n{out}");
    let (ok, out) = docker.login(&host, USER, "wrong", "wrong");
    assert!(!ok && out.contains("unauthorized"), "{out}");
    let (ok, out) = docker.login(&host, USER, PASSWORD, "ci");
    assert!(ok && out.contains("Login Succeeded"), "{out}");
    let copy = format!("{host}/team/docker:v1");
    assert!(docker.run(&["tag", &app, &copy], None).0);
    let (ok, out) = docker.run(&["push", &copy], Some("ci"));
    assert!(ok, "docker push:\n{out}");
    assert!(out.contains("Mounted from team/app"), "{out}");
    skopeo_ok(&["inspect", "--tls-verify=false", &format!("docker://{copy}")]);
    let anon = format!("{host}/team/docker:anonymous");
    assert!(docker.run(&["tag", &app, &anon], None).0);
    let (ok, out) = docker.run(&["push", &anon], None);
    assert!(!ok && out.contains("unauthorized"), "{out}");
    let (ok, _, _) = skopeo(&["inspect", "--tls-verify=false", &format!("docker://{anon}")]);
    assert!(!ok, "the anonymous push stored a tag");
    drop(docker);
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}
