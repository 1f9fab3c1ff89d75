//! `airlock sync oci`, `airlock sync pypi` and `airlock sync yum`: fetch what is named from the
//! upstreams into the store (always online: an explicit request for the
//! network), so the data directory can be carried across the gap and served
//! offline; a progress display on a terminal, one plain line per artifact
//! otherwise.

use crate::server::{oci_registry, pypi_index, DataDir};
use crate::settings::Settings;
use airlock_core::metrics::Metrics;
use airlock_core::Mode;
use airlock_oci::sync::{sync_image, Event, Platform};
use airlock_pypi::sync::{SyncEvent, SyncOptions};
use anyhow::Context as _;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;

/// The images named on the command line, then those of `file` (one per line,
/// `#` comments and blank lines ignored).
pub fn image_list(mut images: Vec<String>, file: Option<&Path>) -> anyhow::Result<Vec<String>> {
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        images.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    anyhow::ensure!(!images.is_empty(), "no images to sync");
    Ok(images)
}

/// Syncs every image; a failed one is reported and the rest go on.
pub async fn oci(
    mut settings: Settings,
    images: &[String],
    platforms: &[Platform],
) -> anyhow::Result<std::process::ExitCode> {
    settings.oci.mode = Some(Mode::Online);
    anyhow::ensure!(
        !settings.oci.upstreams.is_empty(),
        "no [[oci.upstreams]] in the configuration: nothing to sync from"
    );
    let data = DataDir::open(&settings.data_dir).await?;
    let registry = Arc::new(oci_registry(&settings, &data)?);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bytes} fetched {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let mut failed = 0;
    for image in images {
        if let Some(bar) = &bar {
            bar.set_message(image.clone());
        }
        let (mut manifests, mut blobs, mut bytes) = (0, 0, 0);
        let mut report = |event: Event<'_>| match event {
            Event::Manifest { digest, media_type } => {
                manifests += 1;
                if bar.is_none() {
                    eprintln!("{image}: manifest {digest} ({media_type})");
                }
            }
            Event::Skipped { digest } => {
                if bar.is_none() {
                    eprintln!("{image}: left out {digest} (platform)");
                }
            }
            Event::Blob {
                digest,
                size,
                fetched,
            } => {
                blobs += 1;
                if fetched {
                    bytes += size;
                    if let Some(bar) = &bar {
                        bar.inc(size);
                    }
                }
                if bar.is_none() {
                    let how = if fetched { "fetched" } else { "already stored" };
                    eprintln!("{image}: blob {digest} {size} bytes {how}");
                }
            }
        };
        match sync_image(&registry, image, platforms, &mut report).await {
            Ok(digest) => {
                let line = format!(
                    "synced {image} {digest}: {manifests} manifests, {blobs} blobs, {} MB fetched",
                    bytes / 1_000_000
                );
                match &bar {
                    Some(bar) => bar.println(line),
                    None => println!("{line}"),
                }
            }
            Err(e) => {
                failed += 1;
                let line = format!("failed {image}: {e}");
                match &bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    data.checkpoint().await;
    Ok(match failed {
        0 => std::process::ExitCode::SUCCESS,
        _ => std::process::ExitCode::FAILURE,
    })
}

/// `airlock sync pypi --index I -r requirements.txt [filters]`.
pub async fn pypi(
    mut settings: Settings,
    index: &str,
    requirements: &Path,
    options: SyncOptions,
) -> anyhow::Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let mut parsed = Vec::new();
    for line in text.lines() {
        if let Some(req) = airlock_pypi::sync::parse_requirement_line(line) {
            parsed.push(req.map_err(anyhow::Error::msg)?);
        }
    }
    settings.pypi.mode = Some(Mode::Online);
    let data = DataDir::open(&settings.data_dir).await?;
    // Nothing is served: the counters are never shown.
    let pypi = Arc::new(pypi_index(&settings, &data, &Metrics::default())?);
    pypi.register_indexes()
        .await
        .context("recording the [pypi] indexes")?;
    let spinner = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let show = |event: SyncEvent<'_>| {
        let line = match event {
            SyncEvent::Resolved {
                project,
                version,
                files,
            } => format!("{project} {version}: {files} files"),
            SyncEvent::Stored { filename, size } => format!("  stored {filename} ({size} bytes)"),
            SyncEvent::Unsatisfied {
                requirement,
                reason,
            } => format!("unsatisfied: {requirement}: {reason}"),
        };
        match &spinner {
            Some(bar) => {
                bar.set_message(line.clone());
                if line.starts_with("unsatisfied") {
                    bar.println(line);
                }
            }
            None => eprintln!("{line}"),
        }
    };
    let report = airlock_pypi::sync::sync(&pypi, index, parsed, &options, &show)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    data.checkpoint().await;
    println!(
        "synced {} projects, {} files into {index}; {} requirements unsatisfied",
        report.projects, report.files, report.unsatisfied
    );
    Ok(if report.unsatisfied == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// `airlock sync yum <repo>`: the mirror's new snapshot, published once complete.
pub async fn yum(mut settings: Settings, repo: &str) -> anyhow::Result<std::process::ExitCode> {
    use airlock_yum::sync::SyncEvent;
    use std::sync::atomic::{AtomicU64, Ordering};
    settings.yum.mode = Some(Mode::Online);
    let data = DataDir::open(&settings.data_dir).await?;
    let yum = Arc::new(crate::yum::open(&settings, &data).await?);
    airlock_yum::sync::mirror(&yum, repo)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let (done, total) = (AtomicU64::new(0), AtomicU64::new(0));
    let show = |event: SyncEvent<'_>| match event {
        SyncEvent::Metadata {
            href,
            size,
            fetched,
        } => {
            let how = if fetched { "fetched" } else { "already stored" };
            let line = format!("{repo}: {href} ({size} bytes) {how}");
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
        SyncEvent::Packages {
            count,
            to_fetch,
            bytes,
        } => {
            total.store(to_fetch as u64, Ordering::Relaxed);
            let line = format!(
                "{repo}: {count} packages, {to_fetch} to fetch ({} MB)",
                bytes / 1_000_000
            );
            match &bar {
                Some(bar) => {
                    bar.set_length(bytes);
                    bar.println(line);
                }
                None => eprintln!("{line}"),
            }
        }
        SyncEvent::Package {
            href,
            size,
            fetched,
        } => match (&bar, fetched) {
            (Some(bar), true) => {
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                bar.inc(size);
                bar.set_message(format!("{n}/{} {href}", total.load(Ordering::Relaxed)));
            }
            (Some(_), false) => {}
            (None, true) => eprintln!("{repo}: {href} ({size} bytes) fetched"),
            (None, false) => eprintln!("{repo}: {href} ({size} bytes) already stored"),
        },
    };
    let started = std::time::Instant::now();
    let result = airlock_yum::sync::sync(&yum, repo, &show).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    data.checkpoint().await;
    let report =
        result.with_context(|| format!("syncing {repo}; the previous snapshot stays served"))?;
    let what = if report.unchanged {
        "unchanged upstream: nothing to publish".to_owned()
    } else if report.published {
        "new snapshot published".to_owned()
    } else {
        "a newer sync published first; this result was dropped".to_owned()
    };
    println!(
        "synced {repo}: {} packages, {} fetched ({} MB) in {:.1}s; {what}",
        report.packages,
        report.fetched,
        report.fetched_bytes / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    Ok(std::process::ExitCode::SUCCESS)
}
