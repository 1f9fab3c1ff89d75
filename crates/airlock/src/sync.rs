//! `airlock sync …`: fill a mirror from a list of what is needed, online, so the
//! data directory can be carried across the gap and served offline.

use crate::server::{pypi_index, DataDir};
use crate::settings::Settings;
use airlock_pypi::sync::{self, SyncEvent, SyncOptions};
use anyhow::Context as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// `airlock sync pypi --index I -r requirements.txt [filters]`.
pub async fn pypi(
    settings: Settings,
    index: &str,
    requirements: &Path,
    options: SyncOptions,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let text = std::fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let mut parsed = Vec::new();
    for line in text.lines() {
        if let Some(req) = sync::parse_requirement_line(line) {
            parsed.push(req.map_err(anyhow::Error::msg)?);
        }
    }
    let data = DataDir::open(&settings.data_dir).await?;
    let pypi = Arc::new(pypi_index(&settings, &data)?);
    anyhow::ensure!(
        pypi.mode == airlock_core::Mode::Online,
        "airlock sync fetches from the upstream: run it where airlock is online"
    );
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
    let report = sync::sync(&pypi, index, parsed, &options, &show)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    println!(
        "synced {} projects, {} files into {index}; {} requirements unsatisfied",
        report.projects, report.files, report.unsatisfied
    );
    Ok(if report.unsatisfied == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
