//! Reading a stored blob with blocking code (quick-xml, the decompressors)
//! without holding it in memory: an async task streams its chunks over a
//! bounded channel to a blocking thread, and for a transformation streams
//! the output back into a staged blob.

use crate::error::YumError;
use crate::Yum;
use airlock_core::store::{BlobBody, StagedBlob};
use airlock_core::Digest;
use bytes::Bytes;
use futures_util::StreamExt as _;
use std::io;

/// Reads a stored blob on a blocking thread through `read`, which gets a
/// synchronous reader of its bytes.
pub async fn read_blob<T: Send + 'static>(
    yum: &Yum,
    digest: &Digest,
    read: impl FnOnce(&mut dyn io::Read) -> io::Result<T> + Send + 'static,
) -> Result<T, YumError> {
    let body = yum.store.open(digest, None).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    let reading = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        read(&mut reader)
    });
    feed(body, tx).await;
    reading
        .await
        .map_err(|e| YumError::Internal(format!("metadata reader failed: {e}")))?
        .map_err(|e| YumError::Upstream(e.to_string()))
}

/// Sends a blob's bytes to a blocking reader, until the end or until the
/// reader stops (on an error, which it reports).
async fn feed(body: BlobBody, tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>) {
    match body {
        BlobBody::Bytes(bytes) => {
            let _ = tx.send(Ok(bytes)).await;
        }
        BlobBody::Stream { mut stream, .. } => {
            while let Some(chunk) = stream.next().await {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Reads a stored blob on a blocking thread through `transform`, which
/// writes a new blob (staged, not committed) as it reads.
pub async fn transform_blob<T: Send + 'static>(
    yum: &Yum,
    digest: &Digest,
    transform: impl FnOnce(&mut dyn io::Read, &mut dyn io::Write) -> io::Result<T> + Send + 'static,
) -> Result<(T, StagedBlob), YumError> {
    let body = yum.store.open(digest, None).await?;
    let (in_tx, in_rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let working = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader {
            rx: in_rx,
            current: Bytes::new(),
        };
        let mut writer = ChannelWriter {
            tx: out_tx,
            pending: Vec::new(),
        };
        let result = transform(&mut reader, &mut writer)?;
        writer.send()?;
        Ok::<_, io::Error>(result)
    });
    let feed = feed(body, in_tx);
    let drain = async {
        let mut writer = yum.staging.writer(None).await?;
        while let Some(chunk) = out_rx.recv().await {
            writer.write(chunk).await?;
        }
        Ok::<_, YumError>(writer)
    };
    let ((), writer) = tokio::join!(feed, drain);
    let result = working
        .await
        .map_err(|e| YumError::Internal(format!("metadata writer failed: {e}")))?
        .map_err(|e| YumError::Upstream(e.to_string()))?;
    let staged = writer?.finish(None).await?;
    Ok((result, staged))
}

/// A blocking writer that sends its bytes, in large chunks, to an async task.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    pending: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.pending));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::other("the metadata file's writer stopped"))
    }
}

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= 256 << 10 {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A blocking reader over chunks sent by an async task.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
