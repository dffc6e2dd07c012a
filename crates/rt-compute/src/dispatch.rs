//! Where the `compute_*!` macros run their work: the functions behind them.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::context::{get_pool, try_acquire_block_permit};
use crate::pool::ComputePool;
use crate::tier::Tier;

/// Runs `f` in place, timing it against `tier` when `compute-validation` is on.
#[inline]
fn run<F: FnOnce() -> R, R>(tier: Tier, f: F) -> R {
    #[cfg(feature = "compute-validation")]
    {
        let started = std::time::Instant::now();
        let r = f();
        crate::validation::record(tier, started.elapsed());
        r
    }
    #[cfg(not(feature = "compute-validation"))]
    {
        let _ = tier;
        f()
    }
}

/// `block_in_place` is only allowed on a multi-thread runtime (or outside any runtime).
fn block_in_place_allowed() -> bool {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread,
        Err(_) => true,
    }
}

/// Already on a Rayon thread: offloading again would only add a hop.
fn on_rayon_thread() -> bool {
    rayon::current_thread_index().is_some()
}

static WARNED_NO_POOL: AtomicBool = AtomicBool::new(false);

fn warn_inline(tier: Tier) {
    #[cfg(feature = "compute-validation")]
    crate::validation::record_inline_fallback();
    if !WARNED_NO_POOL.swap(true, Relaxed) {
        tracing::warn!(
            "{} ran inline on the async worker: no compute pool in this thread's context \
             (install one with rt_compute::initialize_context); further occurrences are logged at debug level",
            tier.macro_name()
        );
    } else {
        tracing::debug!("{} ran inline: no compute pool", tier.macro_name());
    }
}

/// Tries `block_in_place` with a permit; gives `f` back if that is not possible here.
fn try_block_in_place<F, R>(f: F) -> Result<R, F>
where
    F: FnOnce() -> R,
{
    if !block_in_place_allowed() {
        return Err(f);
    }
    let Some(permit) = try_acquire_block_permit() else {
        return Err(f);
    };
    let r = tokio::task::block_in_place(|| run(Tier::Medium, f));
    drop(permit);
    Ok(r)
}

/// Runs `f` on `pool`, re-raising its panic here.
async fn on_pool<F, R>(pool: &ComputePool, tier: Tier, f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    pool.execute_unwind(move || run(tier, f)).await
}

/// The thread's context pool, else inline with a warning.
async fn on_context_pool<F, R>(tier: Tier, f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match get_pool() {
        Some(pool) => on_pool(&pool, tier, f).await,
        None => {
            warn_inline(tier);
            run(tier, f)
        }
    }
}

/// Implementation details of the macros; not a stable API.
///
/// # Panics
///
/// Each function re-raises a panic of `f` with its original payload, and panics with
/// [`ComputeError::Discarded`](crate::ComputeError::Discarded)'s message if the pool lost the
/// job unrun.
///
/// # Cancel safety
///
/// As [`ComputePool::execute`]: a job not yet started on the pool is skipped when the future
/// is dropped.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// `compute_small!`: inline.
    #[inline]
    pub fn small<F: FnOnce() -> R, R>(f: F) -> R {
        run(Tier::Small, f)
    }

    /// `compute_medium!(expr)`.
    pub async fn medium<F, R>(f: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if on_rayon_thread() {
            return run(Tier::Medium, f);
        }
        match try_block_in_place(f) {
            Ok(r) => r,
            Err(f) => on_context_pool(Tier::Medium, f).await,
        }
    }

    /// `compute_medium!(pool, expr)`.
    pub async fn medium_with<F, R>(pool: &ComputePool, f: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if on_rayon_thread() {
            return run(Tier::Medium, f);
        }
        match try_block_in_place(f) {
            Ok(r) => r,
            Err(f) => on_pool(pool, Tier::Medium, f).await,
        }
    }

    /// `compute_large!(expr)`.
    pub async fn large<F, R>(f: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if on_rayon_thread() {
            return run(Tier::Large, f);
        }
        on_context_pool(Tier::Large, f).await
    }

    /// `compute_large!(pool, expr)`.
    pub async fn large_with<F, R>(pool: &ComputePool, f: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if on_rayon_thread() {
            return run(Tier::Large, f);
        }
        on_pool(pool, Tier::Large, f).await
    }
}
