//! [`Runtime`]: one handle to every process-level resource.

mod owned;
mod reach;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rt_compute::ComputePool;
use rt_config::RuntimeConfig;
use rt_shutdown::{GracefulShutdownTracker, ShutdownCoordinator, ShutdownOptions, ShutdownReport};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::drain::{DrainControl, DrainReport};
use crate::endpoint::EndpointBuilder;
use crate::error::RuntimeError;
use crate::metrics::{
    MetricsRegistry, RuntimeCollector, StallDetector, StallSettings, RUNTIME_FAMILIES,
    STALL_FAMILIES,
};
use crate::registry::Registry;

/// How long [`Runtime::initialize_all_thread_locals`] waits for busy workers.
const REACH_TIMEOUT: Duration = Duration::from_secs(10);

/// The process runtime: two tokio runtimes, the cancellation tokens, the graceful-shutdown
/// tracker and coordinator, the compute pool and the component registry, behind one cheap,
/// clonable handle.
///
/// # Construction
///
/// | constructor | tokio runtimes | config |
/// |---|---|---|
/// | [`from_settings`](Self::from_settings) | owned: primary multi-thread, secondary | [`RuntimeConfig::from_settings`] |
/// | [`from_config`](Self::from_config) | owned: primary multi-thread, secondary | given |
/// | [`single_threaded`](Self::single_threaded) | owned: one worker thread each | [`RuntimeConfig::single_threaded`] |
/// | [`from_current`](Self::from_current) | the caller's (primary = secondary) | [`RuntimeConfig::from_settings`] |
/// | [`from_handle`](Self::from_handle) | the given handle's (primary = secondary) | [`RuntimeConfig::from_settings`] |
/// | [`from_handle_with_config`](Self::from_handle_with_config) | the given handle's | given |
///
/// An **owned** runtime names its threads (`rt-primary-N`, `rt-secondary-N`, and the compute
/// pool's `compute-N`), so that `top -H` and a debugger show who is who, and installs the
/// compute context on its primary threads as they start, so that the `compute_*!` macros work
/// in every task with no further call. A **wrapped** runtime (from a handle) cannot hook thread
/// start; call [`initialize_all_thread_locals`](Self::initialize_all_thread_locals) once.
///
/// # Sharing and dropping
///
/// `Runtime` is `Clone + Send + Sync`; clones share one set of resources. When the last clone
/// of an owned runtime is dropped, its tokio runtimes shut down: from async code in the
/// background (no panic, no blocking, also on one of the runtime's own threads), from plain
/// code cleanly (every task stopped, the worker threads joined, blocking tasks waited for up to
/// the config's teardown timeout). Tasks that hold a clone keep the runtime alive: shut down
/// first ([`shutdown_and_wait`](Self::shutdown_and_wait)) so that they end.
///
/// ```
/// use rt_core::Runtime;
/// use rt_core::config::RuntimeConfig;
///
/// let config = RuntimeConfig::builder().num_worker_threads(2).compute_threads(1).build()?;
/// let runtime = Runtime::from_config(config)?;
/// let sum = runtime.primary().block_on(async {
///     // CPU work goes to the compute pool and comes back here.
///     runtime.compute(|| (1..=100u64).sum::<u64>()).await
/// })?;
/// assert_eq!(sum, 5050);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    // Declared first, so dropped first: the tokio runtimes stop before the pool goes.
    owned: Option<owned::OwnedRuntimes>,
    id: String,
    primary: Handle,
    secondary: Handle,
    config: RuntimeConfig,
    coordinator: ShutdownCoordinator,
    compute_pool: Option<Arc<ComputePool>>,
    block_permits: Arc<Semaphore>,
    block_permit_count: usize,
    registry: Arc<Registry>,
    drain: DrainControl,
    metrics: MetricsRegistry,
    fallback_logged: AtomicBool,
}

fn next_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "rt-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `block_in_place` permits for a runtime with `workers` worker threads: leave one worker for
/// async tasks, but allow at least one.
pub(crate) fn block_permits_for(workers: usize) -> usize {
    workers.saturating_sub(1).max(1)
}

