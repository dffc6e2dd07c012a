//! `RuntimeConfigBuilder`: configuration from Rust code.

use crate::table::key_table;
use crate::{ConfigError, Origin, RuntimeConfig};

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

/// One setter per row of the key table.
macro_rules! setters {
    ($(
        $(#[$doc:meta])*
        $field:ident: $fty:ty {
            env: $env:literal,
            ty: $ty:literal,
            default: $default:expr,
            $(shown: $shown:expr,)?
            $(none: $none:literal,)?
            rule: $rule:expr,
            $(note: $note:literal,)?
            parse: $parse:ident,
            setter: $setter:ty,
            about: $about:literal,
        }
    )*) => {
        impl RuntimeConfigBuilder {
            $(
                #[doc = concat!("Sets [`RuntimeConfig::", stringify!($field), "`] (`", $env, "`).")]
                pub fn $field(mut self, value: $setter) -> Self {
                    self.config.$field = value.into();
                    self.config.record(stringify!($field), ORIGIN);
                    self
                }
            )*
        }
    };
}

key_table!(setters);

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

impl RuntimeConfig {
    /// A builder starting from the built-in defaults; [`RuntimeConfigBuilder::build`] validates.
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let config = RuntimeConfig::builder().num_worker_threads(4).compute_threads(0).build()?;
    /// assert_eq!(config.num_worker_threads, Some(4));
    /// assert!(config.compute_config().is_none());
    /// # Ok::<(), rt_config::ConfigError>(())
    /// ```
    pub fn builder() -> RuntimeConfigBuilder {
        RuntimeConfigBuilder::new()
    }

    /// A builder starting from this configuration (keeping where its values came from).
    pub fn to_builder(&self) -> RuntimeConfigBuilder {
        RuntimeConfigBuilder::from_config(self.clone())
    }
}
