//! Rendered project pages of indexes whose whole chain is hosted, kept in
//! memory. Such a page changes only through this server (uploads, yanks,
//! deletes all come in over HTTP), so every write bumps one generation and a
//! page rendered before it is never served after it. Pages with a mirror in
//! their chain are rendered per request: their rows also change by TTL and by
//! `airlock sync` in another process.

use crate::simple::Format;
use airlock_core::memo::{Memo, Ticket};
use airlock_core::rendered::Prepared;
use std::sync::Arc;

/// Bytes of rendered pages kept; past it the cache starts over.
const CAPACITY: usize = 64 << 20;

/// The cache (see the module docs): kept until this server's next write.
#[derive(Debug)]
pub struct PageCache(Memo<(String, String, Format), Arc<Prepared>>);

impl Default for PageCache {
    fn default() -> Self {
        PageCache(Memo::new(None, CAPACITY))
    }
}

impl PageCache {
    /// What to render under: take it before reading the rows.
    pub fn generation(&self) -> Ticket {
        self.0.ticket()
    }

    /// A hosted index changed: every kept page is stale.
    pub fn changed(&self) {
        self.0.invalidate();
    }

    /// The page of `project` in `index`, if kept and current.
    pub fn get(&self, index: &str, project: &str, format: Format) -> Option<Arc<Prepared>> {
        self.0.get(&(index.to_owned(), project.to_owned(), format))
    }

    /// Keeps a page rendered from rows read under `generation`.
    pub fn put(
        &self,
        index: &str,
        project: &str,
        format: Format,
        generation: Ticket,
        page: Arc<Prepared>,
    ) {
        let weight = page.len();
        self.0.put(
            generation,
            (index.to_owned(), project.to_owned(), format),
            page,
            weight,
        );
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