/// Builds the compute pool the config asks for. A pool that is disabled (`compute_threads =
/// Some(0)`) or cannot be created leaves the runtime without one; CPU work then falls back to
/// `spawn_blocking` (see [`Runtime::compute`]).
fn build_pool(config: &RuntimeConfig) -> Option<Arc<ComputePool>> {
    let Some(compute) = config.compute_config() else {
        tracing::info!(
            "compute pool disabled (compute_threads = 0): CPU work runs on tokio's blocking pool"
        );
        return None;
    };
    match ComputePool::new(compute) {
        Ok(pool) => Some(Arc::new(pool)),
        Err(e) => {
            tracing::warn!(error = %e, "compute pool could not be created: CPU work runs on tokio's blocking pool");
            None
        }
    }
}

/// The runtime's metrics registry: its own collector, the stall detector (owned runtimes: a
/// wrapped one may run under a paused test clock, which a periodic probe would keep
/// advancing), and the metrics dump at the end of the drain when the config asks for it.
fn build_metrics(
    config: &RuntimeConfig,
    owned: bool,
    coordinator: &ShutdownCoordinator,
    registry: &Arc<Registry>,
    drain: &DrainControl,
    compute_pool: &Option<Arc<ComputePool>>,
    [primary, secondary]: [&Handle; 2],
) -> MetricsRegistry {
    let metrics = MetricsRegistry::new();
    let mut runtimes = vec![("primary", primary.clone())];
    if owned {
        runtimes.push(("secondary", secondary.clone()));
    }
    if owned && config.stall_probe_interval_ms > 0 {
        let settings = StallSettings {
            interval: Duration::from_millis(config.stall_probe_interval_ms),
            threshold: Duration::from_millis(config.stall_threshold_ms),
            log_every: Duration::from_secs(config.stall_log_interval_secs),
        };
        let detector = StallDetector::start(&runtimes, settings, &coordinator.primary_token());
        metrics.add_builtin(&STALL_FAMILIES, Box::new(detector));
    }
    metrics.add_builtin(
        &RUNTIME_FAMILIES,
        Box::new(RuntimeCollector {
            started: std::time::Instant::now(),
            coordinator: coordinator.clone(),
            registry: Arc::clone(registry),
            drain: drain.clone(),
            compute: compute_pool.clone(),
            tokio: runtimes,
        }),
    );
    if config.dump_metrics_on_shutdown {
        // Weak: the coordinator holds this task until phase 3, and the metrics hold the
        // coordinator.
        let weak = metrics.downgrade();
        coordinator.add_teardown("metrics dump", move || async move {
            let Some(metrics) = weak.upgrade() else {
                return;
            };
            match metrics.render() {
                Ok(text) => tracing::info!(
                    target: "rt_core::metrics",
                    metrics = %text,
                    "final metrics, at the end of the drain"
                ),
                Err(error) => tracing::warn!(%error, "the final metrics could not be written"),
            }
        });
    }
    metrics
}

/// Installs the compute context (pool + shared permits, or permits only) on the calling thread.
fn install_context(pool: &Option<Arc<ComputePool>>, permits: &Arc<Semaphore>) {
    match pool {
        Some(pool) => rt_compute::initialize_context(Arc::clone(pool), Arc::clone(permits)),
        None => rt_compute::initialize_block_permits(Arc::clone(permits)),
    }
}

impl Runtime {
    /// Thread-name prefix of an owned runtime's primary threads (workers and blocking
    /// threads): `rt-primary-N`.
    pub const PRIMARY_THREAD_PREFIX: &'static str = owned::PRIMARY_THREAD_PREFIX;

    /// Thread-name prefix of an owned runtime's secondary threads: `rt-secondary-N`.
    pub const SECONDARY_THREAD_PREFIX: &'static str = owned::SECONDARY_THREAD_PREFIX;

    // ----- construction -------------------------------------------------------------------

    /// Loads [`RuntimeConfig::from_settings`] (defaults, TOML files, environment) and builds an
    /// owned runtime from it (see [`from_config`](Self::from_config)).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Config`] when the configuration does not load or validate (the message
    /// names the key, value and source); the errors of [`from_config`](Self::from_config).
    pub fn from_settings() -> Result<Self, RuntimeError> {
        Self::from_config(RuntimeConfig::from_settings()?)
    }

