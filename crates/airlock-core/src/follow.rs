//! Serving a blob while it is still arriving. The fetch writes into a staged
//! file through a [`crate::store::BlobWriter`], which reports how far the blob
//! has arrived ([`Progress`]); the client's body ([`follow`]) serves it up to
//! there, and holds back the last bytes until the fetch's checks have passed
//! ([`Verdict`]). A client thus receives a large artifact while it is fetched,
//! instead of after, and never receives the whole of one that fails its
//! checks: its download ends short, with an error.
//!
//! A follower that keeps up is served the writer's latest chunks from memory
//! ([`Recent`]): it waits neither for the hashing and writing of those bytes
//! nor for a read of them back from the file, and costs no blocking-pool trip
//! per chunk. One that falls behind the chunks kept reads the file, as far as
//! it is written.
//!
//! [`shared`] lets any number of clients follow one staged file, under the
//! one verdict (the OCI registry's pull-through serves every client asking
//! for a blob that is still arriving from the one upstream fetch). They read
//! it through one descriptor opened at the start, so a follower that comes
//! after the blob was committed (renamed into the store) but before its row
//! was written is still served.

use crate::store::{BlobBody, ChunkPool, STREAM_CHUNK};
use bytes::Bytes;
use futures_util::stream::StreamExt as _;
use std::collections::VecDeque;
use std::fs::File as StdFile;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// The fetch or its checks are still running.
    Pending,
    /// Every byte is in the file and passed the checks.
    Verified,
    /// The fetch failed or its bytes failed the checks.
    Failed,
}

/// Bytes of a writer's latest chunks kept whatever its followers need.
/// Small, because every blob arriving holds one.
const RECENT_MAX: usize = 1 << 20;

/// Bytes of a writer's latest chunks kept while a follower still needs them.
/// A follower on loopback or a LAN drains them about as fast as they come,
/// but not evenly: an upstream's bursts ran more than 1 MiB ahead of a local
/// client, which then read a third of a cold pull-through back from the file
/// (a copy, a blocking-pool trip per chunk, and waits for the writing
/// thread). One further behind reads the file.
const RECENT_LAGGING_MAX: usize = 8 << 20;

/// The latest chunks given to a [`crate::store::BlobWriter`], and how many
/// bytes it was given in all.
#[derive(Debug)]
pub(crate) struct Recent {
    kept: Mutex<Kept>,
    received: watch::Sender<u64>,
    /// Where each follower reading from memory stands; a position whose
    /// follower is gone (the only reference left is this one) is dropped.
    followers: Mutex<Vec<Arc<AtomicU64>>>,
}

#[derive(Debug, Default)]
struct Kept {
    /// Offset of the first chunk kept.
    start: u64,
    chunks: VecDeque<Bytes>,
    bytes: usize,
}

impl Recent {
    pub(crate) fn new() -> Recent {
        Recent {
            kept: Mutex::default(),
            received: watch::channel(0).0,
            followers: Mutex::default(),
        }
    }

    /// A new follower's position, counted while it is held.
    fn follower(&self) -> Arc<AtomicU64> {
        let pos = Arc::new(AtomicU64::new(0));
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        followers.push(Arc::clone(&pos));
        pos
    }

