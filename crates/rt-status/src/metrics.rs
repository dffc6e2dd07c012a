//! The Prometheus collector: every value is read from the runtime at scrape time. The series
//! it writes are listed in the crate documentation's metrics table (`lib.rs`), the one list to
//! keep in step with [`RuntimeCollector`]'s `encode`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use rt_core::drain::DrainState;
use rt_core::registry::{ComponentKind, ComponentState};
use rt_core::shutdown::ShutdownPhase;

use crate::sources::{HttpSample, Sources};

/// The content type of [`render`]'s output (OpenMetrics text, which Prometheus scrapes).
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

/// A registry holding the runtime collector.
pub(crate) fn registry(sources: Arc<Sources>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(RuntimeCollector { sources }));
    registry
}

/// The registry's metrics in the OpenMetrics text format.
pub(crate) fn render(registry: &Registry) -> Result<String, fmt::Error> {
    let mut out = String::with_capacity(4096);
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

#[derive(Debug)]
struct RuntimeCollector {
    sources: Arc<Sources>,
}

fn gauge<V>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: V,
) -> fmt::Result
where
    V: prometheus_client::encoding::EncodeGaugeValue + fmt::Debug + Send + Sync,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let s = &self.sources;
        let e = &mut encoder;
        gauge(
            e,
            "dyn_runtime_uptime",
            "Seconds since the status server started.",
            Some(&Unit::Seconds),
            s.started.elapsed().as_secs_f64(),
        )?;

        let phase = s.coordinator.phase();
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

        let drain = s.drain.state();
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
            u64::try_from(s.coordinator.tracker().get_count()).unwrap_or(u64::MAX),
        )?;

        // Names are unique in the registry (registering a finished entry's name again
        // replaces it), so each endpoint has one series.
        let components = s.registry.snapshot();
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
                "Requests in flight per endpoint.",
                None,
                MetricType::Gauge,
            )?;
            for c in endpoints {
                ConstGauge::new(u64::try_from(c.in_flight).unwrap_or(u64::MAX))
                    .encode(family.encode_family(&[("endpoint", c.name.as_str())])?)?;
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

        let metrics = s.compute.as_ref().map(|pool| pool.metrics());
        gauge(
            e,
            "dyn_runtime_compute_threads",
            "Threads of the compute pool (0: the runtime has none).",
            None,
            u64::try_from(metrics.map_or(0, |m| m.num_threads)).unwrap_or(u64::MAX),
        )?;
        if let Some(m) = metrics {
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
            )?;
        }
        encode_http(e, &s.http_samples())
    }
}

/// Reads one value of an HTTP server's sample.
type Read = fn(&HttpSample) -> u64;

/// One `dyn_runtime_http_*` family: its name, help, type, and the values of its series.
struct HttpFamily {
    name: &'static str,
    help: &'static str,
    metric_type: MetricType,
    /// `None`: one series per server, read by `value`. `Some((label, values))`: one series per
    /// server and label value.
    extra: Option<(&'static str, &'static [(&'static str, Read)])>,
    value: Read,
}

impl HttpFamily {
    fn plain(name: &'static str, help: &'static str, metric_type: MetricType, value: Read) -> Self {
        Self {
            name,
            help,
            metric_type,
            extra: None,
            value,
        }
    }

    fn encode(&self, encoder: &mut DescriptorEncoder<'_>, samples: &[HttpSample]) -> fmt::Result {
        let mut family = encoder.encode_descriptor(self.name, self.help, None, self.metric_type)?;
        for sample in samples {
            let server = ("server", sample.name.as_str());
            match self.extra {
                None => {
                    let labels = [server];
                    encode_value(
                        family.encode_family(&labels)?,
                        &self.metric_type,
                        (self.value)(sample),
                    )?;
                }
                Some((label, values)) => {
                    for (label_value, read) in values {
                        let labels = [server, (label, *label_value)];
                        encode_value(
                            family.encode_family(&labels)?,
                            &self.metric_type,
                            read(sample),
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn encode_value(
    encoder: prometheus_client::encoding::MetricEncoder<'_>,
    metric_type: &MetricType,
    value: u64,
) -> fmt::Result {
    if matches!(metric_type, MetricType::Counter) {
        ConstCounter::new(value).encode(encoder)
    } else {
        ConstGauge::new(value).encode(encoder)
    }
}

const CLASSES: [(&str, Read); 5] = [
    ("1xx", |s| s.metrics.responses.informational),
    ("2xx", |s| s.metrics.responses.success),
    ("3xx", |s| s.metrics.responses.redirection),
    ("4xx", |s| s.metrics.responses.client_error),
    ("5xx", |s| s.metrics.responses.server_error),
];

const TIMEOUTS: [(&str, Read); 5] = [
    ("header", |s| s.metrics.timeouts.header),
    ("body", |s| s.metrics.timeouts.body),
    ("idle", |s| s.metrics.timeouts.idle),
    ("write", |s| s.metrics.timeouts.write),
    ("shutdown_grace", |s| s.metrics.timeouts.shutdown_grace),
];

/// The `dyn_runtime_http_*` families: the edge metrics of every HTTP server added to the
/// status server (its own, `server="status"`, first). None when there is none.
fn encode_http(e: &mut DescriptorEncoder<'_>, samples: &[HttpSample]) -> fmt::Result {
    if samples.is_empty() {
        return Ok(());
    }
    let families = [
        HttpFamily::plain(
            "dyn_runtime_http_connections_open",
            "HTTP connections open now.",
            MetricType::Gauge,
            |s| s.metrics.connections_open,
        ),
        HttpFamily::plain(
            "dyn_runtime_http_connections_accepted",
            "HTTP connections accepted.",
            MetricType::Counter,
            |s| s.metrics.connections_accepted,
        ),
        HttpFamily::plain(
            "dyn_runtime_http_connections_closed_unanswered",
            "HTTP connections closed by the server with no request to answer (header, idle or shutdown-grace timeout before any byte of a request).",
            MetricType::Counter,
            |s| s.metrics.connections_closed_unanswered,
        ),
        HttpFamily::plain(
            "dyn_runtime_http_accept_paused",
            "Times accepting paused because the connection limit was reached.",
            MetricType::Counter,
            |s| s.metrics.accept_paused,
        ),
        HttpFamily::plain(
            "dyn_runtime_http_requests_admitted",
            "HTTP requests admitted (counted in flight) and handed to the handlers.",
            MetricType::Counter,
            |s| s.metrics.requests_admitted,
        ),
        HttpFamily::plain(
            "dyn_runtime_http_requests_refused",
            "HTTP requests refused with 503 because the drain had started.",
            MetricType::Counter,
            |s| s.metrics.requests_refused,
        ),
        HttpFamily::plain(
            "dyn_runtime_http_requests_in_flight",
            "HTTP requests admitted and not yet answered.",
            MetricType::Gauge,
            |s| u64::try_from(s.in_flight).unwrap_or(u64::MAX),
        ),
        HttpFamily {
            extra: Some(("class", &CLASSES)),
            ..HttpFamily::plain(
                "dyn_runtime_http_responses",
                "HTTP responses by status class (the HTTP layer's own 400, 408, 413, 431 and 503 included).",
                MetricType::Counter,
                |_| 0,
            )
        },
        HttpFamily {
            extra: Some(("kind", &TIMEOUTS)),
            ..HttpFamily::plain(
                "dyn_runtime_http_timeouts",
                "HTTP timeouts that fired, by kind.",
                MetricType::Counter,
                |_| 0,
            )
        },
    ];
    for family in &families {
        family.encode(e, samples)?;
    }
    Ok(())
}
