//! Layered loading: built-in defaults, system TOML files, an explicit TOML file, environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use config::{FileFormat, Source, ValueKind};

use crate::keys::{keys, spec, KeySpec, CONFIG_FILE_VAR};
use crate::suggest::closest;
use crate::{ConfigError, HealthStatus, Origin, RuntimeConfig};

/// The system configuration files, read in this order when they exist (missing: skipped).
pub const SYSTEM_CONFIG_FILES: [&str; 2] = [
    "/opt/dynamo/defaults/runtime.toml",
    "/opt/dynamo/etc/runtime.toml",
];

/// Variable prefixes this crate owns; an unknown variable with one of them gets a warning.
const OWNED_PREFIXES: [&str; 6] = [
    "DYN_RUNTIME_",
    "DYN_COMPUTE_",
    "DYN_WORKER_",
    "DYN_SIGNAL_",
    "DYN_SYSTEM_",
    "DYN_HTTP_",
];

/// Loads a [`RuntimeConfig`] from layered sources, later ones overriding earlier ones:
///
/// 1. built-in defaults;
/// 2. the system files ([`SYSTEM_CONFIG_FILES`] unless replaced with
///    [`system_files`](Self::system_files)), in order; a missing one is skipped, a directory or
///    unreadable one is an error;
/// 3. the file named by `DYN_RUNTIME_CONFIG_FILE`, if that variable is set (missing: error);
/// 4. the environment variables listed in `docs/configuration.md` (each maps to one key by an
///    explicit table; an empty variable counts as unset).
///
/// The result is validated. Files are TOML with the keys at top level, parsed by the `config`
/// crate; an unknown key is an error that suggests the closest valid key. An unknown variable
/// starting with one of this crate's prefixes (`DYN_RUNTIME_`, `DYN_COMPUTE_`, ...) is logged as a
/// warning and otherwise ignored.
///
/// The loader reads only the environment it is given: [`new`](Self::new) starts empty, so tests
/// do not depend on the process; [`RuntimeConfig::from_settings`] passes the real one.
///
/// ```
/// use rt_config::{ConfigLoader, Origin};
///
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("runtime.toml");
/// std::fs::write(&file, "max_blocking_threads = 64\ncompute_threads = 2\n")?;
///
/// let config = ConfigLoader::new()
///     .system_files([&file, &dir.path().join("missing.toml")])
///     .env_map([("DYN_COMPUTE_THREADS", "6"), ("DYN_HTTP_PORT", "")])
///     .load()?;
/// assert_eq!(config.max_blocking_threads, 64);                  // from the file
/// assert_eq!(config.compute_threads, Some(6));                  // the variable wins
/// assert_eq!(config.http_port, 8080);                           // empty variable = unset
/// assert_eq!(config.origin_of("max_blocking_threads"), Some(Origin::File(file.clone())));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a loader does nothing until load() is called"]
pub struct ConfigLoader {
    system_files: Vec<PathBuf>,
    env: BTreeMap<OsString, OsString>,
}

impl Default for ConfigLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigLoader {
    /// A loader with the standard system files and an empty environment.
    pub fn new() -> Self {
        ConfigLoader {
            system_files: SYSTEM_CONFIG_FILES.iter().map(PathBuf::from).collect(),
            env: BTreeMap::new(),
        }
    }

    /// A loader with the standard system files and this process's environment.
    pub fn from_process_env() -> Self {
        Self::new().env_map(std::env::vars_os())
    }

    /// Replaces the list of system files (read in order; missing ones skipped).
    pub fn system_files<I, P>(mut self, files: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        self.system_files = files
            .into_iter()
            .map(|p| p.as_ref().to_path_buf())
            .collect();
        self
    }

    /// Replaces the environment the loader reads. Values are `OsString`s, so values that are
    /// not UTF-8 reach the loader (and are refused with [`ConfigError::NotUnicode`]).
    pub fn env_map<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// A variable's value, `None` when unset or empty.
    fn var(&self, name: &str) -> Option<&OsString> {
        self.env
            .get(std::ffi::OsStr::new(name))
            .filter(|v| !v.is_empty())
    }

