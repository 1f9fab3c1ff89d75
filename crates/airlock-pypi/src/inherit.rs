//! What an index serves: its own files and, through `bases`, its bases'
//! (devpi's inheritance). The chain is the index itself, then its hosted
//! bases, then its mirror bases, each group in config order; the first index
//! in the chain that holds a filename wins. A project that a hosted index of
//! the chain holds hides the mirrors' files of that name (so an upload can
//! never be shadowed or mixed with an upstream's release of the same name)
//! unless the index's `mirror_whitelist` names it.

use crate::error::PypiError;
use crate::index::{self, PageFile};
use crate::{mirror, IndexKind, IndexSettings, Pypi};
use airlock_core::Mode;
use std::collections::BTreeMap;

/// The indexes searched for `index`, in order.
pub fn chain<'a>(pypi: &'a Pypi, index: &'a IndexSettings) -> Vec<&'a IndexSettings> {
    let bases: Vec<&IndexSettings> = index.bases.iter().filter_map(|b| pypi.index(b)).collect();
    let mut out = vec![index];
    out.extend(bases.iter().filter(|b| b.kind == IndexKind::Hosted));
    out.extend(bases.iter().filter(|b| b.kind == IndexKind::Mirror));
    out
}

/// The files of `project` (normalized) that `index`'s page lists, by filename.
/// Fetches mirror pages as needed: a mirror's own page fails when its upstream
/// fails with nothing stored; a mirror base that fails is left out (logged).
pub async fn project_files(
    pypi: &Pypi,
    index: &IndexSettings,
    project: &str,
) -> Result<Vec<PageFile>, PypiError> {
    let whitelisted = is_whitelisted(index, project);
    let mut merged: BTreeMap<String, PageFile> = BTreeMap::new();
    let mut hosted_has_it = false;
    for member in chain(pypi, index) {
        let files = match member.kind {
            IndexKind::Hosted => {
                let files = index::project_files(&pypi.db, &member.name, project, false).await?;
                hosted_has_it |= !files.is_empty();
                files
            }
            IndexKind::Mirror if hosted_has_it && !whitelisted => continue,
            IndexKind::Mirror => {
                match mirror::refresh(pypi, member, project).await {
                    Ok(()) => {}
                    Err(e) if member.name != index.name => {
                        tracing::warn!(index = %index.name, base = %member.name, project, error = %e, "pypi base left out of a page");
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                let offline = pypi.mode == Mode::Offline;
                index::project_files(&pypi.db, &member.name, project, offline).await?
            }
        };
        for file in files {
            merged.entry(file.filename.clone()).or_insert(file);
        }
    }
    Ok(merged.into_values().collect())
}

/// The first index of `index`'s chain that lists `filename`, as a page of
/// `index` would link it (a mirror hidden for the file's project is skipped).
pub async fn holder<'a>(
    pypi: &'a Pypi,
    index: &'a IndexSettings,
    filename: &str,
) -> Result<Option<&'a IndexSettings>, PypiError> {
    let project = crate::name::parse_filename(filename)
        .map(|f| f.project)
        .map_err(|e| PypiError::NotFound(e.0))?;
    let whitelisted = is_whitelisted(index, &project);
    let mut hosted_has_it = false;
    for member in chain(pypi, index) {
        if member.kind == IndexKind::Hosted {
            hosted_has_it |= !index::project_files(&pypi.db, &member.name, &project, false)
                .await?
                .is_empty();
        } else if hosted_has_it && !whitelisted {
            continue;
        }
        if index::file_sha256(&pypi.db, &member.name, filename)
            .await?
            .is_some()
        {
            return Ok(Some(member));
        }
    }
    Ok(None)
}

/// Whether `index`'s `mirror_whitelist` names `project` (normalized).
fn is_whitelisted(index: &IndexSettings, project: &str) -> bool {
    index
        .mirror_whitelist
        .iter()
        .any(|w| w == "*" || crate::name::normalize(w) == project)
}
