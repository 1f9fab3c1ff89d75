//! Opens the data directory, builds each protocol, and runs the one HTTP server.

use crate::page;
use crate::settings::Settings;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpResponse, HttpServer};
use airlock_core::auth::Users;
use airlock_core::background::Background;
use airlock_core::inflight::Inflight;
use airlock_core::metrics::{CacheResult, Metrics, RepositoryCounters};
use airlock_core::serve::CACHE_HEADER;
use airlock_core::upstream::Upstream;
use airlock_core::writebehind::WriteBehind;
use airlock_core::{Db, LocalStore, Staging};
use airlock_go::GoProxy;
use airlock_oci::Registry;
use anyhow::Context as _;
use futures_util::StreamExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The opened data directory: index, blobs and this process's staging area.
#[derive(Clone)]
pub struct DataDir {
    /// The index.
    pub db: Db,
    /// The blobs.
    pub store: Arc<LocalStore>,
    /// Temp files of this process.
    pub staging: Arc<Staging>,
    /// The directory itself.
    pub dir: std::path::PathBuf,
}

impl DataDir {
    /// Opens (creating) `<data>/airlock.db`, `<data>/blobs`, `<data>/tmp`.
    pub async fn open(dir: &Path) -> anyhow::Result<DataDir> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // A new store makes its 256 directories (15-30 ms on ext4) while the
        // new index runs its migrations.
        let blobs = dir.join("blobs");
        let store = tokio::task::spawn_blocking(move || LocalStore::open(blobs));
        let db = Db::open(&dir.join("airlock.db")).await;
        let store = store.await.context("opening the blob store")?;
        let store = Arc::new(store.context("opening the blob store")?);
        let db = db.context("opening the index")?;
        let staging = Arc::new(Staging::open(dir.join("tmp")).context("opening the temp area")?);
        Ok(DataDir {
            db,
            store,
            staging,
            dir: dir.to_owned(),
        })
    }

    /// Before a command that wrote much exits: empties the index's
    /// write-ahead log, which the next process to open the index would
    /// otherwise read whole ([`Db::checkpoint`]). A failure only costs that.
    pub async fn checkpoint(&self) {
        if let Err(e) = self.db.checkpoint().await {
            tracing::warn!(error = %e, "the index's write-ahead log stays for the next process to read");
        }
    }

    /// The area of resumable uploads, `<data>/tmp/uploads` (beside staging, on
    /// the blobs' filesystem: a finished upload is renamed into the store).
    pub fn uploads(&self) -> anyhow::Result<airlock_core::upload::UploadArea> {
        airlock_core::upload::UploadArea::open(self.dir.join("tmp").join("uploads"))
            .context("opening the upload area")
    }
}

/// A route for GET and HEAD (actix sends no body for HEAD).
fn read() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// Builds the Go proxy over an opened data directory.
pub fn go_proxy(settings: &Settings, data: &DataDir, metrics: Metrics) -> anyhow::Result<GoProxy> {
    let resolved = settings.go.resolve().map_err(anyhow::Error::msg)?;
    let stopping = tokio_util::sync::CancellationToken::new();
    Ok(GoProxy {
        mode: settings.go_mode(),
        upstreams: resolved.upstreams,
        sumdbs: resolved.sumdbs,
        sumdb_check: resolved.check,
        db: data.db.clone(),
        store: data.store.clone(),
        staging: data.staging.clone(),
        upstream: Upstream::new(&settings.upstream).context("building the HTTP client")?,
        inflight: Inflight::default(),
        metrics,
        caches: airlock_go::cache::Caches::new(settings.go.metadata_ttl),
        tasks: tokio_util::task::TaskTracker::new(),
        prefetch: airlock_go::proxy::Prefetch::new(settings.go.prefetch),
        write_behind: Arc::new(WriteBehind::new(stopping.clone())),
        stopping,
        background: tokio::runtime::Handle::current(),
    })
}

/// Builds the Python index over an opened data directory.
pub fn pypi_index(
    settings: &Settings,
    data: &DataDir,
    metrics: &Metrics,
) -> anyhow::Result<airlock_pypi::Pypi> {
    Ok(airlock_pypi::Pypi {
        indexes: settings.pypi.index.clone(),
        db: data.db.clone(),
        store: data.store.clone(),
        staging: data.staging.clone(),
        page_max_age: settings.pypi.page_max_age,
        max_upload: settings.pypi.max_upload_bytes,
        mode: settings.pypi.mode.unwrap_or(settings.mode),
        upstream: Upstream::new(&settings.upstream).context("building the HTTP client")?,
        inflight: Inflight::default(),
        mirror_ttl: settings.pypi.mirror_page_ttl,
        background: Background::on_current_runtime(),
        arriving: Default::default(),
        roots: Default::default(),
        pages: Default::default(),
        counters: settings
            .pypi
            .index
            .iter()
            .map(|i| (i.name.clone(), metrics.repository("pypi", &i.name)))
            .collect(),
    })
}

