//! The runtime's own families, read at each scrape: uptime, the shutdown phase and tracker,
//! the registry's components, the compute pool ([`ComputeMetrics`](rt_compute::ComputeMetrics))
//! and tokio's stable `RuntimeMetrics` of each runtime.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use rt_compute::ComputePool;
use rt_shutdown::{ShutdownCoordinator, ShutdownPhase};
use tokio::runtime::Handle;

use super::text::escape;
use crate::component::{ComponentKind, ComponentState};
use crate::drain::{DrainControl, DrainState};
use crate::registry::Registry;

const PHASES: [ShutdownPhase; 4] = [
    ShutdownPhase::Running,
    ShutdownPhase::Draining,
    ShutdownPhase::Stopping,
    ShutdownPhase::Stopped,
];

const DRAIN_STATES: [DrainState; 3] = [
    DrainState::Serving,
    DrainState::Draining,
    DrainState::Drained,
];

const KINDS: [ComponentKind; 2] = [ComponentKind::Component, ComponentKind::Endpoint];

/// The family names this collector writes (for the registry's duplicate check).
pub(crate) const RUNTIME_FAMILIES: [&str; 20] = [
    "dyn_runtime_uptime_seconds",
    "dyn_runtime_shutdown_phase",
    "dyn_runtime_drain_state",
    "dyn_runtime_shutdown_tracker_active",
    "dyn_runtime_components",
    "dyn_runtime_endpoint_in_flight_requests",
    "dyn_runtime_compute_threads",
    "dyn_runtime_compute_tasks",
    "dyn_runtime_compute_tasks_panicked",
    "dyn_runtime_compute_tasks_skipped",
    "dyn_runtime_compute_slow_tasks",
    "dyn_runtime_compute_tasks_active",
    "dyn_runtime_compute_tasks_queued",
    "dyn_runtime_compute_task_mean_duration_seconds",
    "dyn_runtime_compute_task_max_duration_seconds",
    "dyn_runtime_tokio_workers",
    "dyn_runtime_tokio_alive_tasks",
    "dyn_runtime_tokio_global_queue_depth",
    "dyn_runtime_tokio_busy_seconds",
    "dyn_runtime_tokio_park",
];

/// What the collector reads; it holds no `Runtime` clone, so it does not keep the runtime
/// alive.
pub(crate) struct RuntimeCollector {
    pub(crate) started: Instant,
    pub(crate) coordinator: ShutdownCoordinator,
    pub(crate) registry: Arc<Registry>,
    pub(crate) drain: DrainControl,
    pub(crate) compute: Option<Arc<ComputePool>>,
    /// `primary`, and `secondary` when it is a runtime of its own.
    pub(crate) tokio: Vec<(&'static str, Handle)>,
}

impl fmt::Debug for RuntimeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeCollector").finish_non_exhaustive()
    }
}

