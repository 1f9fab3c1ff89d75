//! The binary's side of the YUM repositories: building [`Yum`] over the data
//! directory, and `airlock yum add`.

use crate::server::DataDir;
use crate::settings::Settings;
use airlock_core::upstream::Upstream;
use airlock_yum::{Prepared, PreparedPackage, StagedRpm, Yum};
use anyhow::Context as _;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Opens the YUM repositories of the configuration (publishing empty hosted ones).
pub async fn open(settings: &Settings, data: &DataDir) -> anyhow::Result<Yum> {
    open_yum(settings, data, true).await
}

/// [`open`], publishing the hosted repositories that have no snapshot yet only
/// when `publish_empty` (a command that publishes at its end need not).
async fn open_yum(settings: &Settings, data: &DataDir, publish_empty: bool) -> anyhow::Result<Yum> {
    let upstream = Upstream::new(&settings.upstream).context("building the HTTP client")?;
    let (db, store, staging) = (data.db.clone(), data.store.clone(), data.staging.clone());
    let (yum, mode) = (&settings.yum, settings.yum_mode());
    let opened = if publish_empty {
        Yum::open(yum, mode, upstream, db, store, staging).await
    } else {
        Yum::open_unpublished(yum, mode, upstream, db, store, staging).await
    };
    opened.context("opening the yum repositories")
}

/// `airlock serve` in online mode: each mirror with a `refresh` interval
/// syncs at startup and then every interval, until the server stops. A failed
/// sync is logged; the previous snapshot stays served.
pub fn spawn_refreshes(yum: &Arc<Yum>, stop: &tokio_util::sync::CancellationToken) {
    for repo in &yum.repos {
        let Some(every) = repo.refresh else {
            continue;
        };
        let (yum, stop, name) = (Arc::clone(yum), stop.clone(), repo.name.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let synced = tokio::select! {
                    _ = stop.cancelled() => break,
                    synced = airlock_yum::sync::sync(&yum, &name, &|_| {}) => synced,
                };
                match synced {
                    Ok(report) => tracing::info!(
                        repo = %name,
                        unchanged = report.unchanged,
                        published = report.published,
                        packages = report.packages,
                        fetched = report.fetched,
                        "yum mirror refreshed"
                    ),
                    Err(e) => {
                        tracing::error!(repo = %name, error = %e, "yum mirror refresh failed; the previous snapshot stays served")
                    }
                }
            }
        });
    }
}

/// Threads that copy and read files, at most (one per core below that).
const ADD_THREADS: usize = 4;
/// Files taken by those threads and not yet checked, at most: how far they
/// may run ahead of a slow (large) file, since files are checked in order.
const ADD_AHEAD: usize = 64;
/// Packages made durable and recorded together (two filesystem syncs and one
/// transaction per batch instead of an fsync and a transaction per package).
const ADD_BATCH_FILES: usize = 256;
/// Staged bytes that close a batch early, so temp space stays bounded.
const ADD_BATCH_BYTES: u64 = 512 << 20;
/// From this many files on, the repository's paths and NEVRAs are read once
/// ([`Yum::stored_set`], every package row) rather than looked up per file
/// (two queries each).
const STORED_SET_FILES: usize = 32;