    /// Reads every source and returns the validated configuration.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`ConfigError`] naming the key, the value and its source:
    /// malformed TOML, an unknown key, a value of the wrong type or out of range, a variable that
    /// is not UTF-8, a missing explicit file, a directory where a file is expected, an
    /// unreadable file.
    pub fn load(&self) -> Result<RuntimeConfig, ConfigError> {
        let mut config = RuntimeConfig::default();

        for path in &self.system_files {
            let named_by = "the system config file list";
            match metadata(path, named_by)? {
                Some(meta) => apply_file(&mut config, path, &meta, named_by)?,
                None => {
                    tracing::debug!(path = %path.display(), "system config file not present, skipped");
                }
            }
        }

        if let Some(value) = self.var(CONFIG_FILE_VAR) {
            let path = PathBuf::from(value);
            let named_by = format!("environment variable {CONFIG_FILE_VAR}");
            let Some(meta) = metadata(&path, &named_by)? else {
                return Err(ConfigError::MissingFile {
                    path,
                    variable: CONFIG_FILE_VAR.to_string(),
                });
            };
            apply_file(&mut config, &path, &meta, &named_by)?;
        }

        for spec in keys() {
            let Some(value) = self.var(spec.env) else {
                continue;
            };
            let Some(text) = value.to_str() else {
                return Err(ConfigError::NotUnicode {
                    variable: spec.env.to_string(),
                    key: spec.name,
                    lossy: value.to_string_lossy().into_owned(),
                });
            };
            let origin = Origin::Env(spec.env.to_string());
            set(&mut config, spec, Raw::Text(text.to_string()), &origin)?;
            config.record(spec.name, origin);
        }

        self.warn_unknown_vars();
        config.validate()?;
        tracing::debug!(config = %config, "runtime configuration loaded");
        Ok(config)
    }

    fn warn_unknown_vars(&self) {
        for name in self.env.keys().filter_map(|k| k.to_str()) {
            let owned = OWNED_PREFIXES.iter().any(|p| name.starts_with(p));
            if owned && !crate::env_vars().any(|known| known == name) {
                match closest(name, crate::env_vars()) {
                    Some(s) => tracing::warn!(
                        variable = name,
                        "unknown configuration variable ignored; did you mean {s}?"
                    ),
                    None => {
                        tracing::warn!(variable = name, "unknown configuration variable ignored")
                    }
                }
            }
        }
    }
}

impl RuntimeConfig {
    /// Loads the configuration of this process: built-in defaults, then
    /// `/opt/dynamo/defaults/runtime.toml`, then `/opt/dynamo/etc/runtime.toml` (each skipped when
    /// missing), then the file named by `DYN_RUNTIME_CONFIG_FILE` (if set; missing = error), then
    /// the `DYN_*` environment variables; then validates. A thin wrapper over
    /// [`ConfigLoader::from_process_env`]; see [`ConfigLoader`] for the rules.
    ///
    /// Needs the `loader` feature (on by default).
    ///
    /// # Errors
    ///
    /// Any [`ConfigError`]: each names the key, the bad value and its source.
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// match RuntimeConfig::from_settings() {
    ///     Ok(config) => println!("runtime config: {config}"),
    ///     Err(err) => eprintln!("bad configuration: {err}"),
    /// }
    /// ```
    pub fn from_settings() -> Result<Self, ConfigError> {
        ConfigLoader::from_process_env().load()
    }
}

/// A value before conversion: text from a variable, or a typed TOML value.
#[derive(Debug, Clone)]
enum Raw {
    Text(String),
    Int(i128),
    Bool(bool),
    Float(f64),
    Str(String),
    Other(&'static str),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Text(s) | Raw::Str(s) => write!(f, "{s:?}"),
            Raw::Int(i) => write!(f, "{i}"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::Float(x) => write!(f, "{x}"),
            Raw::Other(what) => f.write_str(what),
        }
    }
}

impl From<ValueKind> for Raw {
    fn from(kind: ValueKind) -> Self {
        match kind {
            ValueKind::Nil => Raw::Other("an empty value"),
            ValueKind::Boolean(b) => Raw::Bool(b),
            ValueKind::I64(i) => Raw::Int(i.into()),
            ValueKind::I128(i) => Raw::Int(i),
            ValueKind::U64(u) => Raw::Int(u.into()),
            ValueKind::U128(u) => Raw::Int(i128::try_from(u).unwrap_or(i128::MAX)),
            ValueKind::Float(x) => Raw::Float(x),
            ValueKind::String(s) => Raw::Str(s),
            ValueKind::Table(_) => Raw::Other("a table"),
            ValueKind::Array(_) => Raw::Other("an array"),
        }
    }
}

fn read_error(path: &Path, named_by: &str, error: &std::io::Error) -> ConfigError {
    ConfigError::Read {
        path: path.to_path_buf(),
        named_by: named_by.to_string(),
        message: error.to_string(),
    }
}

