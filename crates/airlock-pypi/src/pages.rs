//! Rendered project pages of indexes whose whole chain is hosted, kept in
//! memory. Such a page changes only through this server (uploads, yanks,
//! deletes all come in over HTTP), so every write bumps one generation and a
//! page rendered before it is never served after it. Pages with a mirror in
//! their chain are rendered per request: their rows also change by TTL and by
//! `airlock sync` in another process.

use crate::simple::Format;
use airlock_core::rendered::Prepared;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes of rendered pages kept; past it the cache starts over.
const CAPACITY: usize = 64 << 20;

type Key = (String, String, Format);

/// The cache (see the module docs).
#[derive(Debug, Default)]
pub struct PageCache {
    generation: AtomicU64,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    pages: HashMap<Key, (u64, Arc<Prepared>)>,
    bytes: usize,
}

impl PageCache {
    /// The generation to render under: read it before reading the rows.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A hosted index changed: every kept page is stale.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The page of `project` in `index`, if kept and current.
    pub fn get(&self, index: &str, project: &str, format: Format) -> Option<Arc<Prepared>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let key = (index.to_owned(), project.to_owned(), format);
        entries
            .pages
            .get(&key)
            .filter(|(generation, _)| *generation == self.generation())
            .map(|(_, page)| Arc::clone(page))
    }

    /// Keeps a page rendered from rows read under `generation`.
    pub fn put(
        &self,
        index: &str,
        project: &str,
        format: Format,
        generation: u64,
        page: Arc<Prepared>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.bytes + page.len() > CAPACITY {
            entries.pages.clear();
            entries.bytes = 0;
        }
        entries.bytes += page.len();
        let key = (index.to_owned(), project.to_owned(), format);
        if let Some((_, old)) = entries.pages.insert(key, (generation, page)) {
            entries.bytes = entries.bytes.saturating_sub(old.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_makes_every_kept_page_stale() {
        let cache = PageCache::default();
        let page = Arc::new(Prepared::new(b"<a>".to_vec()));
        let before = cache.generation();
        cache.put("root/dev", "foo", Format::Json, before, Arc::clone(&page));
        assert!(cache.get("root/dev", "foo", Format::Json).is_some());
        assert!(cache.get("root/dev", "foo", Format::Html).is_none());
        cache.changed();
        assert!(cache.get("root/dev", "foo", Format::Json).is_none());
        // Rendered from rows read before the write: never served after it.
        cache.put("root/dev", "foo", Format::Json, before, page);
        assert!(cache.get("root/dev", "foo", Format::Json).is_none());
    }
}
