//! Serving a blob while it is still arriving. The fetch writes into a staged
//! file and reports how much of it is on disk ([`Feed`]); the client's body
//! follows that file ([`follow`]), never past what is written, and holds back
//! the last bytes until the fetch's checks have passed. A client thus receives
//! a large artifact while it is fetched, instead of after, and never receives
//! the whole of one that fails its checks: its download ends short, with an error.

use crate::store::{BlobBody, STREAM_CHUNK};
use bytes::Bytes;
use futures_util::stream::StreamExt as _;
use std::fs::File as StdFile;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// This many bytes are in the file so far.
    Receiving(u64),
    /// Every byte is in the file and passed the checks.
    Verified,
    /// The fetch failed or its bytes failed the checks.
    Failed,
}

/// The fetching side: reports progress to the follower. Dropped without
/// [`Feed::verified`], it fails the follower.
#[derive(Debug)]
pub struct Feed {
    tx: watch::Sender<Progress>,
}

impl Feed {
    /// `bytes` of the blob are now in the staged file.
    pub fn written(&self, bytes: u64) {
        self.tx.send_if_modified(|p| match p {
            Progress::Receiving(old) if *old < bytes => {
                *p = Progress::Receiving(bytes);
                true
            }
            _ => false,
        });
    }

    /// Every byte is written and the checks passed: the follower may finish.
    pub fn verified(self) {
        self.tx.send_replace(Progress::Verified);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.tx.send_if_modified(|p| {
            if *p == Progress::Verified {
                return false;
            }
            *p = Progress::Failed;
            true
        });
    }
}

/// A body of `len` bytes that follows `file` as its [`Feed`] reports progress,
/// holding back the last `hold_back` bytes written until the feed is verified.
/// `file` must be the staged file, opened before the feed reports anything.
pub fn follow(file: StdFile, len: u64, hold_back: u64) -> (Feed, BlobBody) {
    let (tx, rx) = watch::channel(Progress::Receiving(0));
    let file = Arc::new(file);
    // State: the progress receiver and the next offset; None once an error was sent.
    let stream = futures_util::stream::unfold(Some((rx, 0u64)), move |state| {
        let file = Arc::clone(&file);
        async move {
            let (mut rx, pos) = state?;
            loop {
                let progress = *rx.borrow_and_update();
                let ready = match progress {
                    Progress::Receiving(written) => written.saturating_sub(hold_back).min(len),
                    Progress::Verified => len,
                    Progress::Failed => break,
                };
                if pos < ready {
                    let n = (ready - pos).min(STREAM_CHUNK as u64) as usize;
                    let file = Arc::clone(&file);
                    let chunk = tokio::task::spawn_blocking(move || {
                        let mut buf = vec![0u8; n];
                        file.read_exact_at(&mut buf, pos).map(|()| Bytes::from(buf))
                    })
                    .await
                    .map_err(io::Error::other)
                    .and_then(|read| read);
                    let next = chunk.is_ok().then_some((rx, pos + n as u64));
                    return Some((chunk, next));
                }
                if progress == Progress::Verified {
                    return None; // all `len` bytes sent
                }
                if rx.changed().await.is_err() {
                    break; // the feed is gone without a verdict
                }
            }
            let e = io::Error::other("the upstream transfer failed; see the server log");
            Some((Err(e), None))
        }
    });
    let body = BlobBody::Stream {
        len,
        stream: stream.boxed(),
    };
    (Feed { tx }, body)
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
        let (feed, body) = follow(reader, 10, 4);
        let reading = tokio::spawn(collect(body));
        w.write_all(b"0123456").expect("write");
        feed.written(7);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!reading.is_finished(), "the last 4 bytes are held back");
        w.write_all(b"789").expect("write");
        feed.written(10);
        feed.verified();
        let (got, err) = reading.await.expect("join");
        assert_eq!(got, b"0123456789");
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn a_failed_fetch_ends_the_body_short_with_an_error() {
        let (mut w, reader) = staged();
        let (feed, body) = follow(reader, 10, 4);
        w.write_all(b"01234567").expect("write");
        feed.written(8);
        drop(feed); // e.g. the zip failed its checks
        let (got, err) = collect(body).await;
        assert!(got.len() <= 4, "never the held-back tail: {got:?}");
        assert!(err.is_some());
    }
}
