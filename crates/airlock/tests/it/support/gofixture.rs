//! Go module fixtures for end-to-end tests that drive the real `go` client.
//!
//! Builds, in a directory of the caller's choosing:
//!
//! * a GOPROXY tree (`<escaped path>/@v/{list,<v>.info,<v>.mod,<v>.zip}`), usable as
//!   `GOPROXY=file:///that/dir` or as the upstream/import source of airlock;
//! * a tiny checksum database (sumdb) with a freshly generated ed25519 key, laid out as
//!   static files (`supported`, `latest`, `lookup/…`, `tile/8/…`). Put it at
//!   `<proxy dir>/sumdb/<name>/` and set `GOSUMDB=<SumDb::verifier_key>`: `go` then
//!   probes `<proxy>/sumdb/<name>/supported` and verifies every module through the tree.
//!
//! Formats follow golang.org/x/mod (`zip`, `sumdb/dirhash`, `sumdb/note`, `sumdb/tlog`):
//! record hash = SHA-256(0x00 || text), interior = SHA-256(0x01 || l || r) (RFC 6962),
//! tiles of height 8, `h1:` = dirhash Hash1. Everything panics on I/O errors: test code.
#![allow(dead_code)]

use std::io::{Cursor, Write as _};
use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};

/// Tile height used by sum.golang.org and by the `go` client (its default).
pub const TILE_HEIGHT: u32 = 8;

/// One module version in the fixture graph.
#[derive(Clone, Debug)]
pub struct ModuleVersion {
    /// Unescaped module path, e.g. `example.com/airlock/Upper`.
    pub path: String,
    /// Canonical semver, e.g. `v1.2.0`.
    pub version: String,
    /// Full go.mod text (served as `.mod` and stored as `go.mod` in the zip).
    pub go_mod: String,
    /// Other files of the module: (relative name, contents). Must not contain `go.mod`.
    pub files: Vec<(String, Vec<u8>)>,
    /// RFC 3339 time for the `.info` file.
    pub time: String,
}

impl ModuleVersion {
    /// Convenience constructor with text files and a fixed time (`2024-01-02T03:04:05Z`).
    pub fn new(path: &str, version: &str, go_mod: &str, files: &[(&str, &str)]) -> Self {
        ModuleVersion {
            path: path.to_string(),
            version: version.to_string(),
            go_mod: go_mod.to_string(),
            files: files
                .iter()
                .map(|(n, c)| (n.to_string(), c.as_bytes().to_vec()))
                .collect(),
            time: "2024-01-02T03:04:05Z".to_string(),
        }
    }

    /// `<path>@<version>/<name>` zip entries (go.mod first), as (name, contents).
    fn zip_entries(&self) -> Vec<(String, &[u8])> {
        let prefix = format!("{}@{}/", self.path, self.version);
        let mut out = vec![(format!("{prefix}go.mod"), self.go_mod.as_bytes())];
        for (name, data) in &self.files {
            assert!(
                name != "go.mod",
                "{}: put go.mod in `go_mod`, not `files`",
                self.path
            );
            out.push((format!("{prefix}{name}"), data.as_slice()));
        }
        out
    }

    /// The two go.sum lines of this version (also its sumdb record text).
    pub fn go_sum_lines(&self) -> String {
        format!(
            "{p} {v} {z}\n{p} {v}/go.mod {m}\n",
            p = self.path,
            v = self.version,
            z = h1_zip(self),
            m = h1_mod(&self.go_mod)
        )
    }
}

/// Case-encodes a module path or version for URLs and file names: each `A`-`Z` becomes
/// `!` + lowercase (`example.com/Upper` -> `example.com/!upper`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize()[..]);
    out
}

fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    data.iter()
        .flat_map(|b| {
            [
                DIGITS[usize::from(b >> 4)] as char,
                DIGITS[usize::from(b & 15)] as char,
            ]
        })
        .collect()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// dirhash `Hash1` over (name, contents) pairs: SHA-256 of the lines
/// `hex(sha256(contents)) + "  " + name + "\n"` sorted by name, as `h1:<base64>`.
pub fn hash1(files: &[(String, &[u8])]) -> String {
    let mut sorted: Vec<&(String, &[u8])> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut summary = String::new();
    for (name, data) in sorted {
        assert!(
            !name.contains('\n'),
            "dirhash: newline in file name {name:?}"
        );
        summary.push_str(&hex(&sha256(&[data])));
        summary.push_str("  ");
        summary.push_str(name);
        summary.push('\n');
    }
    format!("h1:{}", b64(&sha256(&[summary.as_bytes()])))
}

/// The `h1:` hash of the module zip (what go.sum records as `<path> <version> h1:…`).
pub fn h1_zip(m: &ModuleVersion) -> String {
    hash1(&m.zip_entries())
}