    /// Builds an owned runtime from `config`:
    ///
    /// - a **primary** multi-thread tokio runtime with `num_worker_threads` workers (default:
    ///   the available cores) and at most `max_blocking_threads` blocking threads, threads
    ///   named `rt-primary-N`;
    /// - a **secondary** multi-thread runtime with one worker (two when the primary has four or
    ///   more), threads named `rt-secondary-N`, for background work that must not compete with
    ///   requests;
    /// - the compute pool (`compute_threads`, `compute_stack_size`, `compute_thread_prefix`,
    ///   ...), unless disabled with `compute_threads = 0` or not creatable;
    /// - `block_in_place` permits: `max(workers - 1, 1)`, shared by all threads.
    ///
    /// The compute context (pool + permits) is installed from tokio's `on_thread_start` hook on
    /// every thread the primary runtime starts. In tokio, worker threads *are* started by the
    /// blocking pool (and `block_in_place` hands a worker's role to a fresh blocking-pool
    /// thread), so a thread's future role is unknown when it starts: installing on every
    /// primary thread is what makes every current and future worker have the context. On a
    /// thread that ends up running `spawn_blocking` work the context is harmless.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Config`] when `config` does not validate; [`RuntimeError::RuntimeBuild`]
    /// when the operating system refuses the threads. A compute pool that cannot be created is
    /// not an error (see above).
    pub fn from_config(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        config.validate()?;
        let workers = config.resolved_num_worker_threads();
        Self::build_owned(config, workers)
    }

