//! OCI fixtures built by the tests: image layouts (`index.json` + `blobs/`) that
//! skopeo copies from, and manifest documents pushed over HTTP.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha512};
use std::path::{Path, PathBuf};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const EMPTY_JSON: &str = "application/vnd.oci.empty.v1+json";

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// `sha512:<hex>` of `bytes`.
pub fn sha512(bytes: &[u8]) -> String {
    format!("sha512:{}", hex(&Sha512::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A descriptor of `bytes` with `media_type`.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": sha256(bytes), "size": bytes.len() })
}

/// An uncompressed tar of regular files (ustar headers), a valid layer that
/// podman can unpack.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |field: &mut [u8], value: u64| {
            let text = format!("{value:0width$o}\0", width = field.len() - 1);
            field.copy_from_slice(text.as_bytes());
        };
        octal(&mut header[100..108], 0o644);
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], data.len() as u64);
        octal(&mut header[136..148], 1_700_000_000);
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u64 = header.iter().map(|&b| u64::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(text.as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// An image: its layer, config and manifest bytes.
pub struct Image {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl Image {
    /// A one-layer linux image for `arch` holding `files`.
    pub fn new(arch: &str, files: &[(&str, &[u8])]) -> Image {
        let layer = tar(files);
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": [sha256(&layer)] },
        }))
        .expect("config");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config),
            "layers": [descriptor(OCI_LAYER, &layer)],
        }))
        .expect("manifest");
        Image {
            layer,
            config,
            manifest,
        }
    }

    pub fn digest(&self) -> String {
        sha256(&self.manifest)
    }
}

/// An image index of `images`, one per platform.
pub fn index_of(images: &[(&str, &Image)]) -> Vec<u8> {
    let manifests: Vec<Value> = images
        .iter()
        .map(|(arch, image)| {
            let mut d = descriptor(OCI_MANIFEST, &image.manifest);
            d["platform"] = json!({ "architecture": arch, "os": "linux" });
            d
        })
        .collect();
    serde_json::to_vec(
        &json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests }),
    )
    .expect("index")
}

/// An artifact (empty config, one blob) that refers to `subject`.
pub fn artifact(artifact_type: &str, blob: &[u8], subject: &[u8], note: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(EMPTY_JSON, b"{}"),
        "layers": [descriptor("application/octet-stream", blob)],
        "subject": descriptor(OCI_MANIFEST, subject),
        "annotations": { "note": note },
    }))
    .expect("artifact")
}

/// An OCI image layout on disk.
pub struct Layout {
    pub dir: PathBuf,
    refs: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        let layout = Layout {
            dir: dir.to_owned(),
            refs: Vec::new(),
        };
        layout.write_index();
        layout
    }

    /// Writes a blob.
    pub fn blob(&self, bytes: &[u8]) {
        let digest = sha256(bytes);
        let hex = digest.trim_start_matches("sha256:");
        std::fs::write(self.dir.join("blobs/sha256").join(hex), bytes).expect("blob");
    }

    /// Writes an image's blobs.
    pub fn image(&self, image: &Image) {
        for bytes in [&image.layer, &image.config, &image.manifest] {
            self.blob(bytes);
        }
    }

    /// Names a manifest or index (already written) `name` in `index.json`.
    pub fn tag(&mut self, name: &str, media_type: &str, bytes: &[u8]) {
        let mut d = descriptor(media_type, bytes);
        d["annotations"] = json!({ "org.opencontainers.image.ref.name": name });
        self.refs.push(d);
        self.write_index();
    }

    fn write_index(&self) {
        let index = json!({ "schemaVersion": 2, "manifests": self.refs });
        std::fs::write(self.dir.join("index.json"), index.to_string()).expect("index.json");
    }

    /// `oci:<dir>:<name>` for skopeo.
    pub fn reference(&self, name: &str) -> String {
        format!("oci:{}:{name}", self.dir.display())
    }

    /// The digest `index.json` gives `name`.
    pub fn digest_of(&self, name: &str) -> String {
        let index: Value = serde_json::from_slice(
            &std::fs::read(self.dir.join("index.json")).expect("index.json"),
        )
        .expect("json");
        index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {index}"))["digest"]
            .as_str()
            .expect("digest")
            .to_owned()
    }
}
