//! The process runtime for async services: one [`Runtime`] through which a service reaches
//! every shared process-level resource, and a [`Worker`] that runs the service under it.
//!
//! This crate is the facade: it assembles the lower layers and re-exports them, so a service
//! depends on `rt-core` alone.
//!
//! Each public item has one path (the tracing crate's model). The root holds what a service
//! writes:
//!
//! | root item | what |
//! |---|---|
//! | [`Runtime`] | the handle to every process-level resource |
//! | [`Worker`], [`WorkerOutcome`] | run the application under signals and one deadline; how it ended |
//! | [`EXIT_CODE_CLEAN`], [`EXIT_CODE_APP_ERROR`], [`EXIT_CODE_SHUTDOWN_TIMEOUT`], [`EXIT_CODE_FORCED`] | the process exit codes |
//! | [`RuntimeError`], [`BoxError`], [`NotAcceptingReason`] | errors |
//! | [`EndpointBuilder`], [`EndpointContext`], [`EndpointHandle`], [`InFlightGuard`] | endpoints: stop accepting, count in-flight requests, drain |
//! | [`ShutdownReport`], [`CancellationToken`] | what the shutdown did; the tokens |
//! | [`compute_small!`], [`compute_medium!`], [`compute_large!`] | CPU work from async code, by size |
//!
//! Everything else is in a topic module:
//!
//! | module | what | crate |
//! |---|---|---|
//! | [`config`] | `RuntimeConfig`: defaults, TOML files, environment, validation, the key table, [`check`](config::check), [`Origin`](config::Origin) | `rt-config` |
//! | [`compute`] | the Rayon compute pool bridged into async code, the thread-local context | `rt-compute` |
//! | [`shutdown`] | the drain primitive [`InFlight`](shutdown::InFlight), the tracker, the three-phase coordinator | `rt-shutdown` |
//! | [`signals`] | SIGINT/SIGTERM to a graceful shutdown, a second signal to a forced exit | `rt-signals` |
//! | [`registry`] | every component and endpoint with its lifecycle state | here |
//! | [`drain`] | drain without exit: out of rotation and back, alive ([`DrainControl`](drain::DrainControl)) | here |
//! | [`metrics`] | the runtime's metrics registry: per-endpoint, runtime and application metrics for `/metrics` | here |
//! | [`logging`] | the process's `tracing` subscriber, set up from the `log_filter` and `logging_*` keys | here |
//!
//! # The pieces
//!
//! - [`Runtime`]: a **primary** tokio runtime for application tasks and endpoints, a
//!   **secondary** one for background work (signals, status, backend connections); the **main
//!   token** (cancelled last: disconnect backends) and the **endpoint-shutdown token** (its
//!   child: stop accepting); the **tracker** of graceful endpoints and tasks; the **compute
//!   pool**, with its context installed on every primary worker thread so that the
//!   [`compute_small!`], [`compute_medium!`] and [`compute_large!`] macros work anywhere; the
//!   component [`Registry`](registry::Registry).
//! - [`Worker`]: sets up logging ([`logging::init`], unless the application installed its own
//!   subscriber), installs the signal handlers, runs the application on the primary runtime,
//!   and shuts down under one deadline; returns a [`WorkerOutcome`] with the exit code.
//! - Endpoints ([`Runtime::endpoint`], [`EndpointBuilder`]): in the registry and the tracker,
//!   each with one drain counter ([`shutdown::InFlight`]) that phase 1 closes, refusing
//!   requests from the moment the shutdown was requested, releasing the shutdown only once
//!   their in-flight requests are done ([`EndpointContext::drained`]).
//!
//! # Shutdown, in three phases under one deadline
//!
//! 1. **Stop accepting** (a SIGTERM does this, or [`Runtime::shutdown`]), before the request
//!    returns: every endpoint's counter is closed (new requests are refused), the tracker takes
//!    no new work, the endpoint-shutdown token is cancelled.
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
//! # Drain without exit
//!
//! [`Runtime::drain`] takes the process out of rotation and keeps it alive: endpoints refuse
//! new requests ([`NotAcceptingReason::Drained`]; rt-http answers 503 as in the shutdown's
//! drain), the drain hooks run (rt-discovery deletes the process's keys), the requests in
//! flight finish, and the state becomes `drained` (rt-status: `/health` 503). [`Runtime::resume`]
//! puts it back (rt-discovery registers again under a new instance id). A shutdown always
//! wins: during a drain it runs as usual; once it has started, drain and resume are refused.
//! See [`drain::DrainControl`].
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
//! [`Runtime::shutdown_coordinator`]. Health reporting reads the coordinator's
//! [`phase`](shutdown::ShutdownCoordinator::phase) /
//! [`subscribe`](shutdown::ShutdownCoordinator::subscribe) and
//! [`Registry::snapshot`](registry::Registry::snapshot).
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod component;
pub mod compute;
pub mod config;
pub mod drain;
mod endpoint;
mod error;
pub mod logging;
pub mod metrics;
mod outcome;
pub mod registry;
mod runtime;
pub mod shutdown;
pub mod signals;
mod slot;
mod unwind;
mod worker;

pub use endpoint::{EndpointBuilder, EndpointContext, EndpointHandle};
pub use error::{BoxError, NotAcceptingReason, RuntimeError};
pub use outcome::{
    WorkerOutcome, EXIT_CODE_APP_ERROR, EXIT_CODE_CLEAN, EXIT_CODE_SHUTDOWN_TIMEOUT,
};
pub use rt_compute::{compute_large, compute_medium, compute_small};
pub use rt_shutdown::{InFlightGuard, ShutdownReport};
pub use rt_signals::EXIT_CODE_FORCED;
pub use runtime::Runtime;
pub use tokio_util::sync::CancellationToken;
pub use worker::Worker;

/// The README's example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
