//! The root page (what is mounted and how to point clients at it), `/readyz` and
//! `/metrics`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use airlock_core::metrics::Metrics;
use airlock_core::{Db, Mode};
use std::path::PathBuf;
use std::sync::Arc;

/// What the pages show about this server.
pub struct ServerInfo {
    /// The index, for counts and readiness.
    pub db: Db,
    /// The data directory, checked by `/readyz`.
    pub data_dir: PathBuf,
    /// The Go proxy's mode.
    pub go_mode: Mode,
    /// Proxied checksum databases.
    pub go_sumdbs: Vec<String>,
    /// The Python indexes (their settings and request counters).
    pub pypi: Arc<airlock_pypi::Pypi>,
    /// The OCI registry's mode.
    pub oci_mode: Mode,
    /// The upstream registries it pulls through (`[[oci.upstreams]]` names).
    pub oci_upstreams: Vec<String>,
    /// The configured YUM repositories: name and kind, in configuration order.
    pub yum_repos: Vec<(String, &'static str)>,
}

/// Each configured YUM repository with the packages its current snapshot
/// serves (0 before its first publish or sync). Repositories the index still
/// holds but the configuration no longer names are left out: they are not
/// served.
async fn yum_repositories(info: &ServerInfo) -> Vec<(String, &'static str, i64)> {
    let recorded = airlock_yum::index::summary(&info.db)
        .await
        .unwrap_or_default();
    let mut repos: Vec<_> = info
        .yum_repos
        .iter()
        .map(|(name, kind)| {
            let packages = recorded
                .iter()
                .find(|(recorded, _, _)| recorded == name)
                .map_or(0, |(_, _, packages)| *packages);
            (name.clone(), *kind, packages)
        })
        .collect();
    repos.sort();
    repos
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /`: the mounted protocols with copy-paste client settings for this host.
pub async fn root(req: HttpRequest, info: web::Data<ServerInfo>) -> HttpResponse {
    let base = {
        let conn = req.connection_info();
        escape(&format!("{}://{}", conn.scheme(), conn.host()))
    };
    let (modules, versions) = airlock_go::index::counts(&info.db).await.unwrap_or((0, 0));
    let (repositories, manifests, tags) = airlock_oci::index::counts(&info.db)
        .await
        .unwrap_or((0, 0, 0));
    let registry = escape(req.connection_info().host());
    let mode = match info.go_mode {
        Mode::Online => "online: misses are fetched from the upstream proxies and stored",
        Mode::Offline => "offline: only stored modules are served; no connection leaves this host",
    };
    let mirrors = match (info.oci_upstreams.first(), info.oci_mode) {
        (None, _) => {
            "No upstream registries are configured (<code>[[oci.upstreams]]</code>).".to_owned()
        }
        (Some(first), mode) => format!(
            "Mirrors ({how}): {names}. Pull <code>{registry}/{first}/…</code>, or point \
             containerd at this host (it sends <code>?ns={first}</code>).",
            how = match mode {
                Mode::Online => "online: misses are pulled through and stored",
                Mode::Offline => "offline: only stored images are served",
            },
            names = escape(&info.oci_upstreams.join(", ")),
            first = escape(first),
        ),
    };
    let gosumdb = info
        .go_sumdbs
        .first()
        .map(|name| {
            // Only sum.golang.org's key is built into go; others need theirs.
            let name = if name == "sum.golang.org" {
                name.clone()
            } else {
                format!("{name}+<its public key>")
            };
            format!(
                "export GOSUMDB={}        # verified through airlock's cached checksum database\n\
                 export GONOSUMDB=corp.example.com   # private modules, never in the checksum database",
                escape(&name)
            )
        })
        .unwrap_or_else(|| "export GOSUMDB=off        # no checksum database is proxied".into());
    let pypi = pypi_section(&info, &base).await;
    let yum = yum_section(&info, &base).await;
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>airlock</title>
<style>body{{font-family:sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}}pre{{background:#f4f4f4;padding:1rem;overflow-x:auto}}</style>
</head><body>
<h1>airlock {version}</h1>
<p>One artifact mirror for air-gapped networks.</p>
<h2>Go modules — <code>{base}/go</code></h2>
<p>Mode: {mode}. Stored: {modules} modules, {versions} module versions
(<a href="/go/catalog">catalog</a>).</p>
<pre>export GOPROXY={base}/go
{gosumdb}
export GOTOOLCHAIN=local</pre>
{pypi}<h2>OCI registry — <code>{registry}/v2/</code></h2>
<p>Stored: {repositories} repositories, {manifests} manifests, {tags} tags
(<a href="/v2/_catalog">catalog</a>). {mirrors}</p>
<p>Pushes and deletes need a <code>[[users]]</code> entry;
pulls are anonymous. Over plain HTTP, mark the registry insecure (see docs/oci.md).</p>
<pre>skopeo copy --dest-creds USER:PASSWORD --dest-tls-verify=false \
  oci:./image:latest docker://{registry}/team/app:latest
podman pull --tls-verify=false {registry}/team/app:latest</pre>
{yum}<h2>Operations</h2>
<ul><li><a href="/healthz">/healthz</a> — the process is up</li>
<li><a href="/readyz">/readyz</a> — the index and the data directory are usable</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics</li></ul>
</body></html>
"#,
        version = env!("CARGO_PKG_VERSION"),
    );
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(body)
}

/// The YUM repositories with a `.repo` line each (nothing when none is configured).
async fn yum_section(info: &ServerInfo, base: &str) -> String {
    let repos = yum_repositories(info).await;
    if repos.is_empty() {
        return String::new();
    }
    let mut section = format!("<h2>YUM repositories — <code>{base}/yum/</code></h2>\n<ul>\n");
    for (name, kind, packages) in repos {
        let name = escape(&name);
        section.push_str(&format!(
            "<li><a href=\"/yum/{name}/\">{name}</a> ({kind}, {packages} packages): \
             <code>baseurl={base}/yum/{name}/</code></li>\n"
        ));
    }
    section.push_str("</ul>\n");
    section
}

/// `GET /readyz`: 200 when the index answers and the data directory is writable.
pub async fn ready(info: web::Data<ServerInfo>) -> HttpResponse {
    if let Err(e) = info.db.ping().await {
        return HttpResponse::ServiceUnavailable().body(format!("index unavailable: {e}\n"));
    }
    let probe = info.data_dir.join("tmp").join(".readyz");
    if let Err(e) = tokio::fs::write(&probe, b"ok").await {
        return HttpResponse::ServiceUnavailable()
            .body(format!("data directory not writable: {e}\n"));
    }
    let _ = tokio::fs::remove_file(&probe).await;
    HttpResponse::Ok().body("ready\n")
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(metrics: web::Data<Metrics>, info: web::Data<ServerInfo>) -> HttpResponse {
    let mut body = metrics.render();
    body.push_str(&pypi_metrics(&info).await);
    body.push_str(&yum_metrics(&info).await);
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(body)
}

/// `airlock_yum_packages`, one sample per YUM repository (names are plain
/// path characters: nothing to escape in a label).
async fn yum_metrics(info: &ServerInfo) -> String {
    let repos = yum_repositories(info).await;
    if repos.is_empty() {
        return String::new();
    }
    let mut text = "# HELP airlock_yum_packages Packages in each YUM repository.\n\
                    # TYPE airlock_yum_packages gauge\n"
        .to_owned();
    for (name, kind, packages) in repos {
        text.push_str(&format!(
            "airlock_yum_packages{{repository=\"{name}\",kind=\"{kind}\"}} {packages}\n"
        ));
    }
    text
}

/// The root page's Python section: each index with what it holds, how it was
/// used since start, and copy-paste client settings.
async fn pypi_section(info: &ServerInfo, base: &str) -> String {
    let (projects, files) = airlock_pypi::index::counts(&info.db)
        .await
        .unwrap_or((0, 0));
    let counts = airlock_pypi::index::index_counts(&info.db)
        .await
        .unwrap_or_default();
    let mut out = format!(
        "<h2>Python packages — <code>{base}/pypi</code></h2>\n\
         <p>Mode: {mode}. Stored: {projects} projects, {files} files (pip, uv and twine \
         settings: docs/pypi.md).</p>\n<table>\n<tr><th>index</th><th>kind</th><th>projects</th>\
         <th>files stored</th><th>requests</th><th>sent</th><th>cache hits</th></tr>\n",
        mode = match info.pypi.mode {
            Mode::Online => "online: mirrors fetch misses from their upstreams",
            Mode::Offline => "offline: mirrors serve only stored files",
        },
    );
    for index in &info.pypi.indexes {
        let (projects, files) = counts
            .iter()
            .find(|(name, _, _)| *name == index.name)
            .map_or((0, 0), |(_, p, f)| (*p, *f));
        let kind = match (index.kind, index.bases.is_empty()) {
            (airlock_pypi::IndexKind::Hosted, false) => {
                format!("hosted, bases: {}", escape(&index.bases.join(", ")))
            }
            (kind, _) => kind.as_str().to_owned(),
        };
        let (requests, sent, hits) = match info.pypi.counters.get(&index.name) {
            Some(c) => {
                let (hits, misses) = c.cache();
                let ratio = match hits + misses {
                    0 => "-".to_owned(),
                    n => format!("{hits} of {n}"),
                };
                (c.requests(), c.bytes() >> 20, ratio)
            }
            None => (0, 0, "-".to_owned()),
        };
        let name = escape(&index.name);
        out.push_str(&format!(
            "<tr><td><a href=\"/pypi/{name}/simple/\">{name}</a></td><td>{kind}</td>\
             <td>{projects}</td><td>{files}</td><td>{requests}</td><td>{sent} MiB</td><td>{hits}</td></tr>\n"
        ));
    }
    out.push_str("</table>\n");
    for index in &info.pypi.indexes {
        let index = escape(&index.name);
        out.push_str(&format!(
            "<p>{index}:</p>\n<pre>pip install --index-url {base}/pypi/{index}/simple/ PACKAGE\n\
             twine upload --repository-url {base}/pypi/{index}/ dist/*</pre>\n"
        ));
    }
    out
}

/// `airlock_pypi_projects` and `airlock_pypi_files`, one sample per
/// configured Python index (names are `user/index`: nothing to escape).
async fn pypi_metrics(info: &ServerInfo) -> String {
    let counts = airlock_pypi::index::index_counts(&info.db)
        .await
        .unwrap_or_default();
    let mut projects = "# HELP airlock_pypi_projects Projects known to each Python index.\n\
                        # TYPE airlock_pypi_projects gauge\n"
        .to_owned();
    let mut files = "# HELP airlock_pypi_files Files stored in each Python index.\n\
                     # TYPE airlock_pypi_files gauge\n"
        .to_owned();
    for index in &info.pypi.indexes {
        let Some((_, p, f)) = counts.iter().find(|(name, _, _)| *name == index.name) else {
            continue;
        };
        let labels = format!("index=\"{}\",kind=\"{}\"", index.name, index.kind.as_str());
        projects.push_str(&format!("airlock_pypi_projects{{{labels}}} {p}\n"));
        files.push_str(&format!("airlock_pypi_files{{{labels}}} {f}\n"));
    }
    projects + &files
}
