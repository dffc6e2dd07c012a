//! [`DiscoverySettings`]: the `discovery_*` keys of the runtime's configuration, checked.

use std::net::IpAddr;
use std::time::Duration;

use rt_core::config::{check, ConfigError, Origin, RuntimeConfig};

use crate::error::DiscoveryError;
use crate::fixed::parse_list;
use crate::instance::Instance;

/// The reference runtime's variable for the etcd endpoints, read when
/// `DYN_DISCOVERY_ETCD_ENDPOINTS` is not set.
pub const ETCD_ENDPOINTS_VAR: &str = "ETCD_ENDPOINTS";

/// etcd's endpoints when neither variable is set (the reference's default).
pub const DEFAULT_ETCD_ENDPOINT: &str = "http://localhost:2379";

/// Which backend discovery runs on (`discovery_backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendKind {
    /// In-process store, no server (the default).
    Memory,
    /// The fixed list of `discovery_static`.
    Static,
    /// A real etcd (feature `etcd`).
    Etcd,
}

/// What the process does when its lease is lost (`discovery_on_lease_lost`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseLossPolicy {
    /// Readiness goes false; a new lease (a new instance id) is granted and every live
    /// registration put again; in-flight work is untouched. If that does not succeed within
    /// `discovery_lost_timeout_secs`, the ordinary three-phase shutdown. The default.
    Reregister,
    /// The ordinary three-phase shutdown (never a bare cancel of the main token).
    Shutdown,
}

/// The discovery settings, read from a [`RuntimeConfig`] and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoverySettings {
    /// The backend.
    pub backend: BackendKind,
    /// etcd's endpoints (URLs).
    pub etcd_endpoints: Vec<String>,
    /// Where the endpoints came from, for messages: a variable name or the default.
    pub etcd_endpoints_source: &'static str,
    /// The lease TTL asked for.
    pub lease_ttl: Duration,
    /// How long start-up retries an unreachable server.
    pub connect_timeout: Duration,
    /// What to do when the lease is lost.
    pub on_lease_lost: LeaseLossPolicy,
    /// With [`LeaseLossPolicy::Reregister`]: the bound on re-registering.
    pub lost_timeout: Duration,
    /// The host advertised in transports; `None`: the bound address.
    pub advertise_host: Option<String>,
    /// The key root prefix (empty, or ending in `/`).
    pub prefix: String,
    /// The static backend's instances.
    pub static_instances: Vec<Instance>,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        // The built-in defaults cannot fail to check.
        Self::from_config_with_env(&RuntimeConfig::default(), |_| None).unwrap_or(Self {
            backend: BackendKind::Memory,
            etcd_endpoints: vec![DEFAULT_ETCD_ENDPOINT.to_owned()],
            etcd_endpoints_source: "default",
            lease_ttl: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            on_lease_lost: LeaseLossPolicy::Reregister,
            lost_timeout: Duration::from_secs(60),
            advertise_host: None,
            prefix: String::new(),
            static_instances: Vec::new(),
        })
    }
}

/// A [`ConfigError::InvalidValue`] for `key`, with its allowed values from the key table.
fn invalid(
    config: &RuntimeConfig,
    key: &'static str,
    value: &str,
    problem: String,
) -> DiscoveryError {
    let allowed = rt_core::config::keys()
        .iter()
        .find(|k| k.name == key)
        .map_or_else(String::new, |k| k.allowed.to_string());
    DiscoveryError::Config(ConfigError::InvalidValue {
        key,
        value: format!("{value:?}"),
        origin: config.origin_of(key).unwrap_or(Origin::Default),
        problem,
        allowed,
    })
}

