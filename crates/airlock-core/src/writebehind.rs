//! When to make small, already-served files durable.
//!
//! A pull-through burst (a `go mod download`; later a `pip install`, a `dnf
//! install`) makes the server fetch many small files. Each is checked and then
//! served from memory at once, but making it durable costs a new inode, two
//! fsyncs and an index row. Done at once, that work competes with the client's
//! own on the same cores and the same disk: on the 50-module Go pull-through
//! (two cores), letting it wait until the burst was over took the download from
//! 1.28× to 1.03× the time of the direct one.
//!
//! So a store of bytes that are served from memory meanwhile waits for a turn:
//! until no request has arrived for [`QUIET`], or for at most [`MAX_DELAY`], or
//! not at all while more than [`MAX_HELD`] bytes wait; at most [`WRITERS`] hold a
//! turn at once, and every waiter gets one as soon as the server stops. A crash
//! in the window loses only files that were never in the index: they are
//! fetched again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long the server must have been without requests before deferred stores run.
pub const QUIET: Duration = Duration::from_millis(50);
/// The longest a store waits for quiet (a server that is never quiet still stores).
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// Bytes waiting beyond which stores stop waiting for quiet.
pub const MAX_HELD: u64 = 32 << 20;
/// Stores running at once.
pub const WRITERS: usize = 2;

/// The turns of deferred stores; see the module's notes.
#[derive(Debug)]
pub struct WriteBehind {
    epoch: Instant,
    /// When the last request arrived, in nanoseconds since `epoch` (0: never).
    last_busy: AtomicU64,
    /// Bytes of stores that wait or run.
    held: AtomicU64,
    writers: Semaphore,
    stopping: CancellationToken,
    quiet: Duration,
    max_delay: Duration,
    max_held: u64,
}

impl WriteBehind {
    /// Turns with the default limits; `stopping` (cancelled at shutdown) ends every wait.
    pub fn new(stopping: CancellationToken) -> Self {
        Self::with_limits(stopping, QUIET, MAX_DELAY, MAX_HELD)
    }

    /// Turns with other limits (tests).
    pub fn with_limits(
        stopping: CancellationToken,
        quiet: Duration,
        max_delay: Duration,
        max_held: u64,
    ) -> Self {
        WriteBehind {
            epoch: Instant::now(),
            last_busy: AtomicU64::new(0),
            held: AtomicU64::new(0),
            writers: Semaphore::new(WRITERS),
            stopping,
            quiet,
            max_delay,
            max_held,
        }
    }

    /// A request arrived: the server is busy.
    pub fn busy(&self) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        self.last_busy.fetch_max(now.max(1), Ordering::Relaxed);
    }

    /// Waits for a turn to store `bytes`; the turn ends when dropped.
    pub async fn turn(&self, bytes: u64) -> Turn<'_> {
        let held = Held::new(&self.held, bytes);
        let deadline = Instant::now() + self.max_delay;
        loop {
            let last_busy = self.last_busy.load(Ordering::Relaxed);
            let quiet_from = self.epoch + Duration::from_nanos(last_busy) + self.quiet;
            let now = Instant::now();
            if last_busy == 0
                || now >= quiet_from
                || now >= deadline
                || self.held.load(Ordering::Relaxed) > self.max_held
                || self.stopping.is_cancelled()
            {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(quiet_from.min(deadline)) => {}
                _ = self.stopping.cancelled() => {}
            }
        }
        // The semaphore is never closed.
        let permit = self.writers.acquire().await.ok();
        Turn {
            _permit: permit,
            _held: held,
        }
    }
}

/// A store's turn; see [`WriteBehind::turn`].
pub struct Turn<'a> {
    _permit: Option<SemaphorePermit<'a>>,
    _held: Held<'a>,
}

/// Bytes counted as waiting or running until dropped (also when a wait is cancelled).
struct Held<'a> {
    held: &'a AtomicU64,
    bytes: u64,
}

impl<'a> Held<'a> {
    fn new(held: &'a AtomicU64, bytes: u64) -> Self {
        held.fetch_add(bytes, Ordering::Relaxed);
        Held { held, bytes }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(100);
    const MAX_DELAY: Duration = Duration::from_millis(600);

    fn turns(max_held: u64) -> (WriteBehind, CancellationToken) {
        let stopping = CancellationToken::new();
        let turns = WriteBehind::with_limits(stopping.clone(), QUIET, MAX_DELAY, max_held);
        (turns, stopping)
    }

    /// How long a turn for `bytes` takes while `during` runs beside it.
    async fn wait_for_turn(
        turns: &WriteBehind,
        bytes: u64,
        during: impl std::future::Future,
    ) -> Duration {
        let started = Instant::now();
        let turn = async {
            let _turn = turns.turn(bytes).await;
            started.elapsed()
        };
        let (waited, _) = tokio::join!(turn, during);
        waited
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_waits_for_quiet() {
        let (turns, _) = turns(1 << 20);
        // A server never busy: at once.
        assert!(wait_for_turn(&turns, 10, async {}).await < QUIET);
        // Busy now: after QUIET.
        turns.busy();
        let waited = wait_for_turn(&turns, 10, async {}).await;
        assert!(
            waited >= QUIET - Duration::from_millis(5) && waited < MAX_DELAY,
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_waits_no_longer_than_the_maximum_delay() {
        let (turns, _) = turns(1 << 20);
        turns.busy();
        let busy_for_a_second = async {
            for _ in 0..50 {
                turns.busy();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let waited = wait_for_turn(&turns, 10, busy_for_a_second).await;
        assert!(
            waited >= MAX_DELAY && waited < MAX_DELAY * 3 / 2,
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_bytes_waiting_or_stopping_end_the_wait() {
        let (turns, stopping) = turns(100);
        turns.busy();
        assert_eq!(wait_for_turn(&turns, 101, async {}).await, Duration::ZERO);
        turns.busy();
        let stop_soon = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stopping.cancel();
        };
        assert_eq!(
            wait_for_turn(&turns, 10, stop_soon).await,
            Duration::from_millis(20)
        );
        assert_eq!(turns.held.load(Ordering::Relaxed), 0);
    }
}
