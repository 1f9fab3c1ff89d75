//! Python distributions built by the tests: wheels written directly as zips
//! (`*.dist-info/{METADATA,WHEEL,RECORD}` and one module), sdists as `.tar.gz`
//! with a `PKG-INFO`, and `multipart/form-data` upload bodies built by hand (so
//! that malformed ones can be built too).

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One fixture distribution.
pub struct Dist {
    /// The project name as written in METADATA (`Foo.Bar_baz`).
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
    /// Wheel build tag.
    pub build: Option<&'static str>,
    /// `Requires-Dist` lines.
    pub requires: &'static [&'static str],
    /// `Requires-Python`.
    pub requires_python: Option<&'static str>,
}

impl Dist {
    /// The module the wheel installs: the name, normalized with underscores.
    pub fn module(&self) -> String {
        self.name.to_lowercase().replace(['-', '.'], "_")
    }

    /// The core metadata (`METADATA` / `PKG-INFO`).
    pub fn metadata(&self) -> String {
        let mut m = format!(
            "Metadata-Version: 2.4\nName: {}\nVersion: {}\nSummary: airlock test fixture\n",
            self.name, self.version
        );
        if let Some(rp) = self.requires_python {
            m.push_str(&format!("Requires-Python: {rp}\n"));
        }
        for r in self.requires {
            m.push_str(&format!("Requires-Dist: {r}\n"));
        }
        m
    }

    /// The wheel's filename.
    pub fn wheel_name(&self) -> String {
        let build = self.build.map(|b| format!("-{b}")).unwrap_or_default();
        format!("{}-{}{build}-py3-none-any.whl", self.module(), self.version)
    }

    /// Writes the wheel into `dir`.
    pub fn wheel(&self, dir: &Path) -> PathBuf {
        let dist_info = format!("{}-{}.dist-info", self.module(), self.version);
        let module = format!("{}/__init__.py", self.module());
        let members = [
            (
                module.clone(),
                format!("VERSION = {:?}\n", self.version).into_bytes(),
            ),
            (format!("{dist_info}/METADATA"), self.metadata().into_bytes()),
            (
                format!("{dist_info}/WHEEL"),
                format!(
                    "Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n{}",
                    self.build.map(|b| format!("Build: {b}\n")).unwrap_or_default()
                )
                .into_bytes(),
            ),
        ];
        let mut record = String::new();
        for (name, body) in &members {
            let hash =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(body));
            record.push_str(&format!("{name},sha256={hash},{}\n", body.len()));
        }
        record.push_str(&format!("{dist_info}/RECORD,,\n"));
        let path = dir.join(self.wheel_name());
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create wheel"));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in members.iter().chain(std::iter::once(&(
            format!("{dist_info}/RECORD"),
            record.into_bytes(),
        ))) {
            zip.start_file(name.as_str(), options).expect("member");
            zip.write_all(body).expect("write member");
        }
        zip.finish().expect("finish wheel");
        path
    }

    /// Writes an sdist (`<module>-<version>.tar.gz` with `PKG-INFO`) into `dir`.
    pub fn sdist(&self, dir: &Path) -> PathBuf {
        let top = format!("{}-{}", self.module(), self.version);
        let path = dir.join(format!("{top}.tar.gz"));
        let gz = flate2_writer(&path);
        let mut tar = tar_builder(gz);
        for (name, body) in [
            (format!("{top}/PKG-INFO"), self.metadata()),
            (
                format!("{top}/pyproject.toml"),
                "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n".into(),
            ),
        ] {
            append(&mut tar, &name, body.as_bytes());
        }
        finish(tar);
        path
    }
}

type Gz = flate2::write::GzEncoder<std::fs::File>;

fn flate2_writer(path: &Path) -> Gz {
    flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create sdist"),
        flate2::Compression::fast(),
    )
}

fn tar_builder(gz: Gz) -> tar::Builder<Gz> {
    tar::Builder::new(gz)
}

fn append(tar: &mut tar::Builder<Gz>, name: &str, body: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    tar.append_data(&mut header, name, body).expect("append");
}

fn finish(tar: tar::Builder<Gz>) {
    tar.into_inner()
        .expect("tar")
        .finish()
        .expect("gz")
        .sync_all()
        .expect("sync");
}

/// The fixture set: `Foo.Bar_baz` (a local version, needing normalization)
/// depends on `airlock-dep`, whose newest version needs Python ≥ 3.99 and whose
/// installable one has a build tag; `airlock-leaf` is an sdist and a wheel.
pub fn dists() -> Vec<Dist> {
    vec![
        Dist {
            name: "Foo.Bar_baz",
            version: "1.0+local",
            build: None,
            requires: &["airlock-dep>=1.0"],
            requires_python: Some(">=3.8"),
        },
        Dist {
            name: "airlock-dep",
            version: "1.0",
            build: Some("1"),
            requires: &[],
            requires_python: None,
        },
        Dist {
            name: "airlock-dep",
            version: "2.0",
            build: None,
            requires: &[],
            requires_python: Some(">=3.99"),
        },
    ]
}

/// sha256 hex of a file.
pub fn sha256_file(path: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(path).expect("read")))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `multipart/form-data` upload body: (content type, body).
pub fn upload_body(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "airlock-test-boundary-7d3c";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    if let Some((filename, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The form fields twine sends for `bytes` as `name` `version`.
pub fn upload_fields<'a>(
    name: &'a str,
    version: &'a str,
    sha256: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", name),
        ("version", version),
        ("filetype", "bdist_wheel"),
        ("sha256_digest", sha256),
    ]
}
