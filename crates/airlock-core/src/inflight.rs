//! One fetch per key at a time.
//!
//! The first request for a missing artifact fetches it; concurrent requests for the
//! same key wait on the same lock and then find it stored, so the upstream sees one
//! fetch and the store one write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Per-key async locks, dropped when nobody holds or waits for them.
#[derive(Debug, Default)]
pub struct Inflight {
    locks: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl Inflight {
    /// Waits until no one else works on `key`, then holds it until the guard drops.
    /// Callers re-check the store after acquiring: a waiter usually finds the work done.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if locks.len() > 1024 {
                locks.retain(|_, weak| weak.strong_count() > 0);
            }
            match locks.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(AsyncMutex::new(()));
                    locks.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn same_key_is_serialised() {
        let inflight = Arc::new(Inflight::default());
        let busy = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (inflight, busy) = (inflight.clone(), busy.clone());
            tasks.push(tokio::spawn(async move {
                let _guard = inflight.lock("k").await;
                assert_eq!(busy.fetch_add(1, Ordering::SeqCst), 0);
                tokio::task::yield_now().await;
                busy.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    }
}
