//! [`DiscoveryMetrics`]: counters of the lease, the watches and the deregistration.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rt_core::metrics::prometheus_client::collector::Collector;
use rt_core::metrics::prometheus_client::encoding::{text, DescriptorEncoder, EncodeMetric};
use rt_core::metrics::prometheus_client::metrics::counter::ConstCounter;
use rt_core::metrics::prometheus_client::metrics::gauge::ConstGauge;
use rt_core::metrics::prometheus_client::metrics::MetricType;
use rt_core::metrics::prometheus_client::registry::{Registry, Unit};
use rt_core::metrics::MetricsRegistry;

/// How many keep-alive lateness samples are kept for the percentiles.
const LATENESS_SAMPLES: usize = 1024;

/// The live counters, shared by the keep-alive, the watches and the shutdown steps.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) renewals: AtomicU64,
    pub(crate) renewal_failures: AtomicU64,
    pub(crate) losses: AtomicU64,
    pub(crate) reregistrations: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    /// Nanoseconds; `u64::MAX` until the phase-1 deregistration ran.
    deregistration_nanos: AtomicU64,
    lateness: Mutex<VecDeque<Duration>>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            deregistration_nanos: AtomicU64::new(u64::MAX),
            ..Self::default()
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how late a keep-alive was sent after its scheduled time.
    pub(crate) fn record_lateness(&self, late: Duration) {
        let mut samples = self.lateness.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.len() == LATENESS_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(late);
    }

    pub(crate) fn record_deregistration(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX - 1);
        self.deregistration_nanos.store(nanos, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, instances: Vec<(String, usize)>) -> DiscoveryMetrics {
        let mut late: Vec<Duration> = self
            .lateness
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        late.sort_unstable();
        let pick = |q: f64| -> Duration {
            if late.is_empty() {
                return Duration::ZERO;
            }
            // Nearest rank.
            let rank = ((q * late.len() as f64).ceil() as usize).clamp(1, late.len());
            late[rank - 1]
        };
        let dereg = self.deregistration_nanos.load(Ordering::Relaxed);
        DiscoveryMetrics {
            lease_renewals: self.renewals.load(Ordering::Relaxed),
            lease_renewal_failures: self.renewal_failures.load(Ordering::Relaxed),
            lease_losses: self.losses.load(Ordering::Relaxed),
            reregistrations: self.reregistrations.load(Ordering::Relaxed),
            watch_resyncs: self.resyncs.load(Ordering::Relaxed),
            keep_alive_lateness_p50: pick(0.50),
            keep_alive_lateness_p99: pick(0.99),
            keep_alive_lateness_max: late.last().copied().unwrap_or_default(),
            deregistration: (dereg != u64::MAX).then(|| Duration::from_nanos(dereg)),
            instances,
        }
    }
}

/// A snapshot of discovery's counters, for `/metrics` ([`register`](Self::register)) and
/// tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryMetrics {
    /// Acknowledged lease renewals.
    pub lease_renewals: u64,
    /// Renewal attempts that failed (and were retried).
    pub lease_renewal_failures: u64,
    /// Leases lost (expired, revoked, or not renewed before their deadline).
    pub lease_losses: u64,
    /// Successful re-registrations under a new lease after a loss.
    pub reregistrations: u64,
    /// Watches re-started with a fresh snapshot after an error or compaction.
    pub watch_resyncs: u64,
    /// Median lateness of keep-alive sends against their schedule (last 1024 sends).
    pub keep_alive_lateness_p50: Duration,
    /// 99th percentile of the same.
    pub keep_alive_lateness_p99: Duration,
    /// Largest of the same.
    pub keep_alive_lateness_max: Duration,
    /// How long the phase-1 deregistration took, once it ran.
    pub deregistration: Option<Duration>,
    /// Instances known per watched endpoint (`namespace/component/endpoint`, count).
    pub instances: Vec<(String, usize)>,
}

/// The family names [`DiscoveryMetrics::register`] takes.
const FAMILIES: [&str; 10] = [
    "dyn_discovery_lease_renewals",
    "dyn_discovery_lease_renewal_failures",
    "dyn_discovery_lease_losses",
    "dyn_discovery_reregistrations",
    "dyn_discovery_watch_resyncs",
    "dyn_discovery_keep_alive_lateness_p50_seconds",
    "dyn_discovery_keep_alive_lateness_p99_seconds",
    "dyn_discovery_keep_alive_lateness_max_seconds",
    "dyn_discovery_deregistration_seconds",
    "dyn_discovery_instances",
];

