//! Endpoints: request-serving components that take part in the graceful shutdown.
//!
//! [`Runtime::endpoint`] names an endpoint, [`EndpointBuilder::start`] runs it on the primary
//! runtime. Starting one:
//!
//! 1. registers it in the [registry](crate::registry) (state `running`; a second live endpoint of
//!    the same name is refused);
//! 2. for a *graceful* endpoint (the default), registers it in the
//!    [graceful-shutdown tracker](crate::shutdown::GracefulShutdownTracker), so that phase 2
//!    of the shutdown waits for it;
//! 3. calls the closure with an [`EndpointContext`], which carries the endpoint's child token
//!    and hands out one [`InFlightGuard`] per request.
//!
//! When the token is cancelled (phase 1 of the shutdown, or [`EndpointHandle::stop`]), the
//! endpoint moves to `draining`: [`EndpointContext::begin_request`] refuses new requests, the
//! closure's future is expected to return (it should watch [`EndpointContext::cancelled`]), and
//! the requests in flight finish. Only when the future has returned **and** every guard is
//! dropped does the endpoint release its tracker registration and become `stopped` (or
//! `failed`, if the future returned an error or panicked). Guards are RAII: a request task that
//! panics or is aborted releases its guard too, so a failing endpoint cannot hold up the
//! shutdown past the requests that are really still running.
//!
//! A non-graceful endpoint (`graceful_shutdown(false)`) goes through the same states but is not
//! in the tracker: phase 2 does not wait for it, and its requests still running at phase 3 are
//! cut off with the runtime.
//!
//! ```
//! use rt_core::{Runtime, RuntimeError};
//! use rt_core::config::RuntimeConfig;
//! use rt_core::registry::ComponentState;
//! use tokio::sync::{mpsc, oneshot};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RuntimeConfig::builder().num_worker_threads(2).compute_threads(0).build()?;
//! let runtime = Runtime::from_config(config)?;
//! let rt = runtime.clone();
//! runtime.primary().block_on(async move {
//!     let (tx, mut rx) = mpsc::channel::<(u32, oneshot::Sender<u32>)>(16);
//!     let endpoint = rt.endpoint("double").start(|ctx| async move {
//!         loop {
//!             let (n, reply) = tokio::select! {
//!                 _ = ctx.cancelled() => break,           // phase 1: stop accepting
//!                 request = rx.recv() => match request { Some(r) => r, None => break },
//!             };
//!             let guard = ctx.begin_request()?;           // counted as in flight
//!             tokio::spawn(async move {
//!                 let _guard = guard;                     // released when the reply is sent
//!                 let _ = reply.send(n * 2);
//!             });
//!         }
//!         Ok::<(), RuntimeError>(())
//!     })?;
//!     let (reply, answer) = oneshot::channel();
//!     tx.send((21, reply)).await?;
//!     assert_eq!(answer.await?, 42);
//!     let report = rt.shutdown_and_wait(None).await;      // waits for the endpoint's drain
//!     assert!(report.is_clean(), "{report}");
//!     assert_eq!(endpoint.state(), ComponentState::Stopped);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{panic_message, BoxError, RuntimeError};
use crate::registry::{ComponentKind, ComponentState, Entry};
use crate::Runtime;

/// Why [`EndpointContext::begin_request`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotAcceptingReason {
    /// The runtime's shutdown has started (phase 1): no endpoint accepts new requests.
    ShutdownStarted,
    /// This endpoint was stopped ([`EndpointHandle::stop`]) or its future has returned.
    EndpointStopped,
}

impl fmt::Display for NotAcceptingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotAcceptingReason::ShutdownStarted => {
                "the process is shutting down (phase 1 started); send the request to another instance"
            }
            NotAcceptingReason::EndpointStopped => {
                "the endpoint has stopped; start it again or send the request elsewhere"
            }
        })
    }
}

/// What an endpoint, its context, its guards and its handle share.
struct Shared {
    entry: Arc<Entry>,
    /// The endpoint's own token: a child of the runtime's endpoint-shutdown token.
    token: CancellationToken,
    /// The runtime's endpoint-shutdown token (to tell "shutdown" from "stopped").
    shutdown_token: CancellationToken,
    /// Set once the endpoint's future has returned: no request is accepted any more.
    closed: AtomicBool,
    /// Woken when the in-flight count drops to zero.
    drained: Notify,
    graceful: bool,
}

impl Shared {
    fn in_flight(&self) -> usize {
        self.entry.in_flight().load(Ordering::SeqCst)
    }

    fn refusal(&self) -> Option<NotAcceptingReason> {
        if self.shutdown_token.is_cancelled() {
            Some(NotAcceptingReason::ShutdownStarted)
        } else if self.token.is_cancelled() || self.closed.load(Ordering::SeqCst) {
            Some(NotAcceptingReason::EndpointStopped)
        } else {
            None
        }
    }

