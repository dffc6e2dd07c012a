//! `RuntimeConfig`: every process-level setting of the runtime.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::{keys, spec};
use crate::limits::{self, check};
use crate::{ComputeConfig, ConfigError, HealthStatus, Origin, RuntimeConfigBuilder};

/// Where each key's value came from, with the value as it was then (so that a field assigned
/// afterwards is not credited to the file or variable). Ignored by `==`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance(pub(crate) BTreeMap<&'static str, (Origin, String)>);

impl PartialEq for Provenance {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Provenance {}

/// Configuration of a runtime process: tokio runtimes, shutdown deadlines, compute pool,
/// signals, status server.
///
/// Build one with [`RuntimeConfig::from_settings`] (defaults, TOML files, environment; needs
/// the default `loader` feature), [`RuntimeConfig::builder`], [`RuntimeConfig::single_threaded`]
/// or [`Default`]. The loader and the builder validate; a value built by hand or deserialised
/// with serde is checked by [`validate`](Self::validate). Every key, its environment variable,
/// type, default and range are listed in `docs/configuration.md` and by [`keys()`](crate::keys).
///
/// `==` compares values only, not where they came from.
///
/// ```
/// use rt_config::RuntimeConfig;
///
/// let config = RuntimeConfig::default();
/// assert_eq!(config.max_blocking_threads, 512);
/// assert_eq!(config.graceful_shutdown_timeout().as_secs(), 900);
/// assert!(config.compute_config().is_some());
/// config.validate()?;
/// # Ok::<(), rt_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads of the primary tokio runtime (`DYN_RUNTIME_NUM_WORKER_THREADS`).
    /// `None`: the number of available cores. Allowed: 1 to 1024.
    pub num_worker_threads: Option<usize>,
    /// Upper bound of tokio's blocking pool (`DYN_RUNTIME_MAX_BLOCKING_THREADS`). Default 512,
    /// allowed 1 to 65536.
    pub max_blocking_threads: usize,
    /// Phase-2 bound of the runtime's graceful shutdown, in seconds: how long it waits for
    /// in-flight work (`DYN_RUNTIME_GRACEFUL_SHUTDOWN_TIMEOUT_SECS`). Default 900, allowed 0 to 86400.
    pub graceful_shutdown_timeout_secs: u64,
    /// Phase-3 bound, in seconds: teardown of backend connections
    /// (`DYN_RUNTIME_TEARDOWN_TIMEOUT_SECS`). Default 10, allowed 0 to 3600.
    pub teardown_timeout_secs: u64,
    /// The `Worker`'s whole graceful deadline in seconds (`DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT`).
    /// Default 30 in release builds, 5 in debug builds; allowed 0 to 86400.
    pub worker_graceful_shutdown_timeout_secs: u64,
    /// Compute pool threads (`DYN_COMPUTE_THREADS`). `None`: cores / 2 clamped to `[2, 16]`;
    /// `Some(0)`: no compute pool. Allowed 0 to 1024.
    pub compute_threads: Option<usize>,
    /// Stack size of each compute thread in bytes (`DYN_COMPUTE_STACK_SIZE`). Default
    /// `Some(2 MiB)`; `None` also means 2 MiB. Allowed 128 KiB to 1 GiB.
    pub compute_stack_size: Option<usize>,
    /// Compute thread-name prefix (`DYN_COMPUTE_THREAD_PREFIX`), default `"compute"`.
    pub compute_thread_prefix: String,
    /// Pin compute threads to CPUs (`DYN_COMPUTE_PIN_THREADS`), default `false`.
    pub compute_pin_threads: bool,
    /// Spin time of a waiting side of the compute bridge before it parks, in microseconds
    /// (`DYN_COMPUTE_BRIDGE_SPIN_US`). Default [`DEFAULT_BRIDGE_SPIN_US`](crate::DEFAULT_BRIDGE_SPIN_US),
    /// allowed 0 to 1000.
    pub compute_bridge_spin_us: u32,
    /// Signals within this many milliseconds of the previous one count as one
    /// (`DYN_SIGNAL_DEBOUNCE_MS`). Default 0: every signal counts. Allowed 0 to 10000.
    pub signal_debounce_ms: u64,
    /// Address the status server binds (`DYN_SYSTEM_HOST`), default `"0.0.0.0"`.
    pub system_host: String,
    /// Port of the status server (`DYN_SYSTEM_PORT`). `None` (default): no status server;
    /// `Some(0)`: a free port chosen by the OS.
    pub system_port: Option<u16>,
    /// Readiness path of the status server (`DYN_SYSTEM_HEALTH_PATH`), default `"/health"`.
    pub system_health_path: String,
    /// Liveness path of the status server (`DYN_SYSTEM_LIVE_PATH`), default `"/live"`.
    pub system_live_path: String,
    /// Health the status server reports until the application changes it
    /// (`DYN_SYSTEM_STARTING_HEALTH_STATUS`), default [`HealthStatus::NotReady`].
    pub system_starting_health_status: HealthStatus,
    /// Address of the application's own request listener (`DYN_HTTP_HOST`), default
    /// `"0.0.0.0"`. The runtime itself does not bind it.
    pub http_host: String,
    /// Port of the application's own request listener (`DYN_HTTP_PORT`), default 8080;
    /// 0 picks a free port.
    pub http_port: u16,
    #[serde(skip)]
    pub(crate) provenance: Provenance,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            num_worker_threads: None,
            max_blocking_threads: limits::DEFAULT_MAX_BLOCKING_THREADS,
            graceful_shutdown_timeout_secs: limits::DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECS,
            teardown_timeout_secs: limits::DEFAULT_TEARDOWN_TIMEOUT_SECS,
            worker_graceful_shutdown_timeout_secs:
                limits::DEFAULT_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_SECS,
            compute_threads: None,
            compute_stack_size: Some(limits::DEFAULT_STACK_SIZE),
            compute_thread_prefix: limits::DEFAULT_THREAD_PREFIX.to_string(),
            compute_pin_threads: false,
            compute_bridge_spin_us: limits::DEFAULT_BRIDGE_SPIN_US,
            signal_debounce_ms: 0,
            system_host: limits::DEFAULT_HOST.to_string(),
            system_port: None,
            system_health_path: limits::DEFAULT_HEALTH_PATH.to_string(),
            system_live_path: limits::DEFAULT_LIVE_PATH.to_string(),
            system_starting_health_status: HealthStatus::NotReady,
            http_host: limits::DEFAULT_HOST.to_string(),
            http_port: limits::DEFAULT_HTTP_PORT,
            provenance: Provenance::default(),
        }
    }
}