impl DiscoverySettings {
    /// The settings of `config`, with `ETCD_ENDPOINTS` read from the process environment when
    /// `discovery_etcd_endpoints` is not set (`DYN_DISCOVERY_ETCD_ENDPOINTS` wins when both are).
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Config`] ([`ConfigError::InvalidValue`], naming the key, the value,
    /// its source and what is allowed) for a bad value, and for the etcd backend with a
    /// wildcard `http_host` and no `discovery_advertise_host`.
    pub fn from_config(config: &RuntimeConfig) -> Result<Self, DiscoveryError> {
        Self::from_config_with_env(config, |name| std::env::var(name).ok())
    }

    /// [`from_config`](Self::from_config) with the environment given as a function (tests).
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub fn from_config_with_env(
        config: &RuntimeConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, DiscoveryError> {
        let backend = match config.discovery_backend.trim() {
            "memory" => BackendKind::Memory,
            "static" => BackendKind::Static,
            "etcd" => BackendKind::Etcd,
            other => {
                return Err(invalid(
                    config,
                    "discovery_backend",
                    other,
                    "unknown backend".into(),
                ))
            }
        };
        let on_lease_lost = match config.discovery_on_lease_lost.trim() {
            "reregister" => LeaseLossPolicy::Reregister,
            "shutdown" => LeaseLossPolicy::Shutdown,
            other => {
                return Err(invalid(
                    config,
                    "discovery_on_lease_lost",
                    other,
                    "unknown policy".into(),
                ))
            }
        };
        // The ranges are the table's (RuntimeConfig::validate); checked again here for values
        // built by hand.
        config.validate()?;

        let (raw, etcd_endpoints_source) = if !config.discovery_etcd_endpoints.trim().is_empty() {
            (
                config.discovery_etcd_endpoints.clone(),
                "DYN_DISCOVERY_ETCD_ENDPOINTS",
            )
        } else if let Some(v) = env(ETCD_ENDPOINTS_VAR).filter(|v| !v.trim().is_empty()) {
            (v, ETCD_ENDPOINTS_VAR)
        } else {
            (DEFAULT_ETCD_ENDPOINT.to_owned(), "default")
        };
        let etcd_endpoints: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        for endpoint in &etcd_endpoints {
            let ok = ["http://", "https://"].iter().any(|s| {
                endpoint
                    .strip_prefix(s)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains(' '))
            });
            if !ok {
                let problem = format!("{endpoint:?} is not an http:// or https:// URL");
                return Err(if etcd_endpoints_source == ETCD_ENDPOINTS_VAR {
                    DiscoveryError::Config(ConfigError::InvalidValue {
                        key: "discovery_etcd_endpoints",
                        value: format!("{raw:?}"),
                        origin: Origin::Env(ETCD_ENDPOINTS_VAR.to_owned()),
                        problem,
                        allowed: "http:// or https:// URLs separated by commas".to_owned(),
                    })
                } else {
                    invalid(config, "discovery_etcd_endpoints", &raw, problem)
                });
            }
        }

        let advertise_host = match config.discovery_advertise_host.trim() {
            "" => None,
            host => {
                let origin = config
                    .origin_of("discovery_advertise_host")
                    .unwrap_or(Origin::Default);
                check::host("discovery_advertise_host", host, &origin)?;
                Some(host.to_owned())
            }
        };
        if backend == BackendKind::Etcd
            && advertise_host.is_none()
            && is_wildcard(&config.http_host)
        {
            return Err(invalid(
                config,
                "discovery_advertise_host",
                "",
                format!(
                    "unset while http_host is the wildcard {:?} and discovery_backend is \"etcd\": \
                     other hosts cannot reach a wildcard address; set DYN_DISCOVERY_ADVERTISE_HOST \
                     to this host's reachable name or IP (in Kubernetes: the pod IP)",
                    config.http_host
                ),
            ));
        }

        let prefix = config.discovery_prefix.trim();
        let prefix_ok = prefix.len() <= 256
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
        if !prefix_ok {
            return Err(invalid(
                config,
                "discovery_prefix",
                prefix,
                "bad characters or too long".into(),
            ));
        }
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }

        let static_origin = config
            .origin_of("discovery_static")
            .unwrap_or(Origin::Default);
        let static_instances = parse_list(&config.discovery_static, &static_origin)?;

        Ok(Self {
            backend,
            etcd_endpoints,
            etcd_endpoints_source,
            lease_ttl: Duration::from_secs(config.discovery_lease_ttl_secs),
            connect_timeout: Duration::from_secs(config.discovery_connect_timeout_secs),
            on_lease_lost,
            lost_timeout: Duration::from_secs(config.discovery_lost_timeout_secs),
            advertise_host,
            prefix,
            static_instances,
        })
    }
}

/// Whether `host` is a wildcard bind address (`0.0.0.0`, `::`).
pub(crate) fn is_wildcard(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
}
