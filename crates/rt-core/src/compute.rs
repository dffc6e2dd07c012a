//! The compute pool bridged into async code: [`ComputePool`], [`spawn_compute`] /
//! [`spawn_compute_on`], the thread-local context and the size tiers (the `rt-compute` crate).
//!
//! The `compute_small!`, `compute_medium!` and `compute_large!` macros are at the crate root
//! ([`compute_large!`](crate::compute_large)); the pool's configuration is
//! [`config::ComputeConfig`](crate::config::ComputeConfig). Everything else of `rt-compute` is
//! here.

pub use rt_compute::{
    clear_context, get_pool, has_compute_context, initialize_block_permits, initialize_context,
    spawn_compute, spawn_compute_on, try_acquire_block_permit, ComputeError, ComputeMetrics,
    ComputePool, Tier, MEDIUM_TIER_LIMIT, SLOW_TASK_THRESHOLD, SMALL_TIER_LIMIT,
};
