//! [`ShutdownPhase`]: where a shutdown stands.

use std::fmt;

/// Where a [`ShutdownCoordinator`](crate::ShutdownCoordinator) stands. The phases only move
/// forward, in declaration order (the type is `Ord` accordingly).
///
/// The coordinator publishes a phase only after its effects, so a reader on any thread that
/// sees a phase can rely on what its description below says is done.
///
/// A readiness probe should report "not ready" from [`Draining`](Self::Draining) on, so that the
/// load balancer stops sending requests while in-flight ones finish.
///
/// ```
/// use rt_shutdown::ShutdownPhase;
///
/// assert!(ShutdownPhase::Running.accepts_work());
/// assert!(!ShutdownPhase::Draining.accepts_work());
/// assert!(ShutdownPhase::Draining < ShutdownPhase::Stopped);
/// assert_eq!(ShutdownPhase::Stopping.to_string(), "stopping");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ShutdownPhase {
    /// No shutdown requested: serving.
    #[default]
    Running,
    /// Phase 2 (phase 1 is done): the tracker is already closed and the endpoint token already
    /// cancelled; in-flight work is draining, bounded by the graceful timeout and the caller's
    /// deadline.
    Draining,
    /// Phase 3: the primary token is already cancelled; teardown tasks run under their own
    /// bound.
    Stopping,
    /// Done: the report is already available
    /// ([`ShutdownCoordinator::report`](crate::ShutdownCoordinator::report) is `Some`).
    Stopped,
}

impl ShutdownPhase {
    /// Whether new work should be accepted: only while [`Running`](Self::Running).
    pub fn accepts_work(self) -> bool {
        self == Self::Running
    }

    /// The lowercase name also used by `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Draining => "draining",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for ShutdownPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
