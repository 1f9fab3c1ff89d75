//! The content-addressed blob store.
//!
//! Write path: bytes stream into a temp file in this process's staging area while
//! they are hashed ([`BlobWriter`]); [`BlobWriter::finish`] checks the digest and
//! size and yields a [`StagedBlob`] that callers may inspect (Go checks a module
//! zip before anyone sees it) and even serve; [`BlobStore::commit`] then fsyncs it,
//! renames it under its digest and fsyncs the directory. Only after that may an
//! index row point at it.
//!
//! A `kill -9` at any moment leaves at worst a dead staging directory (swept by the
//! next process) or an unreferenced blob (reported by fsck), never a partial blob
//! under a digest name.

use crate::digest::{AnyDigest, Digest};
use crate::follow::{Progress, Recent};
use crate::mapped::{MappedBlobs, MappedChunks, Slices, MAPPED_BLOB_MAX};
use crate::smallblobs::{self, SmallBlobs, SMALL_BLOB_MAX};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt as _};
use sha2::{Digest as _, Sha256};
use std::fs::File as StdFile;
use std::io;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The bytes did not hash to the digest the caller expected (under the
    /// caller's algorithm: sha256, or another one it named the bytes by).
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the caller expected.
        expected: AnyDigest,
        /// What the bytes hash to.
        actual: AnyDigest,
    },
    /// More bytes arrived than the caller allows.
    #[error("blob exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// No blob with this digest is stored.
    #[error("blob {0} not found")]
    NotFound(Digest),
    /// A filesystem error.
    #[error("blob store I/O: {0}")]
    Io(#[from] io::Error),
}

/// A byte range of a blob, both ends inclusive (as in HTTP `Range`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte, inclusive.
    pub end: u64,
}

/// A blob (or a range of it) opened for reading.
pub enum BlobBody {
    /// Small enough to have been read at once: sent in the same write as the headers.
    Bytes(Bytes),
    /// Streamed in large chunks.
    Stream {
        /// Bytes the stream yields.
        len: u64,
        /// The chunks.
        stream: BoxStream<'static, io::Result<Bytes>>,
    },
}

impl BlobBody {
    /// Bytes in the body.
    pub fn len(&self) -> u64 {
        match self {
            BlobBody::Bytes(b) => b.len() as u64,
            BlobBody::Stream { len, .. } => *len,
        }
    }

    /// True when the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Collects the body, for small metadata only.
    pub async fn into_bytes(self) -> io::Result<Bytes> {
        match self {
            BlobBody::Bytes(b) => Ok(b),
            BlobBody::Stream { len, mut stream } => {
                let mut out = bytes::BytesMut::with_capacity(len as usize);
                while let Some(chunk) = stream.next().await {
                    out.extend_from_slice(&chunk?);
                }
                Ok(out.freeze())
            }
        }
    }
}

/// Blobs up to this size are read at once, inline: a page-cache read costs less
/// than a trip through the blocking pool, and the body then leaves in the same
/// write as the headers (no Nagle/delayed-ACK stall).
pub const INLINE_READ: u64 = 256 << 10;

/// Chunk size for streamed blobs: large writes make loopback and the network fast
/// (see the benchmark notes), while few chunks in flight keep memory flat.
pub const STREAM_CHUNK: usize = 512 << 10;

/// Where blobs live. The local disk is the first implementation; an
/// S3-compatible one can follow behind the same trait.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Makes a staged blob durable under its digest. Idempotent: committing bytes
    /// that are already stored just drops the staged copy.
    async fn commit(&self, staged: StagedBlob) -> Result<(), StoreError>;
    /// Stages small checked bytes and commits them: a fetched `.mod`, a sumdb tile.
    /// Stores may do both in one step. Returns the blob's digest.
    async fn put_bytes(&self, staging: &Staging, bytes: Bytes) -> Result<Digest, StoreError> {
        let staged = staging.stage_bytes(bytes).await?;
        let digest = staged.digest.clone();
        self.commit(staged).await?;
        Ok(digest)
    }
    /// Commits many staged blobs; stores may make them durable together, far
    /// cheaper than one by one. Rows may point at them once this returns.
    async fn commit_batch(&self, staged: Vec<StagedBlob>) -> Result<(), StoreError> {
        for blob in staged {
            self.commit(blob).await?;
        }
        Ok(())
    }
    /// Opens a stored blob, optionally at a range (already validated against its size).
    async fn open(&self, digest: &Digest, range: Option<ByteRange>)
        -> Result<BlobBody, StoreError>;
    /// The stored size of a blob, or `None` when it is absent.
    async fn size(&self, digest: &Digest) -> Result<Option<u64>, StoreError>;
    /// Deletes a blob; absent blobs are not an error.
    async fn remove(&self, digest: &Digest) -> Result<(), StoreError>;
    /// Every stored digest with its size, and the names that are not blobs.
    async fn list(&self) -> Result<StoreListing, StoreError>;
    /// Re-hashes a stored blob (fsck `--verify`); serving never does this.
    async fn rehash(&self, digest: &Digest) -> Result<Digest, StoreError>;
    /// When a blob was last committed (or found already stored by a commit),
    /// or `None` when it is absent: garbage collection leaves younger blobs alone.
    async fn modified(&self, digest: &Digest) -> Result<Option<std::time::SystemTime>, StoreError>;
}

