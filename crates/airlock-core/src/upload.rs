//! Resumable uploads: a blob that arrives in several requests (an OCI chunked
//! push), possibly across a restart of the process.
//!
//! Each upload is one file, `<dir>/<id>`, kept outside every process's staging
//! session: a session's files are swept when its process dies, an upload's are
//! not. The caller records the offset durably (in its index) after each
//! append, and that offset is the truth: the next append first truncates the
//! file back to it, so the bytes of an append that failed, was cancelled or
//! was cut by a crash never count.
//!
//! Bytes are hashed as they arrive, on a blocking thread of their own: with
//! sha256 (the store's name for them) and, when the client said it will name
//! them by another algorithm (OCI's sha512), with that one in the same pass
//! ([`Hashes`]). The hash state is kept in memory per upload; after a restart
//! (or a failed append, or when the other algorithm is asked for only at the
//! end) it is rebuilt by reading the recorded part of the file once.
//! [`UploadArea::finish`] checks the digest and returns a [`StagedBlob`] for
//! [`crate::BlobStore::commit`], which renames the file into place (keep the
//! area on the blobs' filesystem).

use crate::digest::{AnyDigest, HashAlgorithm, Hashes};
use crate::store::{StagedBlob, StoreError};
use bytes::Bytes;
use std::collections::HashMap;
use std::fs::File as StdFile;
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The directory of resumable uploads.
#[derive(Debug)]
pub struct UploadArea {
    dir: PathBuf,
    /// Hash state of each upload at a given offset; rebuilt from the file when
    /// absent or behind the recorded offset.
    hashes: Arc<Mutex<HashMap<String, HashAt>>>,
}

#[derive(Clone, Debug)]
struct HashAt {
    offset: u64,
    hasher: Hashes,
}

/// Batches an [`Appender`] may queue ahead of its writing thread.
const QUEUE: usize = 2;

/// Bytes an [`Appender`] gathers before it hands them to its writing thread.
/// A request body arrives in pieces of 8 to 32 KiB (actix-http's reads); one
/// hand-off (and thread wake-up) each cost a 500 MiB push more CPU than its
/// hashing, and held the client back.
const BATCH: usize = 256 << 10;

