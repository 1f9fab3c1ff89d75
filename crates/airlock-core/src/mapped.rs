//! Streaming a stored file from bounded memory mappings.
//!
//! actix's HTTP/1 writer copies every body chunk into its write buffer before it
//! writes to the socket. Reading a chunk into a buffer of our own first made three
//! copies of every byte (page cache → our buffer → actix's buffer → socket), plus a
//! trip to the blocking pool per chunk. Handing actix slices of a mapping of the
//! file makes its copy read straight from the page cache: two copies, as nginx
//! makes with `sendfile off`, and no thread hop.
//!
//! Memory stays flat: the file is mapped one `MAP_WINDOW` at a time, the window is
//! handed out in `STREAM_CHUNK` slices, and it is unmapped as soon as actix has
//! copied its last slice. Mapped pages count in RSS only while they are mapped, so
//! a stream holds at most one window.
//!
//! A page that is not in the page cache is read from disk by the fault that touches
//! it, on the worker thread that copies it (as the inline reads of small blobs
//! are); the kernel's readahead for sequential faults keeps that rare.

use crate::digest::Digest;
use crate::store::STREAM_CHUNK;
use bytes::Bytes;
use futures_util::Stream;
use std::fs::File;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bytes of a file mapped at once per stream.
pub const MAP_WINDOW: u64 = 1 << 20;

/// Blobs up to this size stay mapped whole between requests ([`MappedBlobs`]).
pub const MAPPED_BLOB_MAX: u64 = 16 << 20;

/// Bytes of blobs kept mapped, at most: what they can add to the RSS (as
/// page cache that the process maps, not memory it allocates).
pub const MAPPED_BLOBS_CAPACITY: u64 = 128 << 20;

/// Counts a mapping's bytes.
#[derive(Clone, Copy, Debug)]
struct ByLength;

impl quick_cache::Weighter<Digest, Bytes> for ByLength {
    fn weight(&self, _: &Digest, bytes: &Bytes) -> u64 {
        bytes.len() as u64
    }
}

/// Medium blobs (a wheel, an RPM, a Go module zip) kept mapped whole, by
/// digest. Mapping a window per request and unmapping it afterwards cost a
/// page fault per few pages, and the unmapping a TLB shootdown on the other
/// core: a quarter of the CPU of serving a 5 MB file again and again. A
/// mapping that stays has its page tables filled once. Blobs never change,
/// so a kept mapping is always right; [`crate::store::BlobStore::remove`]
/// drops it. Bounded in bytes, evicted with S3-FIFO like the small blobs;
/// a stream still sending an evicted blob keeps its mapping until it ends.
pub(crate) struct MappedBlobs {
    cache: quick_cache::sync::Cache<Digest, Bytes, ByLength>,
}

impl std::fmt::Debug for MappedBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedBlobs")
            .field("blobs", &self.cache.len())
            .field("bytes", &self.cache.weight())
            .finish()
    }
}

impl Default for MappedBlobs {
    fn default() -> Self {
        MappedBlobs {
            cache: quick_cache::sync::Cache::with_weighter(256, MAPPED_BLOBS_CAPACITY, ByLength),
        }
    }
}

impl MappedBlobs {
    /// The whole blob, when it is kept mapped.
    pub(crate) fn get(&self, digest: &Digest) -> Option<Bytes> {
        self.cache.get(digest)
    }

    /// Maps all `size` bytes of `file`, the blob `digest`, and keeps the mapping.
    pub(crate) fn map(&self, digest: &Digest, file: &File, size: u64) -> io::Result<Bytes> {
        let whole = map_window(file, 0, size)?;
        self.cache.insert(digest.clone(), whole.clone());
        Ok(whole)
    }

    /// Forgets a blob.
    pub(crate) fn remove(&self, digest: &Digest) {
        self.cache.remove(digest);
    }
}

