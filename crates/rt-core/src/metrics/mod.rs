//! Metrics: the runtime's [`MetricsRegistry`], on which the runtime, its endpoints, the crates
//! above it and the application register what the status server's `/metrics` shows.
//!
//! [`Runtime::metrics`](crate::Runtime::metrics) returns it. It holds, from the start:
//!
//! - the runtime's own families (`dyn_runtime_*`): uptime, shutdown phase and tracker,
//!   registry components, the compute pool, tokio's `RuntimeMetrics` of both runtimes, the
//!   event-loop stall detector;
//! - the per-endpoint families (`dyn_runtime_endpoint_*`, label `endpoint`, and `namespace`
//!   / `component` when the endpoint was given them): requests by outcome, duration
//!   histogram, in flight, errors by type, request and response bytes. Every endpoint has an
//!   [`EndpointMetrics`] handle whose series are resolved once, when it starts: a request
//!   touches a few atomics, no map.
//!
//! An application (or a crate such as a discovery client) registers its own counters, gauges
//! and histograms ([`prometheus_client`] types, re-exported here so that the versions match),
//! with a unit or constant labels, and callbacks that run before each scrape. A name is
//! registered once: a second registration is an error value, never a panic, and the
//! `dyn_runtime_` prefix is the runtime's own. Help texts and constant label values are
//! escaped for the text format here; label values of a prometheus-client `Family` are written
//! as they are, so keep them free of `"`, `\` and line breaks.
//!
//! ```
//! use rt_core::config::RuntimeConfig;
//! use rt_core::metrics::prometheus_client::metrics::counter::Counter;
//! use rt_core::metrics::prometheus_client::metrics::gauge::Gauge;
//! use rt_core::metrics::prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
//! use rt_core::metrics::prometheus_client::registry::Unit;
//! use rt_core::{Runtime, RuntimeError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RuntimeConfig::builder().num_worker_threads(1).compute_threads(0).build()?;
//! let runtime = Runtime::from_config(config)?;
//! let metrics = runtime.metrics();
//!
//! let jobs: Counter = Counter::default();
//! metrics.register("myapp_jobs", "Jobs accepted.", jobs.clone())?;
//! let latency = Histogram::new(exponential_buckets(0.001, 2.0, 12));
//! metrics.register_with_unit("myapp_job_latency", "Job latency.", Unit::Seconds, latency.clone())?;
//! let cache: Gauge = Gauge::default();
//! metrics.register_with_labels("myapp_cache_entries", "Entries.", &[("cache", "kv")], cache.clone())?;
//! // Read at every scrape, before the text is written.
//! let refreshed = cache.clone();
//! metrics.on_scrape(move || { refreshed.set(42); });
//!
//! jobs.inc();
//! latency.observe(0.003);
//! let text = metrics.render()?;
//! assert!(text.contains("myapp_jobs_total 1"));
//! assert!(text.contains("myapp_job_latency_seconds_count 1"));
//! assert!(text.contains(r#"myapp_cache_entries{cache="kv"} 42"#));
//! assert!(text.ends_with("# EOF\n"));
//!
//! // The same name twice is an error value.
//! let again = metrics.register("myapp_jobs", "Jobs accepted.", Counter::<u64>::default());
//! assert!(matches!(again, Err(RuntimeError::MetricAlreadyRegistered { .. })));
//! # Ok(())
//! # }
//! ```

mod collector;
mod endpoint;
mod histogram;
mod stall;
mod text;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text as exposition;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Metric, Registry, Unit};

pub(crate) use collector::{RuntimeCollector, RUNTIME_FAMILIES};
pub(crate) use endpoint::{EndpointFamilies, ENDPOINT_FAMILIES};
pub use endpoint::{EndpointMetrics, RequestOutcome, TrackedRequest};
pub use prometheus_client;
pub(crate) use stall::{StallDetector, StallSettings, STALL_FAMILIES};

use crate::error::RuntimeError;
use text::escape;

/// The name prefix of the runtime's own families; refused for other registrations.
pub const RUNTIME_PREFIX: &str = "dyn_runtime_";

/// The content type of [`MetricsRegistry::render`]'s text (OpenMetrics, which Prometheus
/// scrapes).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Callback = Arc<dyn Fn() + Send + Sync + 'static>;

struct State {
    registry: Registry,
    /// Family names taken (name plus unit suffix).
    names: BTreeSet<String>,
    callbacks: Vec<Callback>,
}