    /// Two owned runtimes with one worker thread each, from
    /// [`RuntimeConfig::single_threaded`]: for debugging and single-core machines.
    ///
    /// Each is a multi-thread tokio runtime restricted to one worker: every task runs on that
    /// one thread, and unlike tokio's `current_thread` flavour it runs without anyone calling
    /// `block_on`, timers and I/O keep working from any thread, and `block_in_place` (one
    /// permit) is allowed.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub fn single_threaded() -> Result<Self, RuntimeError> {
        let config = RuntimeConfig::single_threaded();
        config.validate()?;
        Self::build_owned(config, 1)
    }

    fn build_owned(config: RuntimeConfig, workers: usize) -> Result<Self, RuntimeError> {
        let pool = build_pool(&config);
        let permit_count = block_permits_for(workers);
        let permits = Arc::new(Semaphore::new(permit_count));
        let (p, s) = (pool.clone(), Arc::clone(&permits));
        // A drop from sync code waits for blocking tasks up to the teardown timeout.
        let (owned, primary, secondary) = owned::OwnedRuntimes::build(
            owned::PrimarySpec {
                workers,
                max_blocking: config.max_blocking_threads,
                on_thread_start: Arc::new(move || install_context(&p, &s)),
            },
            config.teardown_timeout(),
        )?;
        Self::assemble(
            config,
            Some(owned),
            primary,
            secondary,
            pool,
            permits,
            permit_count,
        )
    }

    /// Wraps the tokio runtime of the calling thread (primary and secondary are both its
    /// handle), with the configuration from [`RuntimeConfig::from_settings`] (compute pool,
    /// timeouts). Nothing is spawned and no thread is started apart from the compute pool's.
    ///
    /// The compute context is not on the wrapped runtime's workers yet: call
    /// [`initialize_all_thread_locals`](Self::initialize_all_thread_locals).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NoCurrentRuntime`] outside a tokio runtime; [`RuntimeError::Config`].
    pub fn from_current() -> Result<Self, RuntimeError> {
        let handle = Handle::try_current().map_err(|_| RuntimeError::NoCurrentRuntime)?;
        Self::from_handle(handle)
    }

    /// Wraps `handle`'s runtime, as [`from_current`](Self::from_current) does the caller's.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Config`] when the settings do not load or validate.
    pub fn from_handle(handle: Handle) -> Result<Self, RuntimeError> {
        Self::from_handle_with_config(handle, RuntimeConfig::from_settings()?)
    }

    /// Wraps `handle`'s runtime with an explicit configuration. The tokio-related fields
    /// (`num_worker_threads`, `max_blocking_threads`) are ignored: the wrapped runtime is
    /// already built; `block_in_place` permits follow its actual worker count.
    ///
    /// ```
    /// use rt_core::Runtime;
    /// use rt_core::config::RuntimeConfig;
    ///
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), rt_core::RuntimeError> {
    /// let config = RuntimeConfig::builder().compute_threads(1).build()?;
    /// let runtime = Runtime::from_handle_with_config(tokio::runtime::Handle::current(), config)?;
    /// runtime.initialize_all_thread_locals().await?;
    /// let on_worker = tokio::spawn(async { rt_core::compute::has_compute_context() }).await;
    /// assert!(on_worker.unwrap_or(false));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Config`] when `config` does not validate.
    pub fn from_handle_with_config(
        handle: Handle,
        config: RuntimeConfig,
    ) -> Result<Self, RuntimeError> {
        config.validate()?;
        let pool = build_pool(&config);
        let permit_count = match handle.runtime_flavor() {
            RuntimeFlavor::MultiThread => block_permits_for(handle.metrics().num_workers()),
            // tokio forbids block_in_place on a current-thread runtime: medium work goes to
            // the pool instead.
            _ => 0,
        };
        let permits = Arc::new(Semaphore::new(permit_count));
        Self::assemble(
            config,
            None,
            handle.clone(),
            handle,
            pool,
            permits,
            permit_count,
        )
    }

    fn assemble(
        config: RuntimeConfig,
        owned: Option<owned::OwnedRuntimes>,
        primary: Handle,
        secondary: Handle,
        compute_pool: Option<Arc<ComputePool>>,
        block_permits: Arc<Semaphore>,
        block_permit_count: usize,
    ) -> Result<Self, RuntimeError> {
        let options = ShutdownOptions::from(&config).with_handle(secondary.clone());
        let coordinator = ShutdownCoordinator::new(options);
        let drain = DrainControl::new(
            coordinator.clone(),
            secondary.clone(),
            config.teardown_timeout(),
            config.graceful_shutdown_timeout(),
        );
        let id = next_id();
        let registry = Arc::new(Registry::new());
        let metrics = build_metrics(
            &config,
            owned.is_some(),
            &coordinator,
            &registry,
            &drain,
            &compute_pool,
            [&primary, &secondary],
        );
        tracing::info!(runtime = %id, owned = owned.is_some(), config = %config, "runtime ready");
        Ok(Self {
            inner: Arc::new(Inner {
                owned,
                id,
                primary,
                secondary,
                config,
                coordinator,
                compute_pool,
                block_permits,
                block_permit_count,
                registry,
                drain,
                metrics,
                fallback_logged: AtomicBool::new(false),
            }),
        })
    }

    // ----- accessors ----------------------------------------------------------------------

    /// This runtime's identifier, unique within the process (`rt-<pid>-<n>`); clones share it.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The primary tokio runtime: application tasks and endpoints.
    pub fn primary(&self) -> Handle {
        self.inner.primary.clone()
    }

    /// The secondary tokio runtime: background work (signal handling, the status server,
    /// connections to coordination services) that must not compete with request traffic.
    /// For a wrapped runtime it is the same as [`primary`](Self::primary).
    pub fn secondary(&self) -> Handle {
        self.inner.secondary.clone()
    }

    /// Whether this runtime owns its tokio runtimes (built them) or wraps a handle.
    pub fn is_owned(&self) -> bool {
        self.inner.owned.is_some()
    }

    /// The configuration this runtime was built from.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The main token: cancelled in phase 3 of the shutdown (global termination, disconnect
    /// backends). Background tasks that must outlive the drain watch this one.
    pub fn primary_token(&self) -> CancellationToken {
        self.inner.coordinator.primary_token()
    }

    /// A new child of the endpoint-shutdown token: cancelled in phase 1 (stop accepting new
    /// requests), and also when the main token is cancelled. Cancelling the returned token
    /// affects only it (and its children).
    pub fn child_token(&self) -> CancellationToken {
        self.inner.coordinator.child_token()
    }

    /// The tracker that phase 2 waits on: graceful endpoints and tracked tasks.
    pub fn graceful_shutdown_tracker(&self) -> Arc<GracefulShutdownTracker> {
        self.inner.coordinator.tracker()
    }

    /// The coordinator of the three shutdown phases: its phase
    /// ([`phase`](ShutdownCoordinator::phase), [`subscribe`](ShutdownCoordinator::subscribe)),
    /// teardown work for phase 3 ([`add_teardown`](ShutdownCoordinator::add_teardown): a status
    /// server on the secondary runtime stops there), whether it started
    /// ([`is_shutdown_started`](ShutdownCoordinator::is_shutdown_started)), and the waits with a
    /// deadline ([`shutdown_and_wait_until`](ShutdownCoordinator::shutdown_and_wait_until)).
    pub fn shutdown_coordinator(&self) -> &ShutdownCoordinator {
        &self.inner.coordinator
    }

    /// The compute pool, unless disabled (`compute_threads = 0`) or not creatable.
    pub fn compute_pool(&self) -> Option<&Arc<ComputePool>> {
        self.inner.compute_pool.as_ref()
    }

    /// The number of `block_in_place` permits shared by this runtime's worker threads:
    /// `max(workers - 1, 1)` (0 on a wrapped current-thread runtime, where tokio forbids it).
    pub fn block_in_place_permits(&self) -> usize {
        self.inner.block_permit_count
    }

    /// The component registry of this runtime: every component and endpoint with its state.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The drain control: take the process out of rotation without ending it, and bring it
    /// back ([`DrainControl`]); its state, its hooks (rt-discovery adds one), the drain that
    /// returns at once ([`DrainControl::drain`]).
    pub fn drain_control(&self) -> &DrainControl {
        &self.inner.drain
    }

    /// The metrics of this runtime, which the status server's `/metrics` shows: the runtime's
    /// own, every endpoint's, and what the application registers there (see
    /// [`metrics`](crate::metrics)).
    pub fn metrics(&self) -> &MetricsRegistry {
        &self.inner.metrics
    }

    /// Shuts the owned tokio runtimes down within `bound` (both together) when this is the
    /// last clone, and returns how many of their threads were still running (busy in blocking
    /// work, abandoned) when the bound ran out. `None` when another clone is still alive (its
    /// last drop then waits up to `bound`), when the runtime is wrapped, or from async code.
    pub(crate) fn shut_down_within(self, bound: Duration) -> Option<usize> {
        let inner = self.inner;
        if let Some(owned) = &inner.owned {
            owned.set_shutdown_bound(bound);
        }
        let mut inner = Arc::try_unwrap(inner).ok()?;
        let left = inner
            .owned
            .as_mut()
            .and_then(|owned| owned.shut_down(bound));
        // The tokio runtimes are stopped; the compute pool goes with the rest of `inner`.
        drop(inner);
        left
    }

    // ----- work -----------------------------------------------------------------------------

    /// Runs the CPU-bound `f` off the async workers and returns its result: on the compute
    /// pool, or, when the runtime has none, on the primary runtime's blocking pool
    /// (`spawn_blocking`; logged once per runtime). The routing is
    /// [`spawn_compute_on`](rt_compute::spawn_compute_on)'s.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before the job started means it does not run on the pool; a job
    /// already running finishes and its result is dropped. On the blocking-pool fallback a job
    /// runs to completion even if the future is dropped.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Compute`] when `f` panicked (the pool keeps working) or the job was lost
    /// unrun (the pool's threads, or the primary runtime, went away).
    pub async fn compute<F, R>(&self, f: F) -> Result<R, RuntimeError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.inner.compute_pool.as_deref();
        if pool.is_none() && !self.inner.fallback_logged.swap(true, Ordering::Relaxed) {
            tracing::info!(runtime = %self.inner.id, "no compute pool: CPU work routed through the runtime runs on tokio's blocking pool (spawn_blocking)");
        }
        Ok(rt_compute::spawn_compute_on(pool, &self.inner.primary, f).await?)
    }

    /// Starts building an endpoint named `name` (see [`EndpointBuilder`]).
    pub fn endpoint(&self, name: impl Into<String>) -> EndpointBuilder {
        EndpointBuilder::new(
            name.into(),
            self.inner.primary.clone(),
            self.inner.coordinator.clone(),
            Arc::clone(&self.inner.registry),
            self.inner.drain.clone(),
            self.inner.metrics.endpoints().clone(),
        )
    }

    // ----- thread-local compute context ---------------------------------------------------

    /// Installs this runtime's compute context (pool and `block_in_place` permits) on the
    /// calling thread. Idempotent. Owned runtimes do this on every primary thread by
    /// themselves.
    pub fn initialize_thread_local(&self) {
        install_context(&self.inner.compute_pool, &self.inner.block_permits);
    }

    /// Installs the compute context on **every worker thread** of the primary runtime, and
    /// returns once each one has it. Meant for wrapped runtimes; harmless on owned ones.
    ///
    /// It spawns one task per worker, each installing the context and then holding its thread
    /// until all have arrived, so that the tasks provably ran on that many distinct workers.
    /// The workers are held (blocked) for that moment only; call it at startup.
    ///
    /// The context holds a reference to the pool: on a wrapped runtime, the pool lives as long
    /// as the wrapped runtime's threads do.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops waiting; workers already reached keep the context (installing
    /// it again is harmless), and the tasks holding workers give up at their own 10 s bound.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::ThreadLocalInit`] when some workers stayed busy for 10 s (a task that
    /// blocks without yielding), naming how many were reached.
    pub async fn initialize_all_thread_locals(&self) -> Result<(), RuntimeError> {
        let (pool, permits) = (
            self.inner.compute_pool.clone(),
            Arc::clone(&self.inner.block_permits),
        );
        let reached = reach::on_every_worker(
            &self.inner.primary,
            move || install_context(&pool, &permits),
            REACH_TIMEOUT,
        )
        .await?;
        tracing::debug!(runtime = %self.inner.id, workers = reached, "compute context installed on every worker");
        Ok(())
    }

    // ----- shutdown -------------------------------------------------------------------------

    /// Starts the three-phase shutdown and returns at once; idempotent; callable from sync and
    /// async code. Phase 1 cancels the endpoint token (endpoints stop accepting), phase 2 waits
    /// for the tracker (bounded by the graceful shutdown timeout), phase 3 cancels the main
    /// token and runs the teardown work. The phases run on the secondary runtime.
    ///
    /// Every endpoint refuses new requests from the moment this returns (their counters are
    /// closed in phase 1, before the endpoint token is cancelled).
    pub fn shutdown(&self) {
        self.inner.coordinator.shutdown();
    }

    /// Runs (or joins, when already started) the three phases and returns when phase 3 is
    /// done, with the report: how far each phase got, how long each took, and what was still
    /// active when a deadline hit. `timeout` bounds the whole shutdown (`None`: the config's
    /// graceful timeout for phase 2 plus the teardown timeout for phase 3). For one absolute
    /// deadline use [`ShutdownCoordinator::shutdown_and_wait_until`] on
    /// [`shutdown_coordinator`](Self::shutdown_coordinator).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future does not stop the shutdown, which goes
    /// on in the background (the deadline it gave still applies).
    pub async fn shutdown_and_wait(&self, timeout: Option<Duration>) -> ShutdownReport {
        self.inner.coordinator.shutdown_and_wait(timeout).await
    }

    // ----- drain without exit ----------------------------------------------------------------

    /// Takes the process out of rotation without ending it, and waits until it is drained:
    /// every endpoint refuses new requests from the first poll on (rt-http answers 503, so
    /// routers retry elsewhere), the drain hooks run (rt-discovery deletes this process's
    /// keys), and the requests admitted before finish; then the state is
    /// [`Drained`](crate::drain::DrainState::Drained) and the process idles, alive, until
    /// [`resume`](Self::resume) or a shutdown. `timeout` bounds the wait (`None`: the graceful
    /// shutdown timeout); the drain itself goes on past it. See [`DrainControl`].
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: the drain goes on in the background; dropping the future
    /// only stops the waiting.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::DrainDuringShutdown`] once the shutdown has started.
    pub async fn drain(&self, timeout: Option<Duration>) -> Result<DrainReport, RuntimeError> {
        self.inner.drain.drain_and_wait(timeout).await
    }

    /// Puts the process back in rotation: endpoints accept requests again at once, then the
    /// hooks run (rt-discovery registers every endpoint again, under a new instance id); returns
    /// once they are done. Idempotent. See [`DrainControl::resume`].
    ///
    /// # Cancel safety
    ///
    /// As [`DrainControl::resume`]: the endpoints accept again before the first await.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::DrainDuringShutdown`] once the shutdown has started.
    pub async fn resume(&self) -> Result<DrainReport, RuntimeError> {
        self.inner.drain.resume().await
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.inner.id)
            .field("owned", &self.inner.owned.is_some())
            .field(
                "compute_threads",
                &self.inner.compute_pool.as_ref().map(|p| p.num_threads()),
            )
            .field("block_in_place_permits", &self.inner.block_permit_count)
            .field("shutdown_phase", &self.inner.coordinator.phase())
            .field("drain_state", &self.inner.drain.state())
            .finish_non_exhaustive()
    }
}
