//! The binary's side of the YUM repositories: building [`Yum`] over the data
//! directory, and `airlock yum add`.

use crate::server::DataDir;
use crate::settings::Settings;
use airlock_core::upstream::Upstream;
use airlock_yum::{Prepared, PreparedPackage, StoredSet, Yum};
use anyhow::Context as _;
use futures_util::StreamExt as _;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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

/// Files read and checked at once.
const ADD_CONCURRENCY: usize = 4;
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
/// Many files are checked against what the repository held at the start
/// (one query, not two per file), and a full batch is stored while the next
/// one is being read.
pub async fn add(settings: Settings, repo: &str, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let data = DataDir::open(&settings.data_dir).await?;
    // Publishing an empty repository first would be wasted: this run publishes.
    let yum = Arc::new(open_yum(&settings, &data, false).await?);
    yum.repo(repo)?;
    let stored = if files.len() >= STORED_SET_FILES {
        Some(Arc::new(yum.stored_set(repo).await?))
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
    let mut checks = futures_util::stream::iter(files.iter().cloned())
        .map(|path| {
            let (yum, repo, stored) = (yum.clone(), repo.to_owned(), stored.clone());
            tokio::spawn(async move {
                let prepared = prepare(&yum, &repo, &path, stored.as_deref()).await;
                (path, prepared)
            })
        })
        .buffered(ADD_CONCURRENCY);
    while let Some(checked) = checks.next().await {
        let (path, prepared) = checked.context("a check task failed")?;
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
    added += batch.len();
    if let Some(previous) = storing.take() {
        previous.await.context("a store task failed")??;
    }
    yum.store_packages(batch).await?;
    yum.publish(repo).await?;
    println!("{repo}: {added} added, {unchanged} unchanged, {refused} refused");
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Stages one file and checks it as an upload to `repo` under its file name.
async fn prepare(
    yum: &Yum,
    repo: &str,
    path: &Path,
    stored: Option<&StoredSet>,
) -> anyhow::Result<Prepared> {
    let href = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("the file name is not UTF-8")?;
    Ok(yum
        .prepare_file(repo, href, path.to_owned(), stored)
        .await?)
}