/// What [`BlobStore::list`] found.
#[derive(Debug, Default)]
pub struct StoreListing {
    /// Blobs by digest and size.
    pub blobs: Vec<(Digest, u64)>,
    /// Files in the blob area whose names are not digests (never written by airlock).
    pub strays: Vec<PathBuf>,
}

/// Blobs on the local filesystem at `<root>/sha256/ab/<hex>`.
///
/// One level of 256 directories, all made when the store is opened: a commit then
/// never creates a directory (a `mkdir` per new blob was a tenth of the CPU of a
/// cold pull-through), and every directory a rename lands in is already durable.
/// 256 directories keep tens of thousands of blobs each well within what ext4's
/// and XFS's hashed directories handle.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    /// Small blobs already read, so that serving them again opens no file.
    small: SmallBlobs,
    mapped: MappedBlobs,
}

impl LocalStore {
    /// Opens the blob directory, creating it and its 256 fan-out directories.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        let base = root.join("sha256");
        std::fs::create_dir_all(&base)?;
        // One listing finds the directories already made (a `mkdir` each that
        // fails cost 1-2 ms at every start of a process, `airlock yum add` of
        // one RPM included).
        let mut present = [false; 256];
        for entry in std::fs::read_dir(&base)? {
            let name = entry?.file_name();
            if let Some(byte) = name.to_str().and_then(fan_out_byte) {
                present[usize::from(byte)] = true;
            }
        }
        let mut created = false;
        for byte in (0..=255u8).filter(|&b| !present[usize::from(b)]) {
            match std::fs::create_dir(base.join(format!("{byte:02x}"))) {
                Ok(()) => created = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        if created {
            StdFile::open(&base)?.sync_all()?;
            StdFile::open(&root)?.sync_all()?;
        }
        Ok(LocalStore {
            root,
            small: SmallBlobs::default(),
            mapped: MappedBlobs::default(),
        })
    }

    /// The file that holds `digest`.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        blob_path(&self.root, digest)
    }
}

/// The byte a fan-out directory's name stands for (`"0a"` is 10); `None`
/// for any other name (upper case included: those are not ours).
fn fan_out_byte(name: &str) -> Option<u8> {
    let lower = name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    lower.then(|| u8::from_str_radix(name, 16).ok()).flatten()
}

fn blob_path(root: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    root.join("sha256").join(&hex[0..2]).join(hex)
}

/// Batches up to this many blobs are committed one by one (two fsyncs each)
/// rather than with two `syncfs` calls: see [`LocalStore::commit_batch`].
const SMALL_BATCH: usize = 4;

/// [`BlobStore::commit`] on the local disk, on a blocking thread.
fn commit_blocking(staged: StagedBlob, dest: &Path) -> io::Result<()> {
    let dir = dest
        .parent()
        .ok_or_else(|| io::Error::other("blob path has no parent"))?;
    if dest.exists() {
        // Same digest, same bytes: the staged copy is dropped. Another writer
        // may have renamed it a moment ago without its fsync done yet, so
        // sync the directory before the caller records a row. Touch it, so
        // fsck does not take the reused file for an old orphan.
        drop(staged);
        touch(dest)?;
    } else {
        StdFile::open(&staged.path)?.sync_all()?;
        std::fs::rename(&staged.path, dest)?;
        staged.disarm();
        // An upload's file may have been written long ago: the blob's age, for
        // garbage collection, starts now.
        touch(dest)?;
    }
    // The rename is durable only once the directory entry is.
    StdFile::open(dir)?.sync_all()
}

#[async_trait]
impl BlobStore for LocalStore {
    async fn commit(&self, staged: StagedBlob) -> Result<(), StoreError> {
        let dest = self.path_of(&staged.digest);
        tokio::task::spawn_blocking(move || commit_blocking(staged, &dest))
            .await
            .map_err(io::Error::other)??;
        Ok(())
    }

