//! Per-endpoint metrics: [`EndpointMetrics`] (one endpoint's series, pre-resolved so that a
//! request touches a few atomics and no map), [`TrackedRequest`] (one request's outcome and
//! duration), and the collector that writes every endpoint's `dyn_runtime_endpoint_*` families.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use rt_shutdown::InFlightGuard;

use super::histogram::{AtomicHistogram, REQUEST_BUCKETS};
use super::text::escape;

/// How a request ended, the `outcome` label of `dyn_runtime_endpoint_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestOutcome {
    /// Served to the end.
    Ok,
    /// Not admitted: the endpoint had stopped accepting (the drain had started).
    Refused,
    /// Served, and failed (the error types are counted in `dyn_runtime_endpoint_errors_total`).
    Error,
    /// Given up before its end: the client went away, or the task serving it was dropped.
    Cancelled,
}

impl RequestOutcome {
    /// Every outcome, in label order.
    pub const ALL: [RequestOutcome; 4] = [
        RequestOutcome::Ok,
        RequestOutcome::Refused,
        RequestOutcome::Error,
        RequestOutcome::Cancelled,
    ];

    /// The label value: `ok`, `refused`, `error`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Refused => "refused",
            RequestOutcome::Error => "error",
            RequestOutcome::Cancelled => "cancelled",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RequestOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a push or an assignment: a poisoned lock holds whole data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One endpoint's series.
struct Series {
    /// `endpoint`, then `namespace` and `component` when set.
    labels: Vec<(&'static str, String)>,
    outcomes: [AtomicU64; 4],
    duration: AtomicHistogram,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    /// Errors by type; locked on an error only.
    errors: Mutex<Vec<(Cow<'static, str>, u64)>>,
}

/// The metrics of one endpoint: a cheap handle (an `Arc`) on its pre-resolved series.
///
/// Every endpoint started through [`Runtime::endpoint`](crate::Runtime::endpoint) has one
/// ([`EndpointContext::metrics`](crate::EndpointContext::metrics)); an endpoint started again
/// under the same name and labels continues the same series (counters never go back). A
/// refused [`begin_request`](crate::EndpointContext::begin_request) is counted by itself; a
/// request admitted through
/// [`begin_tracked_request`](crate::EndpointContext::begin_tracked_request) records its
/// outcome and duration when it ends. Servers that count their own requests call the
/// `record_*`/`add_*` methods.
#[derive(Clone)]
pub struct EndpointMetrics {
    series: Arc<Series>,
}

impl EndpointMetrics {
    fn new(labels: Vec<(&'static str, String)>) -> Self {
        Self {
            series: Arc::new(Series {
                labels,
                outcomes: Default::default(),
                duration: AtomicHistogram::new(&REQUEST_BUCKETS),
                request_bytes: AtomicU64::new(0),
                response_bytes: AtomicU64::new(0),
                errors: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Counts one request that ended with `outcome` after `duration` (the duration is not
    /// observed for a refused request: it was never served).
    pub fn record(&self, outcome: RequestOutcome, duration: Duration) {
        self.series.outcomes[outcome.index()].fetch_add(1, Ordering::Relaxed);
        if outcome != RequestOutcome::Refused {
            self.series.duration.observe(duration);
        }
    }

    /// Counts one error of type `kind` (`dyn_runtime_endpoint_errors_total{type=kind}`). Keep
    /// the kinds few and fixed (`panic`, `timeout`, `status_5xx`): each is a series.
    pub fn record_error_type(&self, kind: impl Into<Cow<'static, str>>) {
        let kind = kind.into();
        let mut errors = lock(&self.series.errors);
        match errors.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => errors.push((kind, 1)),
        }
    }

    /// Adds `bytes` of request bodies.
    pub fn add_request_bytes(&self, bytes: u64) {
        self.series
            .request_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Adds `bytes` of response bodies.
    pub fn add_response_bytes(&self, bytes: u64) {
        self.series
            .response_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Requests counted with `outcome` so far.
    pub fn requests(&self, outcome: RequestOutcome) -> u64 {
        self.series.outcomes[outcome.index()].load(Ordering::Relaxed)
    }

    /// Request durations observed so far (requests that ended `ok`, `error` or `cancelled`).
    pub fn durations_observed(&self) -> u64 {
        self.series.duration.count()
    }

    /// Errors counted with type `kind` so far.
    pub fn errors(&self, kind: &str) -> u64 {
        lock(&self.series.errors)
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, n)| *n)
    }

    /// Request and response body bytes so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.series.request_bytes.load(Ordering::Relaxed),
            self.series.response_bytes.load(Ordering::Relaxed),
        )
    }

    /// Tracks one admitted request: holds `guard` (its place in the endpoint's drain) and
    /// records its outcome and duration when it ends.
    pub(crate) fn track(&self, guard: InFlightGuard) -> TrackedRequest {
        TrackedRequest {
            metrics: self.clone(),
            started: Instant::now(),
            error: None,
            ended: false,
            _guard: guard,
        }
    }
}

impl fmt::Debug for EndpointMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("EndpointMetrics");
        for (k, v) in &self.series.labels {
            d.field(k, v);
        }
        for outcome in RequestOutcome::ALL {
            d.field(outcome.as_str(), &self.requests(outcome));
        }
        d.finish_non_exhaustive()
    }
}

/// One admitted request of an endpoint, from
/// [`EndpointContext::begin_tracked_request`](crate::EndpointContext::begin_tracked_request):
/// in flight on the endpoint (its drain waits for it) until dropped, and counted in the
/// endpoint's metrics when it ends.
///
/// [`finish`](Self::finish) ends it `ok` (or `error`, after [`fail`](Self::fail));
/// dropping it without `finish` ends it `cancelled` (the client went away, the task was
/// aborted or panicked). Its duration runs from its admission to its end.
#[must_use = "a tracked request dropped at once is counted as cancelled"]
pub struct TrackedRequest {
    metrics: EndpointMetrics,
    started: Instant,
    error: Option<Cow<'static, str>>,
    ended: bool,
    // Dropped after the outcome is recorded: the drain sees a counted request.
    _guard: InFlightGuard,
}

impl TrackedRequest {
    /// Marks the request failed with an error of type `kind` (see
    /// [`EndpointMetrics::record_error_type`]); it is counted `error` when it ends, unless it
    /// is cancelled first. The last kind given wins.
    pub fn fail(&mut self, kind: impl Into<Cow<'static, str>>) {
        self.error = Some(kind.into());
    }

    /// Whether [`fail`](Self::fail) was called.
    pub fn is_failed(&self) -> bool {
        self.error.is_some()
    }

    /// The endpoint's metrics (for the bytes of this request).
    pub fn metrics(&self) -> &EndpointMetrics {
        &self.metrics
    }

    /// Ends the request: `ok`, or `error` after [`fail`](Self::fail).
    pub fn finish(mut self) {
        let outcome = match self.error.take() {
            Some(kind) => {
                self.metrics.record_error_type(kind);
                RequestOutcome::Error
            }
            None => RequestOutcome::Ok,
        };
        self.end(outcome);
    }

    fn end(&mut self, outcome: RequestOutcome) {
        // Once: the drop after `finish` records nothing more.
        if !std::mem::replace(&mut self.ended, true) {
            self.metrics.record(outcome, self.started.elapsed());
        }
    }
}

impl Drop for TrackedRequest {
    fn drop(&mut self) {
        self.end(RequestOutcome::Cancelled);
    }
}

impl fmt::Debug for TrackedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedRequest")
            .field("elapsed", &self.started.elapsed())
            .field("failed", &self.is_failed())
            .finish_non_exhaustive()
    }
}

/// Every endpoint's series, in the order their endpoints first started; the collector of the
/// `dyn_runtime_endpoint_*` families. Clones share the list.
#[derive(Clone, Default)]
pub(crate) struct EndpointFamilies {
    all: Arc<Mutex<Vec<EndpointMetrics>>>,
}

impl fmt::Debug for EndpointFamilies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointFamilies")
            .field("endpoints", &lock(&self.all).len())
            .finish()
    }
}

