//! [`StatusOptions`]: where the status server listens and what it answers on.

use std::path::PathBuf;
use std::time::Duration;

use rt_core::config::{check, HealthStatus, Origin, RuntimeConfig};
use rt_http::ServeOptions;

use crate::StatusError;

/// The path of the Prometheus endpoint.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

/// The path of the admin call that drains the process without ending it.
pub const DEFAULT_DRAIN_PATH: &str = "/drain";

/// The path of the admin call that puts a drained process back in rotation.
pub const DEFAULT_RESUME_PATH: &str = "/resume";

/// The default [`StatusOptions::drain_wait`]: 30 s.
pub const DEFAULT_DRAIN_WAIT: Duration = Duration::from_secs(30);

/// The status server's default [`ServeOptions::shutdown_grace`]: 250 ms.
///
/// The status server stops in phase 3, where every probe is answered 503 anyway; a probe
/// sends its request as soon as it is connected, so a connection that has not sent a complete
/// one 250 ms into phase 3 is a stalled client, and the grace bounds how long it can hold the
/// teardown (the phase-3 bound, `DYN_RUNTIME_TEARDOWN_TIMEOUT_SECS`, is 10 s by default).
pub const DEFAULT_STATUS_SHUTDOWN_GRACE: Duration = Duration::from_millis(250);

/// Where the status server listens and on which paths it answers.
///
/// [`from_config`](Self::from_config) reads the `system_*` keys of a [`RuntimeConfig`]
/// (`DYN_SYSTEM_HOST`, `DYN_SYSTEM_PORT`, `DYN_SYSTEM_HEALTH_PATH`, `DYN_SYSTEM_LIVE_PATH`,
/// `DYN_SYSTEM_STARTING_HEALTH_STATUS`); [`new`](Self::new) starts from the defaults. The
/// `with_*` methods change one field each.
///
/// ```
/// use rt_core::config::{HealthStatus, RuntimeConfig};
/// use rt_status::StatusOptions;
///
/// // No port configured: no status server.
/// assert!(StatusOptions::from_config(&RuntimeConfig::default()).is_none());
///
/// let config = RuntimeConfig::builder().system_port(9090).build()?;
/// let options = StatusOptions::from_config(&config).ok_or("DYN_SYSTEM_PORT is not set")?;
/// assert_eq!((options.host.as_str(), options.port), ("0.0.0.0", 9090));
/// assert_eq!(options.health_path, "/health");
///
/// let options = StatusOptions::new("127.0.0.1", 0)
///     .with_health_path("/ready")
///     .with_starting_health_status(HealthStatus::Ready);
/// assert_eq!(options.live_path, "/live");
/// assert_eq!(options.metrics_path, "/metrics");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusOptions {
    /// The address to bind: an IP address or a host name (`DYN_SYSTEM_HOST`, default
    /// `0.0.0.0`).
    pub host: String,
    /// The port to bind; 0 lets the operating system pick a free one, reported by
    /// [`StatusServer::local_addr`](crate::StatusServer::local_addr) and in the log.
    pub port: u16,
    /// The readiness path (`DYN_SYSTEM_HEALTH_PATH`, default `/health`).
    pub health_path: String,
    /// The liveness path (`DYN_SYSTEM_LIVE_PATH`, default `/live`).
    pub live_path: String,
    /// The Prometheus path (default `/metrics`).
    pub metrics_path: String,
    /// The admin path of a drain without exit (`POST`, default [`DEFAULT_DRAIN_PATH`]).
    pub drain_path: String,
    /// The admin path of the resume (`POST`, default [`DEFAULT_RESUME_PATH`]).
    pub resume_path: String,
    /// The file holding the bearer token of the admin calls (`DYN_SYSTEM_ADMIN_TOKEN_FILE`,
    /// default none). Without a token the admin calls are answered only when the server is
    /// bound to a loopback address; with one, only with that token.
    pub admin_token_file: Option<PathBuf>,
    /// How long `POST /drain` waits for the drain to complete before it answers 202 (the drain
    /// goes on); default [`DEFAULT_DRAIN_WAIT`].
    pub drain_wait: Duration,
    /// The readiness reported while the registry holds no component or endpoint
    /// (`DYN_SYSTEM_STARTING_HEALTH_STATUS`, default `notready`); the application can change
    /// it later with [`StatusServer::set_health_status`](crate::StatusServer::set_health_status).
    pub starting_health_status: HealthStatus,
    /// Whether the runtime's shutdown stops the server in phase 3 (default `true`). With
    /// `false` the server keeps answering (`503` on every probe) until
    /// [`StatusServer::stop`](crate::StatusServer::stop) or until the secondary runtime shuts
    /// down.
    pub stop_on_teardown: bool,
    /// The HTTP server's timeouts and limits (see [`ServeOptions`]): rt-http's defaults, with
    /// [`DEFAULT_STATUS_SHUTDOWN_GRACE`] as the shutdown grace. The header read timeout
    /// (10 s) closes stalled connections, so that they cannot take every connection slot and
    /// stop the probes.
    pub serve: ServeOptions,
}

