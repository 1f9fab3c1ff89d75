//! Work that outlives the request that started it: a mirrored file being
//! stored after its client was served, a fetch that others follow after its
//! first client left.
//!
//! Such tasks run on the server's main runtime, not on the HTTP worker that
//! spawned them (actix stops its workers' runtimes first, which would drop a
//! store half-way: a blob committed but never recorded), and the server
//! waits for them when it stops ([`Background::drain`]).

use std::future::Future;
use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

/// Tracked background tasks on one runtime.
#[derive(Clone, Debug)]
pub struct Background {
    tasks: TaskTracker,
    runtime: Handle,
}

impl Background {
    /// Tasks that run on the current runtime (call it from the main one).
    pub fn on_current_runtime() -> Background {
        Background {
            tasks: TaskTracker::new(),
            runtime: Handle::current(),
        }
    }

    /// Runs `task` in the background, tracked.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn_on(task, &self.runtime);
    }

    /// Waits for every task spawned, including those spawned meanwhile.
    pub async fn drain(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn drain_waits_for_the_tasks() {
        let background = Background::on_current_runtime();
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        background.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        background.drain().await;
        assert!(done.load(Ordering::SeqCst));
    }
}