/// `bytes` in [`STREAM_CHUNK`] slices: a kept mapping, or one window of a
/// [`MappedChunks`].
#[derive(Default)]
pub(crate) struct Slices(pub(crate) Bytes);

impl Slices {
    fn next_slice(&mut self) -> Option<Bytes> {
        if self.0.is_empty() {
            return None;
        }
        let n = self.0.len().min(STREAM_CHUNK);
        Some(self.0.split_to(n))
    }
}

impl Stream for Slices {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.get_mut().next_slice().map(Ok))
    }
}

/// `len` bytes of `file` from `start`, as slices of successive mappings.
pub(crate) struct MappedChunks {
    file: File,
    /// The next byte to map.
    pos: u64,
    /// One past the last byte to send.
    end: u64,
    /// What is left of the current window.
    window: Slices,
}

impl MappedChunks {
    /// Streams bytes `start..start + len` of `file`, which must hold them: a blob
    /// or a complete staged file, whose bytes never change.
    pub(crate) fn new(file: File, start: u64, len: u64) -> Self {
        MappedChunks {
            file,
            pos: start,
            end: start + len,
            window: Slices::default(),
        }
    }
}

impl Stream for MappedChunks {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(slice) = this.window.next_slice() {
            return Poll::Ready(Some(Ok(slice)));
        }
        if this.pos >= this.end {
            return Poll::Ready(None);
        }
        let len = (this.end - this.pos).min(MAP_WINDOW);
        match map_window(&this.file, this.pos, len) {
            Ok(window) => this.window = Slices(window),
            Err(e) => {
                this.pos = this.end; // ends the stream after the error
                return Poll::Ready(Some(Err(e)));
            }
        }
        this.pos += len;
        Poll::Ready(this.window.next_slice().map(Ok))
    }
}

/// Maps `len` bytes of `file` from `offset` (any offset: the mapping starts at
/// the page below it). The mapping is unmapped when the last slice of the
/// returned `Bytes` is dropped.
#[allow(unsafe_code)]
fn map_window(file: &File, offset: u64, len: u64) -> io::Result<Bytes> {
    if len == 0 {
        return Ok(Bytes::new());
    }
    let len = usize::try_from(len).map_err(io::Error::other)?;
    // SAFETY: a mapping is sound only while nobody changes or truncates the file
    // under it (a truncation would make touching the lost pages raise SIGBUS).
    // Callers map only blobs and complete staged files: the store writes a blob
    // once, under a temp name, renames it into place and never opens it for
    // writing again; blobs and staged files are only ever unlinked, and an
    // unlinked file stays whole for the mappings (and descriptors) that remain.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map(file)?
    };
    Ok(Bytes::from_owner(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    #[tokio::test]
    async fn windows_and_slices_cover_any_range_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..(MAP_WINDOW as usize * 2 + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).expect("write");
        // Unaligned starts, window-crossing ends, a range inside one page.
        for (start, len) in [
            (0, data.len()),
            (1, data.len() - 1),
            (4095, MAP_WINDOW as usize + 2),
            (MAP_WINDOW as usize - 1, 2),
            (70_000, 10),
        ] {
            let file = File::open(&path).expect("open");
            let chunks: Vec<Bytes> = MappedChunks::new(file, start as u64, len as u64)
                .map(|c| c.expect("chunk"))
                .collect()
                .await;
            assert!(chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= STREAM_CHUNK));
            assert_eq!(chunks.concat(), &data[start..start + len], "{start}+{len}");
        }
    }

    #[tokio::test]
    async fn an_unlinked_file_still_streams_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blob");
        let data = vec![7u8; STREAM_CHUNK * 3];
        std::fs::write(&path, &data).expect("write");
        let mut stream = MappedChunks::new(File::open(&path).expect("open"), 0, data.len() as u64);
        let first = stream.next().await.expect("first").expect("chunk");
        std::fs::remove_file(&path).expect("unlink");
        let mut got = first.to_vec();
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.expect("chunk"));
        }
        assert_eq!(got, data);
    }
}