impl UploadArea {
    /// Opens (creating) the directory.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<UploadArea> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(UploadArea {
            dir,
            hashes: Arc::default(),
        })
    }

    /// A fresh upload id: a random UUID (version 4 form), safe as a file name.
    pub fn new_id() -> String {
        let b: [u8; 16] = rand::random();
        let h = hex::encode(b);
        format!(
            "{}-{}-4{}-{:x}{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            (b[8] & 0x3) | 0x8,
            &h[17..20],
            &h[20..32]
        )
    }

    /// The file of upload `id`; ids are checked so that no id names a path
    /// outside the directory.
    fn path(&self, id: &str) -> io::Result<PathBuf> {
        if !id_ok(id) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such upload"));
        }
        Ok(self.dir.join(id))
    }

    /// Starts upload `id` with an empty file.
    pub async fn create(&self, id: &str) -> io::Result<()> {
        let path = self.path(id)?;
        tokio::task::spawn_blocking(move || StdFile::create_new(path).map(drop))
            .await
            .map_err(io::Error::other)?
    }

    /// Opens upload `id` for appending at `offset`, the offset the caller
    /// recorded: any bytes past it are dropped first. The bytes are hashed
    /// with sha256 and `also`. Waits for an abandoned append of the same
    /// upload to stop writing. `NotFound` when the upload's file is gone.
    pub async fn append(&self, id: &str, offset: u64, also: HashAlgorithm) -> io::Result<Appender> {
        let path = self.path(id)?;
        let prior = self.take_hash(id, offset);
        let opened = path.clone();
        let (file, hasher) =
            tokio::task::spawn_blocking(move || open_at(&opened, offset, prior, also))
                .await
                .map_err(io::Error::other)??;
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let writing = tokio::task::spawn_blocking(move || write_chunks(rx, file, &path, hasher));
        Ok(Appender {
            id: id.to_owned(),
            offset,
            batch: Vec::new(),
            batched: 0,
            queue: Some(tx),
            writing,
            hashes: Arc::clone(&self.hashes),
        })
    }

    /// Ends upload `id` at `size` bytes (its recorded offset): checks that the
    /// bytes hash to `expected` (a sha256, or a digest of another algorithm
    /// the client names them by) and hands them over as a staged blob, named
    /// by its sha256. On a mismatch the file stays; the caller removes the upload.
    pub async fn finish(
        &self,
        id: &str,
        size: u64,
        expected: &AnyDigest,
    ) -> Result<StagedBlob, StoreError> {
        let path = self.path(id)?;
        let prior = self.take_hash(id, size);
        let expected = expected.clone();
        tokio::task::spawn_blocking(move || {
            let (_file, hasher) = open_at(&path, size, prior, expected.algorithm())?;
            let hashed = hasher.finish();
            if hashed.named != expected {
                return Err(StoreError::DigestMismatch {
                    expected,
                    actual: hashed.named,
                });
            }
            Ok(StagedBlob::adopt(path, hashed.sha256, size))
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Deletes upload `id`; an absent one is not an error.
    pub async fn remove(&self, id: &str) -> io::Result<()> {
        let path = self.path(id)?;
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The ids of every upload file present, for sweeping those no row knows.
    /// Files whose names are not ids (never written here) are left alone.
    pub fn ids(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            if let Some(name) = entry?.file_name().to_str().filter(|n| id_ok(n)) {
                ids.push(name.to_owned());
            }
        }
        Ok(ids)
    }

    /// The hash state of `id` if it is exactly at `offset`.
    fn take_hash(&self, id: &str, offset: u64) -> Option<Hashes> {
        let mut hashes = self.hashes.lock().unwrap_or_else(|p| p.into_inner());
        match hashes.remove(id) {
            Some(at) if at.offset == offset => Some(at.hasher),
            _ => None,
        }
    }
}

/// Whether `id` can name an upload: hex digits and dashes, as [`UploadArea::new_id`] makes.
fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Opens an upload file at `offset`: locks it (an abandoned appender holds the
/// lock until it stops), drops bytes past the offset, and rebuilds the hashes
/// (sha256 and `also`) of the bytes before it unless `prior` has them.
fn open_at(
    path: &Path,
    offset: u64,
    prior: Option<Hashes>,
    also: HashAlgorithm,
) -> io::Result<(StdFile, Hashes)> {
    let mut file = StdFile::options().read(true).write(true).open(path)?;
    file.lock()?;
    let len = file.metadata()?.len();
    if len < offset {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("upload file has {len} bytes, {offset} were recorded"),
        ));
    }
    if len > offset {
        file.set_len(offset)?;
    }
    let hasher = match prior {
        Some(hasher) if hasher.covers(also) => hasher,
        _ => {
            let mut hasher = Hashes::new(also);
            io::copy(&mut (&mut file).take(offset), &mut hasher)?;
            hasher
        }
    };
    file.seek(io::SeekFrom::Start(offset))?;
    Ok((file, hasher))
}

/// Bytes an upload grows by between two starts of its writeback.
const WRITEBACK_EVERY: u64 = 32 << 20;

/// The writing thread of an [`Appender`]: hashes and writes batches of chunks
/// in order until the queue closes. Returns the bytes written and the hash state.
///
/// Every [`WRITEBACK_EVERY`] bytes it has another thread flush the file to
/// disk (unless the last flush still runs), so that the fsync of the commit
/// that ends the upload has only the last bytes left to write: a 500 MiB push
/// waited a quarter of a second in its final `PUT` for writeback that could
/// have happened while the bytes arrived. Only an optimisation: the commit's
/// fsync is what makes the blob durable, so a failed flush is ignored.
fn write_chunks(
    mut batches: tokio::sync::mpsc::Receiver<Vec<Bytes>>,
    file: StdFile,
    path: &Path,
    mut hasher: Hashes,
) -> io::Result<(u64, Hashes)> {
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    let (mut written, mut flushed_at) = (0u64, 0u64);
    let mut writeback: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(batch) = batches.blocking_recv() {
        for chunk in batch {
            hasher.update(&chunk);
            out.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        let idle = writeback.as_ref().is_none_or(|w| w.is_finished());
        if written - flushed_at >= WRITEBACK_EVERY && idle {
            out.flush()?;
            flushed_at = written;
            writeback = start_writeback(path);
        }
    }
    out.flush()?;
    Ok((written, hasher))
}

/// Flushes the file at `path` to disk on a thread of the blocking pool,
/// through a descriptor of its own (not sharing the writer's lock).
fn start_writeback(path: &Path) -> Option<tokio::task::JoinHandle<()>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let path = path.to_owned();
    Some(runtime.spawn_blocking(move || {
        if let Err(e) = StdFile::open(&path).and_then(|f| f.sync_data()) {
            tracing::debug!(path = %path.display(), error = %e, "upload writeback failed");
        }
    }))
}

/// Bytes being appended to an upload. [`Appender::finish`] returns the new
/// offset for the caller to record; dropping it instead abandons the append
/// (its bytes are dropped by the next one).
pub struct Appender {
    id: String,
    offset: u64,
    /// Chunks not handed to the thread yet, and their bytes.
    batch: Vec<Bytes>,
    batched: usize,
    queue: Option<tokio::sync::mpsc::Sender<Vec<Bytes>>>,
    writing: tokio::task::JoinHandle<io::Result<(u64, Hashes)>>,
    hashes: Arc<Mutex<HashMap<String, HashAt>>>,
}

impl Appender {
    /// Appends a chunk.
    pub async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= BATCH {
            self.hand_over().await?;
        }
        Ok(())
    }

    /// Queues the chunks gathered for the writing thread.
    async fn hand_over(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batched = 0;
        crate::store::queue_chunk(&mut self.queue, &mut self.writing, batch, "upload appender")
            .await
    }

    /// Writes out what is gathered and queued; returns the upload's new size.
    /// The bytes are in the file (not fsynced: the commit of the finished blob
    /// does that).
    pub async fn finish(mut self) -> io::Result<u64> {
        self.hand_over().await?;
        self.queue = None;
        let (written, hasher) = (&mut self.writing).await.map_err(io::Error::other)??;
        let offset = self.offset + written;
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.id.clone(), HashAt { offset, hasher });
        Ok(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BlobStore, LocalStore};

    fn sha(bytes: &[u8]) -> AnyDigest {
        AnyDigest::of(HashAlgorithm::Sha256, bytes)
    }

    async fn append(area: &UploadArea, id: &str, offset: u64, bytes: &[u8]) -> u64 {
        let mut a = area
            .append(id, offset, HashAlgorithm::Sha256)
            .await
            .expect("append");
        for chunk in bytes.chunks(3) {
            a.write(Bytes::copy_from_slice(chunk)).await.expect("write");
        }
        a.finish().await.expect("finish")
    }

    #[tokio::test]
    async fn appends_resume_after_a_restart_and_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(dir.path().join("blobs")).expect("store");
        let id = UploadArea::new_id();
        assert_eq!(id.len(), 36);
        let area = UploadArea::open(dir.path().join("tmp/uploads")).expect("area");
        area.create(&id).await.expect("create");
        assert_eq!(append(&area, &id, 0, b"hello ").await, 6);
        // An append cut short: its bytes land in the file but the offset is not recorded.
        let mut cut = area
            .append(&id, 6, HashAlgorithm::Sha256)
            .await
            .expect("append");
        cut.write(Bytes::from_static(b"XXXX")).await.expect("write");
        drop(cut);
        // A new process: no hash state; the recorded offset is 6.
        let area = UploadArea::open(dir.path().join("tmp/uploads")).expect("area");
        assert_eq!(append(&area, &id, 6, b"world").await, 11);
        let wrong = sha(b"hello XXXXworld");
        assert!(matches!(
            area.finish(&id, 11, &wrong).await,
            Err(StoreError::DigestMismatch { .. })
        ));
        let staged = area
            .finish(&id, 11, &sha(b"hello world"))
            .await
            .expect("finish");
        let digest = staged.digest.clone();
        assert_eq!(AnyDigest::from(digest.clone()), sha(b"hello world"));
        store.commit(staged).await.expect("commit");
        let body = store.open(&digest, None).await.expect("open");
        assert_eq!(
            body.into_bytes().await.expect("read").as_ref(),
            b"hello world"
        );
        assert!(
            area.ids().expect("ids").is_empty(),
            "renamed into the store"
        );
        assert!(
            area.append(&id, 0, HashAlgorithm::Sha256).await.is_err(),
            "gone"
        );
    }

    #[tokio::test]
    async fn a_sha512_upload_is_checked_by_sha512_and_stored_by_sha256() {
        let dir = tempfile::tempdir().expect("tempdir");
        let area = UploadArea::open(dir.path().join("uploads")).expect("area");
        let sha512 = |b: &[u8]| AnyDigest::of(HashAlgorithm::Sha512, b);
        // Asked for from the start (hashed as it streams), and only at the end
        // (rebuilt from the file).
        for also in [HashAlgorithm::Sha512, HashAlgorithm::Sha256] {
            let id = UploadArea::new_id();
            area.create(&id).await.expect("create");
            let mut a = area.append(&id, 0, also).await.expect("append");
            a.write(Bytes::from_static(b"hello ")).await.expect("write");
            a.write(Bytes::from_static(b"world")).await.expect("write");
            assert_eq!(a.finish().await.expect("finish"), 11);
            assert!(matches!(
                area.finish(&id, 11, &sha512(b"hello there")).await,
                Err(StoreError::DigestMismatch { .. })
            ));
            let staged = area
                .finish(&id, 11, &sha512(b"hello world"))
                .await
                .expect("finish");
            assert_eq!(AnyDigest::from(staged.digest.clone()), sha(b"hello world"));
        }
    }

    #[tokio::test]
    async fn ids_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let area = UploadArea::open(dir.path()).expect("area");
        for bad in ["", "../x", "a/b", "..", "g"] {
            assert!(area.create(bad).await.is_err(), "{bad}");
        }
        area.remove("0-1").await.expect("absent is fine");
    }
}
