//! In-memory caches in front of the index, for the small GETs that dominate a
//! proxy's traffic.
//!
//! - Stored module files never change once recorded (the first writer wins), so a
//!   found row is cached for good. Misses are not cached: an import may add them.
//! - Small fetched files that passed their checks but are still being made durable
//!   ("pending") are served from memory, so that nobody waits for an fsync: the
//!   client that caused the fetch got the same bytes the same way.
//! - Computed answers (`@v/list`, `@latest`) are kept for a short time-to-live and
//!   dropped at once when this process stores a new zip (an `airlock_core::memo`).
//!   Another process (an import) becomes visible within the time-to-live.
//! - The keys of all stored module files, as 64-bit hashes ("stored keys"): loaded
//!   once at start and extended by every row this process finds or inserts. A miss
//!   that may go upstream skips the index when its key is not in the set: on the
//!   cold path every lookup would be a miss, and each is a round trip to a
//!   database thread. A row another process added since is found when the upstream
//!   fails, or wins at insert. (A hash collision only means asking the index.)

use crate::index::StoredFile;
use crate::request::FileKind;
use airlock_core::memo::{Memo, Ticket};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Entries kept per map before it is cleared (bounds memory, not correctness).
const CAPACITY: usize = 100_000;

/// Which computed answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Computed {
    /// `@v/list`.
    List,
    /// `@latest`.
    Latest,
}

/// (what, may fetch from upstreams, module).
type ComputedKey = (Computed, bool, String);

/// The caches of one Go proxy.
#[derive(Debug)]
pub struct Caches {
    files: Mutex<HashMap<String, StoredFile>>,
    /// Shared with the guards, which may outlive a borrow (moved into a task).
    pending: Arc<Mutex<HashMap<String, Bytes>>>,
    computed: Memo<ComputedKey, Bytes>,
    stored_keys: Mutex<StoredKeys>,
    key_hasher: RandomState,
}

/// Hashes of stored files' keys; see the module's notes.
#[derive(Debug, Default)]
struct StoredKeys {
    /// Every row of the index was added (and every row found or inserted since).
    complete: bool,
    keys: HashSet<u64>,
}

fn file_key(module: &str, version: &str, kind: FileKind) -> String {
    format!("{module}@{version}.{}", kind.as_str())
}

impl Caches {
    /// Caches with this time-to-live for computed answers.
    pub fn new(ttl: Duration) -> Self {
        Caches {
            files: Mutex::default(),
            pending: Arc::default(),
            computed: Memo::new(Some(ttl), CAPACITY),
            stored_keys: Mutex::default(),
            key_hasher: RandomState::new(),
        }
    }

    fn stored_key(&self, module: &str, version: &str, kind: &str) -> u64 {
        self.key_hasher.hash_one((module, version, kind))
    }

    /// Whether the file is certainly not in the index (as far as this process
    /// knows): never before the stored keys are loaded.
    pub fn surely_not_stored(&self, module: &str, version: &str, kind: FileKind) -> bool {
        let key = self.stored_key(module, version, kind.as_str());
        let stored = self.stored_keys.lock().unwrap_or_else(|p| p.into_inner());
        stored.complete && !stored.keys.contains(&key)
    }

    /// Adds rows read from the index (`kind` as the column holds it).
    pub fn add_stored_keys<'a>(&self, rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) {
        let hashes: Vec<u64> = rows
            .into_iter()
            .map(|(module, version, kind)| self.stored_key(module, version, kind))
            .collect();
        let mut stored = self.stored_keys.lock().unwrap_or_else(|p| p.into_inner());
        stored.keys.extend(hashes);
    }

    /// Every row of the index has been added: the set can now say "not stored".
    pub fn stored_keys_complete(&self) -> usize {
        let mut stored = self.stored_keys.lock().unwrap_or_else(|p| p.into_inner());
        stored.complete = true;
        stored.keys.len()
    }

    /// A stored file seen before.
    pub fn file(&self, module: &str, version: &str, kind: FileKind) -> Option<StoredFile> {
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        files.get(&file_key(module, version, kind)).cloned()
    }

    /// Remembers a stored file.
    pub fn put_file(&self, module: &str, version: &str, kind: FileKind, file: &StoredFile) {
        self.add_stored_keys([(module, version, kind.as_str())]);
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if files.len() >= CAPACITY {
            files.clear();
        }
        files.insert(file_key(module, version, kind), file.clone());
    }

    /// The bytes of a checked file being stored, if it is.
    pub fn pending(&self, module: &str, version: &str, kind: FileKind) -> Option<Bytes> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.get(&file_key(module, version, kind)).cloned()
    }

    /// The versions of `module` with a file (of `kind`, or of any kind)
    /// pending: fetched and checked, its row not yet in the index. What
    /// answers computed from the index (`@v/list`, `@latest`, queries) add, so
    /// that a version just fetched is in them at once, not after the
    /// write-behind turn.
    pub fn pending_versions(&self, module: &str, kind: Option<FileKind>) -> Vec<String> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let prefix = format!("{module}@");
        pending
            .keys()
            .filter_map(|key| {
                let (version, ext) = key.strip_prefix(&prefix)?.rsplit_once('.')?;
                let kind_ok = kind.is_none_or(|k| k.as_str() == ext);
                kind_ok.then(|| version.to_owned())
            })
            .collect()
    }

    /// Serves `bytes` for this file until the guard is dropped: from when they
    /// passed their checks until their row is cached (drop the guard after
    /// [`Caches::put_file`], so there is no moment with neither).
    pub fn hold_pending(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
        bytes: Bytes,
    ) -> PendingGuard {
        let key = file_key(module, version, kind);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.insert(key.clone(), bytes);
        drop(pending);
        if kind == FileKind::Zip {
            // A pending zip is in list and @latest already.
            self.invalidate_computed();
        }
        PendingGuard {
            pending: Arc::clone(&self.pending),
            key,
        }
    }

    /// Take this before computing an answer to keep.
    pub fn computed_ticket(&self) -> Ticket {
        self.computed.ticket()
    }

    /// A computed answer still fresh. `fetch` says whether it may use upstreams.
    pub fn computed(&self, what: Computed, fetch: bool, module: &str) -> Option<Bytes> {
        self.computed.get(&(what, fetch, module.to_owned()))
    }

    /// Remembers an answer computed since `ticket` was taken.
    pub fn put_computed(
        &self,
        ticket: Ticket,
        what: Computed,
        fetch: bool,
        module: &str,
        body: Bytes,
    ) {
        self.computed
            .put(ticket, (what, fetch, module.to_owned()), body, 1);
    }

    /// A new zip was stored: computed answers may change.
    pub fn invalidate_computed(&self) {
        self.computed.invalidate();
    }
}