/// The `h1:` hash of a go.mod (go.sum's `<path> <version>/go.mod h1:…`).
pub fn h1_mod(go_mod: &str) -> String {
    hash1(&[("go.mod".to_string(), go_mod.as_bytes())])
}

/// Builds the module zip: entries `<path>@<version>/<file>` (go.mod first, then `files` in
/// order), deflated, with a fixed timestamp, so the bytes are deterministic.
pub fn module_zip(m: &ModuleVersion) -> Vec<u8> {
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in m.zip_entries() {
        w.start_file(name, opts).expect("zip start_file");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

fn write_file(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes the GOPROXY tree under `dir`: `<escaped path>/@v/list` (versions in the given
/// order) and `<escaped version>.info|.mod|.zip` per version.
pub fn write_goproxy_tree(dir: &Path, mods: &[ModuleVersion]) {
    let mut lists: Vec<(String, String)> = Vec::new(); // (escaped path, list body)
    for m in mods {
        let vdir = dir.join(escape(&m.path)).join("@v");
        let ev = escape(&m.version);
        let info = format!(
            "{{\"Version\":\"{}\",\"Time\":\"{}\"}}\n",
            m.version, m.time
        );
        write_file(&vdir.join(format!("{ev}.info")), info.as_bytes());
        write_file(&vdir.join(format!("{ev}.mod")), m.go_mod.as_bytes());
        write_file(&vdir.join(format!("{ev}.zip")), &module_zip(m));
        let ep = escape(&m.path);
        match lists.iter_mut().find(|(p, _)| *p == ep) {
            Some((_, body)) => body.push_str(&format!("{}\n", m.version)),
            None => lists.push((ep, format!("{}\n", m.version))),
        }
    }
    for (ep, body) in lists {
        write_file(&dir.join(ep).join("@v").join("list"), body.as_bytes());
    }
}

/// A generated checksum database (see [`write_sumdb_tree`]).
pub struct SumDb {
    /// Database name, e.g. `sumdb.test` (the directory name under `<proxy>/sumdb/`).
    pub name: String,
    /// `<name>+<8 hex key hash>+<base64(0x01 || pubkey)>`: the value for `GOSUMDB`.
    pub verifier_key: String,
    /// Number of records (one per module version, ids 0..tree_size in input order).
    pub tree_size: u64,
    /// Base64 RFC 6962 root hash of the tree.
    pub root_hash: String,
    /// The signed tree note (the `latest` file, also the tail of every lookup).
    pub signed_tree: String,
    /// Record texts by id.
    pub records: Vec<String>,
    key: SigningKey,
}

impl SumDb {
    fn new(name: &str, key: SigningKey) -> Self {
        assert!(
            !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace),
            "invalid sumdb name {name:?}"
        );
        let mut pubkey = vec![0x01u8];
        pubkey.extend_from_slice(&key.verifying_key().to_bytes());
        let verifier_key = format!("{name}+{:08x}+{}", key_hash(name, &pubkey), b64(&pubkey));
        SumDb {
            name: name.to_string(),
            verifier_key,
            tree_size: 0,
            root_hash: String::new(),
            signed_tree: String::new(),
            records: Vec::new(),
            key,
        }
    }

    /// Signs a note text (must end in `\n`) with this database's key:
    /// `text + "\n— <name> <base64(key hash || signature)>\n"`. Lets tests forge
    /// other (validly signed) tree heads.
    pub fn sign_note(&self, text: &str) -> String {
        assert!(text.ends_with('\n'), "note text must end in a newline");
        let mut pubkey = vec![0x01u8];
        pubkey.extend_from_slice(&self.key.verifying_key().to_bytes());
        let mut sig = key_hash(&self.name, &pubkey).to_be_bytes().to_vec();
        sig.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        format!("{text}\n\u{2014} {} {}\n", self.name, b64(&sig))
    }

    /// The signed note for a tree of `size` records with root hash `root` (32 bytes).
    pub fn sign_tree(&self, size: u64, root: &[u8; 32]) -> String {
        self.sign_note(&format!("go.sum database tree\n{size}\n{}\n", b64(root)))
    }
}

/// note key hash: first 4 bytes (big-endian) of SHA-256(name + "\n" + alg || pubkey).
fn key_hash(name: &str, alg_and_key: &[u8]) -> u32 {
    let h = sha256(&[name.as_bytes(), b"\n", alg_and_key]);
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

fn node_hash(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    sha256(&[&[0x01], l, r])
}

/// RFC 6962 Merkle tree hash of the given leaf hashes (all-zero for an empty tree).
fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => [0u8; 32],
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// tlog tile path: `tile/<h>/<level or "data">/<N in 3-digit groups, x-prefixed>[.p/<w>]`.
fn tile_path(h: u32, level: Option<u32>, n: u64, w: u64) -> String {
    let mut ns = format!("{:03}", n % 1000);
    let mut rest = n;
    while rest >= 1000 {
        rest /= 1000;
        ns = format!("x{:03}/{ns}", rest % 1000);
    }
    let l = level.map_or_else(|| "data".to_string(), |l| l.to_string());
    let p = if w == 1u64 << h {
        String::new()
    } else {
        format!(".p/{w}")
    };
    format!("tile/{h}/{l}/{ns}{p}")
}

/// Writes a static sumdb tree under `dir` with a freshly generated key; see
/// [`write_sumdb_tree_with_seed`] for the layout.
pub fn write_sumdb_tree(dir: &Path, name: &str, mods: &[ModuleVersion]) -> SumDb {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    write_tree(dir, SumDb::new(name, key), mods)
}

/// Like [`write_sumdb_tree`] but with a fixed ed25519 seed (reproducible key).
///
/// Files: `supported` (empty), `latest` (signed tree note),
/// `lookup/<escaped path>@<escaped version>` (`<id>\n<record>\n<signed note>`),
/// `tile/8/<L>/<N>[.p/<W>]` for every hash tile level (full tiles plus the final partial
/// one, like a real server after publishing the whole tree) and `tile/8/data/...` with the
/// record texts. Record i (input order) = `mods[i].go_sum_lines()`.
pub fn write_sumdb_tree_with_seed(
    dir: &Path,
    name: &str,
    seed: [u8; 32],
    mods: &[ModuleVersion],
) -> SumDb {
    write_tree(dir, SumDb::new(name, SigningKey::from_bytes(&seed)), mods)
}

fn write_tree(dir: &Path, mut db: SumDb, mods: &[ModuleVersion]) -> SumDb {
    let h = TILE_HEIGHT;
    let width = 1u64 << h;
    db.records = mods.iter().map(ModuleVersion::go_sum_lines).collect();
    let n = db.records.len() as u64;
    // levels[l][i] = hash of the complete subtree of leaves [i*2^l, (i+1)*2^l).
    let mut levels: Vec<Vec<[u8; 32]>> = vec![db
        .records
        .iter()
        .map(|r| sha256(&[&[0x00], r.as_bytes()]))
        .collect()];
    while let Some(prev) = levels.last().filter(|l| l.len() >= 2) {
        let next = prev
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
        levels.push(next);
    }
    let root = tree_hash(&levels[0]);
    db.tree_size = n;
    db.root_hash = b64(&root);
    db.signed_tree = db.sign_tree(n, &root);

    write_file(&dir.join("supported"), b"");
    write_file(&dir.join("latest"), db.signed_tree.as_bytes());
    for (id, (m, rec)) in mods.iter().zip(&db.records).enumerate() {
        let body = format!("{id}\n{rec}\n{}", db.signed_tree);
        let file = format!("{}@{}", escape(&m.path), escape(&m.version));
        write_file(&dir.join("lookup").join(file), body.as_bytes());
    }
    // Hash tiles: tile level L holds tree level L*h.
    let mut tl = 0u32;
    while let Some(hashes) = levels.get((tl * h) as usize).filter(|v| !v.is_empty()) {
        for (t, chunk) in hashes.chunks(width as usize).enumerate() {
            let data: Vec<u8> = chunk.iter().flatten().copied().collect();
            let path = tile_path(h, Some(tl), t as u64, chunk.len() as u64);
            write_file(&dir.join(path), &data);
        }
        tl += 1;
    }
    // Data tiles: record texts (without the id line), concatenated.
    for (t, chunk) in db.records.chunks(width as usize).enumerate() {
        let path = tile_path(h, None, t as u64, chunk.len() as u64);
        write_file(&dir.join(path), chunk.concat().as_bytes());
    }
    db
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn h1_vectors() {
        // go-proxy.md §1.10 (checked against go-generated go.sum files).
        assert_eq!(
            h1_mod("module example.com/b\n\ngo 1.16\n"),
            "h1:dFYOyd6FjirzV0EpGfCRpL1g8tqPwL+WQHAY5bcfsoA="
        );
        assert_eq!(
            h1_mod("module example.com/inc\n"),
            "h1:0A1XFMqM4o/CrHmoC36mXPRgaIHxh1jmF4SUfago9Cw="
        );
        let b = ModuleVersion::new(
            "example.com/b",
            "v1.1.0",
            "module example.com/b\n\ngo 1.16\n",
            &[("b.go", "package b\n\nconst V = 11\n")],
        );
        assert_eq!(
            h1_zip(&b),
            "h1:Gvp50hCe2B1SpBGyOuo7Ft1N/bHcAIWZDVtv8jtKXko="
        );
    }

    #[test]
    fn zip_is_deterministic_and_hash_matches_entries() {
        let m = ModuleVersion::new(
            "example.com/Up",
            "v0.1.0",
            "module example.com/Up\n",
            &[("a.go", "package up\n")],
        );
        let z = module_zip(&m);
        assert_eq!(z, module_zip(&m));
        let mut ar = zip::ZipArchive::new(Cursor::new(z)).unwrap();
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..ar.len() {
            let mut f = ar.by_index(i).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).unwrap();
            files.push((String::from_utf8(f.name_raw().to_vec()).unwrap(), data));
        }
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            ["example.com/Up@v0.1.0/go.mod", "example.com/Up@v0.1.0/a.go"]
        );
        let pairs: Vec<(String, &[u8])> = files
            .iter()
            .map(|(n, d)| (n.clone(), d.as_slice()))
            .collect();
        assert_eq!(hash1(&pairs), h1_zip(&m));
    }

    #[test]
    fn escaping_and_tile_paths() {
        assert_eq!(
            escape("github.com/BurntSushi/toml"),
            "github.com/!burnt!sushi/toml"
        );
        assert_eq!(escape("v0.1.0-M4"), "v0.1.0-!m4");
        assert_eq!(tile_path(8, Some(0), 0, 5), "tile/8/0/000.p/5");
        assert_eq!(tile_path(8, Some(1), 0, 256), "tile/8/1/000");
        assert_eq!(tile_path(8, None, 1234, 3), "tile/8/data/x001/234.p/3");
        assert_eq!(
            tile_path(3, Some(4), 1234067, 1),
            "tile/3/4/x001/x234/067.p/1"
        );
    }

    #[test]
    fn rfc6962_roots() {
        // Reference vectors of the RFC 6962 Merkle tree (certificate-transparency tests).
        let leaves: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let hashes: Vec<[u8; 32]> = leaves.iter().map(|l| sha256(&[&[0x00], l])).collect();
        assert_eq!(
            hex(&tree_hash(&hashes[..1])),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            hex(&tree_hash(&hashes[..3])),
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
        );
        assert_eq!(
            hex(&tree_hash(&hashes[..7])),
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"
        );
        assert_eq!(
            hex(&tree_hash(&hashes)),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }

    #[test]
    fn note_signature_matches_go() {
        // golang.org/x/mod/sumdb/note TestSign: skey PRIVATE+KEY+PeterNeumann+c74f20a3+<0x01||seed>.
        let skey = base64::engine::general_purpose::STANDARD
            .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .unwrap();
        let seed: [u8; 32] = skey[1..].try_into().unwrap();
        let db = SumDb::new("PeterNeumann", SigningKey::from_bytes(&seed));
        assert_eq!(
            db.verifier_key,
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        assert_eq!(
            db.sign_note(text),
            format!("{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
        );
    }

    #[test]
    fn sumdb_tree_layout() {
        let dir = std::env::temp_dir().join(format!("gofixture-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mods: Vec<ModuleVersion> = (0..300)
            .map(|i| {
                let p = format!("example.com/m{i}");
                ModuleVersion::new(&p, "v1.0.0", &format!("module {p}\n"), &[])
            })
            .collect();
        let db = write_sumdb_tree_with_seed(&dir, "sumdb.test", [7; 32], &mods);
        assert_eq!(db.tree_size, 300);
        for f in [
            "supported",
            "latest",
            "tile/8/0/000",
            "tile/8/0/001.p/44",
            "tile/8/1/000.p/1",
            "tile/8/data/000",
            "tile/8/data/001.p/44",
        ] {
            assert!(dir.join(f).is_file(), "missing {f}");
        }
        assert_eq!(
            std::fs::read(dir.join("tile/8/0/001.p/44")).unwrap().len(),
            44 * 32
        );
        let lookup = std::fs::read_to_string(dir.join("lookup/example.com/m256@v1.0.0")).unwrap();
        assert!(lookup.starts_with(&format!(
            "256\n{}\ngo.sum database tree\n300\n",
            db.records[256]
        )));
        // Root recomputed from the published tiles, as the client does.
        let t0 = std::fs::read(dir.join("tile/8/1/000.p/1")).unwrap();
        let t1 = std::fs::read(dir.join("tile/8/0/001.p/44")).unwrap();
        let tail: Vec<[u8; 32]> = t1.chunks(32).map(|c| c.try_into().unwrap()).collect();
        let root = node_hash(&t0[..32].try_into().unwrap(), &tree_hash(&tail));
        assert_eq!(b64(&root), db.root_hash);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