    /// Where the furthest behind of the live followers stands (`u64::MAX` when
    /// there are none).
    fn slowest(&self) -> u64 {
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        followers.retain(|pos| Arc::strong_count(pos) > 1);
        followers
            .iter()
            .map(|pos| pos.load(Ordering::Relaxed))
            .min()
            .unwrap_or(u64::MAX)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer was given `chunk` (a reference, not a copy).
    pub(crate) fn push(&self, chunk: &Bytes) {
        let slowest = self.slowest();
        let received = {
            let mut kept = self.kept();
            kept.chunks.push_back(chunk.clone());
            kept.bytes += chunk.len();
            while kept.chunks.len() > 1 {
                let first_end = kept.start + kept.chunks.front().map_or(0, |c| c.len() as u64);
                let needed = first_end > slowest && kept.bytes <= RECENT_LAGGING_MAX;
                if kept.bytes <= RECENT_MAX || needed {
                    break;
                }
                if let Some(old) = kept.chunks.pop_front() {
                    kept.start += old.len() as u64;
                    kept.bytes -= old.len();
                }
            }
            kept.start + kept.bytes as u64
        };
        self.received.send_replace(received);
    }

    /// The writer is done: every byte is in the file, which serves the rest.
    pub(crate) fn clear(&self) {
        let mut kept = self.kept();
        kept.start += kept.bytes as u64;
        kept.bytes = 0;
        kept.chunks.clear();
    }

    /// Up to `max` bytes from offset `pos`, if they are kept.
    fn slice(&self, pos: u64, max: usize) -> Option<Bytes> {
        let kept = self.kept();
        let mut at = kept.start;
        if pos < at {
            return None;
        }
        for chunk in &kept.chunks {
            let end = at + chunk.len() as u64;
            if pos < end {
                let from = (pos - at) as usize;
                let to = chunk.len().min(from + max);
                return Some(chunk.slice(from..to));
            }
            at = end;
        }
        None
    }
}

/// How far a blob being written has arrived, for its followers: bytes given
/// to the writer (the latest of them kept in memory) and bytes in the file.
/// From [`crate::store::BlobWriter::in_file`].
#[derive(Clone, Debug)]
pub struct Progress {
    pub(crate) in_file: watch::Receiver<u64>,
    pub(crate) recent: Arc<Recent>,
}

/// The fetch's verdict on the bytes its follower serves. Dropped without
/// [`Verdict::verified`], it fails the follower's body.
#[derive(Debug)]
pub struct Verdict {
    tx: watch::Sender<State>,
}

impl Verdict {
    /// Every byte is written and the checks passed: the follower may finish.
    pub fn verified(self) {
        self.tx.send_replace(State::Verified);
    }
}

impl Drop for Verdict {
    fn drop(&mut self) {
        self.tx.send_if_modified(|state| {
            if *state == State::Verified {
                return false;
            }
            *state = State::Failed;
            true
        });
    }
}

/// A body of `len` bytes that serves what `progress` says has arrived (from
/// memory, or from `file`, the staged file, as far as it is written), holding
/// back the last `hold_back` bytes until the verdict is in.
pub fn follow(file: StdFile, len: u64, hold_back: u64, progress: Progress) -> (Verdict, BlobBody) {
    let (tx, verdict) = watch::channel(State::Pending);
    let body = body(Arc::new(file), len, hold_back, progress, verdict);
    (Verdict { tx }, body)
}

/// A staged file that clients may follow while it is written, one body each.
#[derive(Clone, Debug)]
pub struct Shared {
    file: Arc<StdFile>,
    len: u64,
    hold_back: u64,
    progress: Progress,
    verdict: watch::Receiver<State>,
}

/// Like [`follow`], for any number of followers of the staged file at
/// `path` (a [`crate::store::BlobWriter::path`]), opened now.
pub fn shared(
    path: &Path,
    len: u64,
    hold_back: u64,
    progress: Progress,
) -> io::Result<(Verdict, Shared)> {
    let (tx, verdict) = watch::channel(State::Pending);
    let shared = Shared {
        file: Arc::new(StdFile::open(path)?),
        len,
        hold_back,
        progress,
        verdict,
    };
    Ok((Verdict { tx }, shared))
}

impl Shared {
    /// A body for one more follower, from the blob's start.
    pub fn follow(&self) -> BlobBody {
        body(
            Arc::clone(&self.file),
            self.len,
            self.hold_back,
            self.progress.clone(),
            self.verdict.clone(),
        )
    }

