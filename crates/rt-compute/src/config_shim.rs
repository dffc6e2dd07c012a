//! Temporary local copy of `rt_config::ComputeConfig` until rt-config exports it.

/// Default spin budget of the bridge, in microseconds.
pub const DEFAULT_BRIDGE_SPIN_US: u32 = 50;

/// Settings of the compute pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeConfig {
    /// Number of threads; `None` = available cores / 2 clamped to [2, 16].
    pub num_threads: Option<usize>,
    /// Stack size per thread; `None` = 2 MiB.
    pub stack_size: Option<usize>,
    /// Thread name prefix.
    pub thread_prefix: String,
    /// Pin each thread to one core.
    pub pin_threads: bool,
    /// Spin budget of the bridge in microseconds.
    pub bridge_spin_us: u32,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            num_threads: None,
            stack_size: None,
            thread_prefix: "compute".to_owned(),
            pin_threads: false,
            bridge_spin_us: DEFAULT_BRIDGE_SPIN_US,
        }
    }
}

impl ComputeConfig {
    /// Threads the pool will start.
    pub fn resolved_num_threads(&self) -> usize {
        self.num_threads.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / 2).clamp(2, 16)
        })
    }
    /// Stack size of each thread.
    pub fn resolved_stack_size(&self) -> usize {
        self.stack_size.unwrap_or(2 * 1024 * 1024)
    }
}