/// The file's metadata, `None` when nothing exists at `path`. Any other failure (a directory on
/// the way that cannot be searched, an I/O error) is a [`ConfigError::Read`], not "missing".
fn metadata(path: &Path, named_by: &str) -> Result<Option<std::fs::Metadata>, ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_error(path, named_by, &e)),
    }
}

/// Reads one TOML file, whose metadata the caller has already looked up, into `config`.
fn apply_file(
    config: &mut RuntimeConfig,
    path: &Path,
    meta: &std::fs::Metadata,
    named_by: &str,
) -> Result<(), ConfigError> {
    if !meta.is_file() {
        return Err(ConfigError::NotAFile {
            path: path.to_path_buf(),
            named_by: named_by.to_string(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| read_error(path, named_by, &e))?;
    let table = config::File::from_str(&text, FileFormat::Toml)
        .collect()
        .map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
    let origin = Origin::File(path.to_path_buf());

    // Sorted, so that the first error reported does not depend on hash order.
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in entries {
        let raw = Raw::from(value.kind);
        let Some(spec) = spec(&key) else {
            let suggestion = keys()
                .iter()
                .find(|k| k.env.eq_ignore_ascii_case(&key))
                .map(|k| k.name)
                .or_else(|| closest(&key, keys().iter().map(|k| k.name)))
                .map(str::to_string);
            return Err(ConfigError::UnknownKey {
                key,
                value: raw.to_string(),
                origin,
                suggestion,
            });
        };
        set(config, spec, raw, &origin)?;
        config.record(spec.name, origin.clone());
    }
    tracing::debug!(path = %path.display(), "config file read");
    Ok(())
}

/// Converts `raw` and stores it in the field named by `spec`.
fn set(
    config: &mut RuntimeConfig,
    spec: &KeySpec,
    raw: Raw,
    origin: &Origin,
) -> Result<(), ConfigError> {
    let none = spec.none_word;
    let result = (|| -> Result<(), String> {
        let c = &mut *config;
        match spec.name {
            "num_worker_threads" => {
                c.num_worker_threads = optional(&raw, none, |r| narrow(uint(r)?))?
            }
            "max_blocking_threads" => c.max_blocking_threads = narrow(uint(&raw)?)?,
            "graceful_shutdown_timeout_secs" => c.graceful_shutdown_timeout_secs = uint(&raw)?,
            "teardown_timeout_secs" => c.teardown_timeout_secs = uint(&raw)?,
            "worker_graceful_shutdown_timeout_secs" => {
                c.worker_graceful_shutdown_timeout_secs = uint(&raw)?
            }
            "compute_threads" => c.compute_threads = optional(&raw, none, |r| narrow(uint(r)?))?,
            "compute_stack_size" => c.compute_stack_size = optional(&raw, none, bytes)?,
            "compute_thread_prefix" => c.compute_thread_prefix = string(&raw)?,
            "compute_pin_threads" => c.compute_pin_threads = boolean(&raw)?,
            "compute_bridge_spin_us" => c.compute_bridge_spin_us = narrow(uint(&raw)?)?,
            "signal_debounce_ms" => c.signal_debounce_ms = uint(&raw)?,
            "system_host" => c.system_host = string(&raw)?,
            "system_port" => c.system_port = optional(&raw, none, |r| narrow(uint(r)?))?,
            "system_health_path" => c.system_health_path = string(&raw)?,
            "system_live_path" => c.system_live_path = string(&raw)?,
            "system_starting_health_status" => {
                c.system_starting_health_status = string(&raw)?
                    .parse::<HealthStatus>()
                    .map_err(|e| e.to_string())?
            }
            "http_host" => c.http_host = string(&raw)?,
            "http_port" => c.http_port = narrow(uint(&raw)?)?,
            other => return Err(format!("key {other} has no field")),
        }
        Ok(())
    })();
    result.map_err(|problem| ConfigError::InvalidValue {
        key: spec.name,
        value: raw.to_string(),
        origin: origin.clone(),
        problem,
        allowed: spec.allowed.to_string(),
    })
}

fn optional<T>(
    raw: &Raw,
    none_word: Option<&str>,
    f: impl Fn(&Raw) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if let (Raw::Text(s) | Raw::Str(s), Some(word)) = (raw, none_word) {
        if s.trim().eq_ignore_ascii_case(word) {
            return Ok(None);
        }
    }
    f(raw).map(Some)
}

fn type_problem(raw: &Raw, expected: &str) -> String {
    match raw {
        Raw::Str(_) => format!("expected {expected}, found a quoted string"),
        Raw::Bool(_) => format!("expected {expected}, found a boolean"),
        Raw::Float(_) => format!("expected {expected}, found a fractional number"),
        Raw::Int(_) => format!("expected {expected}, found a number"),
        Raw::Other(what) => format!("expected {expected}, found {what}"),
        Raw::Text(_) => format!("expected {expected}"),
    }
}

fn uint(raw: &Raw) -> Result<u64, String> {
    match raw {
        Raw::Int(i) if *i < 0 => Err("negative numbers are not allowed".to_string()),
        Raw::Int(i) => u64::try_from(*i).map_err(|_| "the number is too large".to_string()),
        Raw::Text(s) => {
            let s = s.trim();
            let digits = s.strip_prefix('-').unwrap_or(s);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                if s.starts_with('-') {
                    Err("negative numbers are not allowed".to_string())
                } else {
                    s.parse().map_err(|_| "the number is too large".to_string())
                }
            } else {
                Err("not a whole number".to_string())
            }
        }
        other => Err(type_problem(
            other,
            "a whole number (write numbers without quotes)",
        )),
    }
}

fn narrow<T: TryFrom<u64>>(v: u64) -> Result<T, String> {
    T::try_from(v).map_err(|_| "the number is too large".to_string())
}

/// Bytes, either a whole number or a string with a binary suffix: `512KiB`, `2MiB`, `1GiB`
/// (also `K`, `M`, `G`, `KB`, `MB`, `GB`, meaning the same powers of 1024).
fn bytes(raw: &Raw) -> Result<usize, String> {
    let text = match raw {
        Raw::Text(s) | Raw::Str(s) => s.trim(),
        Raw::Int(_) => return narrow(uint(raw)?),
        other => return Err(type_problem(other, "a size in bytes")),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ if text.starts_with('-') => return Err("negative numbers are not allowed".to_string()),
        _ => {
            return Err(
                "not a size: use a whole number of bytes or a KiB/MiB/GiB suffix".to_string(),
            )
        }
    };
    let n: u64 = number.parse().map_err(|_| {
        "not a size: use a whole number of bytes or a KiB/MiB/GiB suffix".to_string()
    })?;
    narrow(
        n.checked_mul(multiplier)
            .ok_or_else(|| "the number is too large".to_string())?,
    )
}

fn boolean(raw: &Raw) -> Result<bool, String> {
    match raw {
        Raw::Bool(b) => Ok(*b),
        Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("not a boolean".to_string()),
        },
        other => Err(type_problem(other, "true or false (without quotes)")),
    }
}

fn string(raw: &Raw) -> Result<String, String> {
    match raw {
        Raw::Text(s) | Raw::Str(s) => Ok(s.clone()),
        other => Err(type_problem(other, "a string in quotes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes(&Raw::Text("2MiB".into())), Ok(2 << 20));
        assert_eq!(bytes(&Raw::Str("512 KiB".into())), Ok(512 << 10));
        assert_eq!(bytes(&Raw::Int(4096)), Ok(4096));
        assert!(bytes(&Raw::Text("-1".into()))
            .unwrap_err()
            .contains("negative"));
        assert!(bytes(&Raw::Text("2 parsecs".into())).is_err());
        assert!(bytes(&Raw::Text("99999999999999999999G".into())).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(uint(&Raw::Text(" 42 ".into())), Ok(42));
        assert!(uint(&Raw::Text("-3".into()))
            .unwrap_err()
            .contains("negative"));
        assert!(uint(&Raw::Text("4x".into()))
            .unwrap_err()
            .contains("not a whole number"));
        assert!(uint(&Raw::Text("99999999999999999999999".into()))
            .unwrap_err()
            .contains("too large"));
        assert!(uint(&Raw::Str("4".into()))
            .unwrap_err()
            .contains("quoted string"));
        assert!(narrow::<u16>(70_000).is_err());
    }

    #[test]
    fn booleans() {
        for t in ["true", "1", "YES", "on"] {
            assert_eq!(boolean(&Raw::Text(t.into())), Ok(true));
        }
        for f in ["false", "0", "no", "Off"] {
            assert_eq!(boolean(&Raw::Text(f.into())), Ok(false));
        }
        assert!(boolean(&Raw::Text("maybe".into())).is_err());
        assert!(boolean(&Raw::Str("true".into())).is_err());
    }
}
