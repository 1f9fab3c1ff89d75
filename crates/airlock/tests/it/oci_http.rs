//! The registry API request by request: the spec's status codes, headers and
//! error bodies; chunked uploads (in order, out of order, resumed after
//! kill -9); mounts; manifests, tags, referrers and deletes; bad input that
//! must change nothing.

use crate::support::ociclient::{error_code, location, oci_config, with_digest, Registry};
use crate::support::ocifixture::{
    artifact, descriptor, index_of, sha256, Image, EMPTY_JSON, OCI_INDEX, OCI_MANIFEST,
};
use crate::support::server::{assert_fsck, header, raw_get, Airlock};
use crate::support::{noise, scratch};
use reqwest::Method;

#[test]
fn version_check_names_and_errors() {
    let w = scratch();
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let reg = Registry::new(&airlock.base);

    let r = reg.anon(Method::GET, "/v2/").send().expect("GET /v2/");
    assert_eq!(
        r.status(),
        401,
        "users exist: the client must learn to send credentials"
    );
    assert_eq!(
        header(&r, "www-authenticate"),
        format!(
            "Bearer realm=\"{}/v2/_token\",service=\"airlock\"",
            airlock.base
        )
    );
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );
    assert_eq!(error_code(r), "UNAUTHORIZED");
    let r = reg.req(Method::GET, "/v2").send().expect("GET /v2");
    assert_eq!(r.status(), 200);
    let r = reg.req(Method::GET, "/v2/").send().expect("GET /v2/");
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );
    assert_eq!(r.text().expect("body"), "{}");
    let r = reg
        .anon(Method::GET, "/v2/")
        .basic_auth("ci", Some("wrong"))
        .send()
        .expect("GET /v2/");
    assert_eq!(r.status(), 401);

    // The token handshake: anonymous tokens read, users' tokens write.
    let token = |r: reqwest::blocking::Response| -> String {
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().expect("token json");
        assert_eq!(body["token"], body["access_token"]);
        body["token"].as_str().expect("token").to_owned()
    };
    let anonymous = token(
        reg.anon(
            Method::GET,
            "/v2/_token?service=airlock&scope=repository:team/app:pull",
        )
        .send()
        .expect("token"),
    );
    let user = token(
        reg.req(
            Method::GET,
            "/v2/_token?service=airlock&scope=repository:team/app:pull,push",
        )
        .send()
        .expect("token"),
    );
    let r = reg
        .anon(Method::GET, "/v2/_token")
        .basic_auth("ci", Some("wrong"))
        .send()
        .expect("token");
    assert_eq!(r.status(), 401, "docker login must see a wrong password");
    let r = reg
        .anon(Method::GET, "/v2/")
        .bearer_auth(&anonymous)
        .send()
        .expect("GET /v2/");
    assert_eq!(r.status(), 200);
    let r = reg
        .anon(Method::POST, "/v2/team/app/blobs/uploads/")
        .bearer_auth(&anonymous)
        .send()
        .expect("POST");
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "www-authenticate"),
        format!("Bearer realm=\"{}/v2/_token\",service=\"airlock\",scope=\"repository:team/app:pull,push\"", airlock.base)
    );
    let r = reg
        .anon(Method::POST, "/v2/team/app/blobs/uploads/")
        .bearer_auth(&user)
        .send()
        .expect("POST");
    assert_eq!(r.status(), 202);
    let r = reg
        .anon(Method::DELETE, &location(&r))
        .bearer_auth(format!("{user}x"))
        .send()
        .expect("DELETE");
    assert_eq!(r.status(), 401, "a tampered token");

    let long = format!("{}/tags/list", "a".repeat(256));
    for (path, status, code) in [
        ("/v2/UPPER/manifests/latest", 400, "NAME_INVALID"),
        ("/v2/a%2Fb/tags/list", 400, "NAME_INVALID"),
        ("/v2/a/../b/manifests/latest", 400, "NAME_INVALID"),
        ("/v2/../../etc/passwd/blobs/uploads/", 400, "NAME_INVALID"),
        ("/v2/a//b/tags/list", 400, "NAME_INVALID"),
        (&format!("/v2/{long}"), 400, "NAME_INVALID"),
        ("/v2/a/manifests/-tag", 400, "MANIFEST_INVALID"),
        ("/v2/a/manifests/sha256:totallywrong", 400, "DIGEST_INVALID"),
        ("/v2/a/blobs/sha512:abc", 400, "DIGEST_INVALID"),
        ("/v2/a/manifests/latest", 404, "MANIFEST_UNKNOWN"),
        ("/v2/a/tags/list", 404, "NAME_UNKNOWN"),
        ("/v2/a", 404, "UNSUPPORTED"),
    ] {
        // Sent raw: reqwest would normalise `..` and `//` away.
        let (got, body) = raw_get(&airlock.base, path);
        assert_eq!(got, status, "{path}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect(path);
        assert_eq!(json["errors"][0]["code"], code, "{path}");
    }
    // A method an endpoint does not take: 405 UNSUPPORTED, with what it takes.
    let some_blob = format!("/v2/a/blobs/{}", sha256(b"nothing"));
    for (method, path, allow) in [
        (Method::DELETE, "/v2/_catalog", "GET"),
        (Method::POST, "/v2/a/tags/list", "GET"),
        (
            Method::PATCH,
            "/v2/a/manifests/latest",
            "GET, HEAD, PUT, DELETE",
        ),
        (Method::PUT, &some_blob, "GET, HEAD, DELETE"),
        (Method::GET, "/v2/a/blobs/uploads/", "POST"),
        (Method::POST, "/v2/", "GET, HEAD"),
    ] {
        let r = reg.anon(method.clone(), path).send().expect("send");
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(header(&r, "allow"), allow, "{method} {path}");
        assert_eq!(error_code(r), "UNSUPPORTED", "{method} {path}");
    }
    let blob = format!("/v2/a/blobs/{}", sha256(b"nothing"));
    let r = reg.anon(Method::GET, &blob).send().expect("GET blob");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UNKNOWN");
    // Nothing was created by any of it (the upload session above holds no blob).
    let catalog: serde_json::Value = reg
        .anon(Method::GET, "/v2/_catalog")
        .send()
        .expect("catalog")
        .json()
        .expect("json");
    assert_eq!(catalog["repositories"], serde_json::json!([]));
    drop(airlock);
    assert_fsck(
        &data,
        &[],
        "0 blobs in the index, 0 on disk; 0 errors, 0 warnings",
    );
}

