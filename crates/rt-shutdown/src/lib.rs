//! The graceful-shutdown layer of the process runtime: decides whether a request is lost when a
//! pod is stopped.
//!
//! * [`InFlight`] is the drain primitive: it counts work in flight through RAII
//!   [`InFlightGuard`]s, refuses new work once closed, and its [`drained`](InFlight::drained)
//!   resolves when it is closed and empty. Each endpoint owns one.
//! * [`GracefulShutdownTracker`], built on the same counter, counts live endpoints and
//!   in-flight work, hands out named RAII [`GracefulTaskGuard`]s that release on drop, panic and
//!   abort, lists the names still registered, and wakes waiters when the count reaches zero.
//! * [`ShutdownCoordinator`] owns the primary [`CancellationToken`](tokio_util::sync::CancellationToken),
//!   the endpoint token (its child) and the tracker, and runs the three phases: stop accepting,
//!   drain (bounded, with the drain steps that start in phase 1 beside it), tear down (always),
//!   under one deadline, ending with a [`ShutdownReport`].
//!
//! See `docs/shutdown.md` for the phases, the deadline arithmetic and how to size the timeouts
//! against Kubernetes' `terminationGracePeriodSeconds`.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod class;
mod coordinator;
mod counter;
mod error;
mod guard;
mod in_flight;
mod options;
mod phase;
mod report;
mod sync;
mod task_set;
mod tracker;
mod unwind;

pub use coordinator::ShutdownCoordinator;
pub use error::ShutdownError;
pub use guard::GracefulTaskGuard;
pub use in_flight::{InFlight, InFlightGuard};
pub use options::{
    ShutdownOptions, DEFAULT_GRACEFUL_TIMEOUT, DEFAULT_PROGRESS_INTERVAL, DEFAULT_TEARDOWN_TIMEOUT,
};
pub use phase::ShutdownPhase;
pub use report::{DrainStep, DrainStepOutcome, ShutdownReport};
pub use tracker::{GracefulShutdownTracker, TaskClass, UNNAMED_ENDPOINT};
