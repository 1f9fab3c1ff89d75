//! Serving a blob while it is still arriving. The fetch writes into a staged
//! file through a [`crate::store::BlobWriter`], which reports how much of it is
//! in the file; the client's body ([`follow`]) reads the file up to there, and
//! holds back the last bytes until the fetch's checks have passed ([`Verdict`]).
//! A client thus receives a large artifact while it is fetched, instead of
//! after, and never receives the whole of one that fails its checks: its
//! download ends short, with an error.
//!
//! [`shared`] lets any number of clients follow one staged file: each
//! [`Shared::follow`] opens it afresh, under the one verdict (the OCI
//! registry's pull-through serves every client asking for a blob that is
//! still arriving from the one upstream fetch).

use crate::store::{BlobBody, ChunkPool, STREAM_CHUNK};
use futures_util::stream::StreamExt as _;
use std::fs::File as StdFile;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
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

/// A body of `len` bytes that reads `file` as far as `in_file` says it is
/// written, holding back the last `hold_back` bytes until the verdict is in.
/// `file` must be the staged file, opened before anything was written to it and
/// read by nobody else (the body reads it through its own cursor, from the start).
pub fn follow(
    file: StdFile,
    len: u64,
    hold_back: u64,
    in_file: watch::Receiver<u64>,
) -> (Verdict, BlobBody) {
    let (tx, verdict) = watch::channel(State::Pending);
    (Verdict { tx }, body(file, len, hold_back, in_file, verdict))
}

/// A staged file that clients may follow while it is written, one body each.
#[derive(Clone, Debug)]
pub struct Shared {
    path: PathBuf,
    len: u64,
    hold_back: u64,
    in_file: watch::Receiver<u64>,
    verdict: watch::Receiver<State>,
}

/// Like [`follow`], for any number of followers of the staged file at
/// `path` (a [`crate::store::BlobWriter::path`]), which must exist now.
pub fn shared(
    path: PathBuf,
    len: u64,
    hold_back: u64,
    in_file: watch::Receiver<u64>,
) -> (Verdict, Shared) {
    let (tx, verdict) = watch::channel(State::Pending);
    let shared = Shared {
        path,
        len,
        hold_back,
        in_file,
        verdict,
    };
    (Verdict { tx }, shared)
}

impl Shared {
    /// A body for one more follower, reading the file from its start. Fails
    /// with `NotFound` once the file was committed (renamed into the store:
    /// serve it from there) or dropped.
    pub fn follow(&self) -> io::Result<BlobBody> {
        let file = StdFile::open(&self.path)?;
        Ok(body(
            file,
            self.len,
            self.hold_back,
            self.in_file.clone(),
            self.verdict.clone(),
        ))
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
    file: StdFile,
    len: u64,
    hold_back: u64,
    in_file: watch::Receiver<u64>,
    verdict: watch::Receiver<State>,
) -> BlobBody {
    let (file, pool) = (Arc::new(file), ChunkPool::default());
    let start = Follower {
        verdict,
        in_file,
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
                let ready = match state {
                    State::Pending => f
                        .in_file
                        .borrow_and_update()
                        .saturating_sub(hold_back)
                        .min(len),
                    State::Verified => len,
                    State::Failed => break,
                };
                if f.pos < ready {
                    let n = (ready - f.pos).min(STREAM_CHUNK as u64) as usize;
                    let file = Arc::clone(&file);
                    let pool = pool.clone();
                    let chunk = tokio::task::spawn_blocking(move || {
                        // Reads are sequential, from this reader's own cursor.
                        pool.read(&*file, n, "staged file shorter than reported")
                    })
                    .await
                    .map_err(io::Error::other)
                    .and_then(|read| read);
                    f.pos += n as u64;
                    let next = chunk.is_ok().then_some(f);
                    return Some((chunk, next));
                }
                if state == State::Verified {
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

/// The reading side's state.
struct Follower {
    verdict: watch::Receiver<State>,
    in_file: watch::Receiver<u64>,
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

    fn staged() -> (tempfile::NamedTempFile, StdFile) {
        let file = tempfile::NamedTempFile::new().expect("temp");
        let reader = StdFile::open(file.path()).expect("open");
        (file, reader)
    }

    #[tokio::test]
    async fn follows_the_writer_and_holds_the_tail_until_verified() {
        let (mut w, reader) = staged();
        let (written, in_file) = watch::channel(0);
        let (verdict, body) = follow(reader, 10, 4, in_file);
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
        let (verdict, shared) = shared(w.path().to_owned(), 6, 2, in_file);
        let first = tokio::spawn(collect(shared.follow().expect("open")));
        w.write_all(b"abc").expect("write");
        written.send_replace(3);
        let late = tokio::spawn(collect(shared.follow().expect("open")));
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
        let (verdict, body) = follow(reader, 10, 4, in_file);
        w.write_all(b"01234567").expect("write");
        written.send_replace(8);
        drop(verdict); // e.g. the zip failed its checks
        let (got, err) = collect(body).await;
        assert!(got.len() <= 4, "never the held-back tail: {got:?}");
        assert!(err.is_some());
    }
}