#[test]
fn uploads_chunked_streamed_monolithic_mounted_and_refused() {
    let w = scratch();
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let reg = Registry::new(&airlock.base);
    let blob = noise(3 << 20);
    let digest = sha256(&blob);
    let (a, b, c) = (&blob[..1000], &blob[1000..2_000_000], &blob[2_000_000..]);

    // POST, then chunks with Content-Range.
    let r = reg
        .req(Method::POST, "/v2/team/app/blobs/uploads/")
        .send()
        .expect("POST");
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-0");
    let loc = location(&r);
    assert!(loc.starts_with("/v2/team/app/blobs/uploads/"), "{loc}");
    let patch = |range: Option<String>, bytes: &[u8]| {
        let mut req = reg
            .req(Method::PATCH, &loc)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec());
        if let Some(range) = range {
            req = req.header("content-range", range);
        }
        req.send().expect("PATCH")
    };
    let r = patch(Some("0-999".into()), a);
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-999");
    assert_eq!(location(&r), loc);
    // Out of order, and a retry of the chunk already taken: 416 with where it stands.
    for range in ["2000-2999", "0-999"] {
        let r = patch(Some(range.into()), a);
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(header(&r, "range"), "0-999");
    }
    // A range whose length overflows: refused, not wrapped to nothing.
    let fresh = reg
        .req(Method::POST, "/v2/team/app/blobs/uploads/")
        .send()
        .expect("POST");
    let r = reg
        .req(Method::PATCH, &location(&fresh))
        .header("content-range", format!("0-{}", u64::MAX))
        .body(Vec::new())
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "BLOB_UPLOAD_INVALID");
    // A Content-Length that disagrees with Content-Range.
    let r = reg
        .req(Method::PATCH, &loc)
        .header("content-range", "1000-1009")
        .body(vec![0u8; 5])
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "SIZE_INVALID");
    let r = reg.req(Method::GET, &loc).send().expect("status");
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "range"), "0-999");
    // A streamed chunk: no Content-Range, no Content-Length (chunked encoding).
    let streamed = reqwest::blocking::Body::new(std::io::Cursor::new(b.to_vec()));
    let r = reg
        .req(Method::PATCH, &loc)
        .body(streamed)
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-1999999");
    // The blob is not visible before the PUT.
    let blob_path = format!("/v2/team/app/blobs/{digest}");
    assert_eq!(
        reg.anon(Method::HEAD, &blob_path)
            .send()
            .expect("HEAD")
            .status(),
        404
    );
    // The last chunk rides on the PUT.
    let r = reg
        .req(Method::PUT, &with_digest(&loc, &digest))
        .header("content-range", format!("2000000-{}", blob.len() - 1))
        .body(c.to_vec())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    assert_eq!(header(&r, "docker-content-digest"), digest);
    assert_eq!(location(&r), blob_path);
    let r = reg.req(Method::GET, &loc).send().expect("status");
    assert_eq!(r.status(), 404, "the session ended");

    // Pull: HEAD with the real length and digest, GET, ranges.
    let r = reg.anon(Method::HEAD, &blob_path).send().expect("HEAD");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), blob.len().to_string());
    assert_eq!(header(&r, "docker-content-digest"), digest);
    let r = reg.anon(Method::GET, &blob_path).send().expect("GET");
    assert_eq!(r.bytes().expect("body").as_ref(), blob.as_slice());
    let r = reg
        .anon(Method::GET, &blob_path)
        .header("range", "bytes=500-1499")
        .send()
        .expect("GET range");
    assert_eq!(r.status(), 206);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes 500-1499/{}", blob.len())
    );
    assert_eq!(r.bytes().expect("body").as_ref(), &blob[500..1500]);
    let r = reg
        .anon(Method::GET, &blob_path)
        .header("range", format!("bytes={}-", blob.len() + 10))
        .send()
        .expect("GET range");
    assert_eq!(r.status(), 416);
    let r = reg
        .anon(Method::GET, &blob_path)
        .header("range", "bytes=500-0")
        .send()
        .expect("GET range");
    assert_eq!(r.status(), 416, "a range that ends before it starts");
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes */{}", blob.len())
    );

    // A wrong digest on PUT: 400, nothing stored, the session is gone.
    let loc = reg.start_upload("team/app");
    let other = b"some other bytes";
    let wrong = sha256(b"not these");
    let r = reg
        .req(Method::PUT, &with_digest(&loc, &wrong))
        .body(other.to_vec())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    let r = reg
        .anon(Method::HEAD, &format!("/v2/team/app/blobs/{wrong}"))
        .send()
        .expect("HEAD");
    assert_eq!(r.status(), 404);
    let r = reg
        .anon(
            Method::HEAD,
            &format!("/v2/team/app/blobs/{}", sha256(other)),
        )
        .send()
        .expect("HEAD");
    assert_eq!(r.status(), 404);
    assert_eq!(
        reg.req(Method::GET, &loc).send().expect("status").status(),
        404
    );

    // One POST with the whole blob; the empty blob and the empty JSON.
    for bytes in [&b"monolithic"[..], b"", b"{}"] {
        let d = sha256(bytes);
        let r = reg
            .req(
                Method::POST,
                &format!("/v2/team/app/blobs/uploads/?digest={d}"),
            )
            .body(bytes.to_vec())
            .send()
            .expect("POST");
        assert_eq!(r.status(), 201);
        let r = reg
            .anon(Method::GET, &format!("/v2/team/app/blobs/{d}"))
            .send()
            .expect("GET");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().expect("body").as_ref(), bytes);
    }

    // Cancel.
    let loc = reg.start_upload("team/app");
    assert_eq!(
        reg.req(Method::PATCH, &loc)
            .body("abc")
            .send()
            .expect("PATCH")
            .status(),
        202
    );
    let r = reg.req(Method::DELETE, &loc).send().expect("DELETE");
    assert_eq!(r.status(), 204);
    let r = reg
        .req(Method::PATCH, &loc)
        .body("def")
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");

    // Mounts: from a repository that has it (201), without `from` (201), from
    // one that does not, or of a missing blob: an upload session instead (202).
    let mount = |repo: &str, query: &str| {
        reg.req(Method::POST, &format!("/v2/{repo}/blobs/uploads/?{query}"))
            .send()
            .expect("POST mount")
    };
    let r = mount("other/app", &format!("mount={digest}&from=team/app"));
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), digest);
    assert_eq!(
        reg.anon(Method::HEAD, &format!("/v2/other/app/blobs/{digest}"))
            .send()
            .expect("HEAD")
            .status(),
        200
    );
    assert_eq!(mount("third", &format!("mount={digest}")).status(), 201);
    for query in [
        format!("mount={digest}&from=nobody/here"),
        format!("mount={}&from=team/app", sha256(b"absent")),
        format!("mount={digest}&from=BAD"),
    ] {
        let r = mount("fourth", &query);
        assert_eq!(r.status(), 202, "{query}");
        assert!(location(&r).starts_with("/v2/fourth/blobs/uploads/"));
    }
    assert_eq!(
        reg.anon(Method::HEAD, &format!("/v2/fourth/blobs/{digest}"))
            .send()
            .expect("HEAD")
            .status(),
        404
    );

    // Writes without credentials change nothing.
    let r = reg
        .anon(Method::POST, "/v2/team/app/blobs/uploads/")
        .send()
        .expect("POST");
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r), "UNAUTHORIZED");
    let r = reg.anon(Method::DELETE, &blob_path).send().expect("DELETE");
    assert_eq!(r.status(), 401);

    // Blob delete: from this repository only.
    assert_eq!(
        reg.req(Method::DELETE, &blob_path)
            .send()
            .expect("DELETE")
            .status(),
        202
    );
    assert_eq!(
        reg.anon(Method::GET, &blob_path)
            .send()
            .expect("GET")
            .status(),
        404
    );
    let r = reg.req(Method::DELETE, &blob_path).send().expect("DELETE");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UNKNOWN");
    assert_eq!(
        reg.anon(Method::HEAD, &format!("/v2/other/app/blobs/{digest}"))
            .send()
            .expect("HEAD")
            .status(),
        200
    );
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