fn gauge<V>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: V,
) -> fmt::Result
where
    V: EncodeGaugeValue + fmt::Debug + Send + Sync,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl RuntimeCollector {
    fn encode_compute(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let metrics = self.compute.as_ref().map(|pool| pool.metrics());
        gauge(
            e,
            "dyn_runtime_compute_threads",
            "Threads of the compute pool (0: the runtime has none).",
            None,
            count(metrics.map_or(0, |m| m.num_threads)),
        )?;
        let Some(m) = metrics else { return Ok(()) };
        counter(
            e,
            "dyn_runtime_compute_tasks",
            "Compute jobs that ran to the end (panicked ones included).",
            m.tasks_total,
        )?;
        counter(
            e,
            "dyn_runtime_compute_tasks_panicked",
            "Compute jobs that panicked.",
            m.tasks_panicked,
        )?;
        counter(
            e,
            "dyn_runtime_compute_tasks_skipped",
            "Compute jobs dropped before they started.",
            m.tasks_skipped,
        )?;
        counter(
            e,
            "dyn_runtime_compute_slow_tasks",
            "Compute jobs that ran longer than 100 ms.",
            m.slow_tasks,
        )?;
        gauge(
            e,
            "dyn_runtime_compute_tasks_active",
            "Compute jobs running now.",
            None,
            m.tasks_active,
        )?;
        gauge(
            e,
            "dyn_runtime_compute_tasks_queued",
            "Compute jobs submitted and not started yet.",
            None,
            m.queue_depth,
        )?;
        gauge(
            e,
            "dyn_runtime_compute_task_mean_duration",
            "Mean run time of the compute jobs that ran to the end.",
            Some(&Unit::Seconds),
            m.avg_duration.as_secs_f64(),
        )?;
        gauge(
            e,
            "dyn_runtime_compute_task_max_duration",
            "Longest run time of a compute job.",
            Some(&Unit::Seconds),
            m.max_duration.as_secs_f64(),
        )
    }

    fn encode_tokio(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        type Read = fn(&tokio::runtime::RuntimeMetrics) -> u64;
        let gauges: [(&str, &str, Read); 3] = [
            (
                "dyn_runtime_tokio_workers",
                "Worker threads of the tokio runtime.",
                |m| count(m.num_workers()),
            ),
            (
                "dyn_runtime_tokio_alive_tasks",
                "Tasks alive (spawned and not finished) on the tokio runtime.",
                |m| count(m.num_alive_tasks()),
            ),
            (
                "dyn_runtime_tokio_global_queue_depth",
                "Tasks waiting in the tokio runtime's global (injection) queue.",
                |m| count(m.global_queue_depth()),
            ),
        ];
        let metrics: Vec<(&str, tokio::runtime::RuntimeMetrics)> = self
            .tokio
            .iter()
            .map(|(name, handle)| (*name, handle.metrics()))
            .collect();
        for (name, help, read) in gauges {
            let mut family = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (runtime, m) in &metrics {
                ConstGauge::new(read(m)).encode(family.encode_family(&[("runtime", *runtime)])?)?;
            }
        }
        #[cfg(target_has_atomic = "64")]
        {
            let mut family = e.encode_descriptor(
                "dyn_runtime_tokio_busy",
                "Time the tokio runtime's workers spent busy (not parked), summed over workers.",
                Some(&Unit::Seconds),
                MetricType::Counter,
            )?;
            for (runtime, m) in &metrics {
                let busy: f64 = (0..m.num_workers())
                    .map(|w| m.worker_total_busy_duration(w).as_secs_f64())
                    .sum();
                ConstCounter::new(busy).encode(family.encode_family(&[("runtime", *runtime)])?)?;
            }
            let mut family = e.encode_descriptor(
                "dyn_runtime_tokio_park",
                "Times the tokio runtime's workers parked (went idle), summed over workers.",
                None,
                MetricType::Counter,
            )?;
            for (runtime, m) in &metrics {
                let parks: u64 = (0..m.num_workers()).map(|w| m.worker_park_count(w)).sum();
                ConstCounter::new(parks).encode(family.encode_family(&[("runtime", *runtime)])?)?;
            }
        }
        Ok(())
    }
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut encoder;
        gauge(
            e,
            "dyn_runtime_uptime",
            "Seconds since the runtime was built.",
            Some(&Unit::Seconds),
            self.started.elapsed().as_secs_f64(),
        )?;

        let phase = self.coordinator.phase();
        let mut family = e.encode_descriptor(
            "dyn_runtime_shutdown_phase",
            "The shutdown phase: 1 for the current one (running, draining, stopping, stopped).",
            None,
            MetricType::Gauge,
        )?;
        for p in PHASES {
            ConstGauge::new(i64::from(p == phase))
                .encode(family.encode_family(&[("phase", p.as_str())])?)?;
        }
        let drain = self.drain.state();
        let mut family = e.encode_descriptor(
            "dyn_runtime_drain_state",
            "The drain without exit: 1 for the current state (serving, draining, drained).",
            None,
            MetricType::Gauge,
        )?;
        for d in DRAIN_STATES {
            ConstGauge::new(i64::from(d == drain))
                .encode(family.encode_family(&[("state", d.as_str())])?)?;
        }
        gauge(
            e,
            "dyn_runtime_shutdown_tracker_active",
            "Endpoints and tasks the shutdown's drain (phase 2) waits for.",
            None,
            count(self.coordinator.tracker().get_count()),
        )?;

        // Names are unique in the registry (registering a finished entry's name again
        // replaces it), so each endpoint has one series.
        let components = self.registry.snapshot();
        let mut per_state: HashMap<(ComponentKind, ComponentState), i64> = HashMap::new();
        for c in &components {
            *per_state.entry((c.kind, c.state)).or_default() += 1;
        }
        let mut endpoints = components
            .iter()
            .filter(|c| c.kind == ComponentKind::Endpoint)
            .peekable();
        if endpoints.peek().is_some() {
            let mut family = e.encode_descriptor(
                "dyn_runtime_endpoint_in_flight_requests",
                "Requests in flight per endpoint (every endpoint entry of the registry).",
                None,
                MetricType::Gauge,
            )?;
            for c in endpoints {
                let name = escape(&c.name);
                ConstGauge::new(count(c.in_flight))
                    .encode(family.encode_family(&[("endpoint", name.as_ref())])?)?;
            }
        }
        let mut family = e.encode_descriptor(
            "dyn_runtime_components",
            "Registry entries (components and endpoints) per kind and lifecycle state.",
            None,
            MetricType::Gauge,
        )?;
        for kind in KINDS {
            for state in ComponentState::ALL {
                let n = per_state.get(&(kind, state)).copied().unwrap_or(0);
                ConstGauge::new(n).encode(
                    family.encode_family(&[("kind", kind.as_str()), ("state", state.as_str())])?,
                )?;
            }
        }
        self.encode_compute(e)?;
        self.encode_tokio(e)
    }
}
