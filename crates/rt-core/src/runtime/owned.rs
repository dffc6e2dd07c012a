//! Building the runtime's own tokio runtimes, and shutting them down when the last clone goes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::{Builder, Handle};

use crate::error::RuntimeError;

/// Thread-name prefix of the primary runtime's threads (workers and blocking threads).
pub const PRIMARY_THREAD_PREFIX: &str = "rt-primary";
/// Thread-name prefix of the secondary runtime's threads.
pub const SECONDARY_THREAD_PREFIX: &str = "rt-secondary";

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
/// `shutdown_timeout(bound)`, which stops every task, waits for the blocking threads up to
/// `bound` and joins the workers.
pub(crate) struct OwnedRuntimes {
    primary: Option<tokio::runtime::Runtime>,
    secondary: Option<tokio::runtime::Runtime>,
    shutdown_bound: Duration,
}

fn name_fn(prefix: &'static str) -> impl Fn() -> String + Send + Sync + 'static {
    let next = AtomicUsize::new(0);
    move || format!("{prefix}-{}", next.fetch_add(1, Ordering::Relaxed))
}

impl OwnedRuntimes {
    /// Builds the primary runtime (multi-thread, `spec.workers` workers) and the secondary one
    /// (one worker, or two when the primary has four or more).
    pub(crate) fn build(spec: PrimarySpec) -> Result<Self, RuntimeError> {
        let start = Arc::clone(&spec.on_thread_start);
        let primary = Builder::new_multi_thread()
            .worker_threads(spec.workers)
            .max_blocking_threads(spec.max_blocking)
            .thread_name_fn(name_fn(PRIMARY_THREAD_PREFIX))
            .on_thread_start(move || start())
            .enable_all()
            .build()
            .map_err(|source| RuntimeError::RuntimeBuild {
                which: "primary",
                source,
            })?;
        let secondary_workers = if spec.workers >= 4 { 2 } else { 1 };
        let secondary = Builder::new_multi_thread()
            .worker_threads(secondary_workers)
            .max_blocking_threads(SECONDARY_MAX_BLOCKING.min(spec.max_blocking))
            .thread_name_fn(name_fn(SECONDARY_THREAD_PREFIX))
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
        Ok(Self {
            primary: Some(primary),
            secondary: Some(secondary),
            shutdown_bound: Duration::ZERO,
        })
    }

    /// How long a drop from sync code waits for blocking tasks.
    pub(crate) fn set_shutdown_bound(&mut self, bound: Duration) {
        self.shutdown_bound = bound;
    }

    pub(crate) fn primary_handle(&self) -> Option<Handle> {
        self.primary.as_ref().map(|rt| rt.handle().clone())
    }

    pub(crate) fn secondary_handle(&self) -> Option<Handle> {
        self.secondary.as_ref().map(|rt| rt.handle().clone())
    }
}

impl Drop for OwnedRuntimes {
    fn drop(&mut self) {
        let in_async = Handle::try_current().is_ok();
        for (name, rt) in [
            ("primary", self.primary.take()),
            ("secondary", self.secondary.take()),
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
                tracing::debug!(runtime = name, bound = ?self.shutdown_bound, "last Runtime clone dropped: shutting down");
                rt.shutdown_timeout(self.shutdown_bound);
            }
        }
    }
}