    /// One trip to the blocking pool for the whole write, instead of one per step.
    async fn put_bytes(&self, staging: &Staging, bytes: Bytes) -> Result<Digest, StoreError> {
        let (root, path) = (self.root.clone(), staging.next_path());
        let digest = tokio::task::spawn_blocking(move || -> io::Result<Digest> {
            let staged = stage_bytes_blocking(path, &bytes)?;
            let digest = staged.digest.clone();
            commit_blocking(staged, &blob_path(&root, &digest))?;
            Ok(digest)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(digest)
    }

    /// Two filesystem syncs for the whole batch instead of two fsyncs per blob:
    /// one makes every staged file durable before any is renamed into place
    /// (so a name under `sha256/` always holds complete bytes), one makes the
    /// renames durable before the caller records rows.
    ///
    /// A small batch is committed blob by blob instead, all at once: `syncfs`
    /// writes out everything dirty on the filesystem, other writers' data too
    /// (a copy of 40 MB made just before cost a one-RPM upload 30-70 ms),
    /// while a few fsyncs write only these files, and in parallel they wait
    /// for the disk about as long as one commit does.
    async fn commit_batch(&self, staged: Vec<StagedBlob>) -> Result<(), StoreError> {
        if staged.len() <= SMALL_BATCH {
            let commits = staged.into_iter().map(|blob| self.commit(blob));
            for result in futures_util::future::join_all(commits).await {
                result?;
            }
            return Ok(());
        }
        let root = self.root.clone();
        let paths: Vec<PathBuf> = staged.iter().map(|s| self.path_of(&s.digest)).collect();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let fs = StdFile::open(&root)?;
            rustix::fs::syncfs(&fs)?;
            for (blob, dest) in staged.into_iter().zip(paths) {
                if dest.exists() {
                    touch(&dest)?; // reused: not an old orphan any more
                    continue; // same bytes already stored; dropping the staged copy deletes it
                }
                std::fs::rename(&blob.path, &dest)?;
                blob.disarm();
                touch(&dest)?; // its age starts now (garbage collection)
            }
            rustix::fs::syncfs(&fs)?;
            Ok(())
        })
        .await
        .map_err(io::Error::other)??;
        Ok(())
    }

    async fn open(
        &self,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobBody, StoreError> {
        if let Some(bytes) = self.small.get(digest, range) {
            return Ok(BlobBody::Bytes(bytes));
        }
        if let Some(whole) = self.mapped.get(digest) {
            return Ok(mapped_body(whole, range)?);
        }
        let file = match StdFile::open(self.path_of(digest)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(digest.clone()))
            }
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata()?.len();
        if size <= SMALL_BLOB_MAX {
            // Read whole (even for a range) and kept for the next request.
            let bytes = read_whole(&file, size)?;
            self.small.insert(digest, bytes.clone());
            return Ok(BlobBody::Bytes(smallblobs::slice(&bytes, range)));
        }
        if size <= MAPPED_BLOB_MAX {
            let whole = self.mapped.map(digest, &file, size)?;
            return Ok(mapped_body(whole, range)?);
        }
        Ok(sized_file_body(file, size, range)?)
    }

    async fn size(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        match tokio::fs::metadata(self.path_of(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn modified(&self, digest: &Digest) -> Result<Option<std::time::SystemTime>, StoreError> {
        match tokio::fs::metadata(self.path_of(digest)).await {
            Ok(m) => Ok(Some(m.modified()?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove(&self, digest: &Digest) -> Result<(), StoreError> {
        self.small.remove(digest);
        self.mapped.remove(digest);
        match tokio::fs::remove_file(self.path_of(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<StoreListing, StoreError> {
        let base = self.root.join("sha256");
        tokio::task::spawn_blocking(move || -> io::Result<StoreListing> {
            let mut listing = StoreListing::default();
            walk_files(&base, &mut |path, len| {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                match Digest::from_hex(name) {
                    Ok(d) if path.parent() == Some(&base.join(&name[0..2])) => {
                        listing.blobs.push((d, len))
                    }
                    _ => listing.strays.push(path.to_path_buf()),
                }
            })?;
            listing.blobs.sort();
            Ok(listing)
        })
        .await
        .map_err(io::Error::other)?
        .map_err(StoreError::from)
    }

    async fn rehash(&self, digest: &Digest) -> Result<Digest, StoreError> {
        let path = self.path_of(digest);
        tokio::task::spawn_blocking(move || -> io::Result<Digest> {
            let mut hasher = Sha256::new();
            io::copy(&mut StdFile::open(path)?, &mut hasher)?;
            Ok(Digest::from_sha256_bytes(&hasher.finalize()))
        })
        .await
        .map_err(io::Error::other)?
        .map_err(StoreError::from)
    }
}

/// Sets a blob's modification time to now: fsck deletes only orphans older than
/// an hour, and a blob that is about to get a row again must not look old.
fn touch(path: &Path) -> io::Result<()> {
    // futimens needs ownership, not a writable descriptor: blobs are never opened for writing.
    StdFile::open(path)?.set_modified(std::time::SystemTime::now())
}

/// A file (or a range of it, already validated against its size) as a body:
/// small ones read at once, large ones streamed.
fn file_body(file: StdFile, range: Option<ByteRange>) -> io::Result<BlobBody> {
    let size = file.metadata()?.len();
    sized_file_body(file, size, range)
}

/// Start and length of `range` (validated against the blob's recorded size)
/// in a blob of `size` bytes, or of all of it.
fn range_in(size: u64, range: Option<ByteRange>) -> io::Result<(u64, u64)> {
    match range {
        // A range validated against a recorded size the file does not have:
        // nothing past its end may be read (nor mapped).
        Some(r) if r.start >= size => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob shorter than recorded",
        )),
        Some(r) => Ok((r.start, r.end.min(size - 1) - r.start + 1)),
        None => Ok((0, size)),
    }
}

/// [`file_body`] of a file whose size is known.
fn sized_file_body(file: StdFile, size: u64, range: Option<ByteRange>) -> io::Result<BlobBody> {
    let (start, len) = range_in(size, range)?;
    if len <= INLINE_READ {
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, start)?;
        return Ok(BlobBody::Bytes(Bytes::from(buf)));
    }
    Ok(BlobBody::Stream {
        len,
        stream: MappedChunks::new(file, start, len).boxed(),
    })
}

/// [`sized_file_body`] of a blob kept mapped whole: the same split between
/// bytes at once and a stream, without a read.
fn mapped_body(whole: Bytes, range: Option<ByteRange>) -> io::Result<BlobBody> {
    let (start, len) = range_in(whole.len() as u64, range)?;
    let part = whole.slice(start as usize..(start + len) as usize);
    if len <= INLINE_READ {
        return Ok(BlobBody::Bytes(part));
    }
    Ok(BlobBody::Stream {
        len,
        stream: Slices(part).boxed(),
    })
}

/// All `size` bytes of a small file.
fn read_whole(file: &StdFile, size: u64) -> io::Result<Bytes> {
    let mut buf = vec![0u8; size as usize];
    file.read_exact_at(&mut buf, 0)?;
    Ok(Bytes::from(buf))
}

/// Buffers for one stream's chunks, reused. Reading into uninitialised capacity
/// (`read_to_end`) starts with 8 KiB and doubles: seven `read` calls per 512 KiB
/// chunk, 135,000 a second while serving at 2.3 GB/s. A buffer zeroed once and
/// given back when its chunk has been sent is filled with one call.
#[derive(Clone, Default)]
pub(crate) struct ChunkPool(Arc<Mutex<Vec<Vec<u8>>>>);

/// Buffers a pool keeps: one being read, one queued, one being sent.
const POOLED: usize = 3;

impl ChunkPool {
    /// Reads exactly `n` bytes from `reader` into a pooled buffer; `short` says
    /// what it means when the reader ends first.
    pub(crate) fn read(
        &self,
        mut reader: impl io::Read,
        n: usize,
        short: &'static str,
    ) -> io::Result<Bytes> {
        let mut buf = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        if buf.len() < n {
            buf.resize(n, 0);
        }
        reader
            .read_exact(&mut buf[..n])
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => io::Error::new(io::ErrorKind::UnexpectedEof, short),
                _ => e,
            })?;
        Ok(Bytes::from_owner(PooledChunk {
            buf,
            len: n,
            pool: self.clone(),
        }))
    }
}

/// A chunk's buffer, given back to its pool when the chunk is dropped.
struct PooledChunk {
    buf: Vec<u8>,
    len: usize,
    pool: ChunkPool,
}

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        let mut pool = self.pool.0.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOLED {
            pool.push(std::mem::take(&mut self.buf));
        }
    }
}

fn walk_files(dir: &Path, visit: &mut dyn FnMut(&Path, u64)) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk_files(&entry.path(), visit)?;
        } else {
            visit(&entry.path(), meta.len());
        }
    }
    Ok(())
}

