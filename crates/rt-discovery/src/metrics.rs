//! [`DiscoveryMetrics`]: counters of the lease, the watches and the deregistration.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

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

/// A snapshot of discovery's counters, for `/metrics` and tests.
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

impl DiscoveryMetrics {
    /// The metrics as OpenMetrics text lines (names prefixed `dyn_discovery_`), for a
    /// `/metrics` handler to append.
    pub fn to_openmetrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let counters = [
            (
                "lease_renewals",
                "Acknowledged lease renewals.",
                self.lease_renewals,
            ),
            (
                "lease_renewal_failures",
                "Failed lease renewal attempts.",
                self.lease_renewal_failures,
            ),
            ("lease_losses", "Leases lost.", self.lease_losses),
            (
                "reregistrations",
                "Re-registrations after a lost lease.",
                self.reregistrations,
            ),
            (
                "watch_resyncs",
                "Watches resynchronised from a fresh snapshot.",
                self.watch_resyncs,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP dyn_discovery_{name} {help}");
            let _ = writeln!(out, "# TYPE dyn_discovery_{name} counter");
            let _ = writeln!(out, "dyn_discovery_{name}_total {value}");
        }
        let _ = writeln!(
            out,
            "# HELP dyn_discovery_keep_alive_lateness_seconds Lateness of keep-alive sends."
        );
        let _ = writeln!(
            out,
            "# TYPE dyn_discovery_keep_alive_lateness_seconds gauge"
        );
        for (q, v) in [
            ("0.5", self.keep_alive_lateness_p50),
            ("0.99", self.keep_alive_lateness_p99),
            ("1", self.keep_alive_lateness_max),
        ] {
            let _ = writeln!(
                out,
                "dyn_discovery_keep_alive_lateness_seconds{{quantile=\"{q}\"}} {}",
                v.as_secs_f64()
            );
        }
        let _ = writeln!(
            out,
            "# HELP dyn_discovery_instances Instances known per watched endpoint."
        );
        let _ = writeln!(out, "# TYPE dyn_discovery_instances gauge");
        for (endpoint, count) in &self.instances {
            let _ = writeln!(
                out,
                "dyn_discovery_instances{{endpoint=\"{endpoint}\"}} {count}"
            );
        }
        out
    }
}