#[test]
fn manifests_tags_referrers_and_deletes() {
    let w = scratch();
    let data = w.path().join("data");
    let airlock = Airlock::start(
        &data,
        &oci_config("[oci]\nmax_manifest_size = 4096\npage_size = 3\n"),
        &[],
    );
    let reg = Registry::new(&airlock.base);
    let image = Image::new("amd64", &[("a", b"a\n")]);
    let repo = "team/app";

    // References must be in the repository first; nothing is stored otherwise.
    let r = reg.put_manifest(repo, "v1", OCI_MANIFEST, &image.manifest);
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().expect("json");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "one per missing blob: {body}");
    assert_eq!(errors[0]["code"], "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        reg.anon(Method::GET, "/v2/team/app/tags/list")
            .send()
            .expect("tags")
            .status(),
        404
    );

    reg.push_image(repo, "v1", &image);
    let by_digest = format!("/v2/{repo}/manifests/{}", image.digest());
    // Served with the stored type whatever Accept says; HEAD has the real length.
    for accept in [
        "application/vnd.docker.distribution.manifest.v2+json",
        "*/*",
        "",
    ] {
        let r = reg
            .anon(Method::GET, "/v2/team/app/manifests/v1")
            .header("accept", accept)
            .send()
            .expect("GET");
        assert_eq!(r.status(), 200, "{accept}");
        assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest"), image.digest());
        assert_eq!(r.bytes().expect("body").as_ref(), image.manifest.as_slice());
    }
    let r = reg.anon(Method::HEAD, &by_digest).send().expect("HEAD");
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-length"),
        image.manifest.len().to_string()
    );
    assert_eq!(header(&r, "docker-content-digest"), image.digest());

    // Refused manifests.
    let wrong = format!("/v2/{repo}/manifests/{}", sha256(b"other"));
    let r = reg
        .req(Method::PUT, &wrong)
        .header("content-type", OCI_MANIFEST)
        .body(image.manifest.clone())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    let schema1 =
        br#"{"schemaVersion":1,"name":"team/app","tag":"old","fsLayers":[],"history":[]}"#;
    let r = reg.put_manifest(
        repo,
        "old",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        schema1,
    );
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "MANIFEST_INVALID");
    let mut big = image.manifest.clone();
    big.truncate(big.len() - 1);
    big.extend_from_slice(
        format!(",\"annotations\":{{\"pad\":\"{}\"}}}}", "x".repeat(5000)).as_bytes(),
    );
    let r = reg.put_manifest(repo, "big", OCI_MANIFEST, &big);
    assert_eq!(r.status(), 413);
    let r = reg.put_manifest(repo, "bad", OCI_MANIFEST, b"{not json");
    assert_eq!(error_code(r), "MANIFEST_INVALID");
    // Only manifest types: a manifest pushed as text/html would be served
    // back as a page on the registry's origin.
    let html = br#"{"schemaVersion":2,"layers":[],"x":"<script>alert(1)</script>"}"#;
    let r = reg.put_manifest(repo, "html", "text/html", html);
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "MANIFEST_INVALID");
    let missing_child = index_of(&[("arm64", &Image::new("arm64", &[("b", b"b")]))]);
    let r = reg.put_manifest(repo, "multi", OCI_INDEX, &missing_child);
    assert_eq!(error_code(r), "MANIFEST_BLOB_UNKNOWN");
    let r = reg
        .anon(Method::PUT, "/v2/team/app/manifests/v2")
        .header("content-type", OCI_MANIFEST)
        .body(image.manifest.clone())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 401);
    for tag in ["old", "big", "bad", "multi", "v2"] {
        let r = reg
            .anon(Method::GET, &format!("/v2/{repo}/manifests/{tag}"))
            .send()
            .expect("GET");
        assert_eq!(r.status(), 404, "{tag}");
    }

    // An index by digest, its children present, tagged with ?tag= on the way.
    let index = index_of(&[("amd64", &image)]);
    let r = reg
        .req(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{}?tag=multi&tag=all", sha256(&index)),
        )
        .header("content-type", OCI_INDEX)
        .body(index.clone())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 201);
    assert_eq!(
        location(&r),
        format!("/v2/{repo}/manifests/{}", sha256(&index))
    );
    assert_eq!(header(&r, "oci-tag"), "multi, all");
    let r = reg
        .anon(Method::GET, "/v2/team/app/manifests/all")
        .send()
        .expect("GET");
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    assert_eq!(r.bytes().expect("body").as_ref(), index.as_slice());
    reg.req(Method::DELETE, "/v2/team/app/manifests/all")
        .send()
        .expect("DELETE");
    reg.req(Method::DELETE, "/v2/team/app/manifests/multi")
        .send()
        .expect("DELETE");

    // A Docker schema 2 manifest keeps its own media type.
    let docker_type = "application/vnd.docker.distribution.manifest.v2+json";
    let mut docker: serde_json::Value = serde_json::from_slice(&image.manifest).expect("json");
    docker["mediaType"] = docker_type.into();
    docker["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json".into();
    docker["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar".into();
    let docker = serde_json::to_vec_pretty(&docker).expect("json");
    assert_eq!(
        reg.put_manifest(repo, "docker", docker_type, &docker)
            .status(),
        201
    );
    let r = reg
        .anon(Method::GET, "/v2/team/app/manifests/docker")
        .header("accept", OCI_MANIFEST)
        .send()
        .expect("GET");
    assert_eq!(header(&r, "content-type"), docker_type);
    assert_eq!(
        r.bytes().expect("body").as_ref(),
        docker.as_slice(),
        "whitespace kept"
    );
    reg.req(Method::DELETE, "/v2/team/app/manifests/docker")
        .send()
        .expect("DELETE");

    // A foreign (non-distributable) layer may be absent: clients fetch it from its urls.
    let mut foreign: serde_json::Value = serde_json::from_slice(&image.manifest).expect("json");
    foreign["layers"][0]["digest"] = sha256(b"windows base layer").into();
    foreign["layers"][0]["urls"] = serde_json::json!(["https://example.com/layer"]);
    let foreign = serde_json::to_vec(&foreign).expect("json");
    assert_eq!(
        reg.put_manifest(repo, &sha256(&foreign), OCI_MANIFEST, &foreign)
            .status(),
        201
    );

    // Referrers: an artifact whose subject is not pushed yet is accepted.
    let later = Image::new("amd64", &[("later", b"later")]);
    reg.push_blob(repo, b"{}");
    reg.push_blob(repo, b"signature");
    reg.push_blob(repo, b"sbom");
    let sig = artifact(
        "application/vnd.example.sig",
        b"signature",
        &later.manifest,
        "sig",
    );
    let sbom = artifact(
        "application/vnd.example.sbom",
        b"sbom",
        &later.manifest,
        "sbom",
    );
    for doc in [&sig, &sbom] {
        let r = reg.put_manifest(repo, &sha256(doc), OCI_MANIFEST, doc);
        assert_eq!(r.status(), 201);
        assert_eq!(header(&r, "oci-subject"), later.digest());
    }
    let referrers = |query: &str| {
        reg.anon(
            Method::GET,
            &format!("/v2/{repo}/referrers/{}{query}", later.digest()),
        )
        .send()
        .expect("referrers")
    };
    let r = referrers("");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    let list: serde_json::Value = r.json().expect("json");
    let manifests = list["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 2, "{list}");
    let sig_entry = manifests
        .iter()
        .find(|m| m["digest"] == sha256(&sig))
        .expect("sig listed");
    assert_eq!(sig_entry["artifactType"], "application/vnd.example.sig");
    assert_eq!(sig_entry["annotations"]["note"], "sig");
    assert_eq!(sig_entry["size"], sig.len());
    let r = referrers("?artifactType=application/vnd.example.sbom");
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    let list: serde_json::Value = r.json().expect("json");
    assert_eq!(list["manifests"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["manifests"][0]["digest"], sha256(&sbom));
    let r = reg
        .anon(
            Method::GET,
            &format!("/v2/{repo}/referrers/{}", sha256(b"nothing")),
        )
        .send()
        .expect("referrers");
    assert_eq!(r.status(), 200);
    let list: serde_json::Value = r.json().expect("json");
    assert_eq!(list["manifests"], serde_json::json!([]));
    let empty_config = descriptor(EMPTY_JSON, b"{}");
    assert_eq!(empty_config["size"], 2);

    // Tags, paged by 3 at most, in order, with Link.
    for tag in ["b", "a", "c", "e", "d"] {
        assert_eq!(
            reg.put_manifest(repo, tag, OCI_MANIFEST, &image.manifest)
                .status(),
            201
        );
    }
    let r = reg
        .anon(Method::GET, "/v2/team/app/tags/list?n=2")
        .send()
        .expect("tags");
    let link = header(&r, "link");
    assert_eq!(link, "</v2/team/app/tags/list?n=2&last=b>; rel=\"next\"");
    let page: serde_json::Value = r.json().expect("json");
    assert_eq!(
        page,
        serde_json::json!({ "name": repo, "tags": ["a", "b"] })
    );
    let next = link.trim_start_matches('<').split('>').next().expect("url");
    let page: serde_json::Value = reg
        .anon(Method::GET, next)
        .send()
        .expect("tags")
        .json()
        .expect("json");
    assert_eq!(page["tags"], serde_json::json!(["c", "d"]));
    let r = reg
        .anon(Method::GET, "/v2/team/app/tags/list")
        .send()
        .expect("tags");
    assert!(
        r.headers().get("link").is_some(),
        "page_size 3 caps a full list"
    );
    let r = reg
        .anon(Method::GET, "/v2/team/app/tags/list?n=0")
        .send()
        .expect("tags");
    assert!(r.headers().get("link").is_none());
    assert_eq!(
        r.json::<serde_json::Value>().expect("json")["tags"],
        serde_json::json!([])
    );
    let r = reg
        .anon(Method::GET, "/v2/team/app/tags/list?last=d")
        .send()
        .expect("tags");
    assert_eq!(
        r.json::<serde_json::Value>().expect("json")["tags"],
        serde_json::json!(["e", "v1"])
    );
    reg.push_blob("other", b"x");
    let r = reg
        .anon(Method::GET, "/v2/_catalog?n=1")
        .send()
        .expect("catalog");
    assert_eq!(
        header(&r, "link"),
        "</v2/_catalog?n=1&last=other>; rel=\"next\""
    );
    assert_eq!(
        r.json::<serde_json::Value>().expect("json")["repositories"],
        serde_json::json!(["other"])
    );

    // Deletes: a tag, then the manifest with every tag that points at it.
    assert_eq!(
        reg.req(Method::DELETE, "/v2/team/app/manifests/a")
            .send()
            .expect("DELETE")
            .status(),
        202
    );
    assert_eq!(
        reg.anon(Method::GET, "/v2/team/app/manifests/a")
            .send()
            .expect("GET")
            .status(),
        404
    );
    assert_eq!(
        reg.anon(Method::GET, "/v2/team/app/manifests/b")
            .send()
            .expect("GET")
            .status(),
        200
    );
    assert_eq!(
        reg.req(Method::DELETE, &by_digest)
            .send()
            .expect("DELETE")
            .status(),
        202
    );
    for tag in ["b", "v1"] {
        let r = reg
            .anon(Method::GET, &format!("/v2/team/app/manifests/{tag}"))
            .send()
            .expect("GET");
        assert_eq!(r.status(), 404, "{tag}");
    }
    let tags: serde_json::Value = reg
        .anon(Method::GET, "/v2/team/app/tags/list")
        .send()
        .expect("tags")
        .json()
        .expect("json");
    assert_eq!(tags["tags"], serde_json::json!([]));
    let r = reg.req(Method::DELETE, &by_digest).send().expect("DELETE");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "MANIFEST_UNKNOWN");
    // A deleted referrer leaves the list.
    let sig_path = format!("/v2/{repo}/manifests/{}", sha256(&sig));
    assert_eq!(
        reg.req(Method::DELETE, &sig_path)
            .send()
            .expect("DELETE")
            .status(),
        202
    );
    let list: serde_json::Value = referrers("").json().expect("json");
    assert_eq!(list["manifests"].as_array().map(Vec::len), Some(1));
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// Sends a PATCH that declares `declared` bytes but sends only `sent`, then
/// hangs up: an upload cut mid-chunk.
fn cut_patch(base: &str, location: &str, declared: usize, sent: &[u8]) {
    use std::io::Write as _;
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic Y2k6c2VjcmV0\r\nContent-Length: {declared}\r\n\r\n"
    )
    .expect("send");
    stream.write_all(sent).expect("send body");
    stream.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(300));
}

#[test]
fn an_upload_cut_short_or_killed_resumes_where_it_stood() {
    let w = scratch();
    let data = w.path().join("data");
    let mut airlock = Airlock::start(&data, &oci_config(""), &[]);
    let reg = Registry::new(&airlock.base);
    let blob = noise(2 << 20);
    let digest = sha256(&blob);
    let loc = reg.start_upload("team/app");
    let r = reg
        .req(Method::PATCH, &loc)
        .header("content-range", "0-999999")
        .body(blob[..1_000_000].to_vec())
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 202);

    // A chunk cut mid-body counts for nothing.
    cut_patch(&airlock.base, &loc, 500_000, &blob[1_000_000..1_200_000]);
    let r = reg.req(Method::GET, &loc).send().expect("status");
    assert_eq!(header(&r, "range"), "0-999999");

    // kill -9, with part of another chunk on its way; then a new process.
    cut_patch(&airlock.base, &loc, 500_000, &blob[1_000_000..1_100_000]);
    airlock.kill();
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let reg = Registry::new(&airlock.base);
    let r = reg.req(Method::GET, &loc).send().expect("status");
    assert_eq!(r.status(), 204, "the session survived the restart");
    assert_eq!(header(&r, "range"), "0-999999");
    let r = reg
        .req(Method::PATCH, &loc)
        .header("content-range", format!("1000000-{}", blob.len() - 1))
        .body(blob[1_000_000..].to_vec())
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 202);
    let r = reg
        .req(Method::PUT, &with_digest(&loc, &digest))
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let got = reg
        .anon(Method::GET, &format!("/v2/team/app/blobs/{digest}"))
        .send()
        .expect("GET");
    assert_eq!(got.bytes().expect("body").as_ref(), blob.as_slice());
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
    assert_eq!(
        std::fs::read_dir(data.join("tmp/uploads"))
            .expect("uploads")
            .count(),
        0,
        "no upload bytes left behind"
    );
}

