//! A checksum database for the benchmark's modules, as static files (`latest`,
//! `lookup/…`, hash tiles of height 8), signed with a fixed key, so that the
//! cold pull-through runs with airlock verifying every module file.
//! Formats: `golang.org/x/mod/sumdb/{note,tlog}` and `sumdb/dirhash`.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};
use std::path::Path;

/// The database's name (the directory under `<tree>/sumdb/`).
pub const NAME: &str = "sumdb.bench";
const TILE_HEIGHT: u32 = 8;

type Hash = [u8; 32];

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// dirhash `h1:` of files given as (name, SHA-256 of the contents).
pub fn h1(files: &mut [(String, Hash)]) -> String {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = Sha256::new();
    for (name, hash) in files.iter() {
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        summary.update(format!("{hex}  {name}\n"));
    }
    format!("h1:{}", b64(&summary.finalize()))
}

fn node(l: &Hash, r: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1])
        .chain_update(l)
        .chain_update(r)
        .finalize()
        .into()
}

fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

fn tile_path(level: u32, n: u64, width: u64) -> String {
    let mut digits = format!("{:03}", n % 1000);
    let mut rest = n;
    while rest >= 1000 {
        rest /= 1000;
        digits = format!("x{:03}/{digits}", rest % 1000);
    }
    let partial = if width == 1 << TILE_HEIGHT {
        String::new()
    } else {
        format!(".p/{width}")
    };
    format!("tile/{TILE_HEIGHT}/{level}/{digits}{partial}")
}

/// Writes the database for `records` ((module, version, zip h1, go.mod h1))
/// under `dir`; returns its verifier key (for `[[go.sumdb]] key`).
pub fn write(dir: &Path, records: &[(String, String, String, String)]) -> Result<String, String> {
    let io = |e: std::io::Error| e.to_string();
    let key = SigningKey::from_bytes(&[7; 32]);
    let mut public = vec![1u8];
    public.extend_from_slice(&key.verifying_key().to_bytes());
    let key_hash: [u8; 4] = Sha256::new()
        .chain_update(NAME)
        .chain_update("\n")
        .chain_update(&public)
        .finalize()[..4]
        .try_into()
        .map_err(|_| "key hash".to_owned())?;
    let texts: Vec<String> = records
        .iter()
        .map(|(m, v, zip, m1)| format!("{m} {v} {zip}\n{m} {v}/go.mod {m1}\n"))
        .collect();
    let mut levels: Vec<Vec<Hash>> = vec![texts
        .iter()
        .map(|t| {
            Sha256::new()
                .chain_update([0])
                .chain_update(t)
                .finalize()
                .into()
        })
        .collect()];
    while let Some(prev) = levels.last().filter(|l| l.len() >= 2) {
        let next = prev.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
        levels.push(next);
    }
    let size = texts.len();
    let text = format!("go.sum database tree\n{size}\n{}\n", b64(&root(&levels[0])));
    let mut sig = key_hash.to_vec();
    sig.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
    let note = format!("{text}\n\u{2014} {NAME} {}\n", b64(&sig));
    let write = |path: &str, data: &[u8]| -> Result<(), String> {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(path, data).map_err(io)
    };
    write("supported", b"")?;
    write("latest", note.as_bytes())?;
    for (id, ((module, version, ..), text)) in records.iter().zip(&texts).enumerate() {
        write(
            &format!("lookup/{module}@{version}"),
            format!("{id}\n{text}\n{note}").as_bytes(),
        )?;
    }
    // Tile level L holds tree level 8·L, in tiles of up to 256 hashes.
    let mut level = 0;
    while let Some(hashes) = levels.get((level * TILE_HEIGHT) as usize) {
        for (n, chunk) in hashes.chunks(1 << TILE_HEIGHT).enumerate() {
            let data: Vec<u8> = chunk.iter().flatten().copied().collect();
            write(&tile_path(level, n as u64, chunk.len() as u64), &data)?;
        }
        level += 1;
    }
    Ok(format!(
        "{NAME}+{}+{}",
        key_hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        b64(&public)
    ))
}
