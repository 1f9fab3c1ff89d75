//! `airlock fsck`: checks the index and the blob store against each other.
//!
//! Errors (exit 1): a row whose blob file is missing, has the wrong size, or (with
//! `--verify`) the wrong content; a reference to a blob the index does not know.
//! Warnings: blob files no row points at (a crash between commit and insert leaves
//! these; harmless). Notes: Go module files stored unverified or not covered by
//! a checksum database (the settings chose to keep them). `--repair` drops the broken rows and files, and deletes
//! orphans older than an hour (a running server may be about to record a younger one).
//!
//! Reads happen in write order reversed — references, then blob rows, then files —
//! so a write that lands while fsck runs shows up at worst as an unreferenced blob
//! or a young orphan, never as a false "missing".

use crate::server::DataDir;
use crate::settings::Settings;
use airlock_core::store::BlobStore;
use airlock_core::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Orphan blob files younger than this are left alone by `--repair`.
const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// Runs the check and prints one line per finding.
pub async fn run(settings: Settings, repair: bool, verify: bool) -> anyhow::Result<ExitCode> {
    let data = DataDir::open(&settings.data_dir).await?;
    let mut errors = 0u64;
    let mut warnings = 0u64;
    let mark = |repair: bool| if repair { " (repaired)" } else { "" };

    // Opening the data directory removed the temp files of dead processes: they
    // can only be partial writes.
    for dir in &data.staging.swept().dead_sessions {
        println!(
            "note: removed the temp files of a dead process: {}",
            dir.display()
        );
    }

    let references = crate::gc::blob_references();
    let mut referenced: Vec<(usize, String)> = Vec::new();
    for (i, reference) in references.iter().enumerate() {
        for digest in data.db.referenced_digests(*reference).await? {
            referenced.push((i, digest));
        }
    }
    let rows = data.db.blobs().await?;
    let listing = data.store.list().await?;

    for stray in &listing.strays {
        warnings += 1;
        println!(
            "warning: file in the blob directory that is not a blob: {}",
            stray.display()
        );
    }
    let on_disk: BTreeMap<Digest, u64> = listing.blobs.into_iter().collect();
    let row_set: BTreeSet<Digest> = rows.iter().map(|(d, _)| d.clone()).collect();
    let mut broken: BTreeSet<Digest> = BTreeSet::new();

    for (digest, size) in &rows {
        match on_disk.get(digest) {
            None => {
                errors += 1;
                println!(
                    "error: blob {digest} is in the index but its file is missing{}",
                    mark(repair)
                );
                broken.insert(digest.clone());
            }
            Some(actual) if actual != size => {
                errors += 1;
                println!(
                    "error: blob {digest} has {actual} bytes on disk, {size} in the index{}",
                    mark(repair)
                );
                broken.insert(digest.clone());
            }
            Some(_) if verify => {
                let actual = data.store.rehash(digest).await?;
                if actual != *digest {
                    errors += 1;
                    println!(
                        "error: blob {digest} is corrupt (its bytes hash to {actual}){}",
                        mark(repair)
                    );
                    broken.insert(digest.clone());
                }
            }
            Some(_) => {}
        }
    }

    let mut live = BTreeSet::new();
    for (i, digest) in &referenced {
        let table = references[*i].table;
        match digest.parse::<Digest>() {
            Ok(d) => {
                if !row_set.contains(&d) {
                    errors += 1;
                    println!(
                        "error: {table} points at {d}, which is not in the index{}",
                        mark(repair)
                    );
                    broken.insert(d.clone());
                }
                live.insert(d);
            }
            Err(_) => {
                errors += 1;
                println!("error: {table} holds a malformed digest {digest:?}");
            }
        }
    }

    for (digest, _) in &rows {
        if !live.contains(digest) && !broken.contains(digest) {
            println!("note: blob {digest} is not referenced (garbage collection can reclaim it)");
        }
    }

    let now = SystemTime::now();
    for digest in on_disk.keys().filter(|d| !row_set.contains(*d)) {
        warnings += 1;
        let old = std::fs::metadata(data.store.path_of(digest))
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() > ORPHAN_GRACE)
            .unwrap_or(false);
        let delete = repair && old;
        println!(
            "warning: blob file {digest} has no index row{}",
            if delete { " (deleted)" } else { "" }
        );
        if delete {
            data.store.remove(digest).await?;
        }
    }

    // Module files stored without verification are not errors (the settings
    // chose to keep them), but an operator should know which they are.
    for (module, version, kind) in airlock_go::index::unverified_files(&data.db).await? {
        println!("note: go {module}@{version}.{kind} is stored unverified (the checksum database could not verify it)");
    }
    let not_covered = airlock_go::index::not_covered_count(&data.db).await?;
    if not_covered > 0 {
        println!("note: {not_covered} go module files are not covered by a checksum database (go.private, or no database with a key)");
    }

    if repair {
        for digest in &broken {
            for reference in &references {
                data.db.delete_references(*reference, digest).await?;
            }
            data.db.delete_blob_row(digest).await?;
            data.store.remove(digest).await?;
        }
    }

    println!(
        "fsck: {} blobs in the index, {} on disk; {errors} errors, {warnings} warnings{}",
        rows.len(),
        on_disk.len(),
        if repair && errors > 0 {
            " (repaired)"
        } else {
            ""
        }
    );
    Ok(if errors == 0 || repair {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