fn opt<T: fmt::Display>(v: Option<T>, key: &str) -> String {
    match v {
        Some(v) => v.to_string(),
        None => format!(
            "{:?}",
            spec(key).and_then(|s| s.none_word).unwrap_or("none")
        ),
    }
}

impl RuntimeConfig {
    /// A configuration for debugging on one core: 1 tokio worker thread, a blocking pool of
    /// 8 threads, and a compute pool of **1** thread (kept rather than disabled, so that
    /// `compute_*!` offloads behave as in production: same thread hop, panics returned as
    /// errors, no "pool missing" warnings). Every other key keeps its default.
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let config = RuntimeConfig::single_threaded();
    /// assert_eq!(config.num_worker_threads, Some(1));
    /// assert_eq!(config.max_blocking_threads, 8);
    /// assert_eq!(config.compute_config().unwrap().resolved_num_threads(), 1);
    /// assert!(config.explain().contains("code:RuntimeConfig::single_threaded\tnum_worker_threads = 1"));
    /// ```
    pub fn single_threaded() -> Self {
        let mut config = RuntimeConfig {
            num_worker_threads: Some(1),
            max_blocking_threads: 8,
            compute_threads: Some(1),
            ..RuntimeConfig::default()
        };
        for key in [
            "num_worker_threads",
            "max_blocking_threads",
            "compute_threads",
        ] {
            config.record(key, Origin::Code("RuntimeConfig::single_threaded"));
        }
        config
    }

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

    /// Remembers that `key`'s current value came from `origin`.
    pub(crate) fn record(&mut self, key: &'static str, origin: Origin) {
        let value = self.render(key);
        self.provenance.0.insert(key, (origin, value));
    }

    /// Where `key`'s current value came from.
    ///
    /// A value set by the loader or the builder reports that source; a value assigned to the
    /// field afterwards reports [`Origin::Code`]; an untouched value reports [`Origin::Default`].
    /// Returns `None` for an unknown key.
    pub fn origin_of(&self, key: &str) -> Option<Origin> {
        let spec = spec(key)?;
        let current = self.render(spec.name);
        if let Some((origin, value)) = self.provenance.0.get(spec.name) {
            if *value == current {
                return Some(origin.clone());
            }
        }
        if RuntimeConfig::default().render(spec.name) == current {
            Some(Origin::Default)
        } else {
            Some(Origin::Code("field assigned"))
        }
    }

