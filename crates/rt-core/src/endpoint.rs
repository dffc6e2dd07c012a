//! Endpoints: request-serving components that take part in the graceful shutdown (see
//! [`EndpointBuilder`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use rt_shutdown::{GracefulTaskGuard, InFlight, InFlightGuard, ShutdownCoordinator};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::{ComponentKind, ComponentState};
use crate::drain::{DrainControl, Gate, Refused};
use crate::error::{BoxError, NotAcceptingReason, RuntimeError};
use crate::metrics::{EndpointFamilies, EndpointMetrics, RequestOutcome, TrackedRequest};
use crate::registry::{Entry, Registry};
use crate::unwind::panic_message;

/// What an endpoint, its context and its handle share.
struct Shared {
    entry: Arc<Entry>,
    /// The endpoint's own token: a child of the runtime's endpoint-shutdown token.
    token: CancellationToken,
    /// The endpoint's one drain counter (the registry entry reads the same one), behind the
    /// pause a drain without exit sets.
    gate: Arc<Gate>,
    /// To tell "shutdown" from "stopped" when a request is refused.
    coordinator: ShutdownCoordinator,
    graceful: bool,
    /// The endpoint's series on the runtime's metrics.
    metrics: EndpointMetrics,
}

impl Shared {
    /// Closes the counter first, so that no request is admitted once the token is cancelled.
    fn stop(&self) {
        self.in_flight().close();
        self.token.cancel();
    }

    fn in_flight(&self) -> &InFlight {
        self.gate.in_flight()
    }

    /// Why a request was refused; computed only on a refusal.
    fn refusal(&self, refused: Refused) -> NotAcceptingReason {
        if self.coordinator.is_shutdown_started() {
            NotAcceptingReason::ShutdownStarted
        } else if refused == Refused::Paused {
            NotAcceptingReason::Drained
        } else {
            NotAcceptingReason::EndpointStopped
        }
    }
}

/// Configures an endpoint before it starts; made by [`Runtime::endpoint`](crate::Runtime::endpoint).
///
/// Endpoints are request-serving components that take part in the graceful shutdown.
/// [`Runtime::endpoint`](crate::Runtime::endpoint) names one, [`start`](Self::start) runs it on
/// the primary runtime. Starting one:
///
/// 1. registers it in the [registry](crate::registry) (state `running`; a second live endpoint of
///    the same name is refused);
/// 2. for a *graceful* endpoint (the default), registers it in the
///    [graceful-shutdown tracker](crate::shutdown::GracefulShutdownTracker), so that phase 2
///    of the shutdown waits for it;
/// 3. calls the closure with an [`EndpointContext`], which carries the endpoint's child token
///    and hands out one [`InFlightGuard`] per request.
///
/// Each endpoint owns one drain counter, an [`InFlight`](crate::shutdown::InFlight): every
/// request is counted once, there, and the registry's snapshot reads the same number. Phase 1
/// of the shutdown closes it synchronously (before [`Runtime::shutdown`](crate::Runtime::shutdown)
/// returns), and so does [`EndpointHandle::stop`]; then the endpoint's token is cancelled and
/// the endpoint moves to `draining`: [`EndpointContext::begin_request`] refuses new requests, the
/// closure's future is expected to return (it should watch [`EndpointContext::cancelled`]), and
/// the requests in flight finish. Only when the future has returned **and** every guard is
/// dropped does the endpoint release its tracker registration and become `stopped` (or
/// `failed`, if the future returned an error or panicked). Guards are RAII: a request task that
/// panics or is aborted releases its guard too, so a failing endpoint cannot hold up the
/// shutdown past the requests that are really still running. A server closes its listener on
/// the same drain, [`EndpointContext::drained`], and keeps no count of its own.
///
/// A non-graceful endpoint (`graceful_shutdown(false)`) goes through the same states but is not
/// in the tracker: phase 2 does not wait for it, and its requests still running at phase 3 are
/// cut off with the runtime.
///
/// ```
/// use rt_core::{Runtime, RuntimeError};
/// use rt_core::config::RuntimeConfig;
/// use rt_core::registry::ComponentState;
/// use tokio::sync::{mpsc, oneshot};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = RuntimeConfig::builder().num_worker_threads(2).compute_threads(0).build()?;
/// let runtime = Runtime::from_config(config)?;
/// let rt = runtime.clone();
/// runtime.primary().block_on(async move {
///     let (tx, mut rx) = mpsc::channel::<(u32, oneshot::Sender<u32>)>(16);
///     let endpoint = rt.endpoint("double").start(|ctx| async move {
///         loop {
///             let (n, reply) = tokio::select! {
///                 _ = ctx.cancelled() => break,           // phase 1: stop accepting
///                 request = rx.recv() => match request { Some(r) => r, None => break },
///             };
///             let guard = ctx.begin_request()?;           // counted as in flight
///             tokio::spawn(async move {
///                 let _guard = guard;                     // released when the reply is sent
///                 let _ = reply.send(n * 2);
///             });
///         }
///         Ok::<(), RuntimeError>(())
///     })?;
///     let (reply, answer) = oneshot::channel();
///     tx.send((21, reply)).await?;
///     assert_eq!(answer.await?, 42);
///     let report = rt.shutdown_and_wait(None).await;      // waits for the endpoint's drain
///     assert!(report.is_clean(), "{report}");
///     assert_eq!(endpoint.state(), ComponentState::Stopped);
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })
/// # }
/// ```
#[must_use = "an endpoint does nothing until `start` is called"]
pub struct EndpointBuilder {
    name: String,
    graceful: bool,
    primary: Handle,
    coordinator: ShutdownCoordinator,
    registry: Arc<Registry>,
    drain: DrainControl,
    families: EndpointFamilies,
    namespace: Option<String>,
    component: Option<String>,
}