/// This process's private temp area under `<data>/tmp/<session>/`.
///
/// Each session holds an exclusive lock on `<data>/tmp/<session>.lock` for its
/// lifetime. A session whose lock can be taken belongs to a dead process: its
/// leftovers are partial writes, and [`Staging::open`] removes them.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: StdFile,
    counter: AtomicU64,
    swept: SweepReport,
}

/// What a sweep of dead staging sessions found.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Session directories of dead processes.
    pub dead_sessions: Vec<PathBuf>,
    /// Bytes they held.
    pub bytes: u64,
}

impl Staging {
    /// Creates this process's session and removes the leftovers of dead ones.
    pub fn open(tmp_root: impl Into<PathBuf>) -> io::Result<Self> {
        let tmp_root = tmp_root.into();
        std::fs::create_dir_all(&tmp_root)?;
        let (session, lock) = loop {
            let session = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
            let path = tmp_root.join(format!("{session}.lock"));
            let lock = StdFile::create_new(&path)?;
            lock.try_lock().map_err(io::Error::other)?;
            // Another process's sweep may have taken the lock file between its
            // creation and our lock, and deleted it: then start over.
            if std::fs::metadata(&path)
                .is_ok_and(|m| m.ino() == lock.metadata().map(|l| l.ino()).unwrap_or(0))
            {
                break (session, lock);
            }
        };
        let dir = tmp_root.join(&session);
        std::fs::create_dir(&dir)?;
        let swept = sweep_dead_sessions(&tmp_root, true)?;
        Ok(Staging {
            dir,
            lock_path: tmp_root.join(format!("{session}.lock")),
            _lock: lock,
            counter: AtomicU64::new(0),
            swept,
        })
    }

    /// What opening this session removed: the temp files of dead processes.
    pub fn swept(&self) -> &SweepReport {
        &self.swept
    }

    /// A fresh temp file name in this session.
    fn next_path(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{n}.part"))
    }

    /// Stages bytes already in memory, in one trip to the blocking pool.
    pub async fn stage_bytes(&self, bytes: Bytes) -> io::Result<StagedBlob> {
        let path = self.next_path();
        tokio::task::spawn_blocking(move || stage_bytes_blocking(path, &bytes))
            .await
            .map_err(io::Error::other)?
    }

