//! Configuration layer of the process runtime: the plain configuration structs, layered loading
//! and validation.
//!
//! - [`RuntimeConfig`]: every process-level setting (tokio runtimes, shutdown deadlines, compute
//!   pool, signals, status server), with [`RuntimeConfig::explain`] to show where each value came
//!   from and a one-line `Display` for the startup log.
//! - [`ComputeConfig`]: the compute pool's own configuration, always available, so that the
//!   pool can be used without the loader.
//! - [`ConfigLoader`] and [`RuntimeConfig::from_settings`] (feature `loader`, on by default):
//!   built-in defaults, then `/opt/dynamo/defaults/runtime.toml`, then
//!   `/opt/dynamo/etc/runtime.toml`, then the file named by `DYN_RUNTIME_CONFIG_FILE`, then
//!   `DYN_*` environment variables.
//! - [`ConfigError`]: every error names the key, the bad value, its source and what is allowed.
//! - [`check`]: the validity rules (host, HTTP path, ranges, ...) for other crates to call
//!   instead of restating them.
//!
//! Every key, its variable, type, default and range: `docs/configuration.md`, or [`keys()`].
//!
//! ```
//! use rt_config::RuntimeConfig;
//!
//! let config = RuntimeConfig::builder().num_worker_threads(2).build()?;
//! assert_eq!(config.resolved_num_worker_threads(), 2);
//! println!("{config}");
//! # Ok::<(), rt_config::ConfigError>(())
//! ```
#![forbid(unsafe_code)]

mod builder;
pub mod check;
mod compute;
mod error;
mod field;
mod health;
mod keys;
mod limits;
#[cfg(feature = "loader")]
mod loader;
mod origin;
mod rule;
mod runtime;
#[cfg(any(feature = "loader", test))]
mod suggest;
mod table;
#[cfg(feature = "loader")]
mod value;

pub use builder::RuntimeConfigBuilder;
pub use compute::ComputeConfig;
pub use error::ConfigError;
pub use health::{HealthStatus, ParseHealthStatusError};
pub use keys::{env_vars, keys, KeySpec, CONFIG_FILE_VAR};
// Every public constant of limits.rs (defaults and bounds of the keys) is public API, so that a
// new key's constant needs no line here.
pub use limits::*;
#[cfg(feature = "loader")]
pub use loader::{ConfigLoader, SYSTEM_CONFIG_FILES};
pub use origin::Origin;
pub use runtime::RuntimeConfig;
