//! Running a closure once on every worker thread of a tokio runtime.
//!
//! tokio has no "run on each worker" API. What it guarantees is that a spawned task only runs
//! on a worker thread (never on a blocking-pool thread), and that an idle worker steals queued
//! tasks from a busy one. So: spawn one task per worker, and have each task run the closure and
//! then *block its thread* until all of them have arrived. While a task blocks, its thread can
//! run nothing else, so `n` tasks blocked at the same time are on `n` different threads: every
//! worker has been reached. (Probing with `spawn_blocking`, as earlier designs did, reaches the
//! blocking pool instead of the async workers.)
//!
//! A worker that is itself stuck in a task that never yields cannot join; the wait is bounded
//! and the caller gets an error naming how many workers were reached.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::error::RuntimeError;

/// A barrier for `n` threads whose wait gives up after a timeout (and then releases everyone).
struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
    n: usize,
}

struct GateState {
    /// Open once it holds `n` threads.
    arrived: HashSet<ThreadId>,
    given_up: bool,
}

impl Gate {
    fn new(n: usize) -> Self {
        Self {
            state: Mutex::new(GateState {
                arrived: HashSet::new(),
                given_up: false,
            }),
            cv: Condvar::new(),
            n,
        }
    }

    /// Arrives from the current thread and waits until `n` distinct threads arrived or
    /// `deadline` passed. Returns the number of distinct threads seen.
    fn arrive_and_wait(&self, deadline: Instant) -> usize {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.arrived.insert(std::thread::current().id());
        if st.arrived.len() >= self.n {
            self.cv.notify_all();
        }
        while st.arrived.len() < self.n && !st.given_up {
            let now = Instant::now();
            if now >= deadline {
                st.given_up = true;
                self.cv.notify_all();
                break;
            }
            st = self
                .cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        st.arrived.len()
    }
}

/// Runs `f` on every worker thread of `handle`'s runtime, waiting at most `timeout` for the
/// workers to become free. Returns the number of worker threads reached.
///
/// On a current-thread runtime, `f` runs once, on the thread that drives it.
pub(crate) async fn on_every_worker<F>(
    handle: &Handle,
    f: F,
    timeout: Duration,
) -> Result<usize, RuntimeError>
where
    F: Fn() + Send + Sync + 'static,
{
    let f = Arc::new(f);
    if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
        let f2 = Arc::clone(&f);
        handle
            .spawn(async move { f2() })
            .await
            .map_err(|e| RuntimeError::ThreadLocalInit {
                reached: 0,
                workers: 1,
                reason: format!("the initialising task failed: {e}"),
            })?;
        return Ok(1);
    }
    let workers = handle.metrics().num_workers();
    let gate = Arc::new(Gate::new(workers));
    let deadline = Instant::now() + timeout;
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let f = Arc::clone(&f);
        let gate = Arc::clone(&gate);
        tasks.push(handle.spawn(async move {
            f();
            gate.arrive_and_wait(deadline)
        }));
    }
    let mut reached = 0;
    for task in tasks {
        match task.await {
            Ok(seen) => reached = reached.max(seen),
            Err(e) => {
                return Err(RuntimeError::ThreadLocalInit {
                    reached,
                    workers,
                    reason: format!("an initialising task failed: {e}"),
                })
            }
        }
    }
    if reached < workers {
        return Err(RuntimeError::ThreadLocalInit {
            reached,
            workers,
            reason: format!(
                "the other workers stayed busy for {timeout:?}: a task is blocking them without \
                 yielding; call this at startup, before long-running work is spawned"
            ),
        });
    }
    Ok(reached)
}