    /// Copies `source` into a new staged file while hashing it, all on the
    /// calling thread (blocking: for a caller already on the blocking pool).
    /// `airlock yum add` reads local files this way: a [`BlobWriter`] spreads
    /// the same work over three threads, whose hand-offs cost more than the
    /// copy for small files. `limit` caps the size.
    pub fn stage_reader(
        &self,
        mut source: impl io::Read,
        limit: Option<u64>,
    ) -> Result<StagedBlob, StoreError> {
        let path = self.next_path();
        let (mut file, guard) = StagedPath::create(&path)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        STAGE_BUFFER.with_borrow_mut(|buf| -> Result<(), StoreError> {
            buf.resize(STAGE_READ, 0);
            loop {
                let n = match source.read(buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                size += n as u64;
                if let Some(limit) = limit.filter(|&l| size > l) {
                    return Err(StoreError::TooLarge { limit });
                }
                hasher.update(&buf[..n]);
                io::Write::write_all(&mut file, &buf[..n])?;
            }
        })?;
        Ok(StagedBlob {
            path,
            guard,
            digest: Digest::from_sha256_bytes(&hasher.finalize()),
            size,
        })
    }

    /// Starts a new blob. `limit` caps its size (a protocol's maximum artifact size).
    pub async fn writer(&self, limit: Option<u64>) -> io::Result<BlobWriter> {
        let path = self.next_path();
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?
            .into_std()
            .await;
        let guard = StagedPath { path: Some(path) };
        let (hash_queue, to_hash) = tokio::sync::mpsc::channel(WRITER_QUEUE);
        let (write_queue, to_write) = tokio::sync::mpsc::channel(WRITER_QUEUE);
        let (progress, in_file) = tokio::sync::watch::channel(0);
        let hashing = tokio::task::spawn_blocking(move || Ok(hash_chunks(to_hash)));
        let writing = tokio::task::spawn_blocking(move || write_chunks(to_write, file, progress));
        Ok(BlobWriter {
            hash_queue: Some(hash_queue),
            hashing,
            write_queue: Some(write_queue),
            writing,
            in_file,
            recent: Arc::new(Recent::new()),
            guard,
            size: 0,
            limit,
        })
    }
}

impl Drop for Staging {
    /// A clean exit removes the session; only a crash leaves one for the next sweep.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Lists (and with `remove`, deletes) the staging sessions of dead processes.
pub fn sweep_dead_sessions(tmp_root: &Path, remove: bool) -> io::Result<SweepReport> {
    let mut report = SweepReport::default();
    let entries = match std::fs::read_dir(tmp_root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("lock") {
            continue;
        }
        let Ok(lock) = StdFile::options().write(true).open(&path) else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue; // a live process owns it
        }
        let dir = path.with_extension("");
        walk_files(&dir, &mut |_, len| report.bytes += len).ok();
        if remove {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            std::fs::remove_file(&path)?;
        }
        report.dead_sessions.push(dir);
    }
    Ok(report)
}

/// Writes and hashes bytes into a new staged file.
fn stage_bytes_blocking(path: PathBuf, bytes: &[u8]) -> io::Result<StagedBlob> {
    let (mut file, guard) = StagedPath::create(&path)?;
    io::Write::write_all(&mut file, bytes)?;
    Ok(StagedBlob {
        path,
        guard,
        digest: Digest::from_sha256_bytes(&Sha256::digest(bytes)),
        size: bytes.len() as u64,
    })
}

/// Bytes [`Staging::stage_reader`] reads at a time.
const STAGE_READ: usize = 256 << 10;

thread_local! {
    /// [`Staging::stage_reader`]'s buffer, kept by each thread: a new zeroed
    /// one per file is a fresh mapping and 64 page faults (`airlock yum add`
    /// of 500 small RPMs: 32,000 faults and 128 MB of zeroing).
    static STAGE_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Removes a staged file on drop unless it was committed.
#[derive(Debug)]
struct StagedPath {
    path: Option<PathBuf>,
}

impl StagedPath {
    /// Creates the new staged file `path`, removed again on drop.
    fn create(path: &Path) -> io::Result<(StdFile, StagedPath)> {
        let file = StdFile::options().write(true).create_new(true).open(path)?;
        let guard = StagedPath {
            path: Some(path.to_owned()),
        };
        Ok((file, guard))
    }
}

impl Drop for StagedPath {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Chunks a [`BlobWriter`] may queue ahead of each of its threads. Two keep
/// a thread busy; more only cost memory (a `file://` chunk is 1 MiB: with
/// eight, four parallel imports peaked 10 MiB higher).
const WRITER_QUEUE: usize = 2;

/// The hashing thread of a [`BlobWriter`]: hashes the chunks it is sent, in
/// order, until the writer finishes (closes the queue). Returns the digest.
fn hash_chunks(mut chunks: tokio::sync::mpsc::Receiver<Bytes>) -> Digest {
    let mut hasher = Sha256::new();
    while let Some(chunk) = chunks.blocking_recv() {
        hasher.update(&chunk);
    }
    Digest::from_sha256_bytes(&hasher.finalize())
}

/// The writing thread of a [`BlobWriter`]: writes the chunks it is sent, in
/// order, until the writer finishes, each as it is (an upstream's 400 KiB
/// reads, `file://` MiBs; gathering them into a buffer first copied every
/// byte once more), and after each reports how many bytes are in the file.
fn write_chunks(
    mut chunks: tokio::sync::mpsc::Receiver<Bytes>,
    mut file: StdFile,
    in_file: tokio::sync::watch::Sender<u64>,
) -> io::Result<()> {
    let mut written = 0u64;
    while let Some(chunk) = chunks.blocking_recv() {
        io::Write::write_all(&mut file, &chunk)?;
        written += chunk.len() as u64;
        in_file.send_replace(written);
    }
    Ok(())
}

/// Queues `chunk` for a writing thread; when the thread has stopped, returns
/// why (its error) and closes the queue. Shared by [`BlobWriter`] and
/// [`crate::upload::Appender`].
pub(crate) async fn queue_chunk<C, T>(
    queue: &mut Option<tokio::sync::mpsc::Sender<C>>,
    thread: &mut tokio::task::JoinHandle<io::Result<T>>,
    chunk: C,
    what: &str,
) -> io::Result<()> {
    let sent = match queue.as_ref() {
        Some(queue) => queue.send(chunk).await.is_ok(),
        None => false,
    };
    if sent {
        return Ok(());
    }
    *queue = None;
    Err(match thread.await {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => io::Error::other(format!("{what} already finished")),
        Err(e) => io::Error::other(e),
    })
}

/// A blob being written: bytes go into the hash and to a temp file, each on
/// a blocking thread of its own, so that receiving the next bytes (from the
/// network, from a file) overlaps with hashing and writing the last ones, and
/// neither waits for the other: a blob arrives as fast as the slower of the
/// two (the hash), not as fast as both in series.
pub struct BlobWriter {
    hash_queue: Option<tokio::sync::mpsc::Sender<Bytes>>,
    hashing: tokio::task::JoinHandle<io::Result<Digest>>,
    write_queue: Option<tokio::sync::mpsc::Sender<Bytes>>,
    writing: tokio::task::JoinHandle<io::Result<()>>,
    in_file: tokio::sync::watch::Receiver<u64>,
    /// The latest chunks, for followers that keep up.
    recent: Arc<Recent>,
    guard: StagedPath,
    size: u64,
    limit: Option<u64>,
}

impl BlobWriter {
    /// Appends bytes.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.size += chunk.len() as u64;
        if let Some(limit) = self.limit {
            if self.size > limit {
                return Err(StoreError::TooLarge { limit });
            }
        }
        self.recent.push(&chunk);
        let (hash_queue, hashing) = (&mut self.hash_queue, &mut self.hashing);
        queue_chunk(hash_queue, hashing, chunk.clone(), "blob writer's hashing").await?;
        queue_chunk(
            &mut self.write_queue,
            &mut self.writing,
            chunk,
            "blob writer",
        )
        .await?;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How far the blob has arrived, updated as bytes come and land in the
    /// file: what a [`crate::follow`] body may serve.
    pub fn in_file(&self) -> Progress {
        Progress {
            in_file: self.in_file.clone(),
            recent: Arc::clone(&self.recent),
        }
    }

    /// The staged file, for a reader that follows it while it is written.
    pub fn path(&self) -> io::Result<&Path> {
        self.guard
            .path
            .as_deref()
            .ok_or_else(|| io::Error::other("staged path taken"))
    }

    /// Writes out what is queued, then checks the digest when one is expected.
    pub async fn finish(mut self, expected: Option<&Digest>) -> Result<StagedBlob, StoreError> {
        // No fsync here: the bytes can be checked and even served from the staged
        // file while [`BlobStore::commit`] makes them durable.
        // The threads drain their queues, then end.
        (self.hash_queue, self.write_queue) = (None, None);
        (&mut self.writing).await.map_err(io::Error::other)??;
        let digest = (&mut self.hashing).await.map_err(io::Error::other)??;
        self.recent.clear(); // all in the file now
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(StoreError::DigestMismatch {
                    expected: expected.clone().into(),
                    actual: digest.into(),
                });
            }
        }
        let path = self
            .guard
            .path
            .clone()
            .ok_or_else(|| io::Error::other("staged path taken"))?;
        Ok(StagedBlob {
            path,
            guard: self.guard,
            digest,
            size: self.size,
        })
    }
}

/// A complete, verified blob that is not yet durable nor visible under its
/// digest. Dropping it deletes the bytes.
#[derive(Debug)]
pub struct StagedBlob {
    path: PathBuf,
    guard: StagedPath,
    /// The sha256 of the bytes.
    pub digest: Digest,
    /// The size in bytes.
    pub size: u64,
}

impl StagedBlob {
    /// The staged file, for checks that need the whole blob (e.g. a zip's directory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The staged bytes as a response body. The file stays readable after a
    /// concurrent commit renames it, so a client can be served while the blob is
    /// made durable.
    pub fn body(&self) -> io::Result<BlobBody> {
        file_body(StdFile::open(&self.path)?, None)
    }

