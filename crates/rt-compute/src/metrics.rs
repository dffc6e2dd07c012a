//! Counters of a pool and the [`ComputeMetrics`] snapshot built from them.

use std::fmt;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::time::Duration;

/// A job that runs longer than this counts as slow in [`ComputeMetrics::slow_tasks`].
pub const SLOW_TASK_THRESHOLD: Duration = Duration::from_millis(100);

/// Keeps the caller-side and worker-side counters on different cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// Counters updated by the bridge (submit side) and by the pool threads (run side).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Written by submitters.
    submitted: Padded<AtomicU64>,
    /// Written by pool threads.
    run: Padded<RunCounters>,
}

#[derive(Debug, Default)]
struct RunCounters {
    started: AtomicU64,
    skipped: AtomicU64,
    completed: AtomicU64,
    panicked: AtomicU64,
    slow: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Counters {
    pub(crate) fn on_submit(&self) {
        self.submitted.0.fetch_add(1, Relaxed);
    }

    pub(crate) fn on_skip(&self) {
        self.run.0.skipped.fetch_add(1, Relaxed);
    }

    pub(crate) fn on_start(&self) {
        self.run.0.started.fetch_add(1, Relaxed);
    }

    pub(crate) fn on_finish(&self, elapsed: Duration, panicked: bool) {
        let run = &self.run.0;
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        run.total_ns.fetch_add(ns, Relaxed);
        if ns > run.max_ns.load(Relaxed) {
            run.max_ns.fetch_max(ns, Relaxed);
        }
        if elapsed > SLOW_TASK_THRESHOLD {
            run.slow.fetch_add(1, Relaxed);
        }
        if panicked {
            run.panicked.fetch_add(1, Relaxed);
        }
        // Last and `Release`, so that a snapshot, which reads `completed` first with `Acquire`,
        // never sees a completed job without its duration.
        run.completed.fetch_add(1, Release);
    }

    /// Jobs submitted but neither started nor skipped yet.
    pub(crate) fn queued(&self) -> u64 {
        let run = &self.run.0;
        // Read the run side first: a job is counted as submitted before it can start.
        let done = run.started.load(Relaxed) + run.skipped.load(Relaxed);
        self.submitted.0.load(Relaxed).saturating_sub(done)
    }

    /// Jobs running right now.
    pub(crate) fn active(&self) -> u64 {
        let run = &self.run.0;
        let completed = run.completed.load(Relaxed);
        run.started.load(Relaxed).saturating_sub(completed)
    }

    pub(crate) fn snapshot(&self, num_threads: usize) -> ComputeMetrics {
        let run = &self.run.0;
        let completed = run.completed.load(Acquire);
        let total_ns = run.total_ns.load(Relaxed);
        let avg = total_ns.checked_div(completed).unwrap_or(0);
        ComputeMetrics {
            num_threads,
            tasks_total: completed,
            tasks_active: self.active(),
            tasks_panicked: run.panicked.load(Relaxed),
            tasks_skipped: run.skipped.load(Relaxed),
            slow_tasks: run.slow.load(Relaxed),
            queue_depth: self.queued(),
            avg_duration: Duration::from_nanos(avg),
            max_duration: Duration::from_nanos(run.max_ns.load(Relaxed)),
        }
    }
}

/// A point-in-time view of a pool's activity, from [`ComputePool::metrics`](crate::ComputePool::metrics).
///
/// Counts cover the jobs sent through the pool's methods (`execute`, `install`, `join`,
/// `parallel_map`, ...), one per call; the Rayon tasks a job forks internally are not counted.
/// The fields are read one by one with relaxed ordering, so under load they can be off by the
/// few jobs that changed state while the snapshot was taken.
///
/// `Display` prints one line for logs:
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let pool = rt_compute::ComputePool::with_defaults().unwrap();
/// pool.execute(|| 6 * 7).await.unwrap();
/// let m = pool.metrics();
/// assert_eq!(m.tasks_total, 1);
/// assert!(m.to_string().starts_with("compute pool: threads="));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ComputeMetrics {
    /// Threads of the pool.
    pub num_threads: usize,
    /// Jobs that ran to the end (including those that panicked).
    pub tasks_total: u64,
    /// Jobs running right now.
    pub tasks_active: u64,
    /// Jobs that panicked (their callers got [`ComputeError::Panicked`](crate::ComputeError::Panicked)).
    pub tasks_panicked: u64,
    /// Jobs skipped because their future was dropped before they started.
    pub tasks_skipped: u64,
    /// Jobs that ran longer than [`SLOW_TASK_THRESHOLD`] (100 ms).
    pub slow_tasks: u64,
    /// Jobs submitted but not started yet.
    pub queue_depth: u64,
    /// Mean run time of the jobs in `tasks_total`.
    pub avg_duration: Duration,
    /// Longest run time seen.
    pub max_duration: Duration,
}

impl fmt::Display for ComputeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "compute pool: threads={} tasks_total={} active={} queued={} panicked={} skipped={} \
             slow(>100ms)={} avg={:?} max={:?}",
            self.num_threads,
            self.tasks_total,
            self.tasks_active,
            self.queue_depth,
            self.tasks_panicked,
            self.tasks_skipped,
            self.slow_tasks,
            self.avg_duration,
            self.max_duration
        )
    }
}
