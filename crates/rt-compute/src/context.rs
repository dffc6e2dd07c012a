//! The thread-local compute context that the `compute_*!` macros, [`get_pool`] and
//! `spawn_compute` read: a pool and the shared `block_in_place`
//! permits, installed on each tokio worker by the runtime (see [`initialize_context`]).
//!
//! Every accessor goes through `LocalKey::try_with`: on a thread whose thread-locals are being
//! destroyed there is simply no context, never a panic.

use std::cell::RefCell;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::pool::ComputePool;

#[derive(Default)]
struct Context {
    pool: Option<Arc<ComputePool>>,
    permits: Option<Arc<Semaphore>>,
}

thread_local! {
    static CONTEXT: RefCell<Context> = RefCell::new(Context::default());
}

/// Replaces the calling thread's context; a no-op while its thread-locals are being destroyed.
fn set(context: Context) {
    // The old context (and its pool reference) is dropped here, outside the borrow.
    let _old = CONTEXT.try_with(|c| c.replace(context));
}

/// Installs `pool` and the shared `permits` for `block_in_place` on the calling thread,
/// replacing any earlier context of this thread.
///
/// `permits` bounds how many threads may be inside `compute_medium!`'s `block_in_place` at
/// once; each use holds one permit for the duration of the work. Size it `worker_threads - 1`
/// (0 forbids `block_in_place`, sending medium work to the pool).
///
/// A runtime installs it on each of its tokio worker threads, typically from the runtime
/// builder's `on_thread_start` hook, so that code running on those threads can reach the
/// compute pool and the permits without passing them around:
///
/// ```
/// use std::sync::Arc;
/// use rt_compute::{ComputePool, compute_large};
/// use tokio::sync::Semaphore;
///
/// let pool = Arc::new(ComputePool::with_defaults().unwrap());
/// let workers = 2;
/// // Leave one worker free for async tasks: at most workers - 1 may block at once.
/// let permits = Arc::new(Semaphore::new(workers - 1));
/// let (p, s) = (Arc::clone(&pool), Arc::clone(&permits));
/// let rt = tokio::runtime::Builder::new_multi_thread()
///     .worker_threads(workers)
///     .on_thread_start(move || rt_compute::initialize_context(Arc::clone(&p), Arc::clone(&s)))
///     .build()
///     .unwrap();
/// let n = rt.block_on(async {
///     tokio::spawn(async {
///         assert!(rt_compute::has_compute_context());
///         compute_large!((0..1_000u64).sum::<u64>())
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(n, 499_500);
/// ```
///
/// `on_thread_start` also runs on the runtime's blocking-pool threads; a context there is
/// harmless (the macros work the same). The `permits` semaphore is shared by all threads: the
/// caller picks its size, the recommended one being `worker_threads - 1`, so that at least one
/// worker always stays free for async tasks while others are inside `block_in_place`.
pub fn initialize_context(pool: Arc<ComputePool>, permits: Arc<Semaphore>) {
    set(Context {
        pool: Some(pool),
        permits: Some(permits),
    });
}

/// Installs only the `block_in_place` permits on the calling thread (for a runtime whose
/// compute pool is disabled): `compute_medium!` can still block in place, and work that would
/// go to the pool runs inline with a warning. [`has_compute_context`] stays `false`.
pub fn initialize_block_permits(permits: Arc<Semaphore>) {
    set(Context {
        pool: None,
        permits: Some(permits),
    });
}

/// Removes the calling thread's context (pool and permits). The pool itself lives on as long
/// as other references to it do.
pub fn clear_context() {
    set(Context::default());
}

/// Whether a compute pool is installed on the calling thread.
///
/// ```
/// assert!(!rt_compute::has_compute_context());
/// ```
pub fn has_compute_context() -> bool {
    CONTEXT
        .try_with(|c| c.borrow().pool.is_some())
        .unwrap_or(false)
}

/// The compute pool installed on the calling thread, if any.
pub fn get_pool() -> Option<Arc<ComputePool>> {
    CONTEXT.try_with(|c| c.borrow().pool.clone()).ok().flatten()
}

/// Takes one `block_in_place` permit if the calling thread has permits installed and one is
/// free right now (never waits). The permit is returned when the value is dropped.
pub fn try_acquire_block_permit() -> Option<OwnedSemaphorePermit> {
    let permits = CONTEXT
        .try_with(|c| c.borrow().permits.clone())
        .ok()
        .flatten()?;
    permits.try_acquire_owned().ok()
}
