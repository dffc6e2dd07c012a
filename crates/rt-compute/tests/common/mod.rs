//! Helpers shared by the test files (each file compiles this module and uses part of it).
#![allow(dead_code)]

use std::sync::Arc;

use rt_compute::{ComputeConfig, ComputePool};

/// A pool of `threads` threads with the default prefix (`compute-N`).
pub fn pool_of(threads: usize) -> ComputePool {
    ComputePool::new(ComputeConfig {
        num_threads: Some(threads),
        ..ComputeConfig::default()
    })
    .unwrap()
}

/// A shared two-thread pool, as the context and the macros take it.
pub fn pool() -> Arc<ComputePool> {
    Arc::new(pool_of(2))
}

/// The calling thread's name ("" when it has none).
pub fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}
