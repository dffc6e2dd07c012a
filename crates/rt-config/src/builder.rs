//! `RuntimeConfigBuilder`: configuration from Rust code.

use crate::{ConfigError, HealthStatus, Origin, RuntimeConfig};

/// Builds a [`RuntimeConfig`] in Rust code, starting from the built-in defaults (or from an
/// existing configuration with [`RuntimeConfig::to_builder`]). Every setter records
/// `code:RuntimeConfigBuilder` as the value's origin for [`RuntimeConfig::explain`];
/// [`build`](Self::build) validates.
///
/// Setters of optional keys take `impl Into<Option<_>>`, so both `4` and `None` work.
///
/// ```
/// use rt_config::{HealthStatus, RuntimeConfig};
///
/// let config = RuntimeConfig::builder()
///     .num_worker_threads(8)
///     .compute_threads(None)
///     .system_port(9090)
///     .system_starting_health_status(HealthStatus::Ready)
///     .graceful_shutdown_timeout_secs(60)
///     .build()?;
/// assert_eq!(config.system_port, Some(9090));
/// assert_eq!(config.graceful_shutdown_timeout().as_secs(), 60);
///
/// // build() refuses what validate() refuses.
/// assert!(RuntimeConfig::builder().compute_stack_size(1024).build().is_err());
/// # Ok::<(), rt_config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct RuntimeConfigBuilder {
    config: RuntimeConfig,
}

const ORIGIN: Origin = Origin::Code("RuntimeConfigBuilder");

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value.into();
            self.config.record(stringify!($name), ORIGIN);
            self
        }
    )*};
}

impl Default for RuntimeConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeConfigBuilder {
    /// A builder holding the built-in defaults.
    pub fn new() -> Self {
        RuntimeConfigBuilder {
            config: RuntimeConfig::default(),
        }
    }

    /// A builder holding `config` (its recorded origins are kept).
    pub fn from_config(config: RuntimeConfig) -> Self {
        RuntimeConfigBuilder { config }
    }

    setters! {
        /// Sets [`RuntimeConfig::num_worker_threads`] (`None`: available cores).
        num_worker_threads: impl Into<Option<usize>>;
        /// Sets [`RuntimeConfig::max_blocking_threads`].
        max_blocking_threads: usize;
        /// Sets [`RuntimeConfig::graceful_shutdown_timeout_secs`].
        graceful_shutdown_timeout_secs: u64;
        /// Sets [`RuntimeConfig::teardown_timeout_secs`].
        teardown_timeout_secs: u64;
        /// Sets [`RuntimeConfig::worker_graceful_shutdown_timeout_secs`].
        worker_graceful_shutdown_timeout_secs: u64;
        /// Sets [`RuntimeConfig::compute_threads`] (`None`: default size, `0`: no pool).
        compute_threads: impl Into<Option<usize>>;
        /// Sets [`RuntimeConfig::compute_stack_size`] in bytes (`None`: 2 MiB).
        compute_stack_size: impl Into<Option<usize>>;
        /// Sets [`RuntimeConfig::compute_thread_prefix`].
        compute_thread_prefix: impl Into<String>;
        /// Sets [`RuntimeConfig::compute_pin_threads`].
        compute_pin_threads: bool;
        /// Sets [`RuntimeConfig::compute_bridge_spin_us`].
        compute_bridge_spin_us: u32;
        /// Sets [`RuntimeConfig::signal_debounce_ms`].
        signal_debounce_ms: u64;
        /// Sets [`RuntimeConfig::system_host`].
        system_host: impl Into<String>;
        /// Sets [`RuntimeConfig::system_port`] (`None`: no status server, `0`: free port).
        system_port: impl Into<Option<u16>>;
        /// Sets [`RuntimeConfig::system_health_path`].
        system_health_path: impl Into<String>;
        /// Sets [`RuntimeConfig::system_live_path`].
        system_live_path: impl Into<String>;
        /// Sets [`RuntimeConfig::system_starting_health_status`].
        system_starting_health_status: HealthStatus;
        /// Sets [`RuntimeConfig::http_host`].
        http_host: impl Into<String>;
        /// Sets [`RuntimeConfig::http_port`] (`0`: free port).
        http_port: u16;
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError::InvalidValue`] that [`RuntimeConfig::validate`] finds.
    pub fn build(self) -> Result<RuntimeConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}
