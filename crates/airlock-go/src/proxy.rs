//! The Go proxy's behaviour: serve what is stored, fetch what is missing (online),
//! and derive `list` and `@latest` from storage when the upstreams cannot answer.

use crate::cache::{Caches, Computed};
use crate::dirhash;
use crate::error::GoError;
use crate::gomod;
use crate::index::{self, NewGoFile, StoredFile};
use crate::query;
use crate::request::FileKind;
use crate::semver;
use crate::sumdb::verify::Expected;
use crate::zipcheck;
use airlock_core::follow::follow;
use airlock_core::inflight::Inflight;
use airlock_core::metrics::{CacheResult, Metrics};
use airlock_core::store::{BlobBody, BlobStore, BlobWriter, Staging, StoreError};
use airlock_core::upstream::{redact_str, Upstream, UpstreamBody, UpstreamError};
use airlock_core::writebehind::WriteBehind;
use airlock_core::Digest;
use airlock_core::{Db, Mode, StagedBlob};
use bytes::Bytes;
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Largest `.info` / `@latest` JSON accepted from an upstream.
pub const MAX_INFO_SIZE: u64 = 64 << 10;
/// Zips up to this size (by `Content-Length`) are received and checked in memory;
/// larger ones stream through a temp file. Bounds the memory of a fetch.
const MEMORY_ZIP: u64 = 1 << 20;
/// The end of a streamed zip (its central directory) reaches the client only
/// after the whole zip passed the checks.
const HELD_BACK: u64 = 64 << 10;
/// Largest checksum-database file accepted (a full data tile is far smaller).
const MAX_SUMDB_FILE: u64 = 16 << 20;
/// Largest `@v/list` accepted from an upstream.
const MAX_LIST_SIZE: u64 = 4 << 20;

/// One entry of the upstream list, in GOPROXY syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyEntry {
    /// Base URL without a trailing slash (`https://…`, `http://…` or `file://…`).
    pub base: String,
    /// True when the entry was followed by `|`: fall back on any error, not only 404/410.
    pub fall_back_on_error: bool,
}

/// Parses a GOPROXY-style list (`url1,url2|url3`). `direct` and `off` are refused:
/// airlock fetches from proxies, never from version control.
pub fn parse_proxy_list(list: &str) -> Result<Vec<ProxyEntry>, String> {
    let mut entries = Vec::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        let end = rest.find([',', '|']).unwrap_or(rest.len());
        let url = rest[..end].trim();
        let fall_back_on_error = rest[end..].starts_with('|');
        rest = rest.get(end + 1..).unwrap_or("");
        if url.is_empty() {
            continue;
        }
        if url == "direct" || url == "off" {
            return Err(format!(
                "{url:?} is not supported in go.upstream: list proxy URLs"
            ));
        }
        if !(url.starts_with("https://")
            || url.starts_with("http://")
            || url.starts_with("file://"))
        {
            return Err(format!(
                "{url:?}: upstream URLs must start with https://, http:// or file://"
            ));
        }
        entries.push(ProxyEntry {
            base: url.trim_end_matches('/').to_owned(),
            fall_back_on_error,
        });
    }
    Ok(entries)
}

/// A configured checksum database: its name and upstream URL.
#[derive(Clone, Debug)]
pub struct SumDbUpstream {
    /// Name, e.g. `sum.golang.org`.
    pub name: String,
    /// Base URL, e.g. `https://sum.golang.org`.
    pub url: String,
}

/// Everything the Go handlers share.
pub struct GoProxy {
    /// Online or offline.
    pub mode: Mode,
    /// Upstream module proxies, in order.
    pub upstreams: Vec<ProxyEntry>,
    /// Proxied checksum databases.
    pub sumdbs: Vec<SumDbUpstream>,
    /// How fetched module files are verified against a checksum database.
    pub sumdb_check: crate::sumdb::verify::SumDbCheck,
    /// The index.
    pub db: Db,
    /// The blob store.
    pub store: Arc<dyn BlobStore>,
    /// Where blobs are written before they are committed.
    pub staging: Arc<Staging>,
    /// The outbound client.
    pub upstream: Upstream,
    /// One fetch per file at a time.
    pub inflight: Inflight,
    /// Counters.
    pub metrics: Metrics,
    /// Stored-file and computed-answer caches.
    pub caches: Caches,
    /// Background work (making fetched files durable); waited for at shutdown.
    pub tasks: TaskTracker,
    /// Fetches of files a client is about to ask for.
    pub prefetch: Prefetch,
    /// When fetched small files, served from memory meanwhile, are made durable.
    pub write_behind: Arc<WriteBehind>,
    /// Cancelled at shutdown: background fetches still receiving are dropped
    /// (nothing stored) instead of waited for.
    pub stopping: CancellationToken,
    /// The runtime background work runs on: the main one, which outlives the
    /// HTTP workers' runtimes (they are torn down at shutdown, and their tasks with them).
    pub background: tokio::runtime::Handle,
}

/// Background fetches of the files a client asks for next. `go mod download`
/// and `go get` ask for a version's `.mod`, then its `.info`, then its `.zip`,
/// one round trip each; fetching the rest of the version as soon as one file of
/// it is asked for takes the upstream's latency off the later requests. Peers
/// fetch all three files before answering the first (Athens, goproxy), which
/// makes `.mod` requests slow; airlock answers first and fetches behind.
#[derive(Debug)]
pub struct Prefetch {
    enabled: bool,
    /// At most this many prefetches talk to upstreams at once.
    slots: tokio::sync::Semaphore,
    /// Prefetches started and not yet finished (running or waiting for a slot).
    queued: Arc<AtomicUsize>,
}

/// Prefetches running at once.
const PREFETCH_SLOTS: usize = 4;
/// Beyond this many unfinished prefetches, new ones are skipped: a client that
/// walks thousands of `.info` files (an indexer) must not queue a fetch of
/// every zip. Clients still get every file they ask for.
const PREFETCH_QUEUE: usize = 256;

impl Prefetch {
    /// Prefetching on or off (`go.prefetch`).
    pub fn new(enabled: bool) -> Self {
        Prefetch {
            enabled,
            slots: tokio::sync::Semaphore::new(PREFETCH_SLOTS),
            queued: Arc::default(),
        }
    }

    /// A place in the queue, unless it is full.
    fn enter(&self) -> Option<QueuePlace> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= PREFETCH_QUEUE {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(QueuePlace(Arc::clone(&self.queued)))
    }
}

/// A prefetch's place in the queue; given back on drop.
struct QueuePlace(Arc<AtomicUsize>);

impl Drop for QueuePlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Metric label for this protocol.
pub const PROTOCOL: &str = "go";

/// A module file received from an upstream and checked.
pub enum Fetched {
    /// A zip, in staging.
    Staged(StagedBlob),
    /// A `.mod`, `.info` or small zip, in memory.
    Small(Bytes),
    /// A large zip whose body is still to be received: streamed to the client
    /// while it is staged, then checked (see [`GoProxy::serve_while_receiving`]).
    Arriving(UpstreamBody),
}