    fn disarm(mut self) {
        self.guard.path = None;
    }

    /// Takes over a complete file whose sha256 and size the caller computed
    /// (a finished [`crate::upload`]); it is deleted on drop unless committed.
    pub(crate) fn adopt(path: PathBuf, digest: Digest, size: u64) -> StagedBlob {
        StagedBlob {
            guard: StagedPath {
                path: Some(path.clone()),
            },
            path,
            digest,
            size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_buffers_are_reused_and_a_short_source_is_an_error() {
        let pool = ChunkPool::default();
        let data: Vec<u8> = (0..100u8).collect();
        let mut source = &data[..];
        let first = pool.read(&mut source, 60, "short").expect("first");
        assert_eq!(first.as_ref(), &data[..60]);
        drop(first);
        assert_eq!(pool.0.lock().expect("pool").len(), 1, "given back");
        let second = pool.read(&mut source, 30, "short").expect("second");
        assert_eq!(second.as_ref(), &data[60..90]);
        assert!(pool.0.lock().expect("pool").is_empty(), "taken again");
        let e = pool
            .read(&mut source, 30, "short")
            .expect_err("only 10 left");
        assert_eq!(
            (e.kind(), e.to_string()),
            (io::ErrorKind::UnexpectedEof, "short".into())
        );
    }

    async fn put(staging: &Staging, store: &LocalStore, bytes: &[u8]) -> Digest {
        let mut w = staging.writer(None).await.expect("writer");
        w.write(Bytes::copy_from_slice(bytes)).await.expect("write");
        let staged = w.finish(None).await.expect("finish");
        let digest = staged.digest.clone();
        store.commit(staged).await.expect("commit");
        digest
    }

    #[test]
    fn opening_makes_the_fan_out_directories_that_are_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("blobs").join("sha256");
        LocalStore::open(dir.path().join("blobs")).expect("new store");
        std::fs::remove_dir(base.join("7f")).expect("remove one");
        std::fs::create_dir(base.join("AB")).expect("a stray directory");
        LocalStore::open(dir.path().join("blobs")).expect("reopened");
        for byte in 0..=255u8 {
            assert!(base.join(format!("{byte:02x}")).is_dir(), "{byte:02x}");
        }
        assert_eq!(fan_out_byte("0a"), Some(10));
        for other in ["AB", "0", "abc", "g0", "+1"] {
            assert_eq!(fan_out_byte(other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn write_commit_read_and_dedup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = Staging::open(dir.path().join("tmp")).expect("staging");
        let store = LocalStore::open(dir.path().join("blobs")).expect("store");
        let a = put(&staging, &store, b"hello").await;
        let b = put(&staging, &store, b"hello").await;
        assert_eq!(a, b);
        // Small bytes in one step: same digest, still one blob.
        let c = store
            .put_bytes(&staging, Bytes::from_static(b"hello"))
            .await
            .expect("put_bytes");
        assert_eq!(a, c);
        assert!(store
            .path_of(&a)
            .ends_with(format!("sha256/2c/{}", a.hex())));
        assert_eq!(
            a.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.size(&a).await.expect("size"), Some(5));
        let listing = store.list().await.expect("list");
        assert_eq!(listing.blobs, vec![(a.clone(), 5)]);
        assert!(listing.strays.is_empty());
        let read = store
            .open(&a, Some(ByteRange { start: 1, end: 3 }))
            .await
            .expect("open");
        assert_eq!(read.into_bytes().await.expect("read").as_ref(), b"ell");
        assert_eq!(store.rehash(&a).await.expect("rehash"), a);
        // Staging holds nothing once committed.
        assert_eq!(std::fs::read_dir(&staging.dir).expect("dir").count(), 0);
    }

    #[tokio::test]
    async fn a_small_blob_read_once_is_served_without_opening_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = Staging::open(dir.path().join("tmp")).expect("staging");
        let store = LocalStore::open(dir.path().join("blobs")).expect("store");
        let digest = put(&staging, &store, b"hello").await;
        let read = |range| store.open(&digest, range);
        assert_eq!(read(None).await.expect("open").len(), 5);
        // Gone from disk (behind the store's back): still served, ranges too.
        std::fs::remove_file(store.path_of(&digest)).expect("rm");
        let whole = read(None).await.expect("from memory");
        assert_eq!(whole.into_bytes().await.expect("bytes").as_ref(), b"hello");
        let part = read(Some(ByteRange { start: 1, end: 2 }))
            .await
            .expect("range");
        assert_eq!(part.into_bytes().await.expect("bytes").as_ref(), b"el");
        // Removing it through the store forgets it.
        store.remove(&digest).await.expect("remove");
        assert!(matches!(read(None).await, Err(StoreError::NotFound(_))));
    }

    #[tokio::test]
    async fn large_blobs_stream_in_chunks_with_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = Staging::open(dir.path().join("tmp")).expect("staging");
        let store = LocalStore::open(dir.path().join("blobs")).expect("store");
        let data: Vec<u8> = (0..(STREAM_CHUNK * 3 + 7))
            .map(|i| (i % 251) as u8)
            .collect();
        let digest = put(&staging, &store, &data).await;
        let whole = store.open(&digest, None).await.expect("open");
        assert!(matches!(whole, BlobBody::Stream { .. }));
        assert_eq!(
            whole.into_bytes().await.expect("read").as_ref(),
            data.as_slice()
        );
        let range = ByteRange {
            start: 100,
            end: (STREAM_CHUNK * 2) as u64,
        };
        let part = store.open(&digest, Some(range)).await.expect("open");
        assert_eq!(part.len(), range.end - range.start + 1);
        assert_eq!(
            part.into_bytes().await.expect("read").as_ref(),
            &data[100..=STREAM_CHUNK * 2]
        );
    }

    #[tokio::test]
    async fn a_medium_blob_stays_mapped_until_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = Staging::open(dir.path().join("tmp")).expect("staging");
        let store = LocalStore::open(dir.path().join("blobs")).expect("store");
        let data: Vec<u8> = (0..(INLINE_READ as usize * 3))
            .map(|i| (i % 241) as u8)
            .collect();
        let digest = put(&staging, &store, &data).await;
        let read = |range| store.open(&digest, range);
        assert_eq!(read(None).await.expect("open").len(), data.len() as u64);
        // Gone from disk (behind the store's back): the kept mapping serves it.
        std::fs::remove_file(store.path_of(&digest)).expect("rm");
        let whole = read(None).await.expect("mapped");
        assert!(matches!(whole, BlobBody::Stream { .. }));
        assert_eq!(
            whole.into_bytes().await.expect("bytes").as_ref(),
            data.as_slice()
        );
        let part = read(Some(ByteRange { start: 5, end: 9 }))
            .await
            .expect("range");
        assert_eq!(
            part.into_bytes().await.expect("bytes").as_ref(),
            &data[5..10]
        );
        let past_the_end = ByteRange {
            start: data.len() as u64,
            end: data.len() as u64 + 1,
        };
        assert!(read(Some(past_the_end)).await.is_err());
        store.remove(&digest).await.expect("remove");
        assert!(matches!(read(None).await, Err(StoreError::NotFound(_))));
    }

    #[tokio::test]
    async fn a_batch_commits_together_and_dedups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = Staging::open(dir.path().join("tmp")).expect("staging");
        let store = LocalStore::open(dir.path().join("blobs")).expect("store");
        let mut batch = Vec::new();
        for bytes in [&b"one"[..], b"two", b"one"] {
            let mut w = staging.writer(None).await.expect("writer");
            w.write(Bytes::copy_from_slice(bytes)).await.expect("write");
            batch.push(w.finish(None).await.expect("finish"));
        }
        store.commit_batch(batch).await.expect("commit");
        assert_eq!(store.list().await.expect("list").blobs.len(), 2);
        assert_eq!(std::fs::read_dir(&staging.dir).expect("dir").count(), 0);
    }