/// Writes the `dyn_discovery_*` families from a fresh snapshot at each scrape.
struct DiscoveryCollector<F>(F);

impl<F> fmt::Debug for DiscoveryCollector<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DiscoveryCollector")
    }
}

impl<F> Collector for DiscoveryCollector<F>
where
    F: Fn() -> DiscoveryMetrics + Send + Sync + 'static,
{
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> fmt::Result {
        (self.0)().encode(encoder)
    }
}

impl DiscoveryMetrics {
    /// Registers discovery's families on the runtime's metrics (so that they appear on the
    /// status server's `/metrics`): at each scrape `read` is called for a fresh snapshot
    /// (typically `move || discovery.metrics()`).
    ///
    /// ```
    /// use rt_core::metrics::MetricsRegistry;
    /// use rt_discovery::DiscoveryMetrics;
    ///
    /// let metrics = MetricsRegistry::new();
    /// DiscoveryMetrics::register(&metrics, DiscoveryMetrics::default)?;
    /// let text = metrics.render()?;
    /// assert!(text.contains("dyn_discovery_lease_renewals_total 0"));
    /// // Once per registry.
    /// assert!(DiscoveryMetrics::register(&metrics, DiscoveryMetrics::default).is_err());
    /// # Ok::<(), rt_core::RuntimeError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`RuntimeError::MetricAlreadyRegistered`](rt_core::RuntimeError::MetricAlreadyRegistered)
    /// when discovery's families are already registered there.
    pub fn register(
        metrics: &MetricsRegistry,
        read: impl Fn() -> DiscoveryMetrics + Send + Sync + 'static,
    ) -> Result<(), rt_core::RuntimeError> {
        metrics.register_collector(&FAMILIES, Box::new(DiscoveryCollector(read)))
    }

    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let counters = [
            (
                "dyn_discovery_lease_renewals",
                "Acknowledged lease renewals.",
                self.lease_renewals,
            ),
            (
                "dyn_discovery_lease_renewal_failures",
                "Failed lease renewal attempts.",
                self.lease_renewal_failures,
            ),
            (
                "dyn_discovery_lease_losses",
                "Leases lost.",
                self.lease_losses,
            ),
            (
                "dyn_discovery_reregistrations",
                "Re-registrations after a lost lease.",
                self.reregistrations,
            ),
            (
                "dyn_discovery_watch_resyncs",
                "Watches resynchronised from a fresh snapshot.",
                self.watch_resyncs,
            ),
        ];
        for (name, help, value) in counters {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        let mut gauges = vec![
            (
                "dyn_discovery_keep_alive_lateness_p50",
                "Median lateness of keep-alive sends (last 1024).",
                self.keep_alive_lateness_p50,
            ),
            (
                "dyn_discovery_keep_alive_lateness_p99",
                "99th percentile lateness of keep-alive sends (last 1024).",
                self.keep_alive_lateness_p99,
            ),
            (
                "dyn_discovery_keep_alive_lateness_max",
                "Largest lateness of keep-alive sends (last 1024).",
                self.keep_alive_lateness_max,
            ),
        ];
        if let Some(took) = self.deregistration {
            gauges.push((
                "dyn_discovery_deregistration",
                "How long the phase-1 deregistration took.",
                took,
            ));
        }
        for (name, help, value) in gauges {
            let metric = ConstGauge::new(value.as_secs_f64());
            metric.encode(encoder.encode_descriptor(
                name,
                help,
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?)?;
        }
        let mut family = encoder.encode_descriptor(
            "dyn_discovery_instances",
            "Instances known per watched endpoint.",
            None,
            MetricType::Gauge,
        )?;
        for (endpoint, count) in &self.instances {
            ConstGauge::new(u64::try_from(*count).unwrap_or(u64::MAX))
                .encode(family.encode_family(&[("endpoint", endpoint.as_str())])?)?;
        }
        Ok(())
    }

    /// The metrics as OpenMetrics text lines (names prefixed `dyn_discovery_`, no `# EOF`),
    /// the families [`register`](Self::register) puts on the runtime's `/metrics`.
    pub fn to_openmetrics(&self) -> String {
        let mut registry = Registry::default();
        let snapshot = self.clone();
        registry.register_collector(Box::new(DiscoveryCollector(move || snapshot.clone())));
        let mut out = String::new();
        // Writing to a String does not fail.
        let _ = text::encode_registry(&mut out, &registry);
        out
    }
}
