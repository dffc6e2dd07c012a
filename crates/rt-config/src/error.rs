//! The crate's one error type.

use std::path::PathBuf;

use crate::Origin;

/// Everything that can go wrong while loading or validating configuration.
///
/// Every message names the key (or the variable), the bad value, where it came from (file path
/// or environment variable) and what is allowed, so that the person reading the log knows what
/// to change.
///
/// ```
/// use rt_config::{ConfigError, RuntimeConfig};
///
/// let err = RuntimeConfig::builder().max_blocking_threads(0).build().unwrap_err();
/// assert!(matches!(err, ConfigError::InvalidValue { .. }));
/// assert_eq!(err.key(), Some("max_blocking_threads"));
/// assert!(err.to_string().contains("allowed: a whole number from 1 to 65536"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value has the wrong type or is out of range.
    #[error("invalid value {value} for `{key}` from {origin}: {problem}; allowed: {allowed}")]
    InvalidValue {
        /// The configuration key (field name).
        key: &'static str,
        /// The bad value as written (or rendered, for values set in code).
        value: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it.
        problem: String,
        /// What is allowed instead.
        allowed: String,
    },

    /// A configuration file holds a key that does not exist.
    #[error(
        "unknown key `{key}` (value {value}) in {origin}{}; valid keys are listed in docs/configuration.md",
        did_you_mean(.suggestion)
    )]
    UnknownKey {
        /// The unknown key as written.
        key: String,
        /// Its value as written.
        value: String,
        /// The file it was found in.
        origin: Origin,
        /// The closest valid key, if one is close.
        suggestion: Option<String>,
    },

    /// A configuration file is not valid TOML.
    #[error(
        "malformed TOML in config file {path}: {message}; fix the syntax at the position shown"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },

    /// The file named by a variable does not exist.
    #[error(
        "config file {path} named by environment variable {variable} does not exist; \
         create it or unset {variable}"
    )]
    MissingFile {
        /// The missing path.
        path: PathBuf,
        /// The variable that named it.
        variable: String,
    },

    /// A configuration path names a directory or another non-file.
    #[error(
        "config file {path} (named by {named_by}) is not a regular file; point it at a TOML file"
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// Who named it: an environment variable or the system file list.
        named_by: String,
    },

    /// A configuration file exists but cannot be read (permissions, not UTF-8, I/O error).
    #[error(
        "cannot read config file {path} (named by {named_by}): {message}; fix the path or the \
         file's permissions, and keep the file UTF-8 text"
    )]
    Read {
        /// The path.
        path: PathBuf,
        /// Who named it: an environment variable or the system file list.
        named_by: String,
        /// The operating system's message.
        message: String,
    },

    /// An environment variable's value is not valid UTF-8.
    #[error(
        "environment variable {variable} (key `{key}`) is not valid UTF-8: {lossy:?}; \
         set it to plain text or unset it"
    )]
    NotUnicode {
        /// The variable.
        variable: String,
        /// The key it sets.
        key: &'static str,
        /// The value with invalid bytes replaced by U+FFFD.
        lossy: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

impl ConfigError {
    /// The configuration key the error is about, if it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::InvalidValue { key, .. } | ConfigError::NotUnicode { key, .. } => {
                Some(key)
            }
            ConfigError::UnknownKey { key, .. } => Some(key),
            _ => None,
        }
    }
}
