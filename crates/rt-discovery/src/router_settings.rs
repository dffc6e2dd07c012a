//! [`RouterSettings`]: the `discovery_router_*` keys of the runtime's configuration.

use std::time::Duration;

use rt_core::config::RuntimeConfig;

/// How a [`Router`](crate::Router) retries, times out and reuses connections. `Default` is the
/// configuration table's defaults; [`from_config`](Self::from_config) reads the keys.
///
/// | field | variable | default |
/// |---|---|---|
/// | [`retries`](Self::retries) | `DYN_DISCOVERY_ROUTER_RETRIES` | 2 |
/// | [`connect_timeout`](Self::connect_timeout) | `DYN_DISCOVERY_ROUTER_CONNECT_TIMEOUT_MS` | 1 s |
/// | [`request_timeout`](Self::request_timeout) | `DYN_DISCOVERY_ROUTER_REQUEST_TIMEOUT_SECS` | 60 s |
/// | [`reconcile_period`](Self::reconcile_period) | `DYN_DISCOVERY_ROUTER_RECONCILE_MS` | 5 s |
/// | [`pool_idle_timeout`](Self::pool_idle_timeout) | `DYN_DISCOVERY_ROUTER_POOL_IDLE_SECS` | 20 s |
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterSettings {
    /// How many other instances a request is sent to after a refusal (never after admission).
    pub retries: u32,
    /// The bound on a connect; a connect that times out counts as refused.
    pub connect_timeout: Duration,
    /// The bound on a request, from sending it to the reply's head (and, for
    /// [`Reply::bytes`](crate::Reply::bytes), to its last byte).
    pub request_timeout: Duration,
    /// How often instances set aside after a refusal are restored.
    pub reconcile_period: Duration,
    /// How long an idle connection is kept for reuse.
    pub pool_idle_timeout: Duration,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self::from_config(&RuntimeConfig::default())
    }
}

impl RouterSettings {
    /// The settings of `config` (their ranges are checked by the configuration itself).
    pub fn from_config(config: &RuntimeConfig) -> Self {
        Self {
            retries: u32::try_from(config.discovery_router_retries).unwrap_or(u32::MAX),
            connect_timeout: Duration::from_millis(config.discovery_router_connect_timeout_ms),
            request_timeout: Duration::from_secs(config.discovery_router_request_timeout_secs),
            reconcile_period: Duration::from_millis(config.discovery_router_reconcile_ms),
            pool_idle_timeout: Duration::from_secs(config.discovery_router_pool_idle_secs),
        }
    }

    /// Sets [`retries`](Self::retries).
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn with_connect_timeout(mut self, value: Duration) -> Self {
        self.connect_timeout = value;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn with_request_timeout(mut self, value: Duration) -> Self {
        self.request_timeout = value;
        self
    }

    /// Sets [`reconcile_period`](Self::reconcile_period).
    pub fn with_reconcile_period(mut self, value: Duration) -> Self {
        self.reconcile_period = value;
        self
    }

    /// Sets [`pool_idle_timeout`](Self::pool_idle_timeout).
    pub fn with_pool_idle_timeout(mut self, value: Duration) -> Self {
        self.pool_idle_timeout = value;
        self
    }
}
