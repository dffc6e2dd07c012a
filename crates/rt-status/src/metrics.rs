//! `/metrics`: the runtime's [`MetricsRegistry`](rt_core::metrics::MetricsRegistry) (the
//! runtime's own families, every endpoint's, the application's) and the `dyn_runtime_http_*`
//! families of the HTTP servers added to the status server. The HTTP series are listed in the
//! crate documentation's metrics table (`lib.rs`), the one list to keep in step with
//! [`HttpCollector`]'s `encode`.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::sources::{HttpSample, Sources};
use crate::StatusError;

/// The content type of [`render`]'s output (OpenMetrics text, which Prometheus scrapes).
pub(crate) const CONTENT_TYPE: &str = rt_core::metrics::CONTENT_TYPE;

/// A registry holding the HTTP collector.
pub(crate) fn registry(sources: Arc<Sources>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(HttpCollector { sources }));
    registry
}

/// The whole `/metrics` text: the HTTP families of `registry`, then the runtime's metrics.
pub(crate) fn render(registry: &Registry, sources: &Sources) -> Result<String, StatusError> {
    let mut out = String::with_capacity(8192);
    prometheus_client::encoding::text::encode_registry(&mut out, registry)
        .map_err(|_| StatusError::Metrics)?;
    sources
        .metrics
        .encode_families(&mut out)
        .map_err(|_| StatusError::Metrics)?;
    prometheus_client::encoding::text::encode_eof(&mut out).map_err(|_| StatusError::Metrics)?;
    Ok(out)
}

#[derive(Debug)]
struct HttpCollector {
    sources: Arc<Sources>,
}

impl Collector for HttpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        encode_http(&mut encoder, &self.sources.http_samples())
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
