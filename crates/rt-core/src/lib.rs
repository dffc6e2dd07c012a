//! The process runtime for async services: one [`Runtime`] through which a service reaches
//! every shared process-level resource, and a [`Worker`] that runs the service under it.
//!
//! This crate is the facade: it assembles the lower layers and re-exports them, so a service
//! depends on `rt-core` alone.
//!
//! | module | what | crate |
//! |---|---|---|
//! | [`config`] | `RuntimeConfig`: defaults, TOML files, environment, validation | `rt-config` |
//! | [`compute`] | the Rayon compute pool bridged into async code, `compute_*!` macros | `rt-compute` |
//! | [`shutdown`] | the in-flight tracker, tokens, the three-phase coordinator and its report | `rt-shutdown` |
//! | [`signals`] | SIGINT/SIGTERM to a graceful shutdown, a second signal to a forced exit | `rt-signals` |
//! | [`registry`] | every component and endpoint with its lifecycle state | here |
//! | [`endpoint`] | endpoints: stop accepting, count in-flight requests, drain | here |
//!
//! # The pieces
//!
//! - [`Runtime`]: a **primary** tokio runtime for application tasks and endpoints, a
//!   **secondary** one for background work (signals, status, backend connections); the **main
//!   token** (cancelled last: disconnect backends) and the **endpoint-shutdown token** (its
//!   child: stop accepting); the **tracker** of graceful endpoints and tasks; the **compute
//!   pool**, with its context installed on every primary worker thread so that the
//!   [`compute_small!`], [`compute_medium!`] and [`compute_large!`] macros work anywhere; the
//!   component [`Registry`].
//! - [`Worker`]: installs the signal handlers, runs the application on the primary runtime,
//!   and shuts down under one deadline; returns a [`WorkerOutcome`] with the exit code.
//! - Endpoints ([`Runtime::endpoint`]): in the registry and the tracker, refusing requests
//!   from phase 1 on, releasing the shutdown only once their in-flight requests are done.
//!
//! # Shutdown, in three phases under one deadline
//!
//! 1. **Stop accepting**: the endpoint-shutdown token is cancelled (a SIGTERM does this, or
//!    [`Runtime::shutdown`]); endpoints refuse new requests; the tracker takes no new work.
//! 2. **Drain**: wait until the tracker's count reaches zero (endpoints drained, the
//!    application returned), bounded by the graceful timeout.
//! 3. **Tear down**: the main token is cancelled, teardown work runs under its own bound.
//!
//! The worker's deadline (`DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT`) covers all of it; the
//! [`ShutdownReport`] says how long each phase took and what was still active at a deadline.
//!
//! # Example: a worker serving an endpoint, offloading CPU work, stopping on SIGTERM
//!
//! ```
//! use rt_core::config::RuntimeConfig;
//! use rt_core::{compute_large, BoxError, Runtime, RuntimeError, Worker, WorkerOutcome};
//! use tokio::sync::{mpsc, oneshot};
//!
//! /// A request: a number to square-sum up to, and where to send the answer.
//! type Request = (u64, oneshot::Sender<u64>);
//!
//! async fn app(runtime: Runtime) -> Result<(), BoxError> {
//!     let (tx, mut requests) = mpsc::channel::<Request>(64);
//!
//!     // The endpoint: accepts until phase 1, counts each request while it is served.
//!     let endpoint = runtime.endpoint("sum-of-squares").start(|ctx| async move {
//!         loop {
//!             let (n, reply) = tokio::select! {
//!                 _ = ctx.cancelled() => break,          // SIGTERM: stop accepting
//!                 next = requests.recv() => match next { Some(r) => r, None => break },
//!             };
//!             let guard = ctx.begin_request()?;          // in flight until dropped
//!             tokio::spawn(async move {
//!                 let _guard = guard;
//!                 // CPU-heavy work goes to the compute pool, not the async workers.
//!                 let answer = compute_large!((1..=n).map(|i| i * i).sum::<u64>());
//!                 let _ = reply.send(answer);
//!             });
//!         }
//!         Ok::<(), RuntimeError>(())
//!     })?;
//!
//!     // A client (a real service gets its requests from the network).
//!     let (reply, answer) = oneshot::channel();
//!     tx.send((1_000, reply)).await?;
//!     assert_eq!(answer.await.unwrap_or(0), 333_833_500);
//!
//!     // CPU work from the application itself, through the runtime.
//!     let checksum = runtime.compute(|| (0..10_000u64).fold(0, |a, x| a ^ x)).await?;
//!     assert_eq!(checksum, 0);
//!
//!     // Kubernetes would send SIGTERM now; this example sends it to itself.
//! #   nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM)?;
//!     // The endpoint drains; the application returns when it is done.
//!     Ok(endpoint.stopped().await?)
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Usually `Worker::from_settings()`: defaults, TOML files, DYN_* environment variables.
//!     let config = RuntimeConfig::builder().num_worker_threads(2).compute_threads(2).build()?;
//!     let outcome = Worker::from_config(config)?.execute(app)?;
//!     println!("{}", outcome.shutdown_report().map(ToString::to_string).unwrap_or_default());
//!     assert!(matches!(outcome, WorkerOutcome::Clean { .. }), "{outcome}");
//!     assert_eq!(outcome.exit_code(), 0);
//!     // In a real `main`: `outcome.exit()`, or return the outcome from `main`.
//!     Ok(())
//! }
//! ```
//!
//! # Exit codes
//!
//! [`WorkerOutcome::exit_code`]: 0 ([`EXIT_CODE_CLEAN`]) clean, 1 ([`EXIT_CODE_APP_ERROR`])
//! application error, 70 ([`EXIT_CODE_SHUTDOWN_TIMEOUT`]) when the graceful deadline passed
//! (also when blocking work had to be abandoned to end within it), 130 ([`EXIT_CODE_FORCED`])
//! when a second signal forced the exit. `main` can return the outcome (it implements
//! [`std::process::Termination`]) or call [`WorkerOutcome::exit`]. The library never ends the
//! process otherwise, except through the force-exit hook on a second signal.
//!
//! # Extending the runtime
//!
//! Background services (a status server, a connection to a coordination service) run on
//! [`Runtime::secondary`], watch [`Runtime::primary_token`], and stop in phase 3 through
//! [`ShutdownCoordinator::add_teardown`](shutdown::ShutdownCoordinator::add_teardown) on
//! [`Runtime::shutdown_coordinator`]. Health reporting reads [`Runtime::shutdown_phase`] /
//! [`Runtime::subscribe_shutdown`] and [`Registry::snapshot`](registry::Registry::snapshot).
#![forbid(unsafe_code)]

