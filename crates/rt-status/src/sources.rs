//! [`Sources`]: what the probes and the metrics read, shared by every request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rt_core::compute::ComputePool;
use rt_core::config::HealthStatus;
use rt_core::registry::Registry;
use rt_core::shutdown::ShutdownCoordinator;
use rt_core::Runtime;

/// The runtime's parts the status server reads. It holds no [`Runtime`] clone, so a server
/// that is never stopped does not keep the runtime (and its threads) alive.
#[derive(Debug)]
pub(crate) struct Sources {
    pub(crate) runtime_id: String,
    pub(crate) coordinator: ShutdownCoordinator,
    pub(crate) registry: Arc<Registry>,
    pub(crate) compute: Option<Arc<ComputePool>>,
    pub(crate) started: Instant,
    /// The readiness reported while the registry is empty: `true` = ready.
    ready_when_empty: AtomicBool,
}

impl Sources {
    pub(crate) fn new(runtime: &Runtime, starting: HealthStatus) -> Self {
        Self {
            runtime_id: runtime.id().to_owned(),
            coordinator: runtime.shutdown_coordinator().clone(),
            registry: Arc::clone(runtime.registry()),
            compute: runtime.compute_pool().cloned(),
            started: Instant::now(),
            ready_when_empty: AtomicBool::new(starting == HealthStatus::Ready),
        }
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