impl EndpointBuilder {
    /// A builder for an endpoint named `name`, spawned on `primary`, shut down by
    /// `coordinator`, registered in `registry`, paused by `drain` (the parts of a runtime it
    /// needs).
    pub(crate) fn new(
        name: String,
        primary: Handle,
        coordinator: ShutdownCoordinator,
        registry: Arc<Registry>,
        drain: DrainControl,
        families: EndpointFamilies,
    ) -> Self {
        Self {
            name,
            graceful: true,
            primary,
            coordinator,
            registry,
            drain,
            families,
            namespace: None,
            component: None,
        }
    }

    /// Adds the `namespace` label to the endpoint's metrics (`dyn_runtime_endpoint_*`), as
    /// discovery names it (`namespace/component/endpoint`). Without it the label is absent.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Adds the `component` label to the endpoint's metrics, as discovery names it. Without it
    /// the label is absent.
    pub fn component(mut self, component: impl Into<String>) -> Self {
        self.component = Some(component.into());
        self
    }

    /// Whether phase 2 of the shutdown waits for this endpoint's drain (default `true`).
    ///
    /// With `false` the endpoint still stops accepting in phase 1 and still counts its
    /// requests, but the shutdown does not wait for them.
    pub fn graceful_shutdown(mut self, graceful: bool) -> Self {
        self.graceful = graceful;
        self
    }

