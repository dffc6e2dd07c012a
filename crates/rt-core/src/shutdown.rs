//! The graceful shutdown: the drain primitive [`InFlight`], the
//! [`GracefulShutdownTracker`], the three-phase [`ShutdownCoordinator`] and its options and
//! phases (the `rt-shutdown` crate).
//!
//! [`ShutdownReport`](crate::ShutdownReport) and [`InFlightGuard`](crate::InFlightGuard), which
//! a service names, are at the crate root; everything else of `rt-shutdown` is here.

pub use rt_shutdown::{
    DrainStep, DrainStepOutcome, GracefulShutdownTracker, GracefulTaskGuard, InFlight,
    ShutdownCoordinator, ShutdownError, ShutdownOptions, ShutdownPhase, TaskClass,
    DEFAULT_GRACEFUL_TIMEOUT, DEFAULT_PROGRESS_INTERVAL, DEFAULT_TEARDOWN_TIMEOUT,
    UNNAMED_ENDPOINT,
};