#[test]
fn concurrent_pushes_of_one_blob_and_one_tag() {
    let w = scratch();
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let reg = Registry::new(&airlock.base);
    let layer = noise(1 << 20);
    let images: Vec<Image> = (0..6)
        .map(|i| {
            Image::new(
                "amd64",
                &[("same", &layer[..]), ("n", format!("{i}").as_bytes())],
            )
        })
        .collect();
    let shared = noise(2 << 20);
    std::thread::scope(|s| {
        for image in &images {
            let reg = &reg;
            let shared = &shared;
            s.spawn(move || {
                reg.push_blob("team/app", shared);
                reg.push_image("team/app", "latest", image);
            });
        }
    });
    let r = reg
        .anon(Method::GET, "/v2/team/app/manifests/latest")
        .send()
        .expect("GET");
    assert_eq!(r.status(), 200);
    let winner = header(&r, "docker-content-digest");
    assert!(
        images.iter().any(|i| i.digest() == winner),
        "the tag points at one whole push"
    );
    assert_eq!(
        r.bytes().expect("body").as_ref(),
        images
            .iter()
            .find(|i| i.digest() == winner)
            .map(|i| i.manifest.as_slice())
            .expect("winner")
    );
    drop(airlock);
    // 1 shared blob + 6 (layer, config, manifest).
    assert_fsck(
        &data,
        &[],
        "19 blobs in the index, 19 on disk; 0 errors, 0 warnings",
    );
}