/// The `dyn_runtime_endpoint_*` family names (for the registry's duplicate check).
pub(crate) const ENDPOINT_FAMILIES: [&str; 5] = [
    "dyn_runtime_endpoint_requests",
    "dyn_runtime_endpoint_request_duration_seconds",
    "dyn_runtime_endpoint_errors",
    "dyn_runtime_endpoint_request_bytes",
    "dyn_runtime_endpoint_response_bytes",
];

impl EndpointFamilies {
    /// The series of the endpoint named `name` (with optional `namespace` and `component`
    /// labels), created on its first start and continued by a later start.
    pub(crate) fn endpoint(
        &self,
        name: &str,
        namespace: Option<&str>,
        component: Option<&str>,
    ) -> EndpointMetrics {
        // Stored escaped for the text format.
        let mut labels = vec![("endpoint", escape(name).into_owned())];
        if let Some(ns) = namespace {
            labels.push(("namespace", escape(ns).into_owned()));
        }
        if let Some(c) = component {
            labels.push(("component", escape(c).into_owned()));
        }
        let mut all = lock(&self.all);
        let metrics = match all.iter().find(|m| m.series.labels == labels) {
            Some(existing) => existing.clone(),
            None => {
                let metrics = EndpointMetrics::new(labels);
                all.push(metrics.clone());
                metrics
            }
        };
        metrics
    }
}