    fn release(&self) {
        if self.entry.in_flight().fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.notify_waiters();
        }
    }

    /// Resolves once no request is in flight.
    async fn wait_drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            // Register interest before reading the count, so that a release in between is
            // not missed.
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Configures an endpoint before it starts; made by [`Runtime::endpoint`].
#[must_use = "an endpoint does nothing until `start` is called"]
pub struct EndpointBuilder {
    runtime: Runtime,
    name: String,
    graceful: bool,
}

impl EndpointBuilder {
    pub(crate) fn new(runtime: Runtime, name: String) -> Self {
        Self {
            runtime,
            name,
            graceful: true,
        }
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
            runtime,
            name,
            graceful,
        } = self;
        let shutdown_token = runtime.shutdown_coordinator().endpoint_token();
        if shutdown_token.is_cancelled() {
            return Err(RuntimeError::ShuttingDown {
                what: format!("starting endpoint `{name}`"),
            });
        }
        let entry = runtime
            .registry()
            .insert(name.clone(), ComponentKind::Endpoint)?;
        let tracker_guard = if graceful {
            match runtime
                .graceful_shutdown_tracker()
                .register_task(format!("endpoint {name}"))
            {
                Ok(guard) => Some(guard),
                Err(e) => {
                    let _ = entry.fail(format!("not started: {e}"));
                    return Err(RuntimeError::ShuttingDown {
                        what: format!("starting endpoint `{name}`"),
                    });
                }
            }
        } else {
            None
        };
        let shared = Arc::new(Shared {
            entry,
            token: runtime.child_token(),
            shutdown_token,
            closed: AtomicBool::new(false),
            drained: Notify::new(),
            graceful,
        });
        let ctx = EndpointContext {
            shared: Arc::clone(&shared),
        };
        let future = serve(ctx);
        // Registered -> Running cannot fail: the entry is new and nobody else holds it.
        let _ = shared.entry.transition(ComponentState::Running);
        tracing::info!(endpoint = %name, graceful, "endpoint running");
        let primary = runtime.primary();
        drop(runtime);
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
    tracker_guard: Option<rt_shutdown::GracefulTaskGuard>,
) -> Result<(), RuntimeError> {
    let name = shared.entry.name().to_owned();
    let result = tokio::select! {
        biased;
        result = &mut user => result,
        () = shared.token.cancelled() => {
            let _ = shared.entry.transition(ComponentState::Draining);
            tracing::info!(endpoint = %name, in_flight = shared.in_flight(), "endpoint draining");
            user.await
        }
    };
    shared.closed.store(true, Ordering::SeqCst);
    if shared.entry.state() == ComponentState::Running {
        let _ = shared.entry.transition(ComponentState::Draining);
    }
    shared.wait_drained().await;
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

    /// Resolves when the endpoint must stop accepting. Cancel-safe.
    pub async fn cancelled(&self) {
        self.shared.token.cancelled().await;
    }

    /// Whether a request would be accepted now.
    pub fn is_accepting(&self) -> bool {
        self.shared.refusal().is_none()
    }

    /// Counts one request as in flight until the returned guard is dropped (also on panic
    /// and abort of the task holding it).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NotAccepting`] once the shutdown has started (phase 1) or the endpoint
    /// has stopped; the request was not counted and should be refused to its client.
    pub fn begin_request(&self) -> Result<InFlightGuard, RuntimeError> {
        let refuse = |reason| RuntimeError::NotAccepting {
            endpoint: self.name().to_owned(),
            reason,
        };
        if let Some(reason) = self.shared.refusal() {
            return Err(refuse(reason));
        }
        // Count first, then check again: either the supervisor sees this request in its
        // drain wait, or we see that it closed and back out.
        self.shared.entry.in_flight().fetch_add(1, Ordering::SeqCst);
        if let Some(reason) = self.shared.refusal() {
            self.shared.release();
            return Err(refuse(reason));
        }
        Ok(InFlightGuard {
            shared: Arc::clone(&self.shared),
        })
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
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

/// One request in flight on an endpoint; dropping it ends the request. `Send`, so it can move
/// into the task that serves the request.
#[must_use = "the request counts as in flight only while the guard is held"]
pub struct InFlightGuard {
    shared: Arc<Shared>,
}

impl InFlightGuard {
    /// The endpoint's name.
    pub fn endpoint(&self) -> &str {
        self.shared.entry.name()
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl fmt::Debug for InFlightGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightGuard")
            .field("endpoint", &self.endpoint())
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
        self.shared.in_flight()
    }

    /// Whether phase 2 of the shutdown waits for it.
    pub fn is_graceful(&self) -> bool {
        self.shared.graceful
    }

    /// The endpoint's token (see [`EndpointContext::token`]).
    pub fn token(&self) -> CancellationToken {
        self.shared.token.clone()
    }

    /// Stops this endpoint alone: it drains as in a shutdown. Idempotent; returns at once.
    pub fn stop(&self) {
        self.shared.token.cancel();
    }

    /// Waits until the endpoint has drained and stopped or failed. Cancel-safe only in the
    /// sense that dropping the future loses the outcome, never the endpoint.
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
