//! [`spawn_compute`]: send CPU work wherever this thread's context says it should go.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{panic_message, ComputeError};

/// Runs `f` on the calling thread's context pool (see
/// [`initialize_context`](crate::initialize_context)); without one, on tokio's blocking pool
/// (`spawn_blocking`); outside any tokio runtime, in place.
///
/// This is the routing a runtime whose compute pool is disabled needs: code calls
/// `spawn_compute` and the work lands on the pool when there is one, on `spawn_blocking`
/// otherwise.
///
/// Cancellation: with a pool, as [`ComputePool::execute`](crate::ComputePool::execute) (a job
/// not yet started is skipped when the future is dropped). On the blocking pool, dropping the
/// future does not stop a job that tokio has already queued.
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
    if let Some(pool) = crate::context::get_pool() {
        return pool.execute(f).await;
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return catch_unwind(AssertUnwindSafe(f)).map_err(|p| ComputeError::Panicked {
            message: panic_message(&*p),
        });
    }
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => Err(ComputeError::Panicked {
            message: panic_message(&*e.into_panic()),
        }),
        Err(_) => Err(ComputeError::Discarded),
    }
}