/// Builds the OCI registry over an opened data directory.
pub fn oci_registry(settings: &Settings, data: &DataDir) -> anyhow::Result<Registry> {
    Ok(Registry {
        db: data.db.clone(),
        store: data.store.clone(),
        staging: data.staging.clone(),
        uploads: data.uploads()?,
        locks: Inflight::default(),
        settings: settings.oci.clone(),
        auth: airlock_oci::auth::Auth::new(settings.oci.namespaces.clone()),
        mirrors: airlock_oci::mirror::Mirrors::new(
            &settings.oci,
            settings.oci_mode(),
            &Upstream::new(&settings.upstream).context("building the HTTP client")?,
        ),
        kept: airlock_oci::Kept::new(&data.db),
        background: Background::on_current_runtime(),
    })
}

/// How often idle upload sessions are looked for.
const UPLOAD_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs the server until it is stopped (SIGINT/SIGTERM).
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let data = DataDir::open(&settings.data_dir).await?;
    let metrics = Metrics::default();
    let go = Arc::new(go_proxy(&settings, &data, metrics.clone())?);
    let pypi = Arc::new(pypi_index(&settings, &data, &metrics)?);
    pypi.register_indexes()
        .await
        .context("recording the [pypi] indexes")?;
    let yum = Arc::new(crate::yum::open(&settings, &data).await?);
    let loading = Arc::clone(&go);
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        tokio::select! {
            _ = loading.stopping.cancelled() => {}
            loaded = loading.load_stored_keys() => match loaded {
                Ok(files) => tracing::info!(files, duration_ms = %Millis(started.elapsed()), "go index keys loaded"),
                Err(e) => tracing::error!(error = %e, "could not load the go index keys; every miss asks the index"),
            },
        }
    });
    let oci = Arc::new(oci_registry(&settings, &data)?);
    let sweeping = Arc::clone(&oci);
    let stop_sweeping = go.stopping.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPLOAD_SWEEP_INTERVAL);
        loop {
            tokio::select! {
                _ = stop_sweeping.cancelled() => break,
                _ = ticks.tick() => match sweeping.sweep_uploads().await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "oci: idle upload sessions removed"),
                    Err(e) => tracing::error!(error = %e, "oci: sweeping upload sessions failed"),
                },
            }
        }
    });
    if settings.yum_mode() == airlock_core::Mode::Online {
        crate::yum::spawn_refreshes(&yum, &go.stopping);
    }
    if !settings.gc.interval.is_zero() {
        let (gc, every) = (settings.gc.clone(), settings.gc.interval);
        let (data, stop) = (data.clone(), go.stopping.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await; // the first tick is now: wait one interval first
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => match crate::gc::collect(&data, &gc, false).await {
                        Ok(collected) => tracing::info!("gc: {collected}"),
                        Err(e) => tracing::error!(error = %e, "gc failed"),
                    },
                }
            }
        });
    }
    let listener = std::net::TcpListener::bind(&settings.listen)
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let state = web::Data::new(page::ServerInfo {
        db: data.db.clone(),
        data_dir: settings.data_dir.clone(),
        go_mode: settings.go_mode(),
        go_sumdbs: go.sumdbs.iter().map(|s| s.name.clone()).collect(),
        pypi: Arc::clone(&pypi),
        oci_mode: settings.oci_mode(),
        oci_upstreams: settings
            .oci
            .upstreams
            .iter()
            .map(|u| u.name.clone())
            .collect(),
        yum_repos: yum
            .repos
            .iter()
            .map(|r| (r.name.clone(), r.kind.as_str()))
            .collect(),
    });
    let users = web::Data::new(Users::new(settings.users.clone()));
    let metrics_data = web::Data::new(metrics);
    let write_behind = web::Data::from(Arc::clone(&go.write_behind));
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), go_mode = ?settings.go_mode(), oci_mode = ?settings.oci_mode(), "airlock starting");
    let go_at_shutdown = Arc::clone(&go);
    let pypi_at_shutdown = Arc::clone(&pypi);
    let yum_at_shutdown = Arc::clone(&yum);
    let oci_at_shutdown = Arc::clone(&oci);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(log_request))
            .app_data(state.clone())
            .app_data(users.clone())
            .app_data(metrics_data.clone())
            .app_data(write_behind.clone())
            // GET and HEAD (RFC 9110: wherever GET works, HEAD does).
            .route("/", read().to(page::root))
            .route(
                "/healthz",
                read().to(|| async { HttpResponse::Ok().body("ok\n") }),
            )
            .route("/readyz", read().to(page::ready))
            .route("/metrics", read().to(page::metrics))
            .service(web::scope("/go").configure(airlock_go::configure(go.clone())))
            .service(web::scope("/pypi").configure(airlock_pypi::configure(pypi.clone())))
            .service(web::scope("/v2").configure(airlock_oci::configure(oci.clone())))
            .service(web::scope("/yum").configure(airlock_yum::configure(yum.clone())))
            // Last: devpi's URL shapes (`/<user>/<index>/+simple/…`, `/+f/…`),
            // redirected under /pypi. Matches only paths of that shape.
            .configure(airlock_pypi::configure_devpi)
    })
    // Small answers go out in one write; without TCP_NODELAY a write after the
    // headers waits for a delayed ACK (40 ms on Linux).
    .on_connect(|conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    })
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    // Tests and scripts read this line to learn the port.
    println!("airlock listening on http://{addr}");
    server.await?;
    // Files already served to clients are still being made durable: finish them.
    // Fetches still receiving (prefetches, streamed zips whose client is gone)
    // are dropped: nothing of them is stored.
    go_at_shutdown.stopping.cancel();
    go_at_shutdown.tasks.close();
    go_at_shutdown.tasks.wait().await;
    // Mirrored Python files and OCI blobs being stored (their clients were
    // served) finish too.
    pypi_at_shutdown.background.drain().await;
    oci_at_shutdown.background.drain().await;
    // So do YUM mirror files fetched on demand.
    yum_at_shutdown.tasks.close();
    yum_at_shutdown.tasks.wait().await;
    tracing::info!("airlock stopped");
    Ok(())
}