    /// Starts the endpoint on the primary runtime: `serve` is called at once with the
    /// endpoint's context and the future it returns is spawned. Callable from sync and async
    /// code.
    ///
    /// The future should return when [`EndpointContext::cancelled`] fires (after handing its
    /// last accepted requests their guards). `Ok(())` ends the endpoint `stopped`, an error or
    /// a panic ends it `failed` with the error.
    ///
    /// # Errors
    ///
    /// - [`RuntimeError::DuplicateName`] when a live endpoint or component has this name;
    /// - [`RuntimeError::ShuttingDown`] when the shutdown has already started.
    pub fn start<F, Fut, E>(self, serve: F) -> Result<EndpointHandle, RuntimeError>
    where
        F: FnOnce(EndpointContext) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let EndpointBuilder {
            name,
            graceful,
            primary,
            coordinator,
            registry,
            drain,
            families,
            namespace,
            component,
        } = self;
        let shutting_down = || RuntimeError::ShuttingDown {
            what: format!("starting endpoint `{name}`"),
        };
        if coordinator.is_shutdown_started() {
            return Err(shutting_down());
        }
        let in_flight = InFlight::new();
        let entry = registry.insert(
            name.clone(),
            ComponentKind::Endpoint,
            Some(in_flight.clone()),
        )?;
        let tracker_guard = if graceful {
            match coordinator
                .tracker()
                .register_task(format!("endpoint {name}"))
            {
                Ok(guard) => Some(guard),
                Err(e) => {
                    let _ = entry.fail(format!("not started: {e}"));
                    return Err(shutting_down());
                }
            }
        } else {
            None
        };
        // Closed in phase 1 before the endpoint token is cancelled, or at once if the shutdown
        // started since the check above (the token below is then born cancelled too).
        coordinator.close_on_shutdown(in_flight.clone());
        let metrics = families.endpoint(&name, namespace.as_deref(), component.as_deref());
        let shared = Arc::new(Shared {
            entry,
            token: coordinator.child_token(),
            gate: drain.gate(in_flight),
            coordinator,
            graceful,
            metrics,
        });
        let ctx = EndpointContext {
            shared: Arc::clone(&shared),
        };
        let future = serve(ctx);
        // Registered -> Running cannot fail: the entry is new and nobody else holds it.
        let _ = shared.entry.transition(ComponentState::Running);
        tracing::info!(endpoint = %name, graceful, "endpoint running");
        let user = primary.spawn(async move { future.await.map_err(Into::into) });
        let supervisor = primary.spawn(supervise(Arc::clone(&shared), user, tracker_guard));
        Ok(EndpointHandle { shared, supervisor })
    }
}

impl fmt::Debug for EndpointBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointBuilder")
            .field("name", &self.name)
            .field("graceful", &self.graceful)
            .finish_non_exhaustive()
    }
}

/// Watches one endpoint: its token, its future, its requests; records its states.
async fn supervise(
    shared: Arc<Shared>,
    mut user: JoinHandle<Result<(), BoxError>>,
    tracker_guard: Option<GracefulTaskGuard>,
) -> Result<(), RuntimeError> {
    let name = shared.entry.name().to_owned();
    let result = tokio::select! {
        biased;
        result = &mut user => result,
        () = shared.token.cancelled() => {
            // Already closed by phase 1 or `stop`; not when only a parent token was cancelled.
            shared.in_flight().close();
            let _ = shared.entry.transition(ComponentState::Draining);
            tracing::info!(endpoint = %name, in_flight = shared.in_flight().count(), "endpoint draining");
            user.await
        }
    };
    shared.in_flight().close();
    if shared.entry.state() == ComponentState::Running {
        let _ = shared.entry.transition(ComponentState::Draining);
    }
    shared.in_flight().drained().await;
    let outcome = match result {
        Ok(Ok(())) => {
            let _ = shared.entry.transition(ComponentState::Stopped);
            tracing::info!(endpoint = %name, "endpoint stopped");
            Ok(())
        }
        Ok(Err(error)) => Err(error.to_string()),
        Err(join) if join.is_panic() => Err(format!(
            "panicked: {}",
            panic_message(join.into_panic().as_ref())
        )),
        Err(_) => Err("its task was cancelled (the runtime shut down)".to_owned()),
    };
    // Released only now: the drain is over.
    drop(tracker_guard);
    outcome.map_err(|error| {
        let _ = shared.entry.fail(error.clone());
        RuntimeError::EndpointFailed { name, error }
    })
}

/// What an endpoint's closure gets: its token and its in-flight accounting. Cheap to clone;
/// clones can move into request tasks.
#[derive(Clone)]
pub struct EndpointContext {
    shared: Arc<Shared>,
}