    /// The length every follower is promised.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is promised to be empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn body(
    file: Arc<StdFile>,
    len: u64,
    hold_back: u64,
    progress: Progress,
    verdict: watch::Receiver<State>,
) -> BlobBody {
    let pool = ChunkPool::default();
    let start = Follower {
        verdict,
        received: progress.recent.received.subscribe(),
        in_file: progress.in_file,
        at: progress.recent.follower(),
        recent: progress.recent,
        writer_done: false,
        pos: 0,
    };
    // None once an error was sent.
    let stream = futures_util::stream::unfold(Some(start), move |follower| {
        let (file, pool) = (Arc::clone(&file), pool.clone());
        async move {
            let mut f = follower?;
            loop {
                let state = *f.verdict.borrow_and_update();
                let in_file = *f.in_file.borrow_and_update();
                let received = *f.received.borrow_and_update();
                let ready = match state {
                    State::Pending => in_file.max(received).saturating_sub(hold_back).min(len),
                    // The writer has finished: the file holds every byte.
                    State::Verified => len,
                    State::Failed => break,
                };
                if f.pos < ready {
                    let want = (ready - f.pos).min(STREAM_CHUNK as u64) as usize;
                    if let Some(chunk) = f.recent.slice(f.pos, want) {
                        f.pos += chunk.len() as u64;
                        f.at.store(f.pos, Ordering::Relaxed);
                        return Some((Ok(chunk), Some(f)));
                    }
                    let written = match state {
                        State::Verified => len,
                        _ => in_file.min(ready),
                    };
                    if f.pos < written {
                        let n = (written - f.pos).min(STREAM_CHUNK as u64) as usize;
                        let (file, pool, at) = (Arc::clone(&file), pool.clone(), f.pos);
                        let chunk = tokio::task::spawn_blocking(move || {
                            let reader = ReadAt {
                                file: &file,
                                pos: at,
                            };
                            pool.read(reader, n, "staged file shorter than reported")
                        })
                        .await
                        .map_err(io::Error::other)
                        .and_then(|read| read);
                        f.pos += n as u64;
                        f.at.store(f.pos, Ordering::Relaxed);
                        let next = chunk.is_ok().then_some(f);
                        return Some((chunk, next));
                    }
                    // Past the chunks kept, not written yet: wait for the file.
                }
                if state == State::Verified && f.pos >= len {
                    return None; // all `len` bytes sent
                }
                if !f.wait().await {
                    break; // the verdict is gone without being given
                }
            }
            let e = io::Error::other("the upstream transfer failed; see the server log");
            Some((Err(e), None))
        }
    });
    BlobBody::Stream {
        len,
        stream: stream.boxed(),
    }
}

/// Reads a file from an offset (the follower's position: bytes served from
/// memory moved it past the file's own cursor).
struct ReadAt<'a> {
    file: &'a StdFile,
    pos: u64,
}

impl io::Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The reading side's state.
struct Follower {
    verdict: watch::Receiver<State>,
    in_file: watch::Receiver<u64>,
    received: watch::Receiver<u64>,
    recent: Arc<Recent>,
    /// `pos`, for the writer's [`Recent`]: the chunks it still needs are kept.
    at: Arc<AtomicU64>,
    /// The writer is finished (or gone): only the verdict can change now.
    writer_done: bool,
    pos: u64,
}

