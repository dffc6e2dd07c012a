//! [`Sources`]: what the probes and the metrics read, shared by every request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rt_core::config::HealthStatus;
use rt_core::drain::DrainControl;
use rt_core::metrics::MetricsRegistry;
use rt_core::registry::Registry;
use rt_core::shutdown::ShutdownCoordinator;
use rt_core::Runtime;
use rt_http::{HttpMetrics, Server};

/// The runtime's parts the status server reads. It holds no [`Runtime`] clone, so a server
/// that is never stopped does not keep the runtime (and its threads) alive.
#[derive(Debug)]
pub(crate) struct Sources {
    pub(crate) runtime_id: String,
    pub(crate) coordinator: ShutdownCoordinator,
    pub(crate) registry: Arc<Registry>,
    pub(crate) drain: DrainControl,
    /// The runtime's metrics, which `/metrics` renders after the HTTP families.
    pub(crate) metrics: MetricsRegistry,
    pub(crate) started: Instant,
    /// The readiness reported while the registry is empty: `true` = ready.
    ready_when_empty: AtomicBool,
    /// The HTTP servers whose edge metrics `/metrics` shows, by name, in the order added.
    http: Mutex<Vec<(String, Server)>>,
}

/// One HTTP server's counters at a scrape.
#[derive(Debug)]
pub(crate) struct HttpSample {
    pub(crate) name: String,
    pub(crate) metrics: HttpMetrics,
    pub(crate) in_flight: usize,
}

impl Sources {
    pub(crate) fn new(runtime: &Runtime, starting: HealthStatus) -> Self {
        Self {
            runtime_id: runtime.id().to_owned(),
            coordinator: runtime.shutdown_coordinator().clone(),
            registry: Arc::clone(runtime.registry()),
            drain: runtime.drain_control().clone(),
            metrics: runtime.metrics().clone(),
            started: Instant::now(),
            ready_when_empty: AtomicBool::new(starting == HealthStatus::Ready),
            http: Mutex::new(Vec::new()),
        }
    }

    /// Shows `server`'s metrics under `name`, replacing a server added under the same name.
    pub(crate) fn add_http(&self, name: String, server: Server) {
        let mut http = self.http.lock().unwrap_or_else(PoisonError::into_inner);
        match http.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = server,
            None => http.push((name, server)),
        }
    }

    /// The HTTP servers' counters now, in the order they were added.
    pub(crate) fn http_samples(&self) -> Vec<HttpSample> {
        self.http
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, server)| HttpSample {
                name: name.clone(),
                metrics: server.metrics(),
                in_flight: server.in_flight(),
            })
            .collect()
    }

    pub(crate) fn health_status_when_empty(&self) -> HealthStatus {
        if self.ready_when_empty.load(Ordering::Acquire) {
            HealthStatus::Ready
        } else {
            HealthStatus::NotReady
        }
    }

    pub(crate) fn set_health_status_when_empty(&self, status: HealthStatus) {
        self.ready_when_empty
            .store(status == HealthStatus::Ready, Ordering::Release);
    }
}
