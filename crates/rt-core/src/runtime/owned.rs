//! Building the runtime's own tokio runtimes, and shutting them down when the last clone goes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Handle};

use crate::error::RuntimeError;

/// Thread-name prefix of the primary runtime's threads (`Runtime::PRIMARY_THREAD_PREFIX`).
pub(crate) const PRIMARY_THREAD_PREFIX: &str = "rt-primary";
/// Thread-name prefix of the secondary runtime's threads (`Runtime::SECONDARY_THREAD_PREFIX`).
pub(crate) const SECONDARY_THREAD_PREFIX: &str = "rt-secondary";

/// At most this many blocking threads on the secondary runtime: it runs background work
/// (signals, the status server, backend connections), not the application's blocking calls.
const SECONDARY_MAX_BLOCKING: usize = 16;

/// The shape of the primary runtime.
pub(crate) struct PrimarySpec {
    pub(crate) workers: usize,
    pub(crate) max_blocking: usize,
    /// Runs on every thread the primary runtime starts, worker or blocking (see
    /// `Runtime::from_config` for why both).
    pub(crate) on_thread_start: Arc<dyn Fn() + Send + Sync + 'static>,
}

/// The two tokio runtimes an owned [`Runtime`](crate::Runtime) holds.
///
/// Dropping it shuts both down: from async code (any thread inside any tokio runtime) with
/// `shutdown_background`, which never blocks and never panics; from plain threads with
/// `shutdown_timeout`, which stops every task, waits for the blocking threads and joins the
/// workers, the two runtimes together within one `bound` (the secondary first: it is normally
/// idle, so the primary, where the application's blocking work runs, gets what is left).
/// [`shut_down`](Self::shut_down) does the same and says how many threads of the two runtimes
/// were still running (busy in blocking work, abandoned).
pub(crate) struct OwnedRuntimes {
    primary: Option<tokio::runtime::Runtime>,
    secondary: Option<tokio::runtime::Runtime>,
    /// The `bound` of a drop from sync code, in milliseconds.
    shutdown_bound_ms: AtomicU64,
    /// Threads of either runtime (workers and blocking threads) that have started and not yet
    /// stopped.
    live_threads: Arc<AtomicUsize>,
}

/// Thread start and stop hooks that keep `live` equal to the number of running threads.
fn counted(
    live: &Arc<AtomicUsize>,
) -> (
    impl Fn() + Send + Sync + 'static,
    impl Fn() + Send + Sync + 'static,
) {
    let (up, down) = (Arc::clone(live), Arc::clone(live));
    (
        move || {
            up.fetch_add(1, Ordering::SeqCst);
        },
        move || {
            down.fetch_sub(1, Ordering::SeqCst);
        },
    )
}