pub mod endpoint;
pub mod error;
mod left_running;
mod outcome;
pub mod registry;
mod runtime;
mod slot;
mod unwind;
mod worker;

/// Configuration: [`RuntimeConfig`] and its loader (the `rt-config`
/// crate).
pub use rt_config as config;

/// The compute pool, the async bridge, the thread-local context and the `compute_*!` macros
/// (the `rt-compute` crate).
pub use rt_compute as compute;

/// The graceful-shutdown tracker, the three-phase coordinator and its report (the
/// `rt-shutdown` crate).
pub use rt_shutdown as shutdown;

/// Signal handling: SIGINT/SIGTERM to a graceful shutdown, a second one to a forced exit (the
/// `rt-signals` crate).
pub use rt_signals as signals;

pub use endpoint::{EndpointBuilder, EndpointContext, EndpointHandle, InFlightGuard};
pub use error::{BoxError, RuntimeError};
pub use outcome::{
    WorkerOutcome, EXIT_CODE_APP_ERROR, EXIT_CODE_CLEAN, EXIT_CODE_SHUTDOWN_TIMEOUT,
};
pub use registry::{ComponentKind, ComponentSnapshot, ComponentState, Registry};
pub use rt_signals::EXIT_CODE_FORCED;
pub use runtime::{Runtime, PRIMARY_THREAD_PREFIX, SECONDARY_THREAD_PREFIX};
pub use worker::{Worker, APP_TASK_NAME};

pub use rt_compute::{compute_large, compute_medium, compute_small, ComputeError, ComputePool};
pub use rt_config::{ComputeConfig, ConfigError, RuntimeConfig};
pub use rt_shutdown::{
    GracefulShutdownTracker, GracefulTaskGuard, ShutdownCoordinator, ShutdownError, ShutdownPhase,
    ShutdownReport,
};
pub use rt_signals::{SignalError, SignalKind, SignalListener};
pub use tokio_util::sync::CancellationToken;

/// The README's example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