    #[test]
    fn a_reader_is_staged_hashed_and_limited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = Staging::open(dir.path().join("tmp")).expect("staging");
        let data: Vec<u8> = (0..STAGE_READ * 2 + 3).map(|i| (i % 253) as u8).collect();
        let staged = staging.stage_reader(&data[..], None).expect("stage");
        assert_eq!(staged.size, data.len() as u64);
        assert_eq!(
            staged.digest,
            Digest::from_sha256_bytes(&Sha256::digest(&data))
        );
        assert_eq!(std::fs::read(staged.path()).expect("read"), data);
        drop(staged);
        assert!(matches!(
            staging.stage_reader(&data[..], Some(10)),
            Err(StoreError::TooLarge { limit: 10 })
        ));
        assert_eq!(std::fs::read_dir(&staging.dir).expect("dir").count(), 0);
    }

    #[tokio::test]
    async fn wrong_digest_and_limit_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = Staging::open(dir.path().join("tmp")).expect("staging");
        let mut w = staging.writer(None).await.expect("writer");
        w.write(Bytes::from_static(b"hello")).await.expect("write");
        let wrong = Digest::from_hex(&"0".repeat(64)).expect("digest");
        assert!(matches!(
            w.finish(Some(&wrong)).await,
            Err(StoreError::DigestMismatch { .. })
        ));
        let mut w = staging.writer(Some(4)).await.expect("writer");
        assert!(matches!(
            w.write(Bytes::from_static(b"hello")).await,
            Err(StoreError::TooLarge { limit: 4 })
        ));
        drop(w);
        assert_eq!(std::fs::read_dir(&staging.dir).expect("dir").count(), 0);
    }

    #[test]
    fn dead_sessions_are_swept_live_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tmp = dir.path().join("tmp");
        let live = Staging::open(&tmp).expect("staging");
        // A session left by a killed process: a directory and an unlocked lock file.
        std::fs::create_dir_all(tmp.join("dead")).expect("mkdir");
        std::fs::write(tmp.join("dead/0.part"), b"partial").expect("write");
        std::fs::write(tmp.join("dead.lock"), b"").expect("write");
        let report = sweep_dead_sessions(&tmp, true).expect("sweep");
        assert_eq!(report.dead_sessions, vec![tmp.join("dead")]);
        assert_eq!(report.bytes, 7);
        assert!(!tmp.join("dead").exists());
        assert!(live.dir.exists());
    }
}