impl Follower {
    /// Waits for more bytes or a verdict; false when the verdict can never come.
    async fn wait(&mut self) -> bool {
        if self.writer_done {
            return self.verdict.changed().await.is_ok();
        }
        tokio::select! {
            changed = self.verdict.changed() => changed.is_ok(),
            changed = self.in_file.changed() => {
                self.writer_done = changed.is_err();
                true
            }
            // The sender lives as long as `recent`: this never reports a close.
            _ = self.received.changed() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    async fn collect(body: BlobBody) -> (Vec<u8>, Option<io::Error>) {
        let BlobBody::Stream { mut stream, .. } = body else {
            panic!("a stream");
        };
        let mut got = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => got.extend_from_slice(&bytes),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    fn progress(in_file: watch::Receiver<u64>) -> Progress {
        Progress {
            in_file,
            recent: Arc::new(Recent::new()),
        }
    }

    fn staged() -> (tempfile::NamedTempFile, StdFile) {
        let file = tempfile::NamedTempFile::new().expect("temp");
        let reader = StdFile::open(file.path()).expect("open");
        (file, reader)
    }

    #[tokio::test]
    async fn follows_the_writer_and_holds_the_tail_until_verified() {
        let (mut w, reader) = staged();
        let (written, in_file) = watch::channel(0);
        let (verdict, body) = follow(reader, 10, 4, progress(in_file));
        let reading = tokio::spawn(collect(body));
        w.write_all(b"0123456").expect("write");
        written.send_replace(7);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!reading.is_finished(), "the last 4 bytes are held back");
        w.write_all(b"789").expect("write");
        written.send_replace(10);
        drop(written); // the writer is done; the checks run
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!reading.is_finished(), "still held back");
        verdict.verified();
        let (got, err) = reading.await.expect("join");
        assert_eq!(got, b"0123456789");
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn shared_followers_each_read_the_whole_file() {
        let (mut w, _) = staged();
        let (written, in_file) = watch::channel(0);
        let (verdict, shared) = shared(w.path(), 6, 2, progress(in_file)).expect("open");
        let first = tokio::spawn(collect(shared.follow()));
        w.write_all(b"abc").expect("write");
        written.send_replace(3);
        let late = tokio::spawn(collect(shared.follow()));
        w.write_all(b"def").expect("write");
        written.send_replace(6);
        drop(written);
        verdict.verified();
        for reading in [first, late] {
            let (got, err) = reading.await.expect("join");
            assert_eq!(got, b"abcdef");
            assert!(err.is_none());
        }
    }

    #[tokio::test]
    async fn a_failed_fetch_ends_the_body_short_with_an_error() {
        let (mut w, reader) = staged();
        let (written, in_file) = watch::channel(0);
        let (verdict, body) = follow(reader, 10, 4, progress(in_file));
        w.write_all(b"01234567").expect("write");
        written.send_replace(8);
        drop(verdict); // e.g. the zip failed its checks
        let (got, err) = collect(body).await;
        assert!(got.len() <= 4, "never the held-back tail: {got:?}");
        assert!(err.is_some());
    }

    #[tokio::test]
    async fn a_follower_is_served_after_the_file_was_renamed_away() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("staged");
        let mut w = StdFile::create(&path).expect("create");
        let (written, in_file) = watch::channel(0);
        let (verdict, shared) = shared(&path, 3, 1, progress(in_file)).expect("open");
        w.write_all(b"xyz").expect("write");
        written.send_replace(3);
        drop(written);
        verdict.verified();
        // Committed: the staged name is gone before the row that names the blob.
        std::fs::rename(&path, dir.path().join("stored")).expect("rename");
        let (got, err) = collect(shared.follow()).await;
        assert_eq!(got, b"xyz");
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn a_follower_that_keeps_up_is_served_from_memory() {
        let (_w, reader) = staged(); // nothing is ever written to the file
        let (_written, in_file) = watch::channel(0);
        let progress = progress(in_file);
        let recent = Arc::clone(&progress.recent);
        let (verdict, body) = follow(reader, 10, 4, progress);
        let reading = tokio::spawn(collect(body));
        recent.push(&Bytes::from_static(b"01234"));
        recent.push(&Bytes::from_static(b"56789"));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!reading.is_finished(), "the tail is held back");
        verdict.verified();
        let (got, err) = reading.await.expect("join");
        assert_eq!(got, b"0123456789");
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn chunks_a_follower_still_needs_are_kept_up_to_a_bound() {
        let (_w, reader) = staged();
        let (_written, in_file) = watch::channel(0);
        let progress = progress(in_file);
        let recent = Arc::clone(&progress.recent);
        let (_verdict, body) = follow(reader, 64 << 20, 4, progress);
        let chunk = Bytes::from(vec![7u8; RECENT_MAX / 2]);
        for _ in 0..6 {
            recent.push(&chunk);
        }
        assert!(
            recent.slice(0, 1).is_some(),
            "3 MiB kept for a follower at 0"
        );
        for _ in 0..(2 * RECENT_LAGGING_MAX / chunk.len()) {
            recent.push(&chunk);
        }
        assert!(recent.slice(0, 1).is_none(), "never more than the bound");
        drop(body); // the follower is gone: back to the latest MiB
        recent.push(&chunk);
        assert!(recent.kept().bytes <= RECENT_MAX);
    }

    #[tokio::test]
    async fn a_follower_behind_the_kept_chunks_reads_the_file() {
        let (mut w, reader) = staged();
        let (written, in_file) = watch::channel(0);
        let progress = progress(in_file);
        let recent = Arc::clone(&progress.recent);
        let data: Vec<u8> = (0..3 * RECENT_MAX).map(|i| (i % 251) as u8).collect();
        for part in data.chunks(RECENT_MAX / 2) {
            let chunk = Bytes::copy_from_slice(part);
            recent.push(&chunk);
            w.write_all(part).expect("write");
        }
        assert!(
            recent.slice(0, 1).is_none(),
            "the first chunks were dropped"
        );
        written.send_replace(data.len() as u64);
        let (verdict, body) = follow(reader, data.len() as u64, 4, progress);
        verdict.verified();
        let (got, err) = collect(body).await;
        assert!(err.is_none());
        assert!(got == data, "the file, then memory, in order");
    }
}