impl EndpointContext {
    /// The endpoint's name.
    pub fn name(&self) -> &str {
        self.shared.entry.name()
    }

    /// The endpoint's token: a child of the runtime's endpoint-shutdown token, cancelled in
    /// phase 1 of the shutdown or by [`EndpointHandle::stop`].
    pub fn token(&self) -> CancellationToken {
        self.shared.token.clone()
    }

    /// Resolves when the endpoint must stop accepting.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only waits on the endpoint's token, so dropping the
    /// future loses nothing, and a new call waits afresh (or returns at once).
    pub async fn cancelled(&self) {
        self.shared.token.cancelled().await;
    }

    /// Stops this endpoint from inside, as [`EndpointHandle::stop`] does from outside: new
    /// requests are refused from the moment this returns, then the token is cancelled and the
    /// endpoint drains. Idempotent; returns at once.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Whether a request would be accepted now: not once the endpoint stopped accepting
    /// (shutdown, stop), and not while the process is drained or draining.
    pub fn is_accepting(&self) -> bool {
        self.shared.gate.is_open()
    }

    /// Counts one request as in flight until the returned guard is dropped (also on panic
    /// and abort of the task holding it).
    ///
    /// One atomic read-modify-write ([`InFlight::try_enter`](crate::shutdown::InFlight::try_enter)),
    /// which also reads the closed and paused flags, and no recheck: a request admitted here is one the
    /// endpoint's drain (and a [drain without exit](crate::drain)) waits for, a request refused
    /// here is not counted. Refused from the moment [`Runtime::shutdown`](crate::Runtime::shutdown)
    /// (or a signal's shutdown) or [`EndpointHandle::stop`] returned, once the endpoint's
    /// future has returned, and while the process is drained
    /// ([`DrainControl::drain`](crate::drain::DrainControl::drain) returned, until a resume).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NotAccepting`] once the shutdown has started (phase 1), the endpoint
    /// has stopped, or while the process is drained; the request was not counted and should
    /// be refused to its client.
    ///
    /// A refusal is counted in the endpoint's metrics (`outcome="refused"`); an admitted
    /// request is not (use [`begin_tracked_request`](Self::begin_tracked_request) for its
    /// outcome and duration).
    pub fn begin_request(&self) -> Result<InFlightGuard, RuntimeError> {
        self.shared.gate.try_enter().map_err(|refused| {
            self.shared
                .metrics
                .record(RequestOutcome::Refused, std::time::Duration::ZERO);
            RuntimeError::NotAccepting {
                endpoint: self.name().to_owned(),
                reason: self.shared.refusal(refused),
            }
        })
    }

