//! Layered loading: built-in defaults, system TOML files, an explicit TOML file, environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use config::{FileFormat, Source};

use crate::keys::{keys, spec, KeySpec, CONFIG_FILE_VAR};
use crate::suggest::closest;
use crate::table::key_table;
use crate::value::{self, Raw};
use crate::{ConfigError, Origin, RuntimeConfig};

/// The system configuration files, read in this order when they exist (missing: skipped).
pub const SYSTEM_CONFIG_FILES: [&str; 2] = [
    "/opt/dynamo/defaults/runtime.toml",
    "/opt/dynamo/etc/runtime.toml",
];

/// Variable prefixes this crate owns; an unknown variable with one of them gets a warning.
const OWNED_PREFIXES: [&str; 7] = [
    "DYN_RUNTIME_",
    "DYN_COMPUTE_",
    "DYN_WORKER_",
    "DYN_SIGNAL_",
    "DYN_SYSTEM_",
    "DYN_HTTP_",
    "DYN_DISCOVERY_",
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
        for (name, suggestion) in self.unknown_vars() {
            match suggestion {
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

    /// The variables with one of this crate's prefixes that name no key, each with the
    /// closest known variable, if one is close.
    fn unknown_vars(&self) -> Vec<(&str, Option<&'static str>)> {
        self.env
            .keys()
            .filter_map(|k| k.to_str())
            .filter(|name| OWNED_PREFIXES.iter().any(|p| name.starts_with(p)))
            .filter(|name| !crate::env_vars().any(|known| known == *name))
            .map(|name| (name, closest(name, crate::env_vars())))
            .collect()
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

/// One loader arm per row of the key table: converts `raw` and stores it in `spec`'s field.
macro_rules! setter_arms {
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
        /// Converts `raw` and stores it in the field named by `spec`.
        fn set(
            config: &mut RuntimeConfig,
            spec: &KeySpec,
            raw: Raw,
            origin: &Origin,
        ) -> Result<(), ConfigError> {
            let none = spec.none_word;
            let result = match spec.name {
                $(stringify!($field) => value::$parse(&raw, none).map(|v| config.$field = v),)*
                other => Err(format!("key {other} has no field")),
            };
            result.map_err(|problem| ConfigError::InvalidValue {
                key: spec.name,
                value: raw.to_string(),
                origin: origin.clone(),
                problem,
                allowed: spec.allowed.to_string(),
            })
        }
    };
}

key_table!(setter_arms);

#[cfg(test)]
mod tests {
    use super::ConfigLoader;

    /// A variable name that is not one (built at run time, so that the docs test, which
    /// collects the variable literals of the sources, does not take it for one).
    fn typo(rest: &str) -> String {
        format!("{}_{rest}", "DYN")
    }

    #[test]
    fn unknown_variables_of_owned_prefixes_get_a_suggestion() {
        let loader = ConfigLoader::new().env_map([
            (typo("DISCOVERY_LEASE_TTL_SEC"), "5".to_owned()),
            (
                typo("DISCOVERY_ETCD_ENDPOINT"),
                "http://127.0.0.1:2379".to_owned(),
            ),
            ("DYN_DISCOVERY_BACKEND".to_owned(), "memory".to_owned()),
            (
                typo("DISCOVERY_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"),
                "1".to_owned(),
            ),
            (typo("HTTP_PORTT"), "1".to_owned()),
            (typo("ELSEWHERE_PORT"), "1".to_owned()),
            (
                "ETCD_ENDPOINTS".to_owned(),
                "http://127.0.0.1:2379".to_owned(),
            ),
        ]);
        let mut unknown: Vec<(String, Option<&str>)> = loader
            .unknown_vars()
            .into_iter()
            .map(|(name, s)| (name.to_owned(), s))
            .collect();
        unknown.sort();
        assert_eq!(
            unknown,
            [
                (
                    typo("DISCOVERY_ETCD_ENDPOINT"),
                    Some("DYN_DISCOVERY_ETCD_ENDPOINTS")
                ),
                (
                    typo("DISCOVERY_LEASE_TTL_SEC"),
                    Some("DYN_DISCOVERY_LEASE_TTL_SECS")
                ),
                (typo("DISCOVERY_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"), None),
                (typo("HTTP_PORTT"), Some("DYN_HTTP_PORT")),
            ]
        );
        // Known variables, other prefixes and the reference's ETCD_ENDPOINTS are not warned
        // about; the load still succeeds.
        assert!(loader.load().is_ok());
    }
}