#[test]
fn namespace_rules_restrict_reads_and_writes() {
    use crate::support::ociclient::PASSWORD_HASH;
    let w = scratch();
    let data = w.path().join("data");
    let config = oci_config(&format!(
        "[[users]]\nname = \"admin\"\npassword_hash = \"{PASSWORD_HASH}\"\n\
         [[oci.namespaces]]\nprefix = \"\"\nwrite = [\"admin\"]\n\
         [[oci.namespaces]]\nprefix = \"team\"\nwrite = [\"ci\", \"admin\"]\n\
         [[oci.namespaces]]\nprefix = \"team/secret\"\nread = [\"ci\"]\n"
    ));
    let airlock = Airlock::start(&data, &config, &[]);
    let reg = Registry::new(&airlock.base);
    let as_admin =
        |method: Method, path: &str| reg.anon(method, path).basic_auth("admin", Some("secret"));
    let image = Image::new("amd64", &[("s", b"secret\n")]);

    // Writes: ci only under team/, admin everywhere.
    reg.push_image("team/secret", "v1", &image);
    let r = reg
        .req(Method::POST, "/v2/other/blobs/uploads/")
        .send()
        .expect("POST");
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r), "DENIED");
    assert_eq!(
        as_admin(Method::POST, "/v2/other/blobs/uploads/")
            .send()
            .expect("POST")
            .status(),
        202
    );

    // Reads of team/secret: ci only; anonymous clients are asked to log in.
    let path = "/v2/team/secret/manifests/v1";
    let r = reg.anon(Method::GET, path).send().expect("GET");
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").ends_with("scope=\"repository:team/secret:pull\""));
    let r = as_admin(Method::GET, path).send().expect("GET");
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r), "DENIED");
    assert_eq!(
        reg.req(Method::GET, path).send().expect("GET").status(),
        200
    );
    let user_token: serde_json::Value = reg
        .req(Method::GET, "/v2/_token")
        .send()
        .expect("token")
        .json()
        .expect("json");
    let token = user_token["token"].as_str().expect("token");
    assert_eq!(
        reg.anon(Method::GET, path)
            .bearer_auth(token)
            .send()
            .expect("GET")
            .status(),
        200
    );

    // The catalog shows each client what it may read.
    let catalog = |r: reqwest::blocking::RequestBuilder| -> serde_json::Value {
        r.send()
            .expect("catalog")
            .json::<serde_json::Value>()
            .expect("json")["repositories"]
            .clone()
    };
    assert_eq!(
        catalog(reg.anon(Method::GET, "/v2/_catalog")),
        serde_json::json!([])
    );
    assert_eq!(
        catalog(reg.req(Method::GET, "/v2/_catalog")),
        serde_json::json!(["team/secret"])
    );

    // No mounting out of what one may not read.
    let blob = sha256(&image.layer);
    let r = as_admin(
        Method::POST,
        &format!("/v2/other/blobs/uploads/?mount={blob}&from=team/secret"),
    )
    .send()
    .expect("POST");
    assert_eq!(r.status(), 202);
    let r = as_admin(
        Method::POST,
        &format!("/v2/other/blobs/uploads/?mount={blob}"),
    )
    .send()
    .expect("POST");
    assert_eq!(r.status(), 202, "no `from`: not from a private repository");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

