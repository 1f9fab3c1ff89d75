//! Small blobs kept in memory, so that serving one never opens a file.
//!
//! Most requests of every protocol are for small immutable files (Go `.info` and
//! `.mod`, OCI manifests, …). Opening, `statx`-ing, reading and closing such a file
//! cost as much as the rest of the request. Blobs are named by their digest and
//! never change, so a copy in memory is always right: the only way one stops being
//! served is [`crate::store::BlobStore::remove`], which drops it here too.
//!
//! The cache is bounded in bytes and evicts with S3-FIFO (`quick_cache`): blobs
//! asked for once do not push out the ones asked for all the time.

use crate::digest::Digest;
use crate::store::ByteRange;
use bytes::Bytes;

/// Blobs up to this size are kept.
pub const SMALL_BLOB_MAX: u64 = 64 << 10;

/// Bytes of small blobs kept, at most (counting [`ENTRY_OVERHEAD`] per blob).
pub const SMALL_BLOBS_CAPACITY: u64 = 32 << 20;

/// What an entry costs beyond its bytes (the digest, the table slot): so that
/// many tiny or empty blobs are bounded too.
const ENTRY_OVERHEAD: u64 = 128;

/// Counts an entry's bytes.
#[derive(Clone, Copy, Debug)]
struct ByLength;

impl quick_cache::Weighter<Digest, Bytes> for ByLength {
    fn weight(&self, _: &Digest, bytes: &Bytes) -> u64 {
        bytes.len() as u64 + ENTRY_OVERHEAD
    }
}

/// Whole small blobs by digest.
pub struct SmallBlobs {
    cache: quick_cache::sync::Cache<Digest, Bytes, ByLength>,
}

impl std::fmt::Debug for SmallBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmallBlobs")
            .field("blobs", &self.cache.len())
            .field("bytes", &self.cache.weight())
            .finish()
    }
}

impl Default for SmallBlobs {
    fn default() -> Self {
        SmallBlobs::with_capacity(SMALL_BLOBS_CAPACITY)
    }
}

impl SmallBlobs {
    /// A cache holding at most `bytes` (blobs plus their overhead).
    pub fn with_capacity(bytes: u64) -> Self {
        // The item estimate only sizes the tables; they grow as needed.
        SmallBlobs {
            cache: quick_cache::sync::Cache::with_weighter(1024, bytes, ByLength),
        }
    }

    /// The blob's bytes (or the range of them) when it is kept.
    pub fn get(&self, digest: &Digest, range: Option<ByteRange>) -> Option<Bytes> {
        self.cache.get(digest).map(|bytes| slice(&bytes, range))
    }

    /// Keeps a whole blob that is small enough; larger ones are ignored.
    pub fn insert(&self, digest: &Digest, bytes: Bytes) {
        if bytes.len() as u64 <= SMALL_BLOB_MAX {
            self.cache.insert(digest.clone(), bytes);
        }
    }

    /// Forgets a blob.
    pub fn remove(&self, digest: &Digest) {
        self.cache.remove(digest);
    }
}

/// The bytes of `range` (already validated against the blob's size, and clamped
/// here as a file read would be), or all of them.
pub fn slice(bytes: &Bytes, range: Option<ByteRange>) -> Bytes {
    let Some(r) = range else {
        return bytes.clone();
    };
    let len = bytes.len() as u64;
    let start = r.start.min(len);
    let end = r.end.saturating_add(1).clamp(start, len);
    bytes.slice(start as usize..end as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::from_sha256_bytes(&[n; 32])
    }

    #[test]
    fn kept_sliced_and_forgotten() {
        let cache = SmallBlobs::default();
        let d = digest(1);
        assert!(cache.get(&d, None).is_none());
        cache.insert(&d, Bytes::from_static(b"0123456789"));
        assert_eq!(cache.get(&d, None).as_deref(), Some(&b"0123456789"[..]));
        let range = |start, end| Some(ByteRange { start, end });
        assert_eq!(cache.get(&d, range(2, 4)).as_deref(), Some(&b"234"[..]));
        assert_eq!(cache.get(&d, range(8, 99)).as_deref(), Some(&b"89"[..]));
        assert_eq!(cache.get(&d, range(12, 20)).as_deref(), Some(&b""[..]));
        cache.remove(&d);
        assert!(cache.get(&d, None).is_none());
    }

    #[test]
    fn large_blobs_are_not_kept_and_the_total_is_bounded() {
        let cache = SmallBlobs::with_capacity(1 << 20);
        cache.insert(
            &digest(0),
            Bytes::from(vec![0; SMALL_BLOB_MAX as usize + 1]),
        );
        assert!(cache.get(&digest(0), None).is_none());
        for n in 1..=100 {
            cache.insert(&digest(n), Bytes::from(vec![n; 32 << 10]));
        }
        assert!(cache.cache.weight() <= 1 << 20);
        assert!(cache.cache.len() < 100);
    }
}
