//! Where ingest requests are decompressed, split and prepared on the server: a pool of one
//! thread per core, each at a lower priority (nice +10) than the rest of the process.
//!
//! Under mixed load, dozens of requests parsing at once on tokio's blocking threads divided the
//! CPU among them all, and a lookup — a few milliseconds of work — waited behind them for
//! hundreds. Here at most one preparation per core runs, the others wait in the queue holding
//! only their bodies, and the scheduler gives lookups, the history's writer and the HTTP
//! workers the CPU first; preparation takes whatever is left, which under ingest alone is all
//! of it.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

type Job = Box<dyn FnOnce() + Send>;

/// The pool; dropping it lets its threads finish the queue and end.
pub struct PreparePool {
    tx: mpsc::Sender<Job>,
}

/// How much a preparing thread defers to the rest (a `nice` increment).
pub const PREPARE_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`PREPARE_NICE`] (Linux keeps it per thread;
/// elsewhere this does nothing). The import's preparing threads and this pool's use it.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on this thread's own id; a failure only leaves the priority as is.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, now.saturating_add(PREPARE_NICE));
    }
}

impl PreparePool {
    /// `threads` threads (at least one), niced.
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ingest-prepare-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panic ends that job (its caller hears so), not the thread.
                            Ok(job) => drop(std::panic::catch_unwind(AssertUnwindSafe(job))),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an ingest preparation thread");
            }
        }
        Self { tx }
    }

    /// One per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Runs `f` on the pool; `None` if it panicked or the pool is gone.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move || {
                let _ = done.send(f());
            }))
            .ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_and_a_panic_is_only_that_jobs() {
        let pool = PreparePool::new(2);
        assert_eq!(pool.run(|| 2 + 2).await, Some(4));
        let bad: Option<()> = pool.run(|| panic!("boom")).await;
        assert_eq!(bad, None);
        let many: Vec<_> = (0..20).map(|i| pool.run(move || i * 2)).collect();
        let mut got = Vec::new();
        for m in many {
            got.push(m.await.unwrap());
        }
        assert_eq!(got, (0..20).map(|i| i * 2).collect::<Vec<_>>());
    }
}
