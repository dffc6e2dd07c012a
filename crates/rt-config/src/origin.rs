//! Where a configuration value came from.

use std::fmt;
use std::path::PathBuf;

/// The source of one configuration value, as reported by
/// [`RuntimeConfig::explain`](crate::RuntimeConfig::explain) and by every [`ConfigError`](crate::ConfigError).
///
/// `Display` gives the long form used in error messages ("file /etc/x.toml",
/// "environment variable DYN_X"); [`Origin::short`] gives the compact form used by `explain()`
/// ("file:/etc/x.toml", "env:DYN_X"), in the spirit of `git config --show-origin`.
///
/// ```
/// use rt_config::Origin;
///
/// let origin = Origin::Env("DYN_COMPUTE_THREADS".to_string());
/// assert_eq!(origin.to_string(), "environment variable DYN_COMPUTE_THREADS");
/// assert_eq!(origin.short(), "env:DYN_COMPUTE_THREADS");
/// assert_eq!(Origin::Default.short(), "default");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A TOML file, by the path it was read from.
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
    /// Rust code: the builder, `single_threaded()`, or a field assigned after loading.
    /// The string says which.
    Code(&'static str),
}

impl Origin {
    /// The compact form used by [`RuntimeConfig::explain`](crate::RuntimeConfig::explain):
    /// `default`, `file:<path>`, `env:<VAR>` or `code:<what>`.
    pub fn short(&self) -> String {
        match self {
            Origin::Default => "default".to_string(),
            Origin::File(path) => format!("file:{}", path.display()),
            Origin::Env(var) => format!("env:{var}"),
            Origin::Code(what) => format!("code:{what}"),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Code(what) => write!(f, "Rust code ({what})"),
        }
    }
}