/// Label pairs of one series: the endpoint's, then `extra`.
fn labels<'a>(series: &'a Series, extra: &[(&'static str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    series
        .labels
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}

fn counter_family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    all: &[EndpointMetrics],
    value: impl Fn(&Series) -> u64,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for m in all {
        ConstCounter::new(value(&m.series))
            .encode(family.encode_family(&labels(&m.series, &[]))?)?;
    }
    Ok(())
}

impl Collector for EndpointFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let all = lock(&self.all).clone();
        if all.is_empty() {
            return Ok(());
        }
        let e = &mut encoder;
        let mut family = e.encode_descriptor(
            "dyn_runtime_endpoint_requests",
            "Requests per endpoint by outcome: ok, refused (the drain had started), error, cancelled (the client went away).",
            None,
            MetricType::Counter,
        )?;
        for m in &all {
            for outcome in RequestOutcome::ALL {
                let value = m.series.outcomes[outcome.index()].load(Ordering::Relaxed);
                ConstCounter::new(value).encode(
                    family.encode_family(&labels(&m.series, &[("outcome", outcome.as_str())]))?,
                )?;
            }
        }
        let mut family = e.encode_descriptor(
            "dyn_runtime_endpoint_request_duration",
            "Time from a request's admission to its end (the last byte of its answer handed to the connection).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for m in &all {
            m.series
                .duration
                .encode(family.encode_family(&labels(&m.series, &[]))?)?;
        }
        let mut family = e.encode_descriptor(
            "dyn_runtime_endpoint_errors",
            "Failed requests per endpoint by error type.",
            None,
            MetricType::Counter,
        )?;
        for m in &all {
            let errors = lock(&m.series.errors).clone();
            for (kind, n) in &errors {
                let kind = escape(kind);
                ConstCounter::new(*n)
                    .encode(family.encode_family(&labels(&m.series, &[("type", &kind)]))?)?;
            }
        }
        counter_family(
            e,
            "dyn_runtime_endpoint_request",
            "Bytes of request bodies received per endpoint.",
            Some(&Unit::Bytes),
            &all,
            |s| s.request_bytes.load(Ordering::Relaxed),
        )?;
        counter_family(
            e,
            "dyn_runtime_endpoint_response",
            "Bytes of response bodies sent per endpoint.",
            Some(&Unit::Bytes),
            &all,
            |s| s.response_bytes.load(Ordering::Relaxed),
        )
    }
}
