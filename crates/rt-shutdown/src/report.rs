//! [`ShutdownReport`]: what a shutdown did, for the log and the exit code.

use std::fmt;
use std::time::Duration;

/// What a shutdown did: how long each phase took, under which bound, and what was left.
///
/// `Display` prints one line for the log.
///
/// ```
/// use std::time::Duration;
/// use rt_shutdown::ShutdownReport;
///
/// let report = ShutdownReport {
///     drain: Duration::from_secs(30),
///     drain_bound: Duration::from_secs(30),
///     deadline_hit: true,
///     active_at_deadline: 1,
///     still_active: vec!["generate".into()],
///     still_active_counts: vec![("generate".into(), 1)],
///     ..Default::default()
/// };
/// assert!(!report.is_clean());
/// assert!(report.to_string().contains("deadline hit with 1 still active: generate x1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Phase 1: cancelling the endpoint token and closing the tracker.
    pub stop_accepting: Duration,
    /// Phase 2: waiting for in-flight work.
    pub drain: Duration,
    /// The bound phase 2 ran under: min(graceful timeout, what was left of the deadline).
    pub drain_bound: Duration,
    /// Phase 3: cancelling the primary token and running the teardown tasks.
    pub teardown: Duration,
    /// The bound phase 3 ran under: min(teardown timeout, what was left of the deadline).
    pub teardown_bound: Duration,
    /// Phase 1's duration plus the time from the start of phase 2 to the end of phase 3 (the
    /// moment between phase 1 and the start of the task that drives phases 2 and 3 is not
    /// counted: that task may run on another runtime, with another clock).
    pub total: Duration,
    /// Whether phase 2 was cut short by its bound while work was still registered.
    pub deadline_hit: bool,
    /// The tracker's count when the bound cut phase 2 short (0 otherwise).
    pub active_at_deadline: usize,
    /// The names still registered when the bound cut phase 2 short, sorted (empty otherwise).
    pub still_active: Vec<String>,
    /// The same, with the number of live registrations under each name.
    pub still_active_counts: Vec<(String, usize)>,
    /// Teardown tasks that finished within phase 3's bound.
    pub teardown_completed: Vec<String>,
    /// Teardown tasks still running when phase 3's bound ran out (they were dropped).
    pub teardown_timed_out: Vec<String>,
    /// Teardown tasks that panicked (the panic was caught and logged).
    pub teardown_panicked: Vec<String>,
}

impl ShutdownReport {
    /// Whether everything finished within its bound: no deadline hit, no teardown task timed
    /// out or panicked.
    pub fn is_clean(&self) -> bool {
        !self.deadline_hit
            && self.teardown_timed_out.is_empty()
            && self.teardown_panicked.is_empty()
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shutdown {} in {:?}: stop accepting {:?}; drain {:?} (bound {:?}",
            if self.is_clean() {
                "clean"
            } else {
                "incomplete"
            },
            self.total,
            self.stop_accepting,
            self.drain,
            self.drain_bound,
        )?;
        if self.deadline_hit {
            write!(
                f,
                ", deadline hit with {} still active",
                self.active_at_deadline
            )?;
            for (i, (name, n)) in self.still_active_counts.iter().enumerate() {
                let sep = if i == 0 { ": " } else { ", " };
                write!(f, "{sep}{name} x{n}")?;
            }
        }
        write!(
            f,
            "); teardown {:?} (bound {:?}): {} done",
            self.teardown,
            self.teardown_bound,
            self.teardown_completed.len()
        )?;
        if !self.teardown_timed_out.is_empty() {
            write!(f, ", timed out: {}", self.teardown_timed_out.join(", "))?;
        }
        if !self.teardown_panicked.is_empty() {
            write!(f, ", panicked: {}", self.teardown_panicked.join(", "))?;
        }
        Ok(())
    }
}