    /// A key's value in TOML syntax (strings quoted, an unset optional as its word, e.g. `"auto"`).
    pub(crate) fn render(&self, key: &str) -> String {
        match key {
            "num_worker_threads" => opt(self.num_worker_threads, key),
            "max_blocking_threads" => self.max_blocking_threads.to_string(),
            "graceful_shutdown_timeout_secs" => self.graceful_shutdown_timeout_secs.to_string(),
            "teardown_timeout_secs" => self.teardown_timeout_secs.to_string(),
            "worker_graceful_shutdown_timeout_secs" => {
                self.worker_graceful_shutdown_timeout_secs.to_string()
            }
            "compute_threads" => opt(self.compute_threads, key),
            "compute_stack_size" => opt(self.compute_stack_size, key),
            "compute_thread_prefix" => format!("{:?}", self.compute_thread_prefix),
            "compute_pin_threads" => self.compute_pin_threads.to_string(),
            "compute_bridge_spin_us" => self.compute_bridge_spin_us.to_string(),
            "signal_debounce_ms" => self.signal_debounce_ms.to_string(),
            "system_host" => format!("{:?}", self.system_host),
            "system_port" => opt(self.system_port, key),
            "system_health_path" => format!("{:?}", self.system_health_path),
            "system_live_path" => format!("{:?}", self.system_live_path),
            "system_starting_health_status" => {
                format!("{:?}", self.system_starting_health_status.as_str())
            }
            "http_host" => format!("{:?}", self.http_host),
            "http_port" => self.http_port.to_string(),
            _ => String::new(),
        }
    }

    /// Checks every key against its allowed range (see `docs/configuration.md`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] for the first bad key, naming the key, the value, where it
    /// came from ([`origin_of`](Self::origin_of)) and what is allowed.
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let mut config = RuntimeConfig::default();
    /// config.num_worker_threads = Some(0);
    /// let err = config.validate().unwrap_err().to_string();
    /// assert!(err.contains("`num_worker_threads`"), "{err}");
    /// assert!(err.contains("allowed: a whole number from 1 to 1024"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
        let checks: [(&'static str, Result<(), String>); 18] = [
            (
                "num_worker_threads",
                c.num_worker_threads
                    .map_or(Ok(()), |n| check::range(n, 1, limits::MAX_THREADS)),
            ),
            (
                "max_blocking_threads",
                check::range(c.max_blocking_threads, 1, limits::MAX_BLOCKING_THREADS),
            ),
            (
                "graceful_shutdown_timeout_secs",
                check::range(
                    c.graceful_shutdown_timeout_secs,
                    0,
                    limits::MAX_GRACEFUL_TIMEOUT_SECS,
                ),
            ),
            (
                "teardown_timeout_secs",
                check::range(
                    c.teardown_timeout_secs,
                    0,
                    limits::MAX_TEARDOWN_TIMEOUT_SECS,
                ),
            ),
            (
                "worker_graceful_shutdown_timeout_secs",
                check::range(
                    c.worker_graceful_shutdown_timeout_secs,
                    0,
                    limits::MAX_GRACEFUL_TIMEOUT_SECS,
                ),
            ),
            (
                "compute_threads",
                c.compute_threads
                    .map_or(Ok(()), |n| check::range(n, 0, limits::MAX_THREADS)),
            ),
            (
                "compute_stack_size",
                c.compute_stack_size.map_or(Ok(()), check::stack),
            ),
            (
                "compute_thread_prefix",
                check::prefix(&c.compute_thread_prefix),
            ),
            ("compute_pin_threads", Ok(())),
            (
                "compute_bridge_spin_us",
                check::range(c.compute_bridge_spin_us, 0, limits::MAX_BRIDGE_SPIN_US),
            ),
            (
                "signal_debounce_ms",
                check::range(c.signal_debounce_ms, 0, limits::MAX_SIGNAL_DEBOUNCE_MS),
            ),
            ("system_host", check::host(&c.system_host)),
            ("system_port", Ok(())),
            (
                "system_health_path",
                check::http_path(&c.system_health_path),
            ),
            (
                "system_live_path",
                check::http_path(&c.system_live_path).and_then(|()| {
                    if c.system_live_path == c.system_health_path {
                        Err("a path different from system_health_path".to_string())
                    } else {
                        Ok(())
                    }
                }),
            ),
            ("system_starting_health_status", Ok(())),
            ("http_host", check::host(&c.http_host)),
            ("http_port", Ok(())),
        ];
        for (key, result) in checks {
            if let Err(allowed) = result {
                return Err(ConfigError::InvalidValue {
                    key,
                    value: self.render(key),
                    origin: self.origin_of(key).unwrap_or(Origin::Default),
                    problem: if spec(key).is_some_and(|s| s.ty == "string") {
                        "not allowed"
                    } else {
                        "out of range"
                    }
                    .to_string(),
                    allowed,
                });
            }
        }
        Ok(())
    }