struct Shared {
    state: Mutex<State>,
    endpoints: EndpointFamilies,
}

/// The metrics of one [`Runtime`](crate::Runtime): what `/metrics` shows. Cheap to clone;
/// clones share one registry. See the [module docs](self).
#[derive(Clone)]
pub struct MetricsRegistry {
    shared: Arc<Shared>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic inside a critical section (an encoder's) leaves the registry whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Checks an OpenMetrics metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("it is empty"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_' || c == ':') => {
            return Err("it must start with a letter, '_' or ':'")
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err("it may hold only letters, digits, '_' and ':'");
    }
    Ok(())
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsRegistry {
    /// An empty registry (with the per-endpoint families, empty until an endpoint starts). A
    /// [`Runtime`](crate::Runtime) makes its own; this one is for code and tests without one.
    pub fn new() -> Self {
        let endpoints = EndpointFamilies::default();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(endpoints.clone()));
        let names = ENDPOINT_FAMILIES.iter().map(|n| (*n).to_owned()).collect();
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    registry,
                    names,
                    callbacks: Vec::new(),
                }),
                endpoints,
            }),
        }
    }

    /// Adds one of the runtime's own collectors, writing the families `names`.
    pub(crate) fn add_builtin(&self, names: &[&str], collector: Box<dyn Collector>) {
        let mut state = lock(&self.shared.state);
        state.names.extend(names.iter().map(|n| (*n).to_owned()));
        state.registry.register_collector(collector);
    }

    /// The per-endpoint families, where endpoints take their [`EndpointMetrics`].
    pub(crate) fn endpoints(&self) -> &EndpointFamilies {
        &self.shared.endpoints
    }

    /// Takes the family name `family` (after the checks), then lets `add` register.
    fn claim(
        &self,
        name: &str,
        family: String,
        metric_type: Option<MetricType>,
        add: impl FnOnce(&mut Registry),
    ) -> Result<(), RuntimeError> {
        let invalid = |reason| RuntimeError::InvalidMetricName {
            name: name.to_owned(),
            reason,
        };
        check_name(name).map_err(invalid)?;
        if name.starts_with(RUNTIME_PREFIX) {
            return Err(invalid(
                "the dyn_runtime_ prefix is the runtime's own; use your service's name as the prefix",
            ));
        }
        if matches!(metric_type, Some(MetricType::Counter)) && name.ends_with("_total") {
            return Err(invalid(
                "drop the _total suffix: a counter's sample gets it when encoded",
            ));
        }
        let mut state = lock(&self.shared.state);
        if !state.names.insert(family.clone()) {
            return Err(RuntimeError::MetricAlreadyRegistered { name: family });
        }
        add(&mut state.registry);
        Ok(())
    }

    /// Registers `metric` (a prometheus-client `Counter`, `Gauge`, `Histogram`, `Family`, ...)
    /// as `name`, with `help` as its description. Keep a clone of the metric to update it.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::MetricAlreadyRegistered`] when the name is taken;
    /// [`RuntimeError::InvalidMetricName`] when it is not an OpenMetrics name, starts with
    /// [`RUNTIME_PREFIX`], or is a counter's name ending in `_total`.
    pub fn register(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        metric: impl Metric,
    ) -> Result<(), RuntimeError> {
        let name = name.into();
        let kind = metric.metric_type();
        self.claim(&name, name.clone(), Some(kind), |r| {
            r.register(name.clone(), escape(&help.into()), metric)
        })
    }

    /// Registers `metric` as `name` with a unit: the family is named `<name>_<unit>` (do not
    /// append the unit yourself), with a `# UNIT` line.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register); the taken name is `<name>_<unit>`.
    pub fn register_with_unit(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        unit: Unit,
        metric: impl Metric,
    ) -> Result<(), RuntimeError> {
        let name = name.into();
        let family = format!("{name}_{}", unit.as_str());
        let kind = metric.metric_type();
        self.claim(&name, family, Some(kind), |r| {
            r.register_with_unit(name.clone(), escape(&help.into()), unit, metric)
        })
    }

    /// Registers `metric` as `name` with constant labels (the same on every series of it, such
    /// as `model="llama"`).
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register), and [`RuntimeError::InvalidMetricName`] when a label
    /// name is not an OpenMetrics name.
    pub fn register_with_labels(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        labels: &[(&str, &str)],
        metric: impl Metric,
    ) -> Result<(), RuntimeError> {
        let name = name.into();
        for (label, _) in labels {
            check_name(label).map_err(|reason| RuntimeError::InvalidMetricName {
                name: format!("{name} (label `{label}`)"),
                reason,
            })?;
        }
        let labels: Vec<(Cow<'static, str>, Cow<'static, str>)> = labels
            .iter()
            .map(|(k, v)| {
                (
                    Cow::Owned((*k).to_owned()),
                    Cow::Owned(escape(v).into_owned()),
                )
            })
            .collect();
        let kind = metric.metric_type();
        self.claim(&name, name.clone(), Some(kind), |r| {
            r.sub_registry_with_labels(labels.into_iter()).register(
                name.clone(),
                escape(&help.into()),
                metric,
            )
        })
    }

    /// Registers a collector: code that writes whole families at each scrape (from counters
    /// kept elsewhere). `families` names every family it writes (with their unit suffixes), so
    /// that no other registration takes them.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register), for each of `families`; nothing is registered then.
    pub fn register_collector(
        &self,
        families: &[&str],
        collector: Box<dyn Collector>,
    ) -> Result<(), RuntimeError> {
        for family in families {
            check_name(family).map_err(|reason| RuntimeError::InvalidMetricName {
                name: (*family).to_owned(),
                reason,
            })?;
            if family.starts_with(RUNTIME_PREFIX) {
                return Err(RuntimeError::InvalidMetricName {
                    name: (*family).to_owned(),
                    reason: "the dyn_runtime_ prefix is the runtime's own; use your service's name as the prefix",
                });
            }
        }
        let mut state = lock(&self.shared.state);
        if let Some(taken) = families.iter().find(|f| state.names.contains(**f)) {
            return Err(RuntimeError::MetricAlreadyRegistered {
                name: (*taken).to_owned(),
            });
        }
        state.names.extend(families.iter().map(|f| (*f).to_owned()));
        state.registry.register_collector(collector);
        Ok(())
    }

    /// Runs `callback` before each scrape (each [`render`](Self::render)), to bring gauges up
    /// to date from state that is cheaper to read than to track. Keep it short: a scrape
    /// waits for it. Callbacks run in registration order, outside the registry's lock (a
    /// callback may register).
    pub fn on_scrape(&self, callback: impl Fn() + Send + Sync + 'static) {
        lock(&self.shared.state).callbacks.push(Arc::new(callback));
    }

    fn run_callbacks(&self) {
        let callbacks = lock(&self.shared.state).callbacks.clone();
        for callback in callbacks {
            callback();
        }
    }

    /// Runs the scrape callbacks, then appends every family as OpenMetrics text to `out`,
    /// without the closing `# EOF` (for a server that writes families of its own around it).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::MetricsEncoding`] when a help text or label value cannot be written.
    pub fn encode_families(&self, out: &mut String) -> Result<(), RuntimeError> {
        self.run_callbacks();
        let state = lock(&self.shared.state);
        exposition::encode_registry(out, &state.registry).map_err(|_| RuntimeError::MetricsEncoding)
    }

    /// Runs the scrape callbacks and returns the whole OpenMetrics text (ending in `# EOF`),
    /// as `/metrics` answers it ([`CONTENT_TYPE`]).
    ///
    /// # Errors
    ///
    /// As [`encode_families`](Self::encode_families).
    pub fn render(&self) -> Result<String, RuntimeError> {
        let mut out = String::with_capacity(8192);
        self.encode_families(&mut out)?;
        exposition::encode_eof(&mut out).map_err(|_| RuntimeError::MetricsEncoding)?;
        Ok(out)
    }

    /// A handle that does not keep the registry alive.
    pub(crate) fn downgrade(&self) -> WeakMetrics {
        WeakMetrics(Arc::downgrade(&self.shared))
    }

    /// Whether a family of this name (with its unit suffix) is registered.
    pub fn contains(&self, family: &str) -> bool {
        lock(&self.shared.state).names.contains(family)
    }
}

/// A [`MetricsRegistry`] that does not keep it alive.
pub(crate) struct WeakMetrics(std::sync::Weak<Shared>);

impl WeakMetrics {
    pub(crate) fn upgrade(&self) -> Option<MetricsRegistry> {
        self.0.upgrade().map(|shared| MetricsRegistry { shared })
    }
}

impl fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("MetricsRegistry")
            .field("families", &state.names.len())
            .field("callbacks", &state.callbacks.len())
            .finish()
    }
}
