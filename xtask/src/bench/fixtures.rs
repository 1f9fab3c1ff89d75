//! Benchmark fixtures: one module tree in GOPROXY layout that airlock imports and
//! nginx serves as static files, so both serve the same bytes at the same URLs.

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
}

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
/// `payload` bytes of incompressible data, as a proxy would serve them.
fn write_version(
    tree: &Path,
    module: &str,
    version: &str,
    payload: usize,
    noise: &mut Noise,
) -> Result<u64, String> {
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
    zip.start_file(format!("{prefix}go.mod"), stored)
        .map_err(io)?;
    zip.write_all(go_mod.as_bytes()).map_err(io)?;
    let package = module.rsplit('/').next().unwrap_or("m");
    zip.start_file(format!("{prefix}{package}.go"), stored)
        .map_err(io)?;
    zip.write_all(format!("package {package}\n\nconst Name = \"{module}\"\n").as_bytes())
        .map_err(io)?;
    if payload > 0 {
        zip.start_file(format!("{prefix}testdata/payload.bin"), stored)
            .map_err(io)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = payload;
        while left > 0 {
            let n = left.min(buf.len());
            noise.fill(&mut buf[..n]);
            zip.write_all(&buf[..n]).map_err(io)?;
            left -= n;
        }
    }
    zip.finish().map_err(io)?;
    Ok((go_mod.len() + info.len() + payload) as u64)
}

/// Builds the fixtures under `dir` once; later runs reuse them.
pub fn build(dir: &Path, sizes: &Sizes) -> Result<Fixtures, String> {
    let tree = dir.join("tree");
    let app = dir.join("app");
    let done = dir.join(".complete");
    if !done.exists() {
        eprintln!("bench: generating fixtures in {}", dir.display());
        let _ = std::fs::remove_dir_all(dir);
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        write_version(&tree, LARGE, "v1.0.0", sizes.large, &mut noise)?;
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
            write_version(&tree, &module, "v1.0.0", 64 << 10, &mut noise)?;
            requires.push_str(&format!("\t{module} v1.0.0\n"));
        }
        std::fs::create_dir_all(&app).map_err(io)?;
        std::fs::write(
            app.join("go.mod"),
            format!("module example.com/bench/app\n\ngo 1.19\n\nrequire (\n{requires})\n"),
        )
        .map_err(io)?;
        std::fs::write(&done, "").map_err(io)?;
    }
    let (mut files, mut bytes) = (0, 0);
    count(&tree, &mut files, &mut bytes)?;
    Ok(Fixtures {
        tree,
        app,
        files,
        bytes,
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
