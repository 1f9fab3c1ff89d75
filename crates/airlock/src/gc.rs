//! `airlock gc`, and the same run on a schedule inside `airlock serve`:
//! each protocol drops its own dead rows, then the shared sweep deletes the
//! blobs that no protocol references (`airlock_core::gc`).

use crate::server::DataDir;
use crate::settings::{GcSettings, Settings};
use airlock_core::db::BlobReference;
use airlock_core::gc::{Changes, SweepReport};
use airlock_oci::gc::PruneReport;
use std::process::ExitCode;
use std::time::Instant;

/// Every column of every protocol that references a blob: what keeps a blob alive.
pub fn blob_references() -> Vec<BlobReference> {
    [
        airlock_go::index::BLOB_REFERENCES,
        airlock_oci::index::BLOB_REFERENCES,
        airlock_pypi::index::BLOB_REFERENCES,
        airlock_yum::index::BLOB_REFERENCES,
    ]
    .concat()
}

/// What one collection did.
pub struct Collected {
    /// The registry's dead rows.
    pub oci: PruneReport,
    /// The blobs.
    pub sweep: SweepReport,
}

impl std::fmt::Display for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mb = |bytes: u64| bytes as f64 / 1e6;
        write!(
            f,
            "{} blobs ({:.1} MB) and {} orphan files ({:.1} MB) freed; {} OCI manifests, {} unused OCI blob links and {} OCI sha512 aliases dropped; {} unreferenced blobs younger than the grace period kept",
            self.sweep.blobs,
            mb(self.sweep.bytes),
            self.sweep.orphans,
            mb(self.sweep.orphan_bytes),
            self.oci.manifests,
            self.oci.blob_links,
            self.oci.aliases,
            self.sweep.young,
        )
    }
}

/// One collection over an opened data directory.
pub async fn collect(
    data: &DataDir,
    settings: &GcSettings,
    dry_run: bool,
) -> anyhow::Result<Collected> {
    // A dry run makes its row changes in a transaction that is dropped, rolled
    // back, at the end (see `airlock_core::gc`).
    let mut writer = match dry_run {
        true => Some(data.db.writer().await),
        false => None,
    };
    let mut changes = match writer.as_mut() {
        Some(conn) => Changes::dry_run(conn).await?,
        None => Changes::Live(&data.db),
    };
    let oci = airlock_oci::gc::prune(
        &mut changes,
        settings.grace,
        settings.delete_untagged_manifests,
    )
    .await?;
    let sweep = airlock_core::gc::sweep(
        &mut changes,
        data.store.as_ref(),
        &blob_references(),
        settings.grace,
    )
    .await?;
    Ok(Collected { oci, sweep })
}

/// `airlock gc [--dry-run]`.
pub async fn run(settings: Settings, dry_run: bool) -> anyhow::Result<ExitCode> {
    let data = DataDir::open(&settings.data_dir).await?;
    let started = Instant::now();
    let collected = collect(&data, &settings.gc, dry_run).await?;
    println!(
        "gc{}: {collected} (in {:.1}s)",
        if dry_run {
            " (dry run, nothing deleted)"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