/// `airlock yum add REPO FILES…`: each file goes through the checks of an
/// upload and is stored under its file name; the repository is published once
/// at the end. A bad file is reported and skipped (exit status 1).
///
/// Threads of their own copy the files into staging and read their headers
/// ([`stage_files`]); this task checks them in the order given, against what
/// the repository held at the start when there are many (one query, not two
/// per file), and stores a full batch while the next one is being read.
pub async fn add(settings: Settings, repo: &str, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let data = DataDir::open(&settings.data_dir).await?;
    // Publishing an empty repository first would be wasted: this run publishes.
    let yum = Arc::new(open_yum(&settings, &data, false).await?);
    // Before anything is read: a mirror takes no files, and is not published
    // here either (it would be published empty before its first sync).
    yum.hosted(repo)?;
    let stored = if files.len() >= STORED_SET_FILES {
        Some(yum.stored_set(repo).await?)
    } else {
        None
    };
    let mut refused = 0;
    let mut unchanged = 0;
    let mut added = 0;
    // Paths and NEVRAs of this run: two files may not claim the same one.
    let mut hrefs = HashSet::new();
    let mut nevras = HashSet::new();
    let mut batch: Vec<PreparedPackage> = Vec::new();
    let mut batch_bytes = 0;
    let mut storing: Option<tokio::task::JoinHandle<Result<(), airlock_yum::YumError>>> = None;
    let mut staged = stage_files(&yum, repo, files);
    // Results arrive in the order the threads finish; they are checked in
    // the order of `files`, so that messages and "first file wins" are stable.
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    while let Some((i, result, turn)) = staged.recv().await {
        waiting.insert(i, (result, turn));
        while let Some((result, _turn)) = waiting.remove(&next) {
            let path = &files[next];
            next += 1;
            let prepared = match result {
                Ok(rpm) => yum.check_staged(rpm, stored.as_ref()).await,
                Err(e) => Err(e),
            };
            match prepared {
                Ok(Prepared::New(package)) => {
                    if !hrefs.insert(package.href().to_owned()) || !nevras.insert(package.nevra()) {
                        refused += 1;
                        eprintln!(
                            "airlock: {}: another file of this run is {} or has its name",
                            path.display(),
                            package.nevra()
                        );
                        continue;
                    }
                    println!("adding {} ({})", package.href(), package.nevra());
                    batch_bytes += package.size();
                    batch.push(*package);
                }
                Ok(Prepared::Unchanged) => {
                    unchanged += 1;
                    println!("unchanged {}", path.display());
                }
                Err(e) => {
                    refused += 1;
                    eprintln!("airlock: {}: {e:#}", path.display());
                }
            }
            if batch.len() >= ADD_BATCH_FILES || batch_bytes >= ADD_BATCH_BYTES {
                added += batch.len();
                if let Some(previous) = storing.take() {
                    previous.await.context("a store task failed")??;
                }
                let (yum, full) = (yum.clone(), std::mem::take(&mut batch));
                storing = Some(tokio::spawn(async move { yum.store_packages(full).await }));
                batch_bytes = 0;
            }
        }
    }
    anyhow::ensure!(next == files.len(), "a thread reading the files stopped");
    added += batch.len();
    if let Some(previous) = storing.take() {
        previous.await.context("a store task failed")??;
    }
    yum.store_packages(batch).await?;
    yum.publish(repo).await?;
    data.checkpoint().await;
    println!("{repo}: {added} added, {unchanged} unchanged, {refused} refused");
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What [`stage_files`] sends: the file's position in the list, the staged
/// RPM or why not, and the turn that lets one more file be taken once dropped.
type StagedFile = (
    usize,
    Result<StagedRpm, airlock_yum::YumError>,
    tokio::sync::OwnedSemaphorePermit,
);

/// Copies `files` into staging and reads them on threads of their own, one
/// per core up to [`ADD_THREADS`], at most [`ADD_AHEAD`] ahead of the
/// receiver. Plain threads rather than a task per file on the blocking pool:
/// for 500 small RPMs the hand-offs between the runtime's threads took a
/// fifth of the CPU of the whole run.
fn stage_files(
    yum: &Arc<Yum>,
    repo: &str,
    files: &[PathBuf],
) -> tokio::sync::mpsc::Receiver<StagedFile> {
    let (sender, receiver) = tokio::sync::mpsc::channel(ADD_AHEAD);
    let turns = Arc::new(tokio::sync::Semaphore::new(ADD_AHEAD));
    let next = Arc::new(AtomicUsize::new(0));
    let files: Arc<[PathBuf]> = files.into();
    let runtime = tokio::runtime::Handle::current();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for _ in 0..threads.clamp(1, ADD_THREADS) {
        let (yum, repo, files) = (yum.clone(), repo.to_owned(), files.clone());
        let (sender, turns, next, runtime) =
            (sender.clone(), turns.clone(), next.clone(), runtime.clone());
        std::thread::spawn(move || loop {
            // A turn before a file: files are taken in order, so the oldest
            // file not yet received is always on a thread, never waiting.
            let Ok(turn) = runtime.block_on(turns.clone().acquire_owned()) else {
                return;
            };
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = files.get(i) else {
                return;
            };
            let staged = stage(&yum, &repo, path);
            if sender.blocking_send((i, staged, turn)).is_err() {
                return; // the run stopped
            }
        });
    }
    receiver
}

/// Stages one file as an upload to `repo` under its file name.
fn stage(yum: &Yum, repo: &str, path: &Path) -> Result<StagedRpm, airlock_yum::YumError> {
    let href = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| airlock_yum::YumError::BadPath("the file name is not UTF-8".into()))?;
    yum.stage_file(repo, href, path)
}