/// A duration in milliseconds rounded to the microsecond (`0.338`), for log fields.
struct Millis(std::time::Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let micros = (self.0.as_nanos() + 500) / 1000;
        write!(f, "{}.{:03}", micros / 1000, micros % 1000)
    }
}

/// Which protocol a path belongs to, for metrics and logs.
fn protocol_of(path: &str) -> &'static str {
    match path.split('/').nth(1) {
        Some("go") => "go",
        Some("pypi") => "pypi",
        Some("v2") => "oci",
        Some("yum") => "yum",
        // devpi's own URLs, `/<user>/<index>/+simple/…` and `/+f/…`, redirect to /pypi.
        _ if path.contains("/+simple") || path.contains("/+f/") => "pypi",
        _ => "server",
    }
}

/// One log line and one metrics update per request.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    if let Some(write_behind) = req.app_data::<web::Data<WriteBehind>>() {
        write_behind.busy(); // deferred stores wait while clients are active
    }
    let via = req.headers().get(header::VIA).and_then(|v| v.to_str().ok());
    let res = if airlock_core::upstream::came_from_here(via) {
        // This process sent it: answering would fetch it again, and again.
        let refused = HttpResponse::build(StatusCode::LOOP_DETECTED)
            .content_type("text/plain; charset=utf-8")
            .body("loop detected: this request came from this airlock (an upstream or a link names it)\n");
        req.into_response(refused).map_into_right_body()
    } else {
        next.call(req).await?.map_into_left_body()
    };
    let status = res.status().as_u16();
    let bytes = match res.response().body().size() {
        BodySize::Sized(n) => n,
        _ => 0,
    };
    let cache = res
        .headers()
        .get(CACHE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let protocol = protocol_of(&path);
    if let Some(metrics) = metrics {
        metrics.request(protocol, status, bytes);
    }
    if let Some(repository) = res.response().extensions().get::<RepositoryCounters>() {
        let result = match cache {
            "HIT" => Some(CacheResult::Hit),
            "MISS" => Some(CacheResult::Miss),
            _ => None,
        };
        repository.count(bytes, result);
    }
    tracing::info!(
        %method,
        %path,
        status,
        bytes,
        duration_ms = %Millis(start.elapsed()),
        cache = %cache,
        "request"
    );
    Ok(res)
}

