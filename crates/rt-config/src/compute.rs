//! The compute pool's plain configuration.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits;
use crate::{check, ConfigError, Origin};

/// Configuration of one compute pool (a Rayon thread pool bridged into async code).
///
/// Always available, also without the `loader` feature, so that the pool's crate can use it
/// without the file and environment loader. A [`RuntimeConfig`](crate::RuntimeConfig) yields one
/// through [`compute_config`](crate::RuntimeConfig::compute_config).
///
/// ```
/// use rt_config::ComputeConfig;
///
/// let config = ComputeConfig { num_threads: Some(4), ..ComputeConfig::default() };
/// config.validate()?;
/// assert_eq!(config.resolved_num_threads(), 4);
/// assert_eq!(config.resolved_stack_size(), 2 * 1024 * 1024);
/// assert_eq!(config.thread_prefix, "compute");
/// # Ok::<(), rt_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Number of pool threads. `None`: available cores / 2, clamped to `[2, 16]`
    /// (see [`resolved_num_threads`](Self::resolved_num_threads)). Allowed: 1 to 1024.
    pub num_threads: Option<usize>,
    /// Stack size of each pool thread in bytes. `None`: 2 MiB. Allowed: 128 KiB to 1 GiB.
    pub stack_size: Option<usize>,
    /// Thread-name prefix; threads are named `"{prefix}-{n}"`. Default `"compute"`.
    pub thread_prefix: String,
    /// Pin each pool thread to one CPU. Default `false`.
    pub pin_threads: bool,
    /// How long, in microseconds, a waiting side of the async bridge may spin before it parks.
    /// `0` never spins. At most [`MAX_BRIDGE_SPIN_US`](crate::MAX_BRIDGE_SPIN_US).
    /// Default [`DEFAULT_BRIDGE_SPIN_US`](crate::DEFAULT_BRIDGE_SPIN_US).
    pub bridge_spin_us: u32,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            num_threads: None,
            stack_size: None,
            thread_prefix: limits::DEFAULT_THREAD_PREFIX.to_string(),
            pin_threads: false,
            bridge_spin_us: limits::DEFAULT_BRIDGE_SPIN_US,
        }
    }
}

impl ComputeConfig {
    /// The default pool size on this machine: available cores / 2, clamped to `[2, 16]`.
    pub fn default_num_threads() -> usize {
        (limits::available_cores() / 2).clamp(2, 16)
    }

    /// The number of threads the pool will have: `num_threads`, or
    /// [`default_num_threads`](Self::default_num_threads) when it is `None`.
    pub fn resolved_num_threads(&self) -> usize {
        self.num_threads.unwrap_or_else(Self::default_num_threads)
    }

    /// The stack size each pool thread will get: `stack_size`, or 2 MiB when it is `None`.
    pub fn resolved_stack_size(&self) -> usize {
        self.stack_size.unwrap_or(limits::DEFAULT_STACK_SIZE)
    }

    /// Checks every field against its allowed range.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] for the first field out of range, naming the field, its
    /// value and what is allowed. (To disable a runtime's pool, set
    /// [`RuntimeConfig::compute_threads`](crate::RuntimeConfig::compute_threads) to `Some(0)`;
    /// a `ComputeConfig` itself always describes a pool of at least one thread.)
    ///
    /// ```
    /// use rt_config::ComputeConfig;
    ///
    /// let err = ComputeConfig { num_threads: Some(0), ..Default::default() }.validate().unwrap_err();
    /// assert!(err.to_string().contains("num_threads"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let origin = Origin::Code("ComputeConfig");
        if let Some(n) = self.num_threads {
            check::range("num_threads", n, 1, limits::MAX_THREADS, &origin)?;
        }
        if let Some(s) = self.stack_size {
            check::stack_size("stack_size", s, &origin)?;
        }
        check::thread_prefix("thread_prefix", &self.thread_prefix, &origin)?;
        check::range(
            "bridge_spin_us",
            self.bridge_spin_us,
            0,
            limits::MAX_BRIDGE_SPIN_US,
            &origin,
        )
    }
}

impl fmt::Display for ComputeConfig {
    /// One line: `num_threads=4 stack_size=2097152 thread_prefix="compute" pin_threads=false bridge_spin_us=0`,
    /// with `auto(N)` / `default(N)` when a size is left to its default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.num_threads {
            Some(n) => write!(f, "num_threads={n}")?,
            None => write!(f, "num_threads=auto({})", self.resolved_num_threads())?,
        }
        match self.stack_size {
            Some(s) => write!(f, " stack_size={s}")?,
            None => write!(f, " stack_size=default({})", self.resolved_stack_size())?,
        }
        write!(
            f,
            " thread_prefix={:?} pin_threads={} bridge_spin_us={}",
            self.thread_prefix, self.pin_threads, self.bridge_spin_us
        )
    }
}