#[test]
fn idle_uploads_expire() {
    let w = scratch();
    let data = w.path().join("data");
    let config = oci_config("[oci]\nupload_expiry = \"1s\"\n");
    let mut airlock = Airlock::start(&data, &config, &[]);
    let reg = Registry::new(&airlock.base);
    let loc = reg.start_upload("team/app");
    assert_eq!(
        reg.req(Method::PATCH, &loc)
            .body("some bytes")
            .send()
            .expect("PATCH")
            .status(),
        202
    );
    airlock.stop();
    // And an upload file no session knows (a crash between the file and its row).
    let uploads = data.join("tmp/uploads");
    std::fs::write(uploads.join("0123abcd-0000"), b"orphan").expect("orphan");
    // Times are whole seconds: past a 1 s expiry for certain only 2 s later.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let airlock = Airlock::start(&data, &config, &[]);
    let reg = Registry::new(&airlock.base);
    crate::support::eventually("the sweep", || {
        std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(1) == 0
    });
    let r = reg.req(Method::GET, &loc).send().expect("status");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");
}

/// Content named by sha512 (distribution-spec main; the conformance suite's
/// default data): blobs pushed every way and manifests pushed by a sha512
/// digest are checked by it, stored by their sha256, and pulled, mounted,
/// referred to and deleted by it.
#[test]
fn sha512_digests_push_pull_mount_refer_and_delete() {
    use crate::support::ocifixture::sha512;
    let w = scratch();
    let data = w.path().join("data");
    let airlock = Airlock::start(&data, &oci_config(""), &[]);
    let reg = Registry::new(&airlock.base);
    let layer = noise(300_000);
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let (layer512, config512) = (sha512(&layer), sha512(&config));

    // One POST with the whole blob.
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/team/app/blobs/uploads/?digest={config512}"),
        )
        .body(config.clone())
        .send()
        .expect("POST");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    assert_eq!(header(&r, "docker-content-digest"), config512);
    assert_eq!(location(&r), format!("/v2/team/app/blobs/{config512}"));
    // POST ?digest-algorithm=sha512, chunks, then PUT: hashed as it streams.
    let r = reg
        .req(
            Method::POST,
            "/v2/team/app/blobs/uploads/?digest-algorithm=sha512",
        )
        .send()
        .expect("POST");
    assert_eq!(r.status(), 202);
    let loc = location(&r);
    for (range, chunk) in [
        ("0-99999", &layer[..100_000]),
        ("100000-199999", &layer[100_000..200_000]),
    ] {
        let r = reg
            .req(Method::PATCH, &loc)
            .header("content-range", range)
            .body(chunk.to_vec())
            .send()
            .expect("PATCH");
        assert_eq!(r.status(), 202);
    }
    // A wrong sha512 is refused (the session ends, nothing is stored).
    let r = reg
        .req(Method::PUT, &with_digest(&loc, &sha512(b"other")))
        .body(layer[200_000..].to_vec())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    let r = reg
        .anon(
            Method::HEAD,
            &format!("/v2/team/app/blobs/{}", sha256(&layer)),
        )
        .send()
        .expect("HEAD");
    assert_eq!(r.status(), 404, "nothing stored");
    // POST, PATCH, then PUT ?digest=sha512: the algorithm is learned at the end.
    let loc = reg.start_upload("team/app");
    let r = reg
        .req(Method::PATCH, &loc)
        .body(layer[..123_456].to_vec())
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 202);
    let r = reg
        .req(Method::PUT, &with_digest(&loc, &layer512))
        .body(layer[123_456..].to_vec())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    assert_eq!(header(&r, "docker-content-digest"), layer512);

    // Pull by sha512 (and by the sha256 of the same bytes).
    let blob_path = format!("/v2/team/app/blobs/{layer512}");
    let r = reg.anon(Method::HEAD, &blob_path).send().expect("HEAD");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), layer.len().to_string());
    assert_eq!(header(&r, "docker-content-digest"), layer512);
    let r = reg
        .anon(Method::GET, &blob_path.replace(':', "%3A"))
        .header("range", "bytes=10-19")
        .send()
        .expect("GET");
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().expect("body").as_ref(), &layer[10..20]);
    let r = reg
        .anon(
            Method::GET,
            &format!("/v2/team/app/blobs/{}", sha256(&layer)),
        )
        .send()
        .expect("GET");
    assert_eq!(r.bytes().expect("body").as_ref(), layer.as_slice());
    // Unknown or malformed algorithms.
    for (path, status, code) in [
        (
            format!("/v2/team/app/blobs/sha384:{}", "a".repeat(96)),
            400,
            "DIGEST_INVALID",
        ),
        (
            format!("/v2/team/app/blobs/sha512:{}", "a".repeat(64)),
            400,
            "DIGEST_INVALID",
        ),
        (
            format!("/v2/team/app/blobs/{}", sha512(b"absent")),
            404,
            "BLOB_UNKNOWN",
        ),
    ] {
        let r = reg.anon(Method::GET, &path).send().expect("GET");
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(error_code(r), code, "{path}");
    }
    let r = reg
        .req(
            Method::POST,
            "/v2/team/app/blobs/uploads/?digest-algorithm=md5",
        )
        .send()
        .expect("POST");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "UNSUPPORTED");

    // Mount by sha512.
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/other/app/blobs/uploads/?mount={layer512}&from=team/app"),
        )
        .send()
        .expect("mount");
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), layer512);
    let r = reg
        .anon(Method::HEAD, &format!("/v2/other/app/blobs/{layer512}"))
        .send()
        .expect("HEAD");
    assert_eq!(r.status(), 200);

    // A manifest with sha512 descriptors, pushed by its sha512 with a tag.
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config512, "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer512, "size": layer.len() }],
    }))
    .expect("manifest");
    let manifest512 = sha512(&manifest);
    let r = reg.put_manifest(
        "team/app",
        &format!("{}?tag=v1", sha512(b"wrong")),
        OCI_MANIFEST,
        &manifest,
    );
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    let r = reg.put_manifest(
        "team/app",
        &format!("{manifest512}?tag=v1"),
        OCI_MANIFEST,
        &manifest,
    );
    assert_eq!(r.status(), 201, "{:?}", r.text());
    assert_eq!(header(&r, "docker-content-digest"), manifest512);
    assert_eq!(
        location(&r),
        format!("/v2/team/app/manifests/{manifest512}")
    );
    for reference in [manifest512.as_str(), "v1"] {
        let r = reg
            .anon(Method::GET, &format!("/v2/team/app/manifests/{reference}"))
            .send()
            .expect("GET");
        assert_eq!(r.status(), 200, "{reference}");
        assert_eq!(
            header(&r, "docker-content-digest"),
            manifest512,
            "{reference}"
        );
        assert_eq!(r.bytes().expect("body").as_ref(), manifest.as_slice());
    }
    // A manifest whose sha512 layer is missing is refused, naming it.
    let missing = String::from_utf8(manifest.clone())
        .expect("utf-8")
        .replace(&layer512, &sha512(b"absent"));
    let r = reg.put_manifest("team/app", "broken", OCI_MANIFEST, missing.as_bytes());
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(body["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(body["errors"][0]["detail"]["digest"], sha512(b"absent"));

    // A referrer whose subject is named by sha512.
    let empty512 = sha512(b"{}");
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/team/app/blobs/uploads/?digest={empty512}"),
        )
        .body("{}")
        .send()
        .expect("POST");
    assert_eq!(r.status(), 201);
    let signature = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sig",
        "config": { "mediaType": EMPTY_JSON, "digest": empty512, "size": 2 },
        "layers": [{ "mediaType": EMPTY_JSON, "digest": empty512, "size": 2 }],
        "subject": { "mediaType": OCI_MANIFEST, "digest": manifest512, "size": manifest.len() },
    }))
    .expect("signature");
    let signature512 = sha512(&signature);
    let r = reg.put_manifest("team/app", &signature512, OCI_MANIFEST, &signature);
    assert_eq!(r.status(), 201, "{:?}", r.text());
    assert_eq!(header(&r, "oci-subject"), manifest512);
    let referrers: serde_json::Value = reg
        .anon(
            Method::GET,
            &format!("/v2/team/app/referrers/{manifest512}"),
        )
        .send()
        .expect("referrers")
        .json()
        .expect("json");
    assert_eq!(referrers["manifests"][0]["digest"], signature512.as_str());
    assert_eq!(
        referrers["manifests"][0]["artifactType"],
        "application/vnd.example.sig"
    );

    // Deletes by sha512.
    let r = reg
        .req(
            Method::DELETE,
            &format!("/v2/team/app/manifests/{signature512}"),
        )
        .send()
        .expect("DELETE");
    assert_eq!(r.status(), 202);
    let r = reg
        .anon(
            Method::GET,
            &format!("/v2/team/app/manifests/{signature512}"),
        )
        .send()
        .expect("GET");
    assert_eq!(r.status(), 404);
    let r = reg
        .req(Method::DELETE, &format!("/v2/other/app/blobs/{layer512}"))
        .send()
        .expect("DELETE");
    assert_eq!(r.status(), 202);
    let r = reg
        .anon(Method::GET, &format!("/v2/other/app/blobs/{layer512}"))
        .send()
        .expect("GET");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UNKNOWN");
    drop(airlock);
    assert_fsck(&data, &[], "0 errors, 0 warnings");
}

