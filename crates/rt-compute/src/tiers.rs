//! The three compute tiers and the functions behind the `compute_*!` macros.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use crate::ComputePool;

/// Work expected to take less than this belongs in [`Tier::Small`] (run inline).
pub const SMALL_TIER_LIMIT: Duration = Duration::from_micros(100);
/// Work expected to take less than this (and at least [`SMALL_TIER_LIMIT`]) belongs in
/// [`Tier::Medium`]; anything longer in [`Tier::Large`].
pub const MEDIUM_TIER_LIMIT: Duration = Duration::from_millis(1);

/// How much CPU a piece of work takes, which decides where the `compute_*!` macros run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Under 100 µs: inline on the calling task (`compute_small!`); offloading would cost more
    /// than the work.
    Small,
    /// 100 µs to 1 ms: `block_in_place` on the current worker when a permit is free, else the
    /// pool (`compute_medium!`).
    Medium,
    /// Over 1 ms: the compute pool (`compute_large!`).
    Large,
}

impl Tier {
    /// The tier that work of this measured duration belongs in.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rt_compute::Tier;
    /// assert_eq!(Tier::for_duration(Duration::from_micros(20)), Tier::Small);
    /// assert_eq!(Tier::for_duration(Duration::from_micros(300)), Tier::Medium);
    /// assert_eq!(Tier::for_duration(Duration::from_millis(5)), Tier::Large);
    /// ```
    pub fn for_duration(elapsed: Duration) -> Tier {
        if elapsed < SMALL_TIER_LIMIT {
            Tier::Small
        } else if elapsed < MEDIUM_TIER_LIMIT {
            Tier::Medium
        } else {
            Tier::Large
        }
    }

    /// The macro of this tier, for messages.
    pub fn macro_name(self) -> &'static str {
        match self {
            Tier::Small => "compute_small!",
            Tier::Medium => "compute_medium!",
            Tier::Large => "compute_large!",
        }
    }
}

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
    let Some(permit) = crate::context::try_acquire_block_permit() else {
        return Err(f);
    };
    let r = tokio::task::block_in_place(|| run(Tier::Medium, f));
    drop(permit);
    Ok(r)
}

/// Implementation details of the macros; not a stable API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub use std::sync::Arc;

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
        let f = match try_block_in_place(f) {
            Ok(r) => return r,
            Err(f) => f,
        };
        match crate::context::get_pool() {
            Some(pool) => pool.execute_unwind(move || run(Tier::Medium, f)).await,
            None => {
                warn_inline(Tier::Medium);
                run(Tier::Medium, f)
            }
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
            Err(f) => pool.execute_unwind(move || run(Tier::Medium, f)).await,
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
        match crate::context::get_pool() {
            Some(pool) => pool.execute_unwind(move || run(Tier::Large, f)).await,
            None => {
                warn_inline(Tier::Large);
                run(Tier::Large, f)
            }
        }
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
        pool.execute_unwind(move || run(Tier::Large, f)).await
    }
}