    /// Worker threads of the primary runtime: `num_worker_threads`, or the available cores.
    pub fn resolved_num_worker_threads(&self) -> usize {
        self.num_worker_threads
            .unwrap_or_else(limits::available_cores)
    }

    /// [`graceful_shutdown_timeout_secs`](Self::graceful_shutdown_timeout_secs) as a `Duration`.
    pub fn graceful_shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.graceful_shutdown_timeout_secs)
    }

    /// [`teardown_timeout_secs`](Self::teardown_timeout_secs) as a `Duration`.
    pub fn teardown_timeout(&self) -> Duration {
        Duration::from_secs(self.teardown_timeout_secs)
    }

    /// [`worker_graceful_shutdown_timeout_secs`](Self::worker_graceful_shutdown_timeout_secs)
    /// as a `Duration`.
    pub fn worker_graceful_shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.worker_graceful_shutdown_timeout_secs)
    }

    /// [`signal_debounce_ms`](Self::signal_debounce_ms) as a `Duration` (zero: every signal counts).
    pub fn signal_debounce(&self) -> Duration {
        Duration::from_millis(self.signal_debounce_ms)
    }

    /// The compute pool's configuration, or `None` when `compute_threads == Some(0)` (no pool).
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let config = RuntimeConfig::builder().compute_threads(3).compute_thread_prefix("cpu").build()?;
    /// let compute = config.compute_config().unwrap();
    /// assert_eq!(compute.num_threads, Some(3));
    /// assert_eq!(compute.thread_prefix, "cpu");
    /// # Ok::<(), rt_config::ConfigError>(())
    /// ```
    pub fn compute_config(&self) -> Option<ComputeConfig> {
        if self.compute_threads == Some(0) {
            return None;
        }
        Some(ComputeConfig {
            num_threads: self.compute_threads,
            stack_size: self.compute_stack_size,
            thread_prefix: self.compute_thread_prefix.clone(),
            pin_threads: self.compute_pin_threads,
            bridge_spin_us: self.compute_bridge_spin_us,
        })
    }

    /// Every key with its value and where the value came from, one key per line, in the form
    /// `origin<TAB>key = value` (like `git config --show-origin`). Origins are `default`,
    /// `file:<path>`, `env:<VARIABLE>` or `code:<what>`. The `key = value` parts are valid TOML.
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let config = RuntimeConfig::builder().http_port(9000).build()?;
    /// let text = config.explain();
    /// assert!(text.contains("code:RuntimeConfigBuilder\thttp_port = 9000"));
    /// assert!(text.contains("default\tmax_blocking_threads = 512"));
    /// assert_eq!(text.lines().count(), rt_config::keys().len());
    /// # Ok::<(), rt_config::ConfigError>(())
    /// ```
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for spec in keys() {
            let origin = self.origin_of(spec.name).unwrap_or(Origin::Default);
            out.push_str(&format!(
                "{}\t{} = {}\n",
                origin.short(),
                spec.name,
                self.render(spec.name)
            ));
        }
        out
    }
}

impl fmt::Display for RuntimeConfig {
    /// Every key on one line, `key=value` separated by spaces, in [`keys()`](crate::keys) order,
    /// for the startup log.
    ///
    /// ```
    /// let line = rt_config::RuntimeConfig::default().to_string();
    /// assert!(line.starts_with("num_worker_threads=\"auto\" max_blocking_threads=512 "));
    /// assert!(!line.contains('\n'));
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, spec) in keys().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}", spec.name, self.render(spec.name))?;
        }
        Ok(())
    }
}
