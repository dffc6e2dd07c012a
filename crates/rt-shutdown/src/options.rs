//! [`ShutdownOptions`]: the bounds of the phases and where they are driven.

use std::time::Duration;

use tokio::runtime::Handle;

/// Default bound of phase 2 (waiting for in-flight work): the default of
/// `DYN_RUNTIME_GRACEFUL_SHUTDOWN_TIMEOUT_SECS`,
/// [`rt_config::DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECS`] seconds.
pub const DEFAULT_GRACEFUL_TIMEOUT: Duration =
    Duration::from_secs(rt_config::DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECS);
/// Default bound of phase 3 (teardown tasks): the default of
/// `DYN_RUNTIME_TEARDOWN_TIMEOUT_SECS`, [`rt_config::DEFAULT_TEARDOWN_TIMEOUT_SECS`] seconds.
pub const DEFAULT_TEARDOWN_TIMEOUT: Duration =
    Duration::from_secs(rt_config::DEFAULT_TEARDOWN_TIMEOUT_SECS);
/// Default interval between the phase-2 logs that name what is still active: 5 s.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// How a [`ShutdownCoordinator`](crate::ShutdownCoordinator) bounds and drives its phases.
///
/// ```
/// use std::time::Duration;
/// use rt_shutdown::ShutdownOptions;
///
/// let options = ShutdownOptions::default()
///     .with_graceful_timeout(Duration::from_secs(25))
///     .with_teardown_timeout(Duration::from_secs(3));
/// assert_eq!(options.graceful_timeout, Duration::from_secs(25));
/// // Or with a struct literal:
/// let same = ShutdownOptions { graceful_timeout: Duration::from_secs(25), ..Default::default() };
/// assert_eq!(same.teardown_timeout, rt_shutdown::DEFAULT_TEARDOWN_TIMEOUT);
/// ```
#[derive(Clone, Debug)]
pub struct ShutdownOptions {
    /// The most phase 2 may take (the caller's deadline may cut it shorter).
    pub graceful_timeout: Duration,
    /// The most phase 3 may take (the caller's deadline may cut it shorter).
    pub teardown_timeout: Duration,
    /// How often phase 2 logs the names still active. Zero turns these logs off.
    pub progress_interval: Duration,
    /// The runtime that drives phases 2 and 3. When `None`, [`shutdown`](crate::ShutdownCoordinator::shutdown)
    /// uses the runtime it is called from, or, called outside any runtime, a dedicated thread
    /// named `rt-shutdown` with a small current-thread runtime.
    pub handle: Option<Handle>,
}

impl Default for ShutdownOptions {
    fn default() -> Self {
        Self {
            graceful_timeout: DEFAULT_GRACEFUL_TIMEOUT,
            teardown_timeout: DEFAULT_TEARDOWN_TIMEOUT,
            progress_interval: DEFAULT_PROGRESS_INTERVAL,
            handle: None,
        }
    }
}

impl ShutdownOptions {
    /// Sets [`graceful_timeout`](Self::graceful_timeout).
    pub fn with_graceful_timeout(mut self, timeout: Duration) -> Self {
        self.graceful_timeout = timeout;
        self
    }

    /// Sets [`teardown_timeout`](Self::teardown_timeout).
    pub fn with_teardown_timeout(mut self, timeout: Duration) -> Self {
        self.teardown_timeout = timeout;
        self
    }

    /// Sets [`progress_interval`](Self::progress_interval).
    pub fn with_progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
    }

    /// Sets [`handle`](Self::handle): the runtime that drives phases 2 and 3.
    pub fn with_handle(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }
}

impl From<&rt_config::RuntimeConfig> for ShutdownOptions {
    /// Takes phase 2's bound from `graceful_shutdown_timeout` and phase 3's from
    /// `teardown_timeout`; the rest keeps its defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rt_shutdown::ShutdownOptions;
    ///
    /// let config = rt_config::RuntimeConfig::default();
    /// let options = ShutdownOptions::from(&config);
    /// assert_eq!(options.graceful_timeout, config.graceful_shutdown_timeout());
    /// assert_eq!(options.teardown_timeout, config.teardown_timeout());
    /// ```
    fn from(config: &rt_config::RuntimeConfig) -> Self {
        Self {
            graceful_timeout: config.graceful_shutdown_timeout(),
            teardown_timeout: config.teardown_timeout(),
            ..Self::default()
        }
    }
}