/// Manifests and tag lists are kept in memory after a GET: a tag pushed
/// again, a new tag and a deleted tag must still show on the very next GET.
#[test]
fn a_retagged_or_deleted_tag_is_seen_at_once() {
    let w = scratch();
    let airlock = Airlock::start(&w.path().join("data"), &oci_config(""), &[]);
    let reg = Registry::new(&airlock.base);
    let (one, two) = (
        Image::new("amd64", &[("a", b"one\n")]),
        Image::new("amd64", &[("a", b"two\n")]),
    );
    let digest_of_tag = |tag: &str| {
        let r = reg
            .anon(Method::GET, &format!("/v2/kept/app/manifests/{tag}"))
            .send()
            .expect("GET");
        (r.status() == 200).then(|| header(&r, "docker-content-digest"))
    };
    let tags = || -> serde_json::Value {
        let r = reg
            .anon(Method::GET, "/v2/kept/app/tags/list")
            .send()
            .expect("tags");
        r.json().expect("json")
    };

    reg.push_image("kept/app", "latest", &one);
    assert_eq!(digest_of_tag("latest"), Some(one.digest()));
    assert_eq!(tags()["tags"], serde_json::json!(["latest"]));

    reg.push_image("kept/app", "latest", &two);
    reg.push_image("kept/app", "v2", &two);
    assert_eq!(digest_of_tag("latest"), Some(two.digest()));
    assert_eq!(tags()["tags"], serde_json::json!(["latest", "v2"]));

    let r = reg
        .req(Method::DELETE, "/v2/kept/app/manifests/latest")
        .send()
        .expect("DELETE");
    assert_eq!(r.status(), 202);
    assert_eq!(digest_of_tag("latest"), None);
    assert_eq!(tags()["tags"], serde_json::json!(["v2"]));
    let by_digest = format!("/v2/kept/app/manifests/{}", two.digest());
    assert_eq!(
        reg.anon(Method::GET, &by_digest)
            .send()
            .expect("GET")
            .status(),
        200
    );
    reg.req(Method::DELETE, &by_digest).send().expect("DELETE");
    assert_eq!(
        reg.anon(Method::GET, &by_digest)
            .send()
            .expect("GET")
            .status(),
        404
    );
    assert_eq!(digest_of_tag("v2"), None);
}
