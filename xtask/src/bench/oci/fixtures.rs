//! The OCI section's fixtures: a small image (an OCI layout skopeo copies), a
//! layout with one large layer for the push, and two large blobs. Large files
//! are pseudo-random (incompressible) and kept between runs.

use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Sizes of the large fixtures, in bytes.
pub struct Sizes {
    /// The blob served to many clients (1 GiB in a full run).
    pub big: usize,
    /// The layer skopeo pushes (500 MiB).
    pub push: usize,
    /// The blob pulled through (200 MiB).
    pub pull: usize,
}

/// Where the fixtures are.
pub struct Fixtures {
    small: PathBuf,
    push_layout: PathBuf,
    /// The big blob's file.
    pub big: PathBuf,
    /// The pulled-through blob's file.
    pub pull: PathBuf,
    /// Bytes of the pushed layer.
    pub push_bytes: u64,
    /// Bytes of the pulled-through blob.
    pub pull_bytes: u64,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn io(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Writes `len` pseudo-random bytes to `path` (unless a file of that length is
/// there with its digest beside it); returns `sha256:<hex>`.
fn noise_file(path: &Path, len: usize, seed: u64) -> Result<String, String> {
    let sidecar = path.with_extension("sha256");
    if std::fs::metadata(path).is_ok_and(|m| m.len() == len as u64) {
        if let Ok(digest) = std::fs::read_to_string(&sidecar) {
            return Ok(digest);
        }
    }
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(io)?);
    let mut hasher = Sha256::new();
    let mut state = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        for chunk in buf[..n].chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io)?;
        left -= n;
    }
    out.flush().map_err(io)?;
    let digest = format!("sha256:{}", hex(&hasher.finalize()));
    std::fs::write(&sidecar, &digest).map_err(io)?;
    Ok(digest)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// An OCI layout at `dir` holding one image whose layer is the blob `layer`
/// (digest, size), tagged `tag`; the layer file is written by `write_layer`.
fn layout(
    dir: &Path,
    tag: &str,
    layer: (&str, u64),
    write_layer: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io)?;
    let layer_file = blobs.join(layer.0.trim_start_matches("sha256:"));
    if !layer_file.exists() {
        write_layer(&layer_file)?;
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        layer.0
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
        sha256(config.as_bytes()),
        config.len(),
        layer.0,
        layer.1
    );
    for bytes in [config.as_bytes(), manifest.as_bytes()] {
        let name = sha256(bytes);
        std::fs::write(blobs.join(name.trim_start_matches("sha256:")), bytes).map_err(io)?;
    }
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#,
            sha256(manifest.as_bytes()),
            manifest.len()
        ),
    )
    .map_err(io)?;
    Ok(manifest.into_bytes())
}

/// Builds (or reuses) the fixtures under `dir`.
pub fn build(dir: &Path, sizes: &Sizes) -> Result<Fixtures, String> {
    std::fs::create_dir_all(dir).map_err(io)?;
    eprintln!("bench: oci fixtures in {}", dir.display());
    let small_layer = b"a small layer\n".repeat(300);
    let small = dir.join("small");
    let manifest = layout(
        &small,
        "t0",
        (&sha256(&small_layer), small_layer.len() as u64),
        |path| std::fs::write(path, &small_layer).map_err(io),
    )?;
    std::fs::write(dir.join("small.json"), manifest).map_err(io)?;
    let big = dir.join("big.bin");
    noise_file(&big, sizes.big, 1)?;
    let pull = dir.join("pull.bin");
    noise_file(&pull, sizes.pull, 2)?;
    let push_src = dir.join("push.bin");
    let push_digest = noise_file(&push_src, sizes.push, 3)?;
    let push_layout = dir.join("push");
    layout(
        &push_layout,
        "1",
        (&push_digest, sizes.push as u64),
        |path| {
            std::fs::hard_link(&push_src, path)
                .or_else(|_| std::fs::copy(&push_src, path).map(drop))
                .map_err(io)
        },
    )?;
    Ok(Fixtures {
        small,
        push_layout,
        big,
        pull,
        push_bytes: sizes.push as u64,
        pull_bytes: sizes.pull as u64,
    })
}

/// Runs a command; its stdout, or why it failed.
fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Fixtures {
    /// `oci:<layout>:1`, the image skopeo pushes.
    pub fn push_reference(&self) -> String {
        format!("oci:{}:1", self.push_layout.display())
    }

    /// Copies the small image to `bench/app:t0` of the registry at `base`, and
    /// tags it `t1`…`t<tags-1>` too.
    pub fn push_small(&self, base: &str, creds: Option<&str>, tags: usize) -> Result<(), String> {
        let host = base.trim_start_matches("http://");
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--preserve-digests", "--dest-tls-verify=false"]);
        if let Some(creds) = creds {
            cmd.args(["--dest-creds", creds]);
        }
        cmd.arg(format!("oci:{}:t0", self.small.display()))
            .arg(format!("docker://{host}/bench/app:t0"));
        output(&mut cmd)?;
        let manifest = self.small.with_extension("json");
        for tag in 1..tags {
            let mut cmd = curl(creds);
            cmd.args(["-X", "PUT", "-H"])
                .arg(format!("Content-Type: {OCI_MANIFEST}"))
                .arg("--data-binary")
                .arg(format!("@{}", manifest.display()))
                .arg(format!("{base}/v2/bench/app/manifests/t{tag}"));
            output(&mut cmd)?;
        }
        Ok(())
    }

    /// Uploads `file` as a blob of `repo` (POST, then one streamed PUT);
    /// returns its digest.
    pub fn push_blob(
        &self,
        base: &str,
        creds: &str,
        repo: &str,
        file: &Path,
    ) -> Result<String, String> {
        let digest = std::fs::read_to_string(file.with_extension("sha256")).map_err(io)?;
        let creds = Some(creds).filter(|c| !c.is_empty());
        let headers = output(
            curl(creds)
                .args(["-D", "-", "-o", "/dev/null", "-X", "POST"])
                .arg(format!("{base}/v2/{repo}/blobs/uploads/")),
        )?;
        let location = headers
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("location")
                    .then(|| value.trim().to_owned())
            })
            .ok_or_else(|| format!("no Location in {headers}"))?;
        let location = match location.starts_with("http") {
            true => location,
            false => format!("{base}{location}"),
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        output(
            curl(creds)
                .args([
                    "-o",
                    "/dev/null",
                    "-H",
                    "Content-Type: application/octet-stream",
                    "-T",
                ])
                .arg(file)
                .arg(format!("{location}{sep}digest={digest}")),
        )?;
        Ok(digest)
    }
}

/// `curl -sSf`, with basic credentials when given.
fn curl(creds: Option<&str>) -> Command {
    let mut cmd = Command::new("curl");
    cmd.args(["-sSf"]);
    if let Some(creds) = creds {
        cmd.args(["-u", creds]);
    }
    cmd
}
