//! An index's `/simple/` project list.
//!
//! - A hosted index lists its projects, read from the index per request.
//! - A mirror lists its upstream's project list while online (fetched and
//!   kept like a project page: TTL, `ETag`, the stored copy when the upstream
//!   fails, [`crate::mirror::refresh_root`]); offline, the stored copy if
//!   there is one, else the projects it holds.
//! - An index with bases lists the union of its chain's lists.
//!
//! An upstream's list has hundreds of thousands of names (PyPI: about 700k,
//! 30 MB). A list with such a part is parsed, merged and rendered once per
//! format and kept as a [`Prepared`] body (its `ETag` and gzip form computed
//! once too) until a part changes: a new upstream copy, or other projects in a
//! hosted part.

use crate::error::PypiError;
use crate::index::{self, RootList};
use crate::simple::{self, Format};
use crate::{inherit, mirror, name, upstream_page, IndexKind, IndexSettings, Pypi};
use airlock_core::rendered::Prepared;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex};

/// A project list to send.
pub enum RootPage {
    /// Rendered for this request (only small parts).
    Rendered(String),
    /// Rendered once and kept.
    Prepared(Arc<Prepared>),
}

/// Lists rendered once, by (index, JSON or not).
#[derive(Debug, Default)]
pub struct RootCache(Mutex<HashMap<(String, bool), Rendered>>);

/// A list rendered once: the key of the parts it was rendered from, and the body.
type Rendered = (u64, Arc<Prepared>);

impl RootCache {
    fn get(&self, index: &str, json: bool, key: u64) -> Option<Arc<Prepared>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(index.to_owned(), json))
            .filter(|(k, _)| *k == key)
            .map(|(_, body)| Arc::clone(body))
    }

    fn put(&self, index: &str, json: bool, key: u64, body: Arc<Prepared>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((index.to_owned(), json), (key, body));
    }
}

/// One member's contribution to a list.
enum Part {
    /// (normalized, display) names from the index.
    Rows(Vec<(String, String)>),
    /// A mirror's stored upstream list.
    Upstream(RootList),
}

/// The project list of `index` in `format`.
pub async fn root_page(
    pypi: &Pypi,
    index: &IndexSettings,
    format: Format,
) -> Result<RootPage, PypiError> {
    let mut parts = Vec::new();
    for member in inherit::chain(pypi, index) {
        let list = match member.kind {
            IndexKind::Hosted => None,
            IndexKind::Mirror => mirror::refresh_root(pypi, member).await?,
        };
        parts.push(match list {
            Some(list) => Part::Upstream(list),
            None => Part::Rows(index::projects(&pypi.db, &member.name).await?),
        });
    }
    if parts.iter().all(|p| matches!(p, Part::Rows(_))) {
        let rows = merge(parts.into_iter().map(|p| match p {
            Part::Rows(rows) => rows,
            Part::Upstream(_) => Vec::new(),
        }));
        return Ok(RootPage::Rendered(simple::root_page(format, &rows)));
    }
    let json = format == Format::Json;
    let key = {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for part in &parts {
            match part {
                Part::Rows(rows) => rows.hash(&mut hasher),
                Part::Upstream(list) => list.digest.hex().hash(&mut hasher),
            }
        }
        hasher.finish()
    };
    if let Some(body) = pypi.roots.get(&index.name, json, key) {
        return Ok(RootPage::Prepared(body));
    }
    let _rendering = pypi
        .inflight
        .lock(&format!("pypi-root-render:{}", index.name))
        .await;
    if let Some(body) = pypi.roots.get(&index.name, json, key) {
        return Ok(RootPage::Prepared(body));
    }
    let paths: Vec<_> = parts
        .into_iter()
        .map(|p| match p {
            Part::Rows(rows) => Ok(rows),
            Part::Upstream(list) => Err((pypi.store.path_of(&list.digest), list.content_type)),
        })
        .collect();
    let index_name = index.name.clone();
    let body = tokio::task::spawn_blocking(move || {
        let lists = paths.into_iter().map(|part| match part {
            Ok(rows) => rows,
            Err((path, content_type)) => {
                upstream_page::parse_root(&path, &content_type).unwrap_or_else(|error| {
                    tracing::warn!(index = %index_name, error, "pypi: a stored upstream project list is unreadable; left out");
                    Vec::new()
                })
                .into_iter()
                .filter_map(|display| Some((name::project_name(&display).ok()?, display)))
                .collect()
            }
        });
        let rows = merge(lists);
        Prepared::new(simple::root_page(format, &rows).into_bytes())
    })
    .await
    .map_err(|e| PypiError::Internal(e.to_string()))?;
    let body = Arc::new(body);
    pypi.roots.put(&index.name, json, key, Arc::clone(&body));
    Ok(RootPage::Prepared(body))
}

/// The union of lists, by normalized name; the first display name wins.
fn merge(lists: impl IntoIterator<Item = Vec<(String, String)>>) -> Vec<(String, String)> {
    let mut merged = BTreeMap::new();
    for list in lists {
        for (normalized, display) in list {
            merged.entry(normalized).or_insert(display);
        }
    }
    merged.into_iter().collect()
}