fn name_fn(prefix: &'static str) -> impl Fn() -> String + Send + Sync + 'static {
    let next = AtomicUsize::new(0);
    move || format!("{prefix}-{}", next.fetch_add(1, Ordering::Relaxed))
}

impl OwnedRuntimes {
    /// Builds the primary runtime (multi-thread, `spec.workers` workers) and the secondary one
    /// (one worker, or two when the primary has four or more), and returns them with their
    /// handles (primary, secondary). A drop from sync code waits up to `shutdown_bound` for
    /// blocking tasks (see [`set_shutdown_bound`](Self::set_shutdown_bound)).
    pub(crate) fn build(
        spec: PrimarySpec,
        shutdown_bound: Duration,
    ) -> Result<(Self, Handle, Handle), RuntimeError> {
        let live_threads = Arc::new(AtomicUsize::new(0));
        let start = Arc::clone(&spec.on_thread_start);
        let (started, stopped) = counted(&live_threads);
        let primary = Builder::new_multi_thread()
            .worker_threads(spec.workers)
            .max_blocking_threads(spec.max_blocking)
            .thread_name_fn(name_fn(PRIMARY_THREAD_PREFIX))
            .on_thread_start(move || {
                started();
                start();
            })
            .on_thread_stop(stopped)
            .enable_all()
            .build()
            .map_err(|source| RuntimeError::RuntimeBuild {
                which: "primary",
                source,
            })?;
        let secondary_workers = if spec.workers >= 4 { 2 } else { 1 };
        let (started, stopped) = counted(&live_threads);
        let secondary = Builder::new_multi_thread()
            .worker_threads(secondary_workers)
            .max_blocking_threads(SECONDARY_MAX_BLOCKING.min(spec.max_blocking))
            .thread_name_fn(name_fn(SECONDARY_THREAD_PREFIX))
            .on_thread_start(started)
            .on_thread_stop(stopped)
            .enable_all()
            .build()
            .map_err(|source| RuntimeError::RuntimeBuild {
                which: "secondary",
                source,
            });
        let secondary = match secondary {
            Ok(rt) => rt,
            Err(e) => {
                // Not from async code here (we are building), but be safe anyway.
                primary.shutdown_background();
                return Err(e);
            }
        };
        let handles = (primary.handle().clone(), secondary.handle().clone());
        let owned = Self {
            primary: Some(primary),
            secondary: Some(secondary),
            shutdown_bound_ms: AtomicU64::new(0),
            live_threads,
        };
        owned.set_shutdown_bound(shutdown_bound);
        Ok((owned, handles.0, handles.1))
    }

    /// How long a drop from sync code waits for blocking tasks, both runtimes together (a
    /// worker sets it to what is left of its budget).
    pub(crate) fn set_shutdown_bound(&self, bound: Duration) {
        let ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        self.shutdown_bound_ms.store(ms, Ordering::Relaxed);
    }
}

impl OwnedRuntimes {
    /// Shuts both runtimes down as a drop does (see the type docs), within `bound` for both
    /// together. Returns how many of their threads were still running (busy in blocking work,
    /// abandoned) when the wait ended: `None` from async code, where the shutdown happens in
    /// the background and nothing is waited for.
    pub(crate) fn shut_down(&mut self, bound: Duration) -> Option<usize> {
        if self.primary.is_none() && self.secondary.is_none() {
            return None;
        }
        let in_async = Handle::try_current().is_ok();
        // One bound for both runtimes, not one each.
        let until = Instant::now().checked_add(bound);
        for (name, rt) in [
            ("secondary", self.secondary.take()),
            ("primary", self.primary.take()),
        ] {
            let Some(rt) = rt else { continue };
            if in_async {
                // Blocking here could deadlock (we may be on one of this runtime's own
                // threads) and tokio panics on a blocking shutdown inside a runtime.
                tracing::debug!(
                    runtime = name,
                    "last Runtime clone dropped in async code: shutting down in the background"
                );
                rt.shutdown_background();
            } else {
                let left = until.map_or(bound, |at| at.saturating_duration_since(Instant::now()));
                tracing::debug!(
                    runtime = name,
                    bound = ?left,
                    "last Runtime clone dropped: shutting down"
                );
                rt.shutdown_timeout(left);
            }
        }
        if in_async {
            return None;
        }
        // A thread's stop hook runs before tokio counts it as exited, so after a wait that
        // ended in time this is 0; anything else was still busy when the bound ran out.
        let running = self.live_threads.load(Ordering::SeqCst);
        if running > 0 {
            tracing::warn!(
                threads = running,
                ?bound,
                "runtime threads still busy with blocking work when the shutdown bound ran out: \
                 abandoned (they run on until their work returns or the process exits)"
            );
        }
        Some(running)
    }
}

impl Drop for OwnedRuntimes {
    fn drop(&mut self) {
        // A no-op after `shut_down` (both runtimes were taken).
        let bound = Duration::from_millis(self.shutdown_bound_ms.load(Ordering::Relaxed));
        let _ = self.shut_down(bound);
    }
}