impl StatusOptions {
    /// Options for `host:port` with the default paths, `notready` as the starting status and
    /// the stop in phase 3.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let defaults = RuntimeConfig::default();
        Self {
            host: host.into(),
            port,
            health_path: defaults.system_health_path,
            live_path: defaults.system_live_path,
            metrics_path: DEFAULT_METRICS_PATH.to_owned(),
            drain_path: DEFAULT_DRAIN_PATH.to_owned(),
            resume_path: DEFAULT_RESUME_PATH.to_owned(),
            admin_token_file: None,
            drain_wait: DEFAULT_DRAIN_WAIT,
            starting_health_status: defaults.system_starting_health_status,
            stop_on_teardown: true,
            serve: ServeOptions::default().with_shutdown_grace(DEFAULT_STATUS_SHUTDOWN_GRACE),
        }
    }

    /// The options the `system_*` keys of `config` describe, or `None` when `system_port` is
    /// not set (the status server is disabled).
    pub fn from_config(config: &RuntimeConfig) -> Option<Self> {
        let port = config.system_port?;
        Some(Self {
            health_path: config.system_health_path.clone(),
            live_path: config.system_live_path.clone(),
            starting_health_status: config.system_starting_health_status,
            admin_token_file: (!config.system_admin_token_file.is_empty())
                .then(|| PathBuf::from(&config.system_admin_token_file)),
            ..Self::new(config.system_host.clone(), port)
        })
    }

    /// Sets [`host`](Self::host).
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Sets [`port`](Self::port).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets [`health_path`](Self::health_path).
    pub fn with_health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = path.into();
        self
    }

    /// Sets [`live_path`](Self::live_path).
    pub fn with_live_path(mut self, path: impl Into<String>) -> Self {
        self.live_path = path.into();
        self
    }

    /// Sets [`metrics_path`](Self::metrics_path).
    pub fn with_metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = path.into();
        self
    }

    /// Sets [`drain_path`](Self::drain_path).
    pub fn with_drain_path(mut self, path: impl Into<String>) -> Self {
        self.drain_path = path.into();
        self
    }

    /// Sets [`resume_path`](Self::resume_path).
    pub fn with_resume_path(mut self, path: impl Into<String>) -> Self {
        self.resume_path = path.into();
        self
    }

    /// Sets [`admin_token_file`](Self::admin_token_file).
    pub fn with_admin_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.admin_token_file = Some(path.into());
        self
    }

    /// Sets [`drain_wait`](Self::drain_wait).
    pub fn with_drain_wait(mut self, wait: Duration) -> Self {
        self.drain_wait = wait;
        self
    }

    /// Sets [`starting_health_status`](Self::starting_health_status).
    pub fn with_starting_health_status(mut self, status: HealthStatus) -> Self {
        self.starting_health_status = status;
        self
    }

    /// Sets [`stop_on_teardown`](Self::stop_on_teardown).
    pub fn with_stop_on_teardown(mut self, stop: bool) -> Self {
        self.stop_on_teardown = stop;
        self
    }

    /// Sets [`serve`](Self::serve).
    pub fn with_serve_options(mut self, serve: ServeOptions) -> Self {
        self.serve = serve;
        self
    }

    /// Checks the paths: each is a path [`check::http_path`] accepts (it starts with `/`; no
    /// spaces, `?` or `#`), and the three differ; and the HTTP server's options.
    ///
    /// # Errors
    ///
    /// [`StatusError::InvalidOption`] naming the first bad path; [`StatusError::Serve`] when
    /// a value of [`serve`](Self::serve) is out of range.
    pub fn validate(&self) -> Result<(), StatusError> {
        self.serve
            .validate()
            .map_err(|source| StatusError::Serve { source })?;
        let paths = [
            ("health_path", &self.health_path),
            ("live_path", &self.live_path),
            ("metrics_path", &self.metrics_path),
            ("drain_path", &self.drain_path),
            ("resume_path", &self.resume_path),
        ];
        for (i, (option, path)) in paths.iter().enumerate() {
            if check::http_path(option, path, &Origin::Code("StatusOptions")).is_err() {
                return Err(StatusError::InvalidOption {
                    option,
                    value: (*path).clone(),
                    reason: check::HTTP_PATH_ALLOWED,
                });
            }
            if paths[..i].iter().any(|(_, other)| other == path) {
                return Err(StatusError::InvalidOption {
                    option,
                    value: (*path).clone(),
                    reason: "a path different from the other paths of the status server",
                });
            }
        }
        Ok(())
    }
}
