//! The `compute_*!` macros: pick where CPU work runs from how long it takes.

/// Runs CPU work of under 100 µs **inline**, on the calling thread.
///
/// Offloading such work costs more than doing it. The expression is evaluated in a closure
/// (so `?` and `return` inside it apply to that closure) and its value is returned; a panic
/// propagates as it would without the macro. The `(pool, expr)` form accepts a pool for
/// symmetry with the other tiers and does not use it. Usable in sync and async code.
///
/// With the `compute-validation` feature the work is timed and a warning is logged when it
/// took 100 µs or more (it belongs in [`compute_medium!`](crate::compute_medium)).
///
/// # Panics
///
/// If the expression panics: the panic continues in the caller, as without the macro.
///
/// ```
/// use rt_compute::{compute_small, ComputePool};
///
/// let x = compute_small!(2 + 2);
/// assert_eq!(x, 4);
///
/// let pool = ComputePool::with_defaults().unwrap();
/// let data = vec![1, 2, 3];
/// let sum: i32 = compute_small!(pool, data.iter().sum());
/// assert_eq!(sum, 6);
/// ```
#[macro_export]
macro_rules! compute_small {
    ($pool:expr, $e:expr $(,)?) => {{
        let _pool: &$crate::ComputePool = &$pool;
        $crate::__private::small(|| $e)
    }};
    ($e:expr $(,)?) => {
        $crate::__private::small(|| $e)
    };
}

/// Runs CPU work of 100 µs to 1 ms: **`block_in_place`** when allowed, else **the pool**.
///
/// Inside an async context (it expands to an `.await`). Decision, in order:
///
/// 1. On a Rayon thread already: inline.
/// 2. On a multi-thread tokio runtime (or outside any runtime) with a free permit from
///    [`initialize_context`](crate::initialize_context): `tokio::task::block_in_place`, holding
///    the permit while the work runs. Never on a current-thread runtime, where
///    `block_in_place` is not allowed.
/// 3. The pool: the one given in the `(pool, expr)` form, else the thread's context pool.
/// 4. No pool at all (bare form without context): inline, with a warning (logged once, then at
///    debug level).
///
/// The expression is evaluated in a `move` closure that may run on another thread, so it must
/// be `Send + 'static` (move owned data in). Its value is returned; a panic in it propagates
/// to the caller with its original payload, wherever it ran.
///
/// With `compute-validation`, the work is timed and a warning is logged when it took under
/// 100 µs ([`compute_small!`](crate::compute_small)) or 1 ms or more
/// ([`compute_large!`](crate::compute_large)).
///
/// # Panics
///
/// If the expression panics, wherever it ran (inline, in `block_in_place` or on a pool
/// thread): the panic is re-raised in the caller with its original payload, so
/// `std::panic::catch_unwind` and a `JoinError`'s `into_panic` see what the expression passed
/// to `panic!`. Also if the pool lost the job unrun (its threads went away), with
/// [`ComputeError::Discarded`](crate::ComputeError::Discarded)'s message.
///
/// # Cancel safety
///
/// Dropping the enclosing future while the work waits on the pool skips the work if no pool
/// thread has picked it up yet, as [`ComputePool::execute`](crate::ComputePool::execute) does;
/// work that started (on the pool, or in place) runs to the end.
///
/// ```
/// use rt_compute::{compute_medium, ComputePool};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let pool = ComputePool::with_defaults().unwrap();
/// let data: Vec<u64> = (0..10_000).collect();
/// // A current-thread runtime: no block_in_place, so this goes to the pool.
/// let sum = compute_medium!(pool, data.iter().sum::<u64>());
/// assert_eq!(sum, 49_995_000);
/// // Bare form, no context on this thread: runs inline (with a warning).
/// let n = compute_medium!((1..=10u64).product::<u64>());
/// assert_eq!(n, 3_628_800);
/// # });
/// ```
#[macro_export]
macro_rules! compute_medium {
    ($pool:expr, $e:expr $(,)?) => {{
        let __rt_compute_pool: &$crate::ComputePool = &$pool;
        $crate::__private::medium_with(__rt_compute_pool, move || $e).await
    }};
    ($e:expr $(,)?) => {
        $crate::__private::medium(move || $e).await
    };
}

/// Runs CPU work of over 1 ms on **the compute pool**.
///
/// Inside an async context (it expands to an `.await`). Uses the pool of the `(pool, expr)`
/// form, else the thread's context pool ([`get_pool`](crate::get_pool)); without either it
/// runs inline with a warning (logged once, then at debug level). On a Rayon thread it runs
/// inline. Never uses `block_in_place`, so it works the same on both runtime flavours.
///
/// The expression is evaluated in a `move` closure on a pool thread, so it must be
/// `Send + 'static`. Its value is returned; a panic in it propagates to the caller with its
/// original payload.
///
/// With `compute-validation`, the work is timed and a warning is logged when it took under
/// 1 ms ([`compute_medium!`](crate::compute_medium) would do).
///
/// # Panics
///
/// If the expression panics, on the pool or inline: the panic is re-raised in the caller with
/// its original payload. Also if the pool lost the job unrun (its threads went away), with
/// [`ComputeError::Discarded`](crate::ComputeError::Discarded)'s message.
///
/// # Cancel safety
///
/// Dropping the enclosing future before a pool thread picked the work up skips it, as
/// [`ComputePool::execute`](crate::ComputePool::execute) does; work that started runs to the
/// end and its value is dropped.
///
/// ```
/// use rt_compute::{compute_large, ComputePool};
/// use std::sync::Arc;
///
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
/// # rt.block_on(async {
/// let pool = Arc::new(ComputePool::with_defaults().unwrap());
/// let text = "the quick brown fox".repeat(1000);
/// let words = compute_large!(pool, text.split_whitespace().count());
/// assert_eq!(words, 3001);
///
/// rt_compute::initialize_context(Arc::clone(&pool), Arc::new(tokio::sync::Semaphore::new(0)));
/// let total = compute_large!((0..1_000_000u64).sum::<u64>());
/// assert_eq!(total, 499_999_500_000);
/// # });
/// ```
#[macro_export]
macro_rules! compute_large {
    ($pool:expr, $e:expr $(,)?) => {{
        let __rt_compute_pool: &$crate::ComputePool = &$pool;
        $crate::__private::large_with(__rt_compute_pool, move || $e).await
    }};
    ($e:expr $(,)?) => {
        $crate::__private::large(move || $e).await
    };
}
