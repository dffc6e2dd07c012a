//! The one routing of CPU work that may have no pool: the pool, else tokio's `spawn_blocking`
//! (else, outside any runtime, in place). [`spawn_compute`] takes the pool from the thread's
//! context; [`spawn_compute_on`] is given it (a runtime that owns its pool routes through it).

use tokio::runtime::Handle;
use tokio::task::JoinError;

use crate::context::get_pool;
use crate::error::ComputeError;
use crate::pool::ComputePool;
use crate::unwind::halt_unwinding;

/// Runs `f` on the calling thread's context pool (see
/// [`initialize_context`](crate::initialize_context)); without one, on the current tokio
/// runtime's blocking pool (`spawn_blocking`); outside any tokio runtime, in place.
///
/// This is the routing a runtime whose compute pool is disabled needs: code calls
/// `spawn_compute` and the work lands on the pool when there is one, on `spawn_blocking`
/// otherwise. To route through a given pool and runtime instead of the thread's, use
/// [`spawn_compute_on`].
///
/// # Cancel safety
///
/// With a pool, as [`ComputePool::execute`]: dropping the future before the job started skips
/// it. On the blocking pool, dropping the future does not stop a job that tokio has already
/// queued; it runs to the end and its result is dropped.
///
/// # Errors
///
/// [`ComputeError::Panicked`] if `f` panicked, on every route; [`ComputeError::Discarded`] if
/// tokio dropped the blocking job unrun (its runtime shut down).
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// // No context on this thread: goes to spawn_blocking.
/// let n = rt_compute::spawn_compute(|| 6 * 7).await.unwrap();
/// assert_eq!(n, 42);
/// # });
/// ```
pub async fn spawn_compute<F, R>(f: F) -> Result<R, ComputeError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let pool = get_pool();
    let blocking = Handle::try_current().ok();
    route(pool.as_deref(), blocking.as_ref(), f).await
}

/// Runs `f` on `pool` when there is one, else on `blocking`'s blocking pool (`spawn_blocking`
/// on that runtime, whichever runtime polls the future).
///
/// # Cancel safety
///
/// As [`spawn_compute`]: with a pool, dropping the future before the job started skips it; on
/// the blocking pool a queued job runs to the end and its result is dropped.
///
/// # Errors
///
/// [`ComputeError::Panicked`] if `f` panicked; [`ComputeError::Discarded`] if the job was lost
/// unrun (the pool's threads died, or `blocking`'s runtime shut down).
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// use rt_compute::{spawn_compute_on, ComputeConfig, ComputePool};
/// use tokio::runtime::Handle;
///
/// let pool = ComputePool::new(ComputeConfig { num_threads: Some(1), ..ComputeConfig::default() })?;
/// let on_pool = spawn_compute_on(Some(&pool), &Handle::current(), || 6 * 7).await?;
/// let on_blocking = spawn_compute_on(None, &Handle::current(), || 6 * 7).await?;
/// assert_eq!((on_pool, on_blocking), (42, 42));
/// # Ok::<_, rt_compute::ComputeError>(())
/// # }).unwrap();
/// ```
pub async fn spawn_compute_on<F, R>(
    pool: Option<&ComputePool>,
    blocking: &Handle,
    f: F,
) -> Result<R, ComputeError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    route(pool, Some(blocking), f).await
}

/// The pool, else `spawn_blocking` on `blocking`, else in place.
async fn route<F, R>(
    pool: Option<&ComputePool>,
    blocking: Option<&Handle>,
    f: F,
) -> Result<R, ComputeError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match (pool, blocking) {
        (Some(pool), _) => pool.execute(f).await,
        (None, Some(handle)) => {
            // The caller's span goes with the job, as on the pool.
            let span = tracing::Span::current();
            handle
                .spawn_blocking(move || span.in_scope(f))
                .await
                .map_err(from_join_error)
        }
        (None, None) => halt_unwinding(f).map_err(|p| ComputeError::panicked(&p)),
    }
}

/// A blocking job that did not return: it panicked, or tokio dropped it unrun.
fn from_join_error(e: JoinError) -> ComputeError {
    match e.try_into_panic() {
        Ok(payload) => ComputeError::panicked(&payload),
        Err(_) => ComputeError::Discarded,
    }
}