/// Keeps a file pending; see [`Caches::hold_pending`].
pub struct PendingGuard {
    pending: Arc<Mutex<HashMap<String, Bytes>>>,
    key: String,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_bytes_are_served_until_the_guard_drops() {
        let caches = Caches::new(Duration::from_secs(60));
        let guard = caches.hold_pending("m", "v1.0.0", FileKind::Zip, Bytes::from_static(b"z"));
        assert_eq!(
            caches.pending("m", "v1.0.0", FileKind::Zip).as_deref(),
            Some(&b"z"[..])
        );
        assert!(caches.pending("m", "v1.0.0", FileKind::Mod).is_none());
        let _info = caches.hold_pending("m", "v1.1.0", FileKind::Info, Bytes::from_static(b"i"));
        let _other =
            caches.hold_pending("m/sub", "v9.0.0", FileKind::Zip, Bytes::from_static(b"z"));
        assert_eq!(
            caches.pending_versions("m", Some(FileKind::Zip)),
            ["v1.0.0"]
        );
        let mut any = caches.pending_versions("m", None);
        any.sort();
        assert_eq!(any, ["v1.0.0", "v1.1.0"]);
        drop(guard);
        assert!(caches.pending("m", "v1.0.0", FileKind::Zip).is_none());
    }

    #[test]
    fn stored_keys_say_not_stored_only_once_complete() {
        let caches = Caches::new(Duration::from_secs(60));
        let file = StoredFile {
            digest: format!("sha256:{}", "ab".repeat(32))
                .parse()
                .expect("digest"),
            size: 1,
        };
        assert!(!caches.surely_not_stored("m", "v1.0.0", FileKind::Mod));
        // Found while the keys are still loading: kept.
        caches.put_file("m", "v1.0.0", FileKind::Mod, &file);
        caches.add_stored_keys([("m", "v1.0.0", "zip"), ("n", "v2.0.0", "info")]);
        assert_eq!(caches.stored_keys_complete(), 3);
        assert!(!caches.surely_not_stored("m", "v1.0.0", FileKind::Mod));
        assert!(!caches.surely_not_stored("m", "v1.0.0", FileKind::Zip));
        assert!(!caches.surely_not_stored("n", "v2.0.0", FileKind::Info));
        assert!(caches.surely_not_stored("m", "v1.0.0", FileKind::Info));
        assert!(caches.surely_not_stored("n", "v2.0.1", FileKind::Info));
    }

    #[test]
    fn computed_answers_expire_and_are_invalidated() {
        let caches = Caches::new(Duration::from_secs(60));
        let ticket = caches.computed_ticket();
        caches.put_computed(
            ticket,
            Computed::List,
            true,
            "m",
            Bytes::from_static(b"v1.0.0\n"),
        );
        assert!(caches.computed(Computed::List, true, "m").is_some());
        assert!(caches.computed(Computed::List, false, "m").is_none());
        assert!(caches.computed(Computed::Latest, true, "m").is_none());
        caches.invalidate_computed();
        assert!(caches.computed(Computed::List, true, "m").is_none());
        let off = Caches::new(Duration::ZERO);
        off.put_computed(
            off.computed_ticket(),
            Computed::List,
            true,
            "m",
            Bytes::new(),
        );
        assert!(off.computed(Computed::List, true, "m").is_none());
    }
}