/// A module or checksum-database file to serve.
pub enum Found {
    /// In the store. `cache` says whether it was there before this request.
    Stored {
        /// The stored file.
        file: StoredFile,
        /// Hit, or a miss stored before answering.
        cache: CacheResult,
    },
    /// Just fetched: served before it is durable, or while it arrives. No digest
    /// is computed on the client's time: the answer has no `ETag`.
    Fresh {
        /// The bytes.
        body: BlobBody,
        /// A miss for the request that fetched it; a hit for one that finds it
        /// checked and being stored.
        cache: CacheResult,
    },
}

impl Found {
    /// Whether the file was stored before this request.
    pub fn cache(&self) -> CacheResult {
        match self {
            Found::Stored { cache, .. } => *cache,
            Found::Fresh { cache, .. } => *cache,
        }
    }
}

#[derive(Deserialize)]
struct InfoJson {
    #[serde(rename = "Version")]
    version: String,
    /// What the go command decodes into a `time.Time`: absent, `null`, or an
    /// RFC 3339 string. Anything else makes every later `go` command that
    /// reads the stored file fail.
    #[serde(rename = "Time", default)]
    time: Option<serde_json::Value>,
}

/// Whether `s` is a time as Go's `time.RFC3339` parses it:
/// `2006-01-02T15:04:05[.fraction](Z|±07:00)`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .and_then(|d| std::str::from_utf8(d).ok()?.parse::<u32>().ok())
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let date_time = at(4, b'-')
        && at(7, b'-')
        && at(10, b'T')
        && at(13, b':')
        && at(16, b':')
        && digits(0..4).is_some()
        && digits(5..7).is_some_and(|m| (1..=12).contains(&m))
        && digits(8..10).is_some_and(|d| (1..=31).contains(&d))
        && digits(11..13).is_some_and(|h| h < 24)
        && digits(14..16).is_some_and(|m| m < 60)
        && digits(17..19).is_some_and(|s| s < 60);
    if !date_time {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest.as_bytes() {
        b"Z" => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

impl GoProxy {
    /// Counts an upstream fetch that failed: `not_found` for a 404/410, else `error`.
    pub(crate) fn count_failed_fetch(&self, e: &GoError) {
        let outcome = if matches!(e, GoError::NotFound(_)) {
            "not_found"
        } else {
            "error"
        };
        self.metrics.upstream(PROTOCOL, outcome, 0);
    }

    /// Whether this request may reach an upstream.
    pub fn may_fetch(&self, disable_fetch_header: bool) -> bool {
        self.mode == Mode::Online && !disable_fetch_header
    }

    /// A module file: from the store, or (when `fetch`) from the upstreams.
    pub async fn file(
        self: &Arc<Self>,
        module: &str,
        version: &str,
        kind: FileKind,
        fetch: bool,
    ) -> Result<Found, GoError> {
        if fetch && kind == FileKind::Info {
            // The zip is what a client asking for `.info` wants next.
            self.prefetch(module, version, FileKind::Zip);
        }
        if let Some(found) = self.in_memory(module, version, kind) {
            self.metrics.cache(PROTOCOL, CacheResult::Hit);
            return Ok(found);
        }
        // Not asking the index is for a miss that may go upstream (see `Caches`).
        let index_skipped = fetch && self.caches.surely_not_stored(module, version, kind);
        if !index_skipped {
            if let Some(file) = self.indexed(module, version, kind).await? {
                self.metrics.cache(PROTOCOL, CacheResult::Hit);
                return Ok(Found::Stored {
                    file,
                    cache: CacheResult::Hit,
                });
            }
        }
        self.metrics.cache(PROTOCOL, CacheResult::Miss);
        if !fetch {
            return Err(GoError::NotFound(format!(
                "{module}@{version}: .{} is not stored in this airlock{}",
                kind.as_str(),
                self.offline_hint()
            )));
        }
        let guard = self
            .inflight
            .lock(&inflight_key(module, version, kind))
            .await;
        // Whoever held the lock cached the file's row, or its pending bytes, before letting go.
        if let Some(found) = self.in_memory(module, version, kind) {
            return Ok(found);
        }
        let (fetched, h1, origin, expected) = match self.fetch_file(module, version, kind).await {
            Ok(fetched) => fetched,
            Err(e) => {
                // Stored by another process (an import) since the keys were loaded?
                if index_skipped {
                    if let Some(file) = self.indexed(module, version, kind).await? {
                        return Ok(Found::Stored {
                            file,
                            cache: CacheResult::Hit,
                        });
                    }
                }
                return Err(e);
            }
        };
        if kind == FileKind::Mod {
            self.prefetch(module, version, FileKind::Info); // small, and asked for next
        }
        // The bytes passed every check: the client gets them now, while a
        // background task makes them durable and records the row.
        let body = match fetched {
            Fetched::Arriving(body) => {
                return self
                    .serve_while_receiving(guard, body, module, version, origin, expected)
                    .await;
            }
            Fetched::Small(ref bytes) => BlobBody::Bytes(bytes.clone()),
            Fetched::Staged(ref staged) => staged.body()?,
        };
        // Pending from now, not from when the task first runs: a request the
        // client sends next (a query, a list) must already count this file.
        let early = match &fetched {
            Fetched::Small(bytes) => {
                Some(
                    self.caches
                        .hold_pending(module, version, kind, bytes.clone()),
                )
            }
            Fetched::Staged(_) | Fetched::Arriving(_) => None,
        };
        let this = Arc::clone(self);
        let (module, version) = (module.to_owned(), version.to_owned());
        self.tasks.spawn_on(
            async move {
                // `store_fetched` holds the file pending again, until its row
                // is cached; this early hold ends after that.
                let _early = early;
                let result = this
                    .store_fetched(fetched, guard, &module, &version, kind, h1, &origin, expected)
                    .await;
                if let Err(e) = result {
                    tracing::error!(module, version, kind = kind.as_str(), error = %e, "could not store a fetched go module file");
                }
            },
            &self.background,
        );
        Ok(Found::Fresh {
            body,
            cache: CacheResult::Miss,
        })
    }

    /// A file known without asking the index: its cached row, or the pending
    /// bytes of a checked file being stored.
    fn in_memory(&self, module: &str, version: &str, kind: FileKind) -> Option<Found> {
        let cache = CacheResult::Hit;
        if let Some(file) = self.caches.file(module, version, kind) {
            return Some(Found::Stored { file, cache });
        }
        let bytes = self.caches.pending(module, version, kind)?;
        Some(Found::Fresh {
            body: BlobBody::Bytes(bytes),
            cache,
        })
    }

    /// The file's row from the index, cached when found.
    async fn indexed(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
    ) -> Result<Option<StoredFile>, GoError> {
        let found = index::find_file(&self.db, module, version, kind).await?;
        if let Some(file) = &found {
            self.caches.put_file(module, version, kind, file);
        }
        Ok(found)
    }

    /// A large zip: the client's body follows the staged file while a background
    /// task receives it, checks it whole, then stores it. The last
    /// [`HELD_BACK`] bytes reach the client only once the checks pass.
    async fn serve_while_receiving(
        self: &Arc<Self>,
        guard: OwnedMutexGuard<()>,
        body: UpstreamBody,
        module: &str,
        version: &str,
        origin: String,
        expected: Option<Expected>,
    ) -> Result<Found, GoError> {
        let len = body
            .content_length
            .ok_or_else(|| GoError::Internal("streaming a body of unknown length".into()))?;
        let writer = self.staging.writer(Some(zipcheck::MAX_ZIP_SIZE)).await?;
        let reader = tokio::fs::File::open(writer.path()?)
            .await?
            .into_std()
            .await;
        let (verdict, served) = follow(reader, len, HELD_BACK, writer.in_file());
        let this = Arc::clone(self);
        let (module, version) = (module.to_owned(), version.to_owned());
        self.tasks.spawn_on(
            async move {
                let received = tokio::select! {
                    _ = this.stopping.cancelled() => Err(GoError::Internal("airlock is shutting down".into())),
                    received = this.receive_zip(body, writer, &module, &version) => received,
                };
                let result = match received {
                    // The client was promised exactly `len` bytes.
                    Ok((staged, _)) if staged.size != len => Err(GoError::BadContent(format!(
                        "{origin}: {} bytes received, {len} declared",
                        staged.size
                    ))),
                    Ok((staged, h1)) => match this.check_hash(expected.as_ref(), &module, &version, FileKind::Zip, Some(&h1), &origin) {
                        Ok(()) => {
                            verdict.verified();
                            this.store_fetched(Fetched::Staged(staged), guard, &module, &version, FileKind::Zip, Some(h1), &origin, expected)
                                .await
                        }
                        Err(e) => Err(e), // dropping the verdict fails the client's body
                    },
                    Err(e) => Err(e), // dropping the verdict fails the client's body
                };
                if let Err(e) = result {
                    tracing::error!(module, version, kind = "zip", error = %e, "a streamed go module zip was not stored");
                }
            },
            &self.background,
        );
        Ok(Found::Fresh {
            body: served,
            cache: CacheResult::Miss,
        })
    }

    /// Fetches one module file from the upstreams and checks it, and (at the
    /// same time) what the checksum database says it must hash to. A file
    /// whose hash is known is checked against it here; a large zip still
    /// arriving is checked once received, before the end of it is served.
    async fn fetch_file(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
    ) -> Result<(Fetched, Option<String>, String, Option<Expected>), GoError> {
        let rel = format!(
            "{}/@v/{}.{}",
            escape_path(module)?,
            escape_version(version)?,
            kind.as_str()
        );
        let (fetched, expected) = tokio::join!(
            self.fetch_first(&rel, |body| {
                self.fetch_module_file(body, module, version, kind)
            }),
            self.expected_hash(module, version, kind, true)
        );
        let (fetched, h1, origin) = fetched?;
        let expected = expected?;
        if !matches!(fetched, Fetched::Arriving(_)) {
            self.check_hash(
                expected.as_ref(),
                module,
                version,
                kind,
                h1.as_deref(),
                &origin,
            )?;
        }
        Ok((fetched, h1, origin, expected))
    }

    /// Makes a fetched file durable, then records it. `lock` is the file's fetch
    /// lock: a concurrent request for the file waits on it, then finds the file's
    /// row or its pending bytes. Small files are pending (served from memory)
    /// from here on, so their lock is let go at once and their store waits for a
    /// write-behind turn; a staged zip keeps the lock until its row exists.
    #[allow(clippy::too_many_arguments)]
    async fn store_fetched(
        &self,
        fetched: Fetched,
        lock: OwnedMutexGuard<()>,
        module: &str,
        version: &str,
        kind: FileKind,
        h1: Option<String>,
        origin: &str,
        expected: Option<Expected>,
    ) -> Result<(), GoError> {
        let (mut _pending, mut _turn, mut _lock) = (None, None, Some(lock));
        let (digest, size, h1) = match fetched {
            Fetched::Small(bytes) => {
                // Until its row is cached, requests get these bytes, not the lock.
                _pending = Some(
                    self.caches
                        .hold_pending(module, version, kind, bytes.clone()),
                );
                _lock = None;
                let size = bytes.len() as u64;
                _turn = Some(self.write_behind.turn(size).await);
                (self.store.put_bytes(&self.staging, bytes).await?, size, h1)
            }
            Fetched::Staged(staged) => self.commit(staged, h1).await?,
            Fetched::Arriving(body) => {
                let (staged, h1) = self.receive_arriving(body, module, version).await?;
                self.check_hash(expected.as_ref(), module, version, kind, Some(&h1), origin)?;
                self.commit(staged, Some(h1)).await?
            }
        };
        self.record(NewGoFile {
            module,
            version,
            kind,
            digest: &digest,
            size,
            h1: h1.as_deref(),
            origin,
            verification: expected.map(|e| e.verification()),
        })
        .await
    }

    /// Commits a staged blob; returns its digest and size, and passes `h1` through.
    async fn commit(
        &self,
        staged: StagedBlob,
        h1: Option<String>,
    ) -> Result<(Digest, u64, Option<String>), GoError> {
        let (digest, size) = (staged.digest.clone(), staged.size);
        self.store.commit(staged).await?;
        Ok((digest, size, h1))
    }

    /// Starts a background fetch of a file unless it is known to be stored.
    fn prefetch(self: &Arc<Self>, module: &str, version: &str, kind: FileKind) {
        if !self.prefetch.enabled || self.in_memory(module, version, kind).is_some() {
            return;
        }
        let Some(place) = self.prefetch.enter() else {
            return; // too many queued already
        };
        let this = Arc::clone(self);
        let (module, version) = (module.to_owned(), version.to_owned());
        self.tasks.spawn_on(
            async move {
                let _place = place;
                if let Err(e) = this.prefetch_file(&module, &version, kind).await {
                    tracing::debug!(module, version, kind = kind.as_str(), error = %e, "prefetch failed");
                }
            },
            &self.background,
        );
    }

    /// A prefetch: like a client's miss, but nobody waits for the bytes.
    async fn prefetch_file(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
    ) -> Result<(), GoError> {
        let fetched = tokio::select! {
            _ = self.stopping.cancelled() => return Ok(()),
            fetched = async {
                let _slot = self.prefetch.slots.acquire().await;
                let guard = self.inflight.lock(&inflight_key(module, version, kind)).await;
                if self.in_memory(module, version, kind).is_some() {
                    return Ok(None);
                }
                if !self.caches.surely_not_stored(module, version, kind)
                    && self.indexed(module, version, kind).await?.is_some()
                {
                    return Ok(None);
                }
                let fetched = match self.fetch_file(module, version, kind).await? {
                    // Receive a large zip here, where shutdown can cancel it.
                    (Fetched::Arriving(body), _, origin, expected) => {
                        let (staged, h1) = self.receive_arriving(body, module, version).await?;
                        self.check_hash(expected.as_ref(), module, version, kind, Some(&h1), &origin)?;
                        (Fetched::Staged(staged), Some(h1), origin, expected)
                    }
                    fetched => fetched,
                };
                Ok::<_, GoError>(Some((guard, fetched)))
            } => fetched?,
        };
        let Some((guard, (fetched, h1, origin, expected))) = fetched else {
            return Ok(());
        };
        self.store_fetched(fetched, guard, module, version, kind, h1, &origin, expected)
            .await
    }

    /// Reads the keys of every stored file into the caches. Until it is done,
    /// every miss asks the index first. Returns how many files are stored.
    pub async fn load_stored_keys(&self) -> Result<usize, GoError> {
        index::each_file_key(&self.db, |rows| {
            let rows = rows.iter();
            self.caches
                .add_stored_keys(rows.map(|(m, v, k)| (m.as_str(), v.as_str(), k.as_str())))
        })
        .await?;
        Ok(self.caches.stored_keys_complete())
    }

    /// Records a fetched file whose blob is durable, and caches its row.
    async fn record(&self, file: NewGoFile<'_>) -> Result<(), GoError> {
        let NewGoFile {
            module,
            version,
            kind,
            digest,
            size,
            origin,
            ..
        } = file;
        let inserted = index::insert_file(&self.db, file).await?;
        tracing::info!(module, version, kind = kind.as_str(), %digest, size, %origin, "stored go module file");
        if inserted {
            let stored = StoredFile {
                digest: digest.clone(),
                size,
            };
            self.caches.put_file(module, version, kind, &stored);
        } else {
            // An import raced us and its row won: cache what the index holds.
            self.indexed(module, version, kind).await?;
        }
        if kind == FileKind::Zip {
            self.caches.invalidate_computed(); // list and @latest may change
        }
        Ok(())
    }

    /// Receives and checks one module file from an upstream. A `.mod`, an `.info`
    /// and a zip of at most [`MEMORY_ZIP`] are received and checked in memory. A
    /// larger zip of known length is returned unreceived ([`Fetched::Arriving`]),
    /// for the caller to stream while receiving it; one of unknown length is
    /// received into staging and checked there, whole. Returns the file with its
    /// `h1:` hash when already known (zip and go.mod).
    pub async fn fetch_module_file(
        &self,
        body: UpstreamBody,
        module: &str,
        version: &str,
        kind: FileKind,
    ) -> Result<(Fetched, Option<String>), GoError> {
        let limit = match kind {
            FileKind::Zip => zipcheck::MAX_ZIP_SIZE,
            FileKind::Mod => zipcheck::MAX_GO_MOD_SIZE,
            FileKind::Info => MAX_INFO_SIZE,
        };
        let url = body.url().to_owned();
        let too_large = || {
            GoError::BadContent(format!(
                "{url}: {} is larger than the {limit}-byte limit",
                kind.as_str()
            ))
        };
        if body.content_length.is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        if kind != FileKind::Zip {
            let bytes = body.bytes(limit).await.map_err(|e| match e {
                UpstreamError::TooLarge { .. } => too_large(),
                e => e.into(),
            })?;
            let h1 = if kind == FileKind::Mod {
                gomod::check(&bytes, module, version)
                    .map_err(|e| GoError::BadContent(format!("{url}: {e}")))?;
                Some(dirhash::go_mod_h1(&bytes))
            } else {
                check_info(&bytes, Some(version))
                    .map_err(|e| GoError::BadContent(format!("{url}: {e}")))?;
                None
            };
            return Ok((Fetched::Small(Bytes::from(bytes)), h1));
        }
        if body.content_length.is_some_and(|len| len <= MEMORY_ZIP) {
            // Most module zips are small: check them in memory, one blocking hop,
            // no temp file on the client's critical path.
            let bytes = Bytes::from(body.bytes(MEMORY_ZIP).await?);
            let (zip, m, v) = (bytes.clone(), module.to_owned(), version.to_owned());
            let h1 = tokio::task::spawn_blocking(move || {
                zipcheck::check_zip_reader(std::io::Cursor::new(zip), &m, &v)
            })
            .await
            .map_err(|e| GoError::Internal(e.to_string()))?
            .map_err(|e| GoError::BadContent(format!("{url}: {e}")))?;
            return Ok((Fetched::Small(bytes), Some(h1)));
        }
        if body.content_length.is_some() {
            // Large: the caller streams it to its client while receiving it
            // (`serve_while_receiving`), or receives it now (`receive_arriving`).
            return Ok((Fetched::Arriving(body), None));
        }
        let writer = self.staging.writer(Some(limit)).await?;
        let (staged, h1) = self.receive_zip(body, writer, module, version).await?;
        Ok((Fetched::Staged(staged), Some(h1)))
    }

    /// Receives a large zip into `writer` (a streaming client follows its file), then
    /// checks it whole. Returns it staged, with its `h1:` hash.
    async fn receive_zip(
        &self,
        mut body: UpstreamBody,
        mut writer: BlobWriter,
        module: &str,
        version: &str,
    ) -> Result<(StagedBlob, String), GoError> {
        let url = body.url().to_owned();
        while let Some(chunk) = body.chunk().await? {
            writer.write(chunk).await.map_err(|e| match e {
                StoreError::TooLarge { limit } => {
                    GoError::BadContent(format!("{url}: zip is larger than the {limit}-byte limit"))
                }
                e => e.into(),
            })?;
        }
        let staged = writer.finish(None).await?;
        let (path, m, v) = (
            staged.path().to_owned(),
            module.to_owned(),
            version.to_owned(),
        );
        let h1 = tokio::task::spawn_blocking(move || zipcheck::check_zip(&path, &m, &v))
            .await
            .map_err(|e| GoError::Internal(e.to_string()))?
            .map_err(|e| GoError::BadContent(format!("{url}: {e}")))?;
        Ok((staged, h1))
    }

    /// Receives and checks a large zip that nobody is streaming.
    async fn receive_arriving(
        &self,
        body: UpstreamBody,
        module: &str,
        version: &str,
    ) -> Result<(StagedBlob, String), GoError> {
        let writer = self.staging.writer(Some(zipcheck::MAX_ZIP_SIZE)).await?;
        self.receive_zip(body, writer, module, version).await
    }

    /// [`GoProxy::fetch_module_file`], then staged in every case (for imports).
    pub async fn stage_module_file(
        &self,
        body: UpstreamBody,
        module: &str,
        version: &str,
        kind: FileKind,
    ) -> Result<(StagedBlob, Option<String>), GoError> {
        let (fetched, h1) = self.fetch_module_file(body, module, version, kind).await?;
        Ok(match fetched {
            Fetched::Staged(staged) => (staged, h1),
            Fetched::Small(bytes) => (self.staging.stage_bytes(bytes).await?, h1),
            Fetched::Arriving(body) => {
                let (staged, h1) = self.receive_arriving(body, module, version).await?;
                (staged, Some(h1))
            }
        })
    }

    /// Tries each upstream in order with GOPROXY semantics: go on after a 404/410,
    /// and after any error when the entry ended with `|`.
    async fn fetch_first<T, F, Fut>(
        &self,
        rel: &str,
        mut use_body: F,
    ) -> Result<(T, Option<String>, String), GoError>
    where
        F: FnMut(UpstreamBody) -> Fut,
        Fut: std::future::Future<Output = Result<(T, Option<String>), GoError>>,
    {
        let mut last: Option<GoError> = None;
        for entry in &self.upstreams {
            let url = format!("{}/{rel}", entry.base);
            let result = match self.upstream.get(&url).await {
                Ok(body) => {
                    let origin = body.url().to_owned();
                    let len = body.content_length.unwrap_or(0);
                    use_body(body).await.map(|(t, h1)| (t, h1, origin, len))
                }
                Err(e) => Err(GoError::from(e)),
            };
            match result {
                Ok((t, h1, origin, len)) => {
                    self.metrics.upstream(PROTOCOL, "ok", len);
                    return Ok((t, h1, origin));
                }
                Err(GoError::NotFound(_)) => {
                    self.metrics.upstream(PROTOCOL, "not_found", 0);
                    last = Some(GoError::NotFound(format!("{rel}: not found upstream")));
                }
                Err(e) => {
                    self.metrics.upstream(PROTOCOL, "error", 0);
                    if !entry.fall_back_on_error {
                        return Err(e); // logged once, where the response is made
                    }
                    tracing::warn!(url = %redact_str(&url), error = %e, "upstream failed; trying the next one");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| GoError::NotFound(format!("{rel}: no upstream configured"))))
    }

    /// Fetches small mutable metadata (`list`, `@latest`, queries) from the upstreams.
    async fn fetch_small(&self, rel: &str, limit: u64) -> Result<Vec<u8>, GoError> {
        let (bytes, _, _) = self
            .fetch_first(
                rel,
                |body| async move { Ok((body.bytes(limit).await?, None)) },
            )
            .await?;
        Ok(bytes)
    }

    /// The `@v/list` body, cached for the metadata time-to-live.
    pub async fn list_body(&self, module: &str, fetch: bool) -> Result<Bytes, GoError> {
        let ticket = self.caches.computed_ticket();
        if let Some(body) = self.caches.computed(Computed::List, fetch, module) {
            return Ok(body);
        }
        let versions = self.list(module, fetch).await?;
        let mut body = versions.join("\n");
        if !body.is_empty() {
            body.push('\n');
        }
        let body = Bytes::from(body);
        self.caches
            .put_computed(ticket, Computed::List, fetch, module, body.clone());
        Ok(body)
    }

    /// The `@latest` body, cached for the metadata time-to-live.
    pub async fn latest_body(&self, module: &str, fetch: bool) -> Result<Bytes, GoError> {
        let ticket = self.caches.computed_ticket();
        if let Some(body) = self.caches.computed(Computed::Latest, fetch, module) {
            return Ok(body);
        }
        let body = Bytes::from(self.latest(module, fetch).await?);
        self.caches
            .put_computed(ticket, Computed::Latest, fetch, module, body.clone());
        Ok(body)
    }

    /// `@v/list`: upstream versions merged with stored ones; when the upstreams
    /// cannot answer (or offline), the stored versions that have a zip.
    pub async fn list(&self, module: &str, fetch: bool) -> Result<Vec<String>, GoError> {
        let stored = self.zip_versions(module).await?;
        let mut versions: Vec<String> = stored
            .into_iter()
            .filter(|v| !semver::is_pseudo(v))
            .collect();
        if fetch {
            let rel = format!("{}/@v/list", escape_path(module)?);
            match self.fetch_small(&rel, MAX_LIST_SIZE).await {
                Ok(body) => {
                    let text = String::from_utf8_lossy(&body);
                    versions.extend(
                        text.lines()
                            .filter_map(|l| l.split_whitespace().next())
                            // As the go command reads a list: no pseudo-versions,
                            // and only versions this path can have (no v2.0.0
                            // for a path without /v2).
                            .filter(|v| {
                                semver::is_valid(v)
                                    && crate::module::is_canonical_version(v)
                                    && !semver::is_pseudo(v)
                                    && crate::module::check_version_of(module, v).is_ok()
                            })
                            .map(str::to_owned),
                    );
                }
                Err(GoError::NotFound(msg)) => {
                    if versions.is_empty() && !index::module_known(&self.db, module).await? {
                        return Err(GoError::NotFound(msg));
                    }
                }
                Err(e) => {
                    if versions.is_empty() {
                        return Err(e);
                    }
                    tracing::warn!(module, error = %e, "upstream list failed; serving stored versions");
                }
            }
        } else if versions.is_empty() && !index::module_known(&self.db, module).await? {
            return Err(GoError::NotFound(format!(
                "{module}: no versions stored in this airlock{}",
                self.offline_hint()
            )));
        }
        versions.sort_by(|a, b| semver::compare(a, b));
        versions.dedup();
        Ok(versions)
    }

    /// `@latest` as JSON: the upstream's answer, or else the best stored version
    /// (highest release, else highest pre-release, else newest pseudo-version).
    pub async fn latest(&self, module: &str, fetch: bool) -> Result<Vec<u8>, GoError> {
        // An upstream that failed (not a "not found"): its error is the answer
        // when storage has none, so that `GOPROXY=airlock,next` moves on and
        // the user sees the cause.
        let mut outage = None;
        if fetch {
            let rel = format!("{}/@latest", escape_path(module)?);
            match self.fetch_small(&rel, MAX_INFO_SIZE).await {
                Ok(body) => {
                    check_info(&body, None).map_err(GoError::BadContent)?;
                    return Ok(body);
                }
                Err(e) => {
                    tracing::debug!(module, error = %e, "upstream @latest failed; computing from storage");
                    outage = upstream_outage(e);
                }
            }
        }
        let stored = self.zip_versions(module).await?;
        let Some(best) = best_version(&stored) else {
            return Err(outage.unwrap_or_else(|| {
                GoError::NotFound(format!(
                    "{module}: no version stored in this airlock{}",
                    self.offline_hint()
                ))
            }));
        };
        self.info_json(module, &best).await
    }

    /// The versions of `module` whose zip is stored or pending (see
    /// [`crate::cache::Caches::pending_versions`]).
    async fn zip_versions(&self, module: &str) -> Result<Vec<String>, GoError> {
        // Pending first: a row is committed before its pending bytes are let
        // go, so a file moving from one to the other is seen in one of them.
        let mut versions = self.caches.pending_versions(module, Some(FileKind::Zip));
        versions.extend(index::versions(&self.db, module, FileKind::Zip).await?);
        Ok(versions)
    }

    /// The bytes of a version's `.info`, pending or stored. Pending first: its
    /// row is committed before the pending bytes are let go, so one of the two
    /// always has a file that was fetched.
    async fn stored_info(&self, module: &str, version: &str) -> Result<Option<Vec<u8>>, GoError> {
        if let Some(info) = self.caches.pending(module, version, FileKind::Info) {
            return Ok(Some(info.to_vec()));
        }
        match index::find_file(&self.db, module, version, FileKind::Info).await? {
            Some(info) => Ok(Some(self.read_small(&info).await?)),
            None => Ok(None),
        }
    }

    /// The `.info` of a stored version, or one synthesized from the version.
    async fn info_json(&self, module: &str, version: &str) -> Result<Vec<u8>, GoError> {
        if let Some(info) = self.stored_info(module, version).await? {
            return Ok(info);
        }
        let mut json = serde_json::json!({ "Version": version });
        if let Some(time) = semver::pseudo_time(version) {
            json["Time"] = serde_json::Value::String(time);
        }
        Ok(json.to_string().into_bytes())
    }

    /// A query (`.info` of a branch, a commit prefix, or a version that is not
    /// canonical for this path; see [`crate::query`]). Online: the upstream's
    /// answer, checked; what it resolved to is remembered, and its `.info` stored
    /// under the canonical version. Otherwise, or when the upstreams fail: what
    /// storage says.
    pub async fn query(
        self: &Arc<Self>,
        module: &str,
        query: &str,
        fetch: bool,
    ) -> Result<Vec<u8>, GoError> {
        let mut outage = None;
        if fetch {
            match self.query_upstream(module, query).await {
                Ok(body) => return Ok(body),
                Err(e @ GoError::BadContent(_)) => return Err(e),
                Err(e) => {
                    tracing::debug!(module, query, error = %e, "upstream query failed; resolving from storage");
                    outage = upstream_outage(e);
                }
            }
        }
        match (self.query_stored(module, query).await, outage) {
            (Err(GoError::NotFound(_)), Some(outage)) => Err(outage),
            (answer, _) => answer,
        }
    }

    /// Forwards a query to the upstreams and checks the answer.
    async fn query_upstream(
        self: &Arc<Self>,
        module: &str,
        query: &str,
    ) -> Result<Vec<u8>, GoError> {
        let rel = format!(
            "{}/@v/{}.info",
            escape_path(module)?,
            escape_version(query)?
        );
        let (body, _, origin) = self
            .fetch_first(&rel, |body| async move {
                Ok((body.bytes(MAX_INFO_SIZE).await?, None))
            })
            .await?;
        let origin = redact_str(&origin);
        let version = info_version(&body)
            .and_then(|v| query::answer_fits(module, query, &v).map(|()| v))
            .map_err(|e| GoError::BadContent(format!("{origin}: {e}")))?;
        index::record_query(&self.db, module, query, &version, &origin).await?;
        self.keep_query_answer(module, &version, Bytes::from(body.clone()), origin);
        Ok(body)
    }

    /// Stores a query's answer as the `.info` of the version it names, unless
    /// that is stored already: `go` itself caches it so, and an offline airlock
    /// can then answer both the query and the version.
    fn keep_query_answer(
        self: &Arc<Self>,
        module: &str,
        version: &str,
        info: Bytes,
        origin: String,
    ) {
        if check_info(&info, Some(version)).is_err()
            || self.in_memory(module, version, FileKind::Info).is_some()
        {
            return;
        }
        let this = Arc::clone(self);
        let (module, version) = (module.to_owned(), version.to_owned());
        self.tasks.spawn_on(
            async move {
                let key = inflight_key(&module, &version, FileKind::Info);
                let guard = this.inflight.lock(&key).await;
                let stored = this.in_memory(&module, &version, FileKind::Info).is_some()
                    || matches!(
                        this.indexed(&module, &version, FileKind::Info).await,
                        Ok(Some(_))
                    );
                if stored {
                    return;
                }
                let fetched = Fetched::Small(info);
                let result = this
                    .store_fetched(
                        fetched,
                        guard,
                        &module,
                        &version,
                        FileKind::Info,
                        None,
                        &origin,
                        None, // an .info: no checksum database records it
                    )
                    .await;
                if let Err(e) = result {
                    tracing::error!(module, version, error = %e, "could not store a query's .info");
                }
            },
            &self.background,
        );
    }

    /// Resolves a query from what is stored (see [`crate::query`]).
    async fn query_stored(&self, module: &str, query: &str) -> Result<Vec<u8>, GoError> {
        // Pending first, as in `zip_versions`.
        let mut stored = self.caches.pending_versions(module, None);
        stored.extend(index::stored_versions(&self.db, module).await?);
        stored.sort();
        stored.dedup();
        let not_found = |why: String| {
            GoError::NotFound(format!("{module}@{query}: {why}{}", self.offline_hint()))
        };
        // What an upstream or an imported tree said last, while that version is here.
        if let Some(version) = index::find_query(&self.db, module, query).await? {
            if stored.contains(&version) {
                return self.info_json(module, &version).await;
            }
        }
        let version = match query::classify(module, query) {
            query::QueryKind::Version(candidates) => candidates
                .into_iter()
                .find(|c| stored.contains(c))
                .ok_or_else(|| not_found("no matching version is stored".into()))?,
            query::QueryKind::Prefix(prefix) => query::resolve_prefix(&prefix, &stored)
                .ok_or_else(|| not_found(format!("no {prefix}.* version is stored")))?,
            query::QueryKind::Commit(prefix) => {
                let mut revisions = Vec::with_capacity(stored.len());
                for version in stored {
                    // A pending .info counts: without its commit, a tag just
                    // fetched would lose to the pseudo-version of its commit.
                    let info = self.stored_info(module, &version).await?;
                    let hash = info.and_then(|info| query::origin_hash(&info));
                    revisions.push(query::StoredRevision { version, hash });
                }
                match query::resolve_commit(&prefix, &revisions) {
                    query::CommitMatch::Version(v) => v,
                    query::CommitMatch::Ambiguous(commits) => {
                        return Err(GoError::NotFound(format!(
                            "{module}@{query}: ambiguous revision: it is a prefix of {}",
                            commits.join(" and ")
                        )))
                    }
                    query::CommitMatch::None => {
                        return Err(not_found("no stored version is that commit".into()))
                    }
                }
            }
            query::QueryKind::Name => {
                return Err(not_found(
                    "a branch or tag name resolves only through an upstream, or what one answered before".into(),
                ))
            }
        };
        self.info_json(module, &version).await
    }

    /// Reads a small stored blob (metadata) into memory.
    pub async fn read_small(&self, file: &StoredFile) -> Result<Vec<u8>, GoError> {
        let body = self.store.open(&file.digest, None).await?;
        Ok(body.into_bytes().await?.to_vec())
    }

    /// A checksum-database file: cached, else fetched (online) and cached.
    /// `latest` is fetched fresh when possible and the cached copy is the fallback.
    pub async fn sumdb_file(&self, name: &str, path: &str, fetch: bool) -> Result<Found, GoError> {
        let sumdb = self.sumdbs.iter().find(|s| s.name == name).ok_or_else(|| {
            GoError::NotFound(format!(
                "checksum database {name:?} is not proxied by this airlock"
            ))
        })?;
        let hit = |file| {
            self.metrics.cache(PROTOCOL, CacheResult::Hit);
            Ok(Found::Stored {
                file,
                cache: CacheResult::Hit,
            })
        };
        // Fetched for a verification and still being stored: served from memory.
        let pending = || {
            let bytes = self.sumdb_check.pending_file(name, path)?;
            self.metrics.cache(PROTOCOL, CacheResult::Hit);
            Some(Ok(Found::Fresh {
                body: BlobBody::Bytes(bytes),
                cache: CacheResult::Hit,
            }))
        };
        if let Some(found) = pending() {
            return found;
        }
        // `latest` changes: online it is fetched fresh and the cached copy is the fallback.
        let mutable = path == "latest";
        let online = fetch && self.mode == Mode::Online;
        let cached = index::find_sumdb(&self.db, name, path).await?;
        if let Some(file) = cached.clone() {
            if !mutable || !online {
                return hit(file);
            }
        }
        if !online {
            self.metrics.cache(PROTOCOL, CacheResult::Miss);
            return Err(GoError::NotFound(format!(
                "{name}/{path} is not cached in this airlock{}; modules that were never fetched through it \
                 need GONOSUMDB=<their path prefix> (or GOSUMDB=off)",
                self.offline_hint()
            )));
        }
        self.metrics.cache(PROTOCOL, CacheResult::Miss);
        let _guard = self.inflight.lock(&sumdb_inflight_key(name, path)).await;
        if !mutable {
            // Whoever held the lock may have stored it, or be storing it.
            if let Some(found) = pending() {
                return found;
            }
            if let Some(file) = index::find_sumdb(&self.db, name, path).await? {
                return hit(file);
            }
        }
        let url = format!("{}/{path}", sumdb.url.trim_end_matches('/'));
        let fetched = async {
            let body = self.upstream.get(&url).await?;
            self.stage_sumdb_file(body, path).await
        }
        .await;
        let staged = match fetched {
            Ok(staged) => staged,
            Err(e) => {
                self.count_failed_fetch(&e);
                if let Some(file) = cached.filter(|_| mutable) {
                    tracing::warn!(url = %redact_str(&url), error = %e, "checksum database unreachable; serving cached tree head");
                    return hit(file);
                }
                return Err(e);
            }
        };
        self.metrics.upstream(PROTOCOL, "ok", staged.size);
        let file = StoredFile {
            digest: staged.digest.clone(),
            size: staged.size,
        };
        self.store.commit(staged).await?;
        index::insert_sumdb(&self.db, name, path, &file.digest, file.size).await?;
        Ok(Found::Stored {
            file,
            cache: CacheResult::Miss,
        })
    }

    /// Streams a checksum-database file into staging and checks its shape: these
    /// are cached forever, so an error page served with 200 must not get in.
    pub async fn stage_sumdb_file(
        &self,
        body: UpstreamBody,
        path: &str,
    ) -> Result<StagedBlob, GoError> {
        // Lookups and tiles are small: check them in memory, then stage them.
        let bytes = receive_sumdb_file(body, path).await?;
        Ok(self.staging.stage_bytes(bytes).await?)
    }

    fn offline_hint(&self) -> &'static str {
        if self.mode == Mode::Offline {
            " (offline mode)"
        } else {
            ""
        }
    }
}

/// Picks `@latest` among stored versions: highest release, else highest
/// pre-release, else the newest pseudo-version.
pub fn best_version(versions: &[String]) -> Option<String> {
    let pick = |filter: &dyn Fn(&str) -> bool| {
        versions
            .iter()
            .filter(|v| filter(v))
            .max_by(|a, b| semver::compare(a, b))
            .cloned()
    };
    pick(&|v| !semver::is_pseudo(v) && semver::prerelease(v).is_empty())
        .or_else(|| pick(&|v| !semver::is_pseudo(v)))
        .or_else(|| {
            versions
                .iter()
                .filter(|v| semver::is_pseudo(v))
                .max_by(|a, b| {
                    semver::pseudo_time(a)
                        .cmp(&semver::pseudo_time(b))
                        .then(semver::compare(a, b))
                })
                .cloned()
        })
}

/// The `Version` of an `.info` file, checked as [`check_info`] does.
pub fn info_version(bytes: &[u8]) -> Result<String, String> {
    check_info(bytes, None)?;
    serde_json::from_slice::<InfoJson>(bytes)
        .map(|info| info.version)
        .map_err(|e| format!("invalid .info JSON: {e}"))
}

/// `e` when it says the upstreams could not answer (rather than that they
/// have no such module or version).
fn upstream_outage(e: GoError) -> Option<GoError> {
    (!matches!(e, GoError::NotFound(_))).then_some(e)
}

/// A `.info` must be JSON with a `Version` and, if any, an RFC 3339 `Time`;
/// for a canonical request, that version.
pub fn check_info(bytes: &[u8], version: Option<&str>) -> Result<(), String> {
    let info: InfoJson =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid .info JSON: {e}"))?;
    if !semver::is_valid(&info.version) {
        return Err(format!(".info has invalid Version {:?}", info.version));
    }
    match &info.time {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(t)) if is_rfc3339(t) => {}
        Some(other) => return Err(format!(".info has invalid Time {other}")),
    }
    match version {
        Some(v) if v != info.version => Err(format!(".info is for {:?}, not {v:?}", info.version)),
        _ => Ok(()),
    }
}

/// The shape of a checksum-database file: a signed tree head for `latest`, a
/// record id + go.sum lines + tree head for lookups, and exactly `width` 32-byte
/// hashes for hash tiles (`golang.org/x/mod/sumdb/tlog`).
pub fn check_sumdb_file(path: &str, bytes: &[u8]) -> Result<(), String> {
    const TREE_HEAD: &[u8] = b"go.sum database tree\n";
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if path == "latest" {
        return if bytes.starts_with(TREE_HEAD) {
            Ok(())
        } else {
            Err("not a signed tree head".into())
        };
    }
    if path.starts_with("lookup/") {
        let id_line = bytes.iter().position(|&b| b == b'\n').map(|n| &bytes[..n]);
        let id_ok = id_line.is_some_and(|id| !id.is_empty() && id.iter().all(u8::is_ascii_digit));
        return if id_ok && contains(b"\n\n") && contains(TREE_HEAD) {
            Ok(())
        } else {
            Err("not a checksum database lookup record".into())
        };
    }
    let Some(tile) = path.strip_prefix("tile/") else {
        return Err("unknown checksum database file".into());
    };
    if tile.split('/').nth(1) == Some("data") {
        return if bytes.is_empty() {
            Err("empty data tile".into())
        } else {
            Ok(())
        };
    }
    let height: u32 = tile
        .split('/')
        .next()
        .and_then(|h| h.parse().ok())
        .ok_or("bad tile height")?;
    let width = match tile.split_once(".p/") {
        Some((_, w)) => w.parse::<u64>().map_err(|_| "bad tile width")?,
        None => 1u64.checked_shl(height).ok_or("bad tile height")?,
    };
    if bytes.len() as u64 == width * 32 {
        Ok(())
    } else {
        Err(format!(
            "hash tile has {} bytes, expected {}",
            bytes.len(),
            width * 32
        ))
    }
}

/// Receives a checksum-database file into memory and checks its shape: these
/// are cached forever, so an error page served with 200 must not get in.
pub async fn receive_sumdb_file(body: UpstreamBody, path: &str) -> Result<Bytes, GoError> {
    let url = body.url().to_owned();
    let bytes = body.bytes(MAX_SUMDB_FILE).await.map_err(|e| match e {
        UpstreamError::TooLarge { limit, .. } => {
            GoError::BadContent(format!("{url}: larger than the {limit}-byte limit"))
        }
        e => e.into(),
    })?;
    check_sumdb_file(path, &bytes).map_err(|e| GoError::BadContent(format!("{url}: {e}")))?;
    Ok(Bytes::from(bytes))
}

/// The single-flight key of a checksum-database file.
pub fn sumdb_inflight_key(name: &str, path: &str) -> String {
    format!("sumdb/{name}/{path}")
}

/// The single-flight key of one module file.
fn inflight_key(module: &str, version: &str, kind: FileKind) -> String {
    format!("go/{module}@{version}.{}", kind.as_str())
}

fn escape_path(path: &str) -> Result<String, GoError> {
    crate::module::escape_path(path).map_err(|e| GoError::BadPath(e.to_string()))
}

fn escape_version(version: &str) -> Result<String, GoError> {
    crate::module::escape_version(version).map_err(|e| GoError::BadPath(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefetch_queue_is_bounded() {
        let prefetch = Prefetch::new(true);
        let places: Vec<_> = (0..PREFETCH_QUEUE)
            .filter_map(|_| prefetch.enter())
            .collect();
        assert_eq!(places.len(), PREFETCH_QUEUE);
        assert!(prefetch.enter().is_none(), "full: skipped");
        drop(places);
        assert!(prefetch.enter().is_some(), "places are given back");
    }

    #[test]
    fn proxy_lists() {
        let e = |base: &str, fall_back_on_error| ProxyEntry {
            base: base.into(),
            fall_back_on_error,
        };
        assert_eq!(
            parse_proxy_list("https://a/, http://b|file:///c").expect("valid"),
            vec![
                e("https://a", false),
                e("http://b", true),
                e("file:///c", false)
            ]
        );
        assert_eq!(parse_proxy_list("").expect("valid"), vec![]);
        assert!(parse_proxy_list("https://a,direct").is_err());
        assert!(parse_proxy_list("proxy.golang.org").is_err());
    }

    #[test]
    fn latest_prefers_release_then_prerelease_then_newest_pseudo() {
        let v =
            |list: &[&str]| best_version(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            v(&["v1.0.0", "v1.2.0", "v1.10.0-rc.1"]),
            Some("v1.2.0".into())
        );
        assert_eq!(
            v(&["v1.10.0-rc.1", "v1.9.0-beta"]),
            Some("v1.10.0-rc.1".into())
        );
        assert_eq!(
            v(&[
                "v0.0.0-20230102030405-abcdefabcdef",
                "v0.0.0-20240102030405-bcdefabcdefa"
            ]),
            Some("v0.0.0-20240102030405-bcdefabcdefa".into())
        );
        assert_eq!(
            v(&["v0.0.0-20230102030405-abcdefabcdef", "v0.1.0"]),
            Some("v0.1.0".into())
        );
        assert_eq!(v(&[]), None);
    }

    #[test]
    fn sumdb_file_shapes() {
        let head = "go.sum database tree\n3\nabc=\n\n— sumdb.test xyz\n";
        assert!(check_sumdb_file("latest", head.as_bytes()).is_ok());
        assert!(check_sumdb_file("latest", b"<html>").is_err());
        let lookup =
            format!("7\nexample.com/m v1.0.0 h1:x=\nexample.com/m v1.0.0/go.mod h1:y=\n\n{head}");
        assert!(check_sumdb_file("lookup/example.com/m@v1.0.0", lookup.as_bytes()).is_ok());
        assert!(check_sumdb_file("lookup/example.com/m@v1.0.0", b"<html>error</html>").is_err());
        assert!(check_sumdb_file("tile/8/0/000.p/3", &[0; 96]).is_ok());
        assert!(check_sumdb_file("tile/8/0/000.p/3", &[0; 95]).is_err());
        assert!(check_sumdb_file("tile/8/1/x001/002", &[0; 256 * 32]).is_ok());
        assert!(check_sumdb_file("tile/8/1/002", b"<html>").is_err());
        assert!(check_sumdb_file("tile/8/data/000.p/3", b"records").is_ok());
    }

    #[test]
    fn info_checks() {
        assert!(check_info(
            br#"{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}"#,
            Some("v1.0.0")
        )
        .is_ok());
        assert!(check_info(br#"{"Version":"v1.0.1"}"#, Some("v1.0.0")).is_err());
        assert!(check_info(b"not json", None).is_err());
        for good in [
            "2020-01-01T00:00:00Z",
            "2019-09-04T16:43:31.123456789Z",
            "2021-02-03T04:05:06+02:00",
            "2021-02-03T04:05:06.5-07:30",
        ] {
            let info = format!(r#"{{"Version":"v1.0.0","Time":"{good}"}}"#);
            assert!(check_info(info.as_bytes(), None).is_ok(), "{good}");
        }
        assert!(check_info(br#"{"Version":"v1.0.0","Time":null}"#, None).is_ok());
        for bad in [
            r#""yesterday""#,
            "12345",
            r#""2020-01-01 00:00:00Z""#,
            r#""2020-13-01T00:00:00Z""#,
            r#""2020-01-01T00:00:00""#,
            r#""2020-01-01T00:00:00.Z""#,
            r#""2020-01-01T24:00:00Z""#,
            r#""2020-01-01T00:00:00+0200""#,
        ] {
            let info = format!(r#"{{"Version":"v1.0.0","Time":{bad}}}"#);
            assert!(check_info(info.as_bytes(), None).is_err(), "{bad}");
        }
    }
}
