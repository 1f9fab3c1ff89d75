//! The binary's side of the YUM repositories: building [`Yum`] over the data
//! directory, and `airlock yum add`.

use crate::server::DataDir;
use crate::settings::Settings;
use airlock_yum::{Added, Yum};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::io::AsyncReadExt as _;

/// Opens the YUM repositories of the configuration (publishing empty ones).
pub async fn open(settings: &Settings, data: &DataDir) -> anyhow::Result<Yum> {
    Yum::open(
        &settings.yum,
        data.db.clone(),
        data.store.clone(),
        data.staging.clone(),
    )
    .await
    .context("opening the yum repositories")
}

/// Bytes read from a file at a time.
const READ_CHUNK: usize = 512 << 10;

/// `airlock yum add REPO FILES…`: each file goes through the checks of an
/// upload and is stored under its file name; the repository is published once
/// at the end. A bad file is reported and skipped (exit status 1).
pub async fn add(settings: Settings, repo: &str, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let data = DataDir::open(&settings.data_dir).await?;
    let yum = Arc::new(open(&settings, &data).await?);
    yum.repo(repo)?;
    let mut failed = 0;
    for path in files {
        match add_one(&yum, repo, path).await {
            Ok((href, Added::New)) => println!("added {href}"),
            Ok((href, Added::Unchanged)) => println!("unchanged {href}"),
            Err(e) => {
                failed += 1;
                eprintln!("airlock: {}: {e:#}", path.display());
            }
        }
    }
    yum.publish(repo).await?;
    println!(
        "{repo}: {} added or unchanged, {failed} refused",
        files.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn add_one(yum: &Yum, repo: &str, path: &PathBuf) -> anyhow::Result<(String, Added)> {
    let href = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("the file name is not UTF-8")?
        .to_owned();
    airlock_yum::check_upload_path(&href)?;
    let mut file = tokio::fs::File::open(path).await.context("opening")?;
    let mut writer = yum.staging.writer(Some(yum.max_upload)).await?;
    loop {
        let mut buf = Vec::with_capacity(READ_CHUNK);
        let n = (&mut file)
            .take(READ_CHUNK as u64)
            .read_to_end(&mut buf)
            .await
            .context("reading")?;
        if n == 0 {
            break;
        }
        writer.write(buf.into()).await?;
    }
    let staged = writer.finish(None).await?;
    let added = yum.add_package(repo, &href, staged).await?;
    Ok((href, added))
}
