//! The compute layer: a Rayon thread pool for CPU-heavy work, bridged into async code in one
//! hop, plus a thread-local context and the `compute_small!` / `compute_medium!` /
//! `compute_large!` macros that decide where a piece of work runs.
//!
//! Async services must not run long computations on tokio's worker threads: every other task
//! on that worker waits. This crate gives them somewhere else to go:
//!
//! * [`ComputePool`]: a dedicated Rayon pool with async methods (`execute`, `install`, `join`,
//!   `parallel_map`, ...). A job is pushed straight onto the pool and its result handed back
//!   through a one-shot slot; the waiting side spins briefly (bounded, adaptive) before it
//!   parks, so a short job's round trip costs a few microseconds rather than a double hop's
//!   tens. Panics come back as [`ComputeError::Panicked`]; dropping a future before its job
//!   started skips the job.
//! * The thread-local context ([`initialize_context`], [`initialize_block_permits`],
//!   [`clear_context`], [`has_compute_context`], [`get_pool`], [`try_acquire_block_permit`])
//!   that a runtime installs on its workers.
//! * The tier macros ([`compute_small!`], [`compute_medium!`], [`compute_large!`]): inline under
//!   100 µs, `block_in_place` (bounded by permits) up to 1 ms, the pool beyond.
//! * [`spawn_compute`] / [`spawn_compute_on`]: the pool when there is one, `spawn_blocking`
//!   otherwise.
//!
//! The pool is configured with [`ComputeConfig`], re-exported from `rt-config` so that a crate
//! using `rt-compute` alone can build a pool without naming `rt-config`. Its ranges are
//! `rt-config`'s, and so are the errors: [`ComputeError::InvalidConfig`] carries the
//! `rt_config::ConfigError` of [`ComputeConfig::validate`] as its source.
//!
//! Feature `compute-validation` times every macro and warns about work in the wrong tier
//! (see the `validation` module, present with the feature).
//!
//! ```
//! use rt_compute::ComputePool;
//!
//! # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
//! # rt.block_on(async {
//! let pool = ComputePool::with_defaults()?;
//! let digest = pool.execute(|| (0..1_000_000u64).fold(0u64, |h, x| h.rotate_left(5) ^ x)).await?;
//! # let _ = digest;
//! # Ok::<_, rt_compute::ComputeError>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod affinity;
mod context;
mod dispatch;
mod error;
mod job;
mod macros;
mod metrics;
mod pool;
mod spawn;
mod spin;
mod tier;
mod unwind;
#[cfg(feature = "compute-validation")]
pub mod validation;

pub use context::{
    clear_context, get_pool, has_compute_context, initialize_block_permits, initialize_context,
    try_acquire_block_permit,
};
#[doc(hidden)]
pub use dispatch::__private;
pub use error::ComputeError;
pub use metrics::{ComputeMetrics, SLOW_TASK_THRESHOLD};
pub use pool::ComputePool;
pub use rt_config::ComputeConfig;
pub use spawn::{spawn_compute, spawn_compute_on};
pub use tier::{Tier, MEDIUM_TIER_LIMIT, SMALL_TIER_LIMIT};
