//! The event-loop stall detector: on each tokio runtime a task sleeps a short interval again
//! and again; how late it wakes is the time a worker could not run it (a task that blocked its
//! thread, or a runtime with more work than workers). The lateness goes into a histogram,
//! wakes later than a threshold are counted as stalls and logged at most once per log interval.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::histogram::{AtomicHistogram, LATENESS_BUCKETS};

/// The detector's settings (`DYN_RUNTIME_STALL_*`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StallSettings {
    /// How long each probe sleeps.
    pub(crate) interval: Duration,
    /// A wake at least this late is a stall.
    pub(crate) threshold: Duration,
    /// At most one log line per runtime per this interval.
    pub(crate) log_every: Duration,
}

/// One runtime's probe figures.
struct Probe {
    runtime: &'static str,
    lateness: AtomicHistogram,
    stalls: AtomicU64,
}

/// The `dyn_runtime_event_loop_*` families: one probe per runtime.
pub(crate) struct StallDetector {
    probes: Vec<Arc<Probe>>,
}

/// The family names (for the registry's duplicate check).
pub(crate) const STALL_FAMILIES: [&str; 2] = [
    "dyn_runtime_event_loop_lateness_seconds",
    "dyn_runtime_event_loop_stalls",
];

impl StallDetector {
    /// Starts one probe task on each runtime of `runtimes` (label, handle); they end when
    /// `stop` is cancelled or their runtime shuts down.
    pub(crate) fn start(
        runtimes: &[(&'static str, Handle)],
        settings: StallSettings,
        stop: &CancellationToken,
    ) -> Self {
        let probes = runtimes
            .iter()
            .map(|(runtime, handle)| {
                let probe = Arc::new(Probe {
                    runtime,
                    lateness: AtomicHistogram::new(&LATENESS_BUCKETS),
                    stalls: AtomicU64::new(0),
                });
                handle.spawn(run(Arc::clone(&probe), settings, stop.clone()));
                probe
            })
            .collect();
        Self { probes }
    }
}

/// Stalls seen since the last log line.
#[derive(Default)]
struct Pending {
    stalls: u64,
    worst: Duration,
    last_log: Option<Instant>,
}

async fn run(probe: Arc<Probe>, settings: StallSettings, stop: CancellationToken) {
    let mut pending = Pending::default();
    loop {
        let before = Instant::now();
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = tokio::time::sleep(settings.interval) => {}
        }
        let late = before.elapsed().saturating_sub(settings.interval);
        probe.lateness.observe(late);
        if late >= settings.threshold {
            probe.stalls.fetch_add(1, Ordering::Relaxed);
            pending.stalls += 1;
            pending.worst = pending.worst.max(late);
        }
        let may_log = pending
            .last_log
            .is_none_or(|at| at.elapsed() >= settings.log_every);
        if pending.stalls > 0 && may_log {
            tracing::warn!(
                runtime = probe.runtime,
                stalls = pending.stalls,
                worst_ms = pending.worst.as_millis() as u64,
                threshold_ms = settings.threshold.as_millis() as u64,
                "event loop stalled: a worker could not run tasks for longer than the threshold \
                 (a task blocking its thread, or more work than workers); move blocking or \
                 CPU-heavy work to the compute pool"
            );
            pending = Pending {
                last_log: Some(Instant::now()),
                ..Pending::default()
            };
        }
    }
}

impl fmt::Debug for StallDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runtimes: Vec<&str> = self.probes.iter().map(|p| p.runtime).collect();
        f.debug_struct("StallDetector")
            .field("runtimes", &runtimes)
            .finish()
    }
}

impl Collector for StallDetector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        if self.probes.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "dyn_runtime_event_loop_lateness",
            "How late the stall probe woke from its short sleep, per tokio runtime.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for p in &self.probes {
            p.lateness
                .encode(family.encode_family(&[("runtime", p.runtime)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "dyn_runtime_event_loop_stalls",
            "Stall probe wakes later than the stall threshold, per tokio runtime.",
            None,
            MetricType::Counter,
        )?;
        for p in &self.probes {
            ConstCounter::new(p.stalls.load(Ordering::Relaxed))
                .encode(family.encode_family(&[("runtime", p.runtime)])?)?;
        }
        Ok(())
    }
}
