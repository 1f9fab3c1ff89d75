//! Benchmark fixtures: one module tree in GOPROXY layout that airlock imports and
//! nginx serves as static files, so both serve the same bytes at the same URLs.

use super::sumdb;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Sizes of the fixture set.
pub struct Sizes {
    /// The large module zip (scenario 1).
    pub large: usize,
    /// Module versions in the ingest set (scenario 4).
    pub ingest_versions: usize,
    /// Bytes of each ingest zip.
    pub ingest_zip: usize,
    /// Modules in the pull-through graph (scenario 5).
    pub graph_modules: usize,
}

/// Where the fixtures are.
pub struct Fixtures {
    /// The GOPROXY tree (served at `/go/` by every target).
    pub tree: PathBuf,
    /// A Go module that requires every module of the pull-through graph.
    pub app: PathBuf,
    /// Files and bytes in the tree.
    pub files: u64,
    /// Total bytes.
    pub bytes: u64,
    /// The verifier key of the checksum database at `<tree>/sumdb/sumdb.bench`,
    /// which records the pull-through graph and the large module.
    pub sumdb_key: String,
}

/// A module version's checksum-database record: (module, version, zip `h1:`, go.mod `h1:`).
type Record = (String, String, String, String);

/// Module paths used by the scenarios.
pub const LARGE: &str = "example.com/bench/large";
/// The 5 MB module.
pub const MEDIUM: &str = "example.com/bench/medium";
/// The module with 100 versions.
pub const MANY: &str = "example.com/bench/many";

struct Noise(u64);

impl Noise {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let bytes = self.0.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

fn io(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Writes one module version: .info, .mod and a stored (uncompressed) zip with
/// `payload` bytes of incompressible data, as a proxy would serve them. Returns
/// its checksum-database record.
fn write_version(
    tree: &Path,
    module: &str,
    version: &str,
    payload: usize,
    noise: &mut Noise,
) -> Result<Record, String> {
    let dir = tree.join(module).join("@v");
    std::fs::create_dir_all(&dir).map_err(io)?;
    let go_mod = format!("module {module}\n\ngo 1.16\n");
    let info = format!("{{\"Version\":\"{version}\",\"Time\":\"2024-01-02T03:04:05Z\"}}");
    std::fs::write(dir.join(format!("{version}.info")), &info).map_err(io)?;
    std::fs::write(dir.join(format!("{version}.mod")), &go_mod).map_err(io)?;
    let file = std::fs::File::create(dir.join(format!("{version}.zip"))).map_err(io)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(payload as u64 >= u32::MAX as u64);
    let prefix = format!("{module}@{version}/");
    let sha = |data: &[u8]| -> [u8; 32] { Sha256::digest(data).into() };
    zip.start_file(format!("{prefix}go.mod"), stored)
        .map_err(io)?;
    zip.write_all(go_mod.as_bytes()).map_err(io)?;
    let mut entries = vec![(format!("{prefix}go.mod"), sha(go_mod.as_bytes()))];
    let package = module.rsplit('/').next().unwrap_or("m");
    let source = format!("package {package}\n\nconst Name = \"{module}\"\n");
    zip.start_file(format!("{prefix}{package}.go"), stored)
        .map_err(io)?;
    zip.write_all(source.as_bytes()).map_err(io)?;
    entries.push((format!("{prefix}{package}.go"), sha(source.as_bytes())));
    if payload > 0 {
        zip.start_file(format!("{prefix}testdata/payload.bin"), stored)
            .map_err(io)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = payload;
        let mut hash = Sha256::new();
        while left > 0 {
            let n = left.min(buf.len());
            noise.fill(&mut buf[..n]);
            zip.write_all(&buf[..n]).map_err(io)?;
            hash.update(&buf[..n]);
            left -= n;
        }
        entries.push((
            format!("{prefix}testdata/payload.bin"),
            hash.finalize().into(),
        ));
    }
    zip.finish().map_err(io)?;
    Ok((
        module.to_owned(),
        version.to_owned(),
        sumdb::h1(&mut entries),
        sumdb::h1(&mut [("go.mod".to_owned(), sha(go_mod.as_bytes()))]),
    ))
}

/// Builds the fixtures under `dir` once; later runs reuse them.
pub fn build(dir: &Path, sizes: &Sizes) -> Result<Fixtures, String> {
    let tree = dir.join("tree");
    let app = dir.join("app");
    // Fixtures from before the checksum database lack it: a new marker rebuilds them.
    let done = dir.join(".complete-with-sumdb");
    let key_file = dir.join("sumdb.key");
    if !done.exists() {
        eprintln!("bench: generating fixtures in {}", dir.display());
        let _ = std::fs::remove_dir_all(dir);
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let mut records = vec![write_version(
            &tree,
            LARGE,
            "v1.0.0",
            sizes.large,
            &mut noise,
        )?];
        write_version(&tree, MEDIUM, "v1.0.0", 5 << 20, &mut noise)?;
        let mut list = String::new();
        for minor in 0..100 {
            let v = format!("v1.{minor}.0");
            write_version(&tree, MANY, &v, 256, &mut noise)?;
            list.push_str(&v);
            list.push('\n');
        }
        std::fs::write(tree.join(MANY).join("@v/list"), list).map_err(io)?;
        // nginx's @latest is the file a proxy would serve; airlock computes its own.
        std::fs::write(
            tree.join(MANY).join("@latest"),
            "{\"Version\":\"v1.99.0\",\"Time\":\"2024-01-02T03:04:05Z\"}",
        )
        .map_err(io)?;
        for i in 0..sizes.ingest_versions {
            write_version(
                &tree,
                &format!("example.com/bench/ingest/m{i:04}"),
                "v1.0.0",
                sizes.ingest_zip,
                &mut noise,
            )?;
        }
        let mut requires = String::new();
        for i in 0..sizes.graph_modules {
            let module = format!("example.com/bench/graph/g{i:02}");
            records.push(write_version(
                &tree,
                &module,
                "v1.0.0",
                64 << 10,
                &mut noise,
            )?);
            requires.push_str(&format!("\t{module} v1.0.0\n"));
        }
        std::fs::create_dir_all(&app).map_err(io)?;
        std::fs::write(
            app.join("go.mod"),
            format!("module example.com/bench/app\n\ngo 1.19\n\nrequire (\n{requires})\n"),
        )
        .map_err(io)?;
        let key = sumdb::write(&tree.join("sumdb").join(sumdb::NAME), &records)?;
        std::fs::write(&key_file, key).map_err(io)?;
        std::fs::write(&done, "").map_err(io)?;
    }
    let sumdb_key = std::fs::read_to_string(&key_file).map_err(io)?;
    let (mut files, mut bytes) = (0, 0);
    count(&tree, &mut files, &mut bytes)?;
    Ok(Fixtures {
        tree,
        app,
        files,
        bytes,
        sumdb_key,
    })
}

fn count(dir: &Path, files: &mut u64, bytes: &mut u64) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let meta = entry.metadata().map_err(io)?;
        if meta.is_dir() {
            count(&entry.path(), files, bytes)?;
        } else {
            *files += 1;
            *bytes += meta.len();
        }
    }
    Ok(())
}