    /// As [`begin_request`](Self::begin_request), and the request is counted in the
    /// endpoint's metrics when it ends: [`TrackedRequest::finish`] counts it `ok` (or
    /// `error` after [`TrackedRequest::fail`]), a drop without `finish` counts it `cancelled`;
    /// its duration (admission to end) goes into the duration histogram.
    ///
    /// ```
    /// use rt_core::metrics::RequestOutcome;
    /// use rt_core::{config::RuntimeConfig, Runtime, RuntimeError};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = RuntimeConfig::builder().num_worker_threads(1).compute_threads(0).build()?;
    /// let runtime = Runtime::from_config(config)?;
    /// let rt = runtime.clone();
    /// runtime.primary().block_on(async move {
    ///     let (tx, rx) = tokio::sync::oneshot::channel();
    ///     let endpoint = rt.endpoint("echo").start(|ctx| async move {
    ///         let request = ctx.begin_tracked_request()?;
    ///         request.finish();                        // served: counted `ok`
    ///         let mut failed = ctx.begin_tracked_request()?;
    ///         failed.fail("timeout");                  // counted `error`, type `timeout`
    ///         failed.finish();
    ///         drop(ctx.begin_tracked_request()?);      // given up: counted `cancelled`
    ///         let _ = tx.send(ctx.metrics().clone());
    ///         ctx.cancelled().await;
    ///         Ok::<(), RuntimeError>(())
    ///     })?;
    ///     let metrics = rx.await?;
    ///     assert_eq!(metrics.requests(RequestOutcome::Ok), 1);
    ///     assert_eq!(metrics.requests(RequestOutcome::Error), 1);
    ///     assert_eq!(metrics.requests(RequestOutcome::Cancelled), 1);
    ///     assert_eq!(metrics.errors("timeout"), 1);
    ///     assert_eq!(metrics.durations_observed(), 3);
    ///     rt.shutdown_and_wait(None).await;
    ///     endpoint.stopped().await?;
    ///     Ok::<(), Box<dyn std::error::Error>>(())
    /// })
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`begin_request`](Self::begin_request).
    pub fn begin_tracked_request(&self) -> Result<TrackedRequest, RuntimeError> {
        let guard = self.begin_request()?;
        Ok(self.shared.metrics.track(guard))
    }

    /// The endpoint's metrics: its series of the `dyn_runtime_endpoint_*` families.
    pub fn metrics(&self) -> &EndpointMetrics {
        &self.shared.metrics
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight().count()
    }

    /// Resolves once the endpoint has stopped accepting **and** no request is in flight: the
    /// endpoint's own drain ([`InFlight::drained`](crate::shutdown::InFlight::drained)). A
    /// server keeps accepting connections (answering new requests with a refusal) until this
    /// resolves, then closes its listener; it needs no count of its own.
    ///
    /// Before the endpoint stops accepting this does not resolve, however idle it is, so a
    /// server may select on it for its whole life.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future loses nothing, and a new call waits
    /// afresh (or returns at once once the drain is over).
    pub async fn drained(&self) {
        self.shared.in_flight().drained().await;
    }
}

impl fmt::Debug for EndpointContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointContext")
            .field("name", &self.name())
            .field("accepting", &self.is_accepting())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// A started endpoint. Dropping the handle leaves the endpoint running (it stops with the
/// runtime's shutdown).
pub struct EndpointHandle {
    shared: Arc<Shared>,
    supervisor: JoinHandle<Result<(), RuntimeError>>,
}

impl EndpointHandle {
    /// The endpoint's name.
    pub fn name(&self) -> &str {
        self.shared.entry.name()
    }

    /// Its lifecycle state now.
    pub fn state(&self) -> ComponentState {
        self.shared.entry.state()
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight().count()
    }

    /// The endpoint's metrics (see [`EndpointContext::metrics`]).
    pub fn metrics(&self) -> &EndpointMetrics {
        &self.shared.metrics
    }

    /// Whether phase 2 of the shutdown waits for it.
    pub fn is_graceful(&self) -> bool {
        self.shared.graceful
    }

    /// The endpoint's token (see [`EndpointContext::token`]).
    pub fn token(&self) -> CancellationToken {
        self.shared.token.clone()
    }

    /// Stops this endpoint alone: it drains as in a shutdown. New requests are refused from
    /// the moment this returns (the endpoint's counter is closed, then its token cancelled).
    /// Idempotent; returns at once.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Waits until the endpoint has drained and stopped or failed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future loses the outcome, never the endpoint: it drains and stops all the
    /// same (this takes the handle, so the outcome cannot be awaited again).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::EndpointFailed`] when its future returned an error or panicked, or the
    /// runtime went away under it.
    pub async fn stopped(self) -> Result<(), RuntimeError> {
        let name = self.name().to_owned();
        match self.supervisor.await {
            Ok(outcome) => outcome,
            Err(_) => Err(RuntimeError::EndpointFailed {
                name,
                error: "its supervising task was cancelled (the runtime shut down)".to_owned(),
            }),
        }
    }
}

impl fmt::Debug for EndpointHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointHandle")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("in_flight", &self.in_flight())
            .field("graceful", &self.shared.graceful)
            .finish()
    }
}