/// Files read and checked at once.
const IMPORT_CONCURRENCY: usize = 4;
/// Files made durable and recorded together (two filesystem syncs and one
/// transaction per batch instead of two fsyncs and a transaction per file).
const IMPORT_BATCH_FILES: usize = 512;
/// Staged bytes that close a batch early, so temp space stays bounded.
const IMPORT_BATCH_BYTES: u64 = 512 << 20;

/// `airlock import gomodcache DIR`. `keep_unverified`: store module files that
/// cannot be verified against the checksum database (marked), as
/// `go.store_unverified` does online, instead of refusing them.
pub async fn import_gomodcache(
    mut settings: Settings,
    dir: &Path,
    keep_unverified: bool,
) -> anyhow::Result<std::process::ExitCode> {
    use std::io::IsTerminal as _;
    settings.go.store_unverified |= keep_unverified;
    let data = DataDir::open(&settings.data_dir).await?;
    let proxy = go_proxy(&settings, &data, Metrics::default())?;
    let (root, items) =
        airlock_go::import::scan(dir).with_context(|| format!("reading {}", dir.display()))?;
    let total: u64 = items.iter().map(|i| i.size).sum();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut report = airlock_go::import::ImportReport::default();
    let started = Instant::now();
    let (proxy, root) = (Arc::new(proxy), Arc::new(root));
    let count = items.len();
    // Checksum-database files first, committed, so that module files are
    // verified against them.
    let (sumdb, modules): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|item| airlock_go::import::is_sumdb(&root, item));
    let mut done = 0;
    for items in [sumdb, modules] {
        import_items(&proxy, &root, items, &mut report, &bar, &mut done, count).await?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    data.checkpoint().await;
    for (path, reason) in &report.left_out {
        eprintln!("left out {}: {reason}", path.display());
    }
    for (path, reason) in &report.rejected {
        eprintln!("rejected {}: {reason}", path.display());
    }
    for (path, reason) in &report.unverified {
        eprintln!("stored unverified {}: {reason}", path.display());
    }
    println!(
        "imported {} module files and {} checksum-database files ({} query answers, {} already stored, {} skipped, {} left out, {} rejected, {} not verified; {} MB in {:.1}s)",
        report.stored,
        report.sumdb_stored,
        report.queries,
        report.already,
        report.skipped,
        report.left_out.len(),
        report.rejected.len(),
        report.not_verified,
        report.bytes / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    Ok(if report.rejected.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// Imports `items`, several at once, committing them in batches.
async fn import_items(
    proxy: &Arc<GoProxy>,
    root: &Arc<std::path::PathBuf>,
    items: Vec<airlock_go::import::ImportItem>,
    report: &mut airlock_go::import::ImportReport,
    bar: &Option<indicatif::ProgressBar>,
    done: &mut usize,
    count: usize,
) -> anyhow::Result<()> {
    // Several files at once, each its own task: hashing and zip checks use every
    // core, and one file's fsync overlaps another's reading.
    let mut imports = futures_util::stream::iter(items)
        .map(|item| {
            let (proxy, root) = (proxy.clone(), root.clone());
            tokio::spawn(async move {
                let mut report = airlock_go::import::ImportReport::default();
                let result =
                    airlock_go::import::prepare_file(&proxy, &root, &item, &mut report).await;
                (item, report, result)
            })
        })
        .buffer_unordered(IMPORT_CONCURRENCY);
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    while let Some(joined) = imports.next().await {
        let (item, one, result) = joined.context("import task failed")?;
        report.merge(one);
        if let Some(pending) =
            result.with_context(|| format!("importing {}", item.path.display()))?
        {
            batch_bytes += pending.size();
            batch.push(pending);
        }
        if batch.len() >= IMPORT_BATCH_FILES || batch_bytes >= IMPORT_BATCH_BYTES {
            airlock_go::import::commit_batch(proxy, std::mem::take(&mut batch), report).await?;
            batch_bytes = 0;
        }
        *done += 1;
        match bar {
            Some(bar) => bar.inc(item.size),
            None if done.is_multiple_of(500) => eprintln!("import: {done}/{count} files"),
            None => {}
        }
    }
    airlock_go::import::commit_batch(proxy, batch, report).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_are_milliseconds_rounded_to_the_microsecond() {
        let ms = |nanos| Millis(Duration::from_nanos(nanos)).to_string();
        assert_eq!(ms(337_859), "0.338");
        assert_eq!(ms(0), "0.000");
        assert_eq!(ms(499), "0.000");
        assert_eq!(ms(812_437_600), "812.438");
        assert_eq!(ms(12_000_000_000), "12000.000");
    }
}
