//! Answers of the index kept in memory for a short time, so that the small GETs
//! every protocol serves most (a tag, a tag list, `repomd.xml`, a rendered page)
//! do not each cost a round trip to a database thread.
//!
//! Three rules keep a kept answer from outliving what it says:
//! - **Writes in this process** call [`Memo::invalidate`], which forgets every
//!   answer at once. A lookup takes a [`Ticket`] *before* it reads the index, and
//!   [`Memo::put`] drops the answer when a write happened since: an answer read
//!   before a write is never kept after it.
//! - **Writes by another process** (`airlock sync`, `airlock yum add`): a memo
//!   that [watches](Memo::watching) the index compares [`Db::change_stamp`]
//!   on every lookup (one `statx`) and starts over when it moved.
//! - A **time-to-live** bounds what the stamp cannot see (two commits within
//!   one tick of the file clock that leave the log's size unchanged).
//!
//! Only what was found should be kept: a miss may be filled by the next write.

use crate::db::{ChangeStamp, Db};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The time-to-live of a memo that watches the index (see the module docs).
pub const WATCHED_TTL: Duration = Duration::from_secs(2);

/// The generation and index stamp a lookup started under; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u64, ChangeStamp);

/// Kept answers by key (see the module docs).
#[derive(Debug)]
pub struct Memo<K, V> {
    entries: Mutex<Entries<K, V>>,
    generation: AtomicU64,
    ttl: Option<Duration>,
    capacity: usize,
    watched: Option<Db>,
}

#[derive(Debug)]
struct Entries<K, V> {
    map: HashMap<K, Entry<V>>,
    weight: usize,
    /// The index's stamp the entries were read under.
    stamp: ChangeStamp,
}

impl<K, V> Entries<K, V> {
    /// Forgets every entry when the index moved since they were read.
    fn follow(&mut self, stamp: ChangeStamp) {
        if self.stamp != stamp {
            self.map.clear();
            self.weight = 0;
            self.stamp = stamp;
        }
    }
}

#[derive(Debug)]
struct Entry<V> {
    at: Instant,
    generation: u64,
    weight: usize,
    value: V,
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    /// A memo holding at most `capacity` units of weight (see [`Memo::put`]);
    /// past it, it starts over. `ttl`: how long an answer is kept (`None`:
    /// until the next [`Memo::invalidate`]; `Some(ZERO)`: never kept).
    pub fn new(ttl: Option<Duration>, capacity: usize) -> Self {
        Memo {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                weight: 0,
                stamp: ChangeStamp::default(),
            }),
            generation: AtomicU64::new(0),
            ttl,
            capacity,
            watched: None,
        }
    }

    /// A memo of answers read from `db`, which other processes write too:
    /// see the module docs.
    pub fn watching(db: &Db, capacity: usize) -> Self {
        Memo {
            watched: Some(db.clone()),
            ..Memo::new(Some(WATCHED_TTL), capacity)
        }
    }

    fn stamp(&self) -> ChangeStamp {
        self.watched
            .as_ref()
            .map(Db::change_stamp)
            .unwrap_or_default()
    }

    /// Take this before reading what will be [`Memo::put`].
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire), self.stamp())
    }

    /// The kept answer for `key`, if it is still valid.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let stamp = self.stamp();
        let generation = self.generation.load(Ordering::Acquire);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.follow(stamp);
        let entry = entries.map.get(key)?;
        let fresh =
            entry.generation == generation && self.ttl.is_none_or(|ttl| entry.at.elapsed() < ttl);
        fresh.then(|| entry.value.clone())
    }

    /// Keeps `value` for `key`, read under `ticket`, weighing `weight` units
    /// (1 to count entries, a length to count bytes). Dropped when a write
    /// happened since the ticket was taken.
    pub fn put(&self, ticket: Ticket, key: K, value: V, weight: usize) {
        if self.ttl.is_some_and(|ttl| ttl.is_zero()) || weight > self.capacity {
            return;
        }
        let stamp = self.stamp();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.follow(stamp);
        // Checked under the lock: `invalidate` then clears after this insert.
        if self.generation.load(Ordering::Acquire) != ticket.0 || stamp != ticket.1 {
            return;
        }
        if entries.weight + weight > self.capacity {
            entries.map.clear();
            entries.weight = 0;
        }
        let entry = Entry {
            at: Instant::now(),
            generation: ticket.0,
            weight,
            value,
        };
        if let Some(old) = entries.map.insert(key, entry) {
            entries.weight -= old.weight;
        }
        entries.weight += weight;
    }

    /// Something this memo answers may have changed: forget every answer.
    pub fn invalidate(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.map.clear();
        entries.weight = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_until_invalidated() {
        let memo: Memo<String, u32> = Memo::new(None, 10);
        let ticket = memo.ticket();
        memo.put(ticket, "a".into(), 1, 1);
        assert_eq!(memo.get("a"), Some(1));
        assert_eq!(memo.get("b"), None);
        memo.invalidate();
        assert_eq!(memo.get("a"), None);
    }

    #[test]
    fn an_answer_read_before_a_write_is_not_kept() {
        let memo: Memo<&str, u32> = Memo::new(None, 10);
        let before = memo.ticket();
        memo.invalidate();
        memo.put(before, "a", 1, 1);
        assert_eq!(memo.get("a"), None);
        memo.put(memo.ticket(), "a", 2, 1);
        assert_eq!(memo.get("a"), Some(2));
    }

    #[test]
    fn answers_expire_and_capacity_bounds_the_weight() {
        let expired: Memo<&str, u32> = Memo::new(Some(Duration::ZERO), 10);
        expired.put(expired.ticket(), "a", 1, 1);
        assert_eq!(expired.get("a"), None);

        let memo: Memo<&str, u32> = Memo::new(Some(Duration::from_secs(60)), 10);
        memo.put(memo.ticket(), "big", 1, 11);
        assert_eq!(memo.get("big"), None);
        memo.put(memo.ticket(), "a", 1, 6);
        memo.put(memo.ticket(), "a", 2, 6);
        assert_eq!(memo.get("a"), Some(2));
        memo.put(memo.ticket(), "b", 3, 6);
        assert_eq!(memo.get("a"), None, "over capacity: started over");
        assert_eq!(memo.get("b"), Some(3));
    }

    #[tokio::test]
    async fn a_watching_memo_sees_every_commit_to_the_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("index.db")).await.expect("db");
        let memo: Memo<&str, u32> = Memo::watching(&db, 10);
        memo.put(memo.ticket(), "a", 1, 1);
        assert_eq!(memo.get("a"), Some(1));
        let ticket = memo.ticket();
        // Another process's commit looks the same: only the log moves.
        sqlx::query("INSERT INTO blob (digest, size, created_at) VALUES ($1, 1, 0)")
            .bind(format!("sha256:{}", "ab".repeat(32)))
            .execute(&mut *db.writer().await)
            .await
            .expect("insert");
        assert_eq!(memo.get("a"), None);
        memo.put(ticket, "a", 2, 1);
        assert_eq!(memo.get("a"), None, "read before the commit");
        memo.put(memo.ticket(), "a", 3, 1);
        assert_eq!(memo.get("a"), Some(3));
    }
}
